"""The counters and histograms fairban exports to Prometheus (``prometheus-client``).

Defined once here so that every process records into the same names: ``fairban serve``
(intake, re-check) answers them at ``/metrics`` (``web/metrics.py`` adds the gauges
read from the database at scrape time), ``fairban worker`` (deliveries) on its own
``--metrics-port``. With ``serve --workers N`` each worker is a process of its own:
``fairban serve`` then sets ``PROMETHEUS_MULTIPROC_DIR`` before they start, and
``/metrics`` adds up every worker's files (prometheus-client's multiprocess mode).
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

INTAKE = Counter(
    "fairban_appeals_intake",
    "Appeal submissions answered, by channel (api, portal) and outcome (taken: the appeal "
    "was filed or found; refused: 4xx, rate limits and bad bodies included; error: 5xx).",
    ["channel", "outcome"],
)
RECHECK_SECONDS = Histogram(
    "fairban_recheck_seconds",
    "Seconds from an appeal's filing to the end of its automatic re-check.",
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600),
)
RECHECKS = Counter(
    "fairban_rechecks", "Appeals re-checked, by outcome (done, failed).", ["outcome"]
)
DELIVERIES = Counter(
    "fairban_webhook_deliveries",
    "Webhook tries the delivery worker recorded, by platform and outcome (delivered, "
    "failed: to be retried, dead: given up).",
    ["platform", "outcome"],
)
