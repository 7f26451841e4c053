"""``fairban worker``, ``platform``, ``platform-sim``, ``reconcile`` and the outbox
commands (registered on the main app)."""

from __future__ import annotations
