"""Spend reports computed in the database: spend, requests and tokens over a time range,
grouped by day or hour and by any of model, provider, key, team, user, organisation,
tag, end user and status, with filters on the same dimensions.

A report reads the smallest table that can answer it:

* ``spend_daily_models`` (day x team, organisation, model, provider, status: a few
  thousand rows a day, however many keys and users) for whole UTC days grouped and
  filtered by those dimensions;
* ``spend_daily`` (day x key, team, user, organisation, model, provider, status) for
  whole UTC days grouped and filtered by those dimensions;
* ``spend_hourly`` (hour x team, model, provider, status) for hours, or ranges that do not
  start and end at midnight, within those dimensions;
* ``spend_daily_dims`` (day x tag or end user x model) for one tag / end-user dimension;
* ``spend_logs`` (the rows) for anything else, through its ``start_time`` index.

The rollups are kept in the usage rows' own transaction (``rollup.py``), so every table
gives the same totals. The SQL is built here for both databases and run as one read-only
store program with a longer statement timeout than the request path's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .entities import decode, encode
from .store import KeyStore, Program

__all__ = ["DIMENSIONS", "SUMS", "Report", "ReportError", "run_report"]

# name -> (spend_logs column, rollup tables that hold it)
DIMENSIONS: dict[str, tuple[str, frozenset[str]]] = {
    "model": ("model_group", frozenset({"spend_daily_models", "spend_daily", "spend_hourly",
                                        "spend_daily_dims"})),
    "provider": ("provider", frozenset({"spend_daily_models", "spend_daily",
                                        "spend_hourly"})),
    "api_key": ("key_hash", frozenset({"spend_daily"})),
    "team_id": ("team_id", frozenset({"spend_daily_models", "spend_daily", "spend_hourly"})),
    "user_id": ("user_id", frozenset({"spend_daily"})),
    "organization_id": ("organization_id", frozenset({"spend_daily_models", "spend_daily"})),
    "status": ("status", frozenset({"spend_daily_models", "spend_daily", "spend_hourly"})),
    "tag": ("", frozenset({"spend_daily_dims"})),
    "end_user": ("end_user", frozenset({"spend_daily_dims"})),
}
SUMS = ("spend", "requests", "prompt_tokens", "completion_tokens", "total_tokens",
        "failures", "cache_hits", "latency_ms")
_RAW_SUMS = ("SUM(cost)", "COUNT(*)", "SUM(prompt_tokens)", "SUM(completion_tokens)",
             "SUM(total_tokens)", "SUM(CASE WHEN status = 'success' THEN 0 ELSE 1 END)",
             "SUM(CASE WHEN cache_hit THEN 1 ELSE 0 END)", "SUM(latency_ms)")
_DAY, _HOUR = 86400, 3600
REPORT_TIMEOUT = 60.0
MAX_ROWS = 100_000


class ReportError(ValueError):
    """A report that cannot be made as asked (HTTP 400)."""

    status_code = 400

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = "invalid_report"
        self.type = "invalid_request_error"


@dataclass
class Report:
    """What to report: ``start`` (inclusive) and ``end`` (exclusive) bound the requests'
    start times (None: unbounded); ``interval`` is ``"day"``, ``"hour"`` or None (one
    row per group); ``group_by`` and ``filters`` use :data:`DIMENSIONS`' names; rows come
    by period, then biggest spend first (``limit`` rows at most)."""

    start: datetime | None = None
    end: datetime | None = None
    interval: str | None = None
    group_by: list[str] = field(default_factory=list)
    filters: dict[str, str] = field(default_factory=dict)
    limit: int = MAX_ROWS

    def check(self) -> None:
        if self.interval not in (None, "day", "hour"):
            raise ReportError(f"interval {self.interval!r}: use day or hour", "interval")
        for name in [*self.group_by, *self.filters]:
            if name not in DIMENSIONS:
                raise ReportError(f"cannot group or filter by {name!r}; use "
                                  f"{', '.join(DIMENSIONS)}", "group_by")
        if len(set(self.group_by)) != len(self.group_by):
            raise ReportError("group_by names a dimension twice", "group_by")
        if self.start and self.end and self.end <= self.start:
            raise ReportError("end_date must be after start_date", "end_date")

    def source(self) -> str:
        """The table that answers this report (see the module docstring)."""
        used = {*self.group_by, *self.filters}
        aligned = all(t is None or t.timestamp() % _DAY == 0 for t in (self.start, self.end))
        hourly = all(t is None or t.timestamp() % _HOUR == 0 for t in (self.start, self.end))
        dims = used & {"tag", "end_user"}
        if not dims:
            for table in ("spend_daily_models", "spend_daily"):
                if aligned and self.interval != "hour" and all(
                        table in DIMENSIONS[d][1] for d in used):
                    return table
            if hourly and all("spend_hourly" in DIMENSIONS[d][1] for d in used):
                return "spend_hourly"
        elif len(dims) == 1 and aligned and self.interval != "hour" and used <= {
                *dims, "model"}:
            return "spend_daily_dims"
        return "spend_logs"


def _bucket(dialect: str, unit: str, column: str) -> str:
    if dialect == "sqlite":
        seconds = _HOUR if unit == "hour" else _DAY
        return f"(CAST({column} / {seconds} AS INTEGER) * {seconds})"
    return f"(date_trunc('{unit}', {column} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')"


_SQLITE_TAGS = ("json_each(CASE WHEN json_valid(spend_logs.request_tags) THEN (CASE WHEN "
                "json_type(spend_logs.request_tags) = 'array' THEN spend_logs.request_tags "
                "ELSE '[]' END) ELSE '[]' END)")


def _tags_from(dialect: str) -> str:
    if dialect == "sqlite":
        return f"spend_logs, {_SQLITE_TAGS} AS t"
    return ("spend_logs CROSS JOIN LATERAL jsonb_array_elements_text(CASE WHEN "
            "jsonb_typeof(request_tags) = 'array' THEN request_tags ELSE '[]'::jsonb END) "
            "AS t(value)")


def build(report: Report, dialect: str) -> tuple[str, list[Any], list[str], str]:
    """``(sql, params, column names, source table)`` for ``report``."""
    source = report.source()
    time_col = {"spend_daily_models": "day", "spend_daily": "day", "spend_hourly": "hour",
                "spend_daily_dims": "day", "spend_logs": "start_time"}[source]
    rollup = source != "spend_logs"
    selects, groups, names, where, params = [], [], [], [], []
    table = source
    if report.interval is not None:
        expr = time_col if (source != "spend_logs" and (
            report.interval == "hour" or source != "spend_hourly")) else _bucket(
            dialect, report.interval, time_col)
        selects.append(expr)
        groups.append(expr)
        names.append("date")
    for name in report.group_by:
        if name == "tag" and not rollup:
            table = _tags_from(dialect)
            expr = "t.value"
        elif rollup and name in ("tag", "end_user"):
            expr = "value"
        else:
            expr = DIMENSIONS[name][0]
        selects.append(expr)
        groups.append(expr)
        names.append(name)
    if source == "spend_daily_dims":
        dim = ({*report.group_by, *report.filters} & {"tag", "end_user"}).pop()
        where.append("dim = ?")
        params.append(dim)
    for name, value in report.filters.items():
        if rollup:
            where.append(f"{'value' if name in ('tag', 'end_user') else DIMENSIONS[name][0]}"
                         " = ?")
        elif name == "tag":
            where.append(f"EXISTS (SELECT 1 FROM {_SQLITE_TAGS} AS f WHERE f.value = ?)"
                         if dialect == "sqlite" else
                         "spend_logs.request_tags @> jsonb_build_array(?::text)")
        else:
            where.append(f"{DIMENSIONS[name][0]} = ?")
        params.append(value)
    for op, when in ((">=", report.start), ("<", report.end)):
        if when is not None:
            where.append(f"{time_col} {op} ?")
            params.append(encode(dialect, "time", when))
    sums = [f"SUM({s})" for s in SUMS] if rollup else list(_RAW_SUMS)
    sql = f"SELECT {', '.join([*selects, *sums])} FROM {table}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    if groups:
        sql += " GROUP BY " + ", ".join(groups)
    order = (["1"] if report.interval is not None else []) + [f"{len(selects) + 1} DESC"]
    sql += f" ORDER BY {', '.join(order)} LIMIT {min(int(report.limit), MAX_ROWS)}"
    return sql, params, names + list(SUMS), source


def _period(dialect: str, value: Any, interval: str) -> str:
    when = decode(dialect, "time", value)
    assert isinstance(when, datetime)
    when = when.astimezone(timezone.utc)
    return when.strftime("%Y-%m-%d") if interval == "day" else when.isoformat()


async def run_report(store: KeyStore, report: Report) -> tuple[list[dict[str, Any]], str]:
    """The report's rows (``date`` when there is an interval, the grouped dimensions,
    then :data:`SUMS`, ``avg_latency_ms``) and the table that answered it."""
    report.check()
    dialect = store.dialect
    sql, params, names, source = build(report, dialect)

    def program() -> Program[list[tuple[Any, ...]]]:
        return (yield (sql, params))

    raw = await store.run_program(program, write=False, timeout=REPORT_TIMEOUT)
    rows = []
    for values in raw:
        row = dict(zip(names, values, strict=True))
        if report.interval is not None:
            row["date"] = _period(dialect, row["date"], report.interval)
        for name in SUMS:
            row[name] = float(row[name] or 0.0) if name in ("spend", "latency_ms") else int(
                row[name] or 0)
        for name in report.group_by:
            if row[name] == "":
                row[name] = None  # rollups store an empty dimension as ''
        row["avg_latency_ms"] = row["latency_ms"] / row["requests"] if row["requests"] else 0.0
        rows.append(row)
    return rows, source


def totals(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The sums over ``rows``."""
    out: dict[str, Any] = {name: sum(r[name] for r in rows) for name in SUMS}
    out["spend"] = float(out["spend"])
    return out


async def labels(store: KeyStore, dimension: str, ids: Sequence[str]) -> dict[str, str]:
    """Display names of report groups: key aliases for ``api_key``, team aliases for
    ``team_id``, user emails for ``user_id``, organisation aliases (ids without one are
    left out)."""
    table = {"api_key": ("keys", "token", "key_alias"),
             "team_id": ("teams", "team_id", "team_alias"),
             "user_id": ("users", "user_id", "user_email"),
             "organization_id": ("organizations", "organization_id", "organization_alias"),
             }.get(dimension)
    wanted = sorted({i for i in ids if i})[:1000]
    if table is None or not wanted:
        return {}
    name, id_col, label = table

    def program() -> Program[dict[str, str]]:
        rows = yield (f"SELECT {id_col}, {label} FROM {name} WHERE {id_col} IN "
                      f"({', '.join('?' * len(wanted))})", wanted)
        return {str(i): str(v) for i, v in rows if v}

    return await store.run_program(program, write=False)
