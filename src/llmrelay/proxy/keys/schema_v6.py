"""Schema version 6: ``spend_daily_models``, a small daily rollup for the reports most
often asked for (spend per day, per model, per team or organisation, per provider, per
status).

``spend_daily`` keeps a row per UTC day x key x user x model x status ...: with thousands of
keys it holds a third as many rows as the usage rows it sums (3.3 million for 10 million
requests in ``bench/spend_reports_bench.py``), so a 30-day report per model read a third
of it. ``spend_daily_models`` (UTC day x team, organisation, model group, provider,
status; a team's organisation adds no rows) holds a few thousand rows a day whatever the
number of keys and users. It is kept in the usage rows' transaction like the other
rollups (``rollup.py``) and filled here from ``spend_daily``, which has the same totals.

The SQL is written out for this version only (never edit it; a later change is a new
version).
"""

from __future__ import annotations

from .schema_v4 import _rollup

__all__ = ["MODELS_DIMS", "V6_POSTGRES", "V6_SQLITE"]

MODELS_DIMS = ("team_id", "organization_id", "model_group", "provider", "status")
_SUMS = ("spend, requests, prompt_tokens, completion_tokens, total_tokens, cache_hits, "
         "failures, latency_ms")


def _statements(dialect: str) -> tuple[str, ...]:
    dims = ", ".join(MODELS_DIMS)
    sums = ", ".join(f"SUM({s.strip()})" for s in _SUMS.split(","))
    out = ["SET LOCAL statement_timeout = 0"] if dialect == "postgres" else []
    return (*out, _rollup(dialect, "spend_daily_models", "day", MODELS_DIMS),
            f"INSERT INTO spend_daily_models (day, {dims}, {_SUMS}) "
            f"SELECT day, {dims}, {sums} FROM spend_daily GROUP BY day, {dims}")


V6_SQLITE = _statements("sqlite")
V6_POSTGRES = _statements("postgres")
