"""The world simulator: realistic evidence with known truth, from real geography."""

from fairban.world.config import WorldConfig
from fairban.world.simulate import WorldSummary, simulate_world

__all__ = ["WorldConfig", "WorldSummary", "simulate_world"]
