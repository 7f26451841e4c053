"""The evidence store: evidence folders ingested once, day by day, as the rollups the
features read, so that a standing directive is judged again each day at the cost of
that day (``docs/store.md``)."""
