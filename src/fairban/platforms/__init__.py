"""Platforms: registry, signed webhooks through a transactional outbox, the reference
platform."""
