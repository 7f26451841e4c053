"""``fairban enforce``, ``pause``, ``resume`` and the case commands (registered on the
main app)."""

from __future__ import annotations
