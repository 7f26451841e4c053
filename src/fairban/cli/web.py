"""``fairban serve``: the portal, the reviewer console and the JSON API (registered on
the main app)."""

from __future__ import annotations
