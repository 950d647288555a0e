"""The spend rollups (``spend_daily``, ``spend_hourly``, ``spend_daily_dims``: see
``schema_v4.py``; ``spend_daily_models``: ``schema_v6.py``) and the tags' spend, updated
in the transaction that inserts usage rows.

Only rows actually inserted are summed (a replayed row whose call id is stored already is
neither stored nor summed), so the rollups are exactly as idempotent as ``spend_logs``.
SQLite sums a batch in Python and upserts the sums; PostgreSQL does the same inside the one
statement that inserts the batch (:func:`postgres_ctes`, over its ``ins`` CTE). Sums are
upserted in primary key order, so two writers never take the same rows' locks in opposite
orders.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from .models import SPEND_COLUMNS
from .schema_v4 import DAILY_DIMS, HOURLY_DIMS
from .schema_v6 import MODELS_DIMS

__all__ = ["INS_COLUMNS", "postgres_ctes", "sqlite_rollup"]

_SUMS = ("spend", "requests", "prompt_tokens", "completion_tokens", "total_tokens",
         "cache_hits", "failures", "latency_ms")
_AT = {name: SPEND_COLUMNS.index(name) for name in SPEND_COLUMNS}
# What the PostgreSQL insert returns for the rollups to sum.
INS_COLUMNS = ("start_time", "key_hash", "team_id", "user_id", "organization_id",
               "model_group", "model", "provider", "status", "cost", "prompt_tokens",
               "completion_tokens", "total_tokens", "cache_hit", "latency_ms",
               "request_tags", "end_user")


def _upsert(table: str, bucket: str, dims: Sequence[str], placeholder: str = "?") -> str:
    keys = (bucket, *dims)
    sets = ", ".join(f"{s} = {table}.{s} + excluded.{s}" for s in _SUMS)
    marks = ", ".join([placeholder] * (len(keys) + len(_SUMS)))
    return (f"INSERT INTO {table} ({', '.join(keys)}, {', '.join(_SUMS)}) VALUES ({marks}) "
            f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {sets}")


_DAILY = _upsert("spend_daily", "day", DAILY_DIMS)
_HOURLY = _upsert("spend_hourly", "hour", HOURLY_DIMS)
_MODELS = _upsert("spend_daily_models", "day", MODELS_DIMS)
_DIMS = _upsert("spend_daily_dims", "day", ("dim", "value", "model_group"))


def _sums(row: Sequence[Any]) -> list[float]:
    return [float(row[_AT["cost"]] or 0.0), 1, int(row[_AT["prompt_tokens"]] or 0),
            int(row[_AT["completion_tokens"]] or 0), int(row[_AT["total_tokens"]] or 0),
            1 if row[_AT["cache_hit"]] else 0, 0 if row[_AT["status"]] == "success" else 1,
            float(row[_AT["latency_ms"]] or 0.0)]


def _add(table: dict[tuple[Any, ...], list[float]], key: tuple[Any, ...],
         sums: list[float]) -> None:
    found = table.get(key)
    if found is None:
        table[key] = list(sums)
    else:
        for i, value in enumerate(sums):
            found[i] += value


def _tags(value: Any) -> list[str]:
    try:
        tags = json.loads(value) if isinstance(value, str) else value
    except ValueError:
        return []
    if not isinstance(tags, list):
        return []
    return list(dict.fromkeys(str(t) for t in tags))


def sqlite_rollup(conn: sqlite3.Connection, rows: Iterable[Sequence[Any]]) -> None:
    """Add newly inserted usage rows (as SQLite stores them: ``SPEND_COLUMNS`` order, times
    in unix seconds, tags as JSON text) to the rollups and to the tags' spend (inside the
    caller's transaction)."""
    daily: dict[tuple[Any, ...], list[float]] = {}
    hourly: dict[tuple[Any, ...], list[float]] = {}
    models: dict[tuple[Any, ...], list[float]] = {}
    dims: dict[tuple[Any, ...], list[float]] = {}
    tag_spend: dict[str, float] = {}
    for row in rows:
        start = float(row[_AT["start_time"]])
        day, hour = int(start // 86400) * 86400, int(start // 3600) * 3600
        sums = _sums(row)
        _add(daily, (day, *(row[_AT[d]] or "" for d in DAILY_DIMS)), sums)
        _add(hourly, (hour, *(row[_AT[d]] or "" for d in HOURLY_DIMS)), sums)
        _add(models, (day, *(row[_AT[d]] or "" for d in MODELS_DIMS)), sums)
        group = row[_AT["model_group"]] or ""
        _add(dims, (day, "end_user", row[_AT["end_user"]] or "", group), sums)
        for tag in _tags(row[_AT["request_tags"]]):
            _add(dims, (day, "tag", tag, group), sums)
            if sums[0]:
                tag_spend[tag] = tag_spend.get(tag, 0.0) + sums[0]
    for sql, table in ((_DAILY, daily), (_HOURLY, hourly), (_MODELS, models), (_DIMS, dims)):
        if table:
            conn.executemany(sql, [(*k, *v) for k, v in sorted(table.items())])
    if tag_spend:
        conn.executemany("UPDATE tags SET spend = spend + ? WHERE tag_name = ?",
                         [(usd, tag) for tag, usd in sorted(tag_spend.items())])


_PG_SUMS = ("SUM(cost), COUNT(*), SUM(prompt_tokens), SUM(completion_tokens), "
            "SUM(total_tokens), SUM(CASE WHEN cache_hit THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN status = 'success' THEN 0 ELSE 1 END), SUM(latency_ms)")
_PG_TAGS = ("ins CROSS JOIN LATERAL jsonb_array_elements_text(CASE WHEN "
            "jsonb_typeof(ins.request_tags) = 'array' THEN ins.request_tags ELSE '[]'::jsonb "
            "END) AS x(value)")


def _pg_bucket(unit: str) -> str:
    return f"(date_trunc('{unit}', start_time AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')"


def _pg_rollup(name: str, table: str, bucket: str, unit: str, dims: Sequence[str]) -> str:
    keys = (bucket, *dims)
    sets = ", ".join(f"{s} = {table}.{s} + EXCLUDED.{s}" for s in _SUMS)
    values = ", ".join(f"COALESCE({d}, '')" for d in dims)
    order = ", ".join(str(i + 1) for i in range(len(keys)))
    return (f", {name} AS (INSERT INTO {table} ({', '.join(keys)}, {', '.join(_SUMS)}) "
            f"SELECT {_pg_bucket(unit)}, {values}, {_PG_SUMS} FROM ins "
            f"GROUP BY {order} ORDER BY {order} "
            f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {sets} RETURNING 1)")


def postgres_ctes() -> str:
    """CTEs to append after ``ins`` (the inserted rows, returning :data:`INS_COLUMNS`) in
    the PostgreSQL spend statement."""
    sets = ", ".join(f"{s} = spend_daily_dims.{s} + EXCLUDED.{s}" for s in _SUMS)
    dims = (f", rx AS (INSERT INTO spend_daily_dims (day, dim, value, model_group, "
            f"{', '.join(_SUMS)}) SELECT * FROM (SELECT {_pg_bucket('day')} AS day, "
            f"'tag' AS dim, x.value AS value, COALESCE(model_group, '') AS model_group, "
            f"{_PG_SUMS} FROM {_PG_TAGS} GROUP BY 1, 2, 3, 4 UNION ALL "
            f"SELECT {_pg_bucket('day')}, 'end_user', COALESCE(end_user, ''), "
            f"COALESCE(model_group, ''), {_PG_SUMS} FROM ins "
            f"GROUP BY 1, 2, 3, 4) AS s ORDER BY 1, 2, 3, 4 "
            f"ON CONFLICT (day, dim, value, model_group) DO UPDATE SET {sets} RETURNING 1)")
    tags = (", tg AS (UPDATE tags t SET spend = t.spend + d.usd FROM (SELECT x.value AS tag, "
            f"SUM(cost) AS usd FROM {_PG_TAGS} GROUP BY x.value) d "
            "WHERE t.tag_name = d.tag RETURNING 1)")
    return (_pg_rollup("rd", "spend_daily", "day", "day", DAILY_DIMS)
            + _pg_rollup("rh", "spend_hourly", "hour", "hour", HOURLY_DIMS)
            + _pg_rollup("rm", "spend_daily_models", "day", "day", MODELS_DIMS) + dims + tags)
