"""Transparency reports: the period's measures, appeals, breaker trips and audit head,
computed from the case store and written as HTML (Chinese and English), CSV and JSON
(docs/reports.md)."""
