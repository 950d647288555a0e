"""Schema version 4: the hierarchy above keys, the audit log, and the spend rollups.

* ``organizations``, ``teams``, ``users``, ``end_users`` (LiteLLM's customers) and ``tags``
  each hold a *level*: its own limits (``models``, ``max_budget``, ``soft_budget``,
  ``budget_duration``/``budget_reset_at``, ``rpm_limit``, ``tpm_limit``,
  ``max_parallel_requests``), an optional shared ``budget_id`` (a row of ``budgets`` whose
  limits apply where the level sets none), its ``spend`` in the current budget window
  (``spend_epoch`` as for keys), ``blocked``, ``metadata`` and who created/changed it.
* ``team_members``: who belongs to a team, as ``admin`` or ``user``.
* ``audit_log``: one row per admin change (LiteLLM's column names), written in the same
  transaction as the change for everything but keys.
* ``spend_logs`` gains ``provider``, ``organization_id`` and, when
  ``store_prompts_in_spend_logs`` is on, the request's ``messages`` and its ``response``.
* Rollups, kept in the same transaction as the usage rows they sum (so they are exactly
  as idempotent): ``spend_daily`` (UTC day x key, team, user, organisation, model group,
  model, provider, status), ``spend_hourly`` (UTC hour x team, model group, provider,
  status) and ``spend_daily_dims`` (UTC day x one of ``tag`` / ``end_user`` x its value x
  model group; every row has an ``end_user`` entry, ``''`` when it had none). Empty
  dimensions are stored as ``''`` so that they can be part of the primary key. Existing
  usage rows are summed into them here.

The SQL is written out for this version only (never edit it; a later change is a new
version); the column lists the code reads at run time live in ``entities.py``.
"""

from __future__ import annotations

__all__ = ["V4_POSTGRES", "V4_SQLITE"]

_TYPES = {
    "sqlite": {"text": "TEXT", "float": "REAL", "int": "INTEGER", "bigint": "INTEGER",
               "json": "TEXT", "time": "REAL", "bool": "INTEGER"},
    "postgres": {"text": "TEXT", "float": "DOUBLE PRECISION", "int": "INTEGER",
                 "bigint": "BIGINT", "json": "JSONB", "time": "TIMESTAMPTZ",
                 "bool": "BOOLEAN"},
}
_FALSE = {"sqlite": "0", "postgres": "FALSE"}

# (name, type, NOT NULL default or None)
_LIMITS: tuple[tuple[str, str, str | None], ...] = (
    ("models", "json", "'[]'"), ("max_budget", "float", None), ("soft_budget", "float", None),
    ("budget_duration", "text", None), ("budget_reset_at", "time", None),
    ("rpm_limit", "int", None), ("tpm_limit", "int", None),
    ("max_parallel_requests", "int", None), ("budget_id", "text", None),
    ("metadata", "json", "'{}'"), ("spend", "float", "0"), ("spend_epoch", "bigint", "0"),
    ("blocked", "bool", "FALSE"), ("created_at", "time", ""), ("updated_at", "time", ""),
    ("created_by", "text", None), ("updated_by", "text", None),
)
_LEVEL_TABLES: tuple[tuple[str, str, tuple[tuple[str, str, str | None], ...]], ...] = (
    ("organizations", "organization_id", (("organization_alias", "text", None),)),
    ("teams", "team_id", (("team_alias", "text", None), ("organization_id", "text", None))),
    ("users", "user_id", (("user_alias", "text", None), ("user_email", "text", None),
                          ("user_role", "text", "'internal_user'"))),
    ("end_users", "user_id", (("alias", "text", None), ("default_model", "text", None),
                              ("allowed_model_region", "text", None))),
    ("tags", "tag_name", (("description", "text", None),)),
)
_BUDGET_COLUMNS = (("max_budget", "float", None), ("soft_budget", "float", None),
                   ("budget_duration", "text", None), ("rpm_limit", "int", None),
                   ("tpm_limit", "int", None), ("max_parallel_requests", "int", None),
                   ("metadata", "json", "'{}'"), ("created_at", "time", ""),
                   ("updated_at", "time", ""), ("created_by", "text", None),
                   ("updated_by", "text", None))
_SUMS = ("spend {float} NOT NULL DEFAULT 0, requests {bigint} NOT NULL DEFAULT 0, "
         "prompt_tokens {bigint} NOT NULL DEFAULT 0, "
         "completion_tokens {bigint} NOT NULL DEFAULT 0, "
         "total_tokens {bigint} NOT NULL DEFAULT 0, cache_hits {bigint} NOT NULL DEFAULT 0, "
         "failures {bigint} NOT NULL DEFAULT 0, latency_ms {float} NOT NULL DEFAULT 0")
DAILY_DIMS = ("key_hash", "team_id", "user_id", "organization_id", "model_group", "model",
              "provider", "status")
HOURLY_DIMS = ("team_id", "model_group", "provider", "status")


def _column(dialect: str, name: str, kind: str, default: str | None) -> str:
    sql = f"{name} {_TYPES[dialect][kind]}"
    if default is None:
        return sql
    if default == "":
        return sql + " NOT NULL"
    if default == "FALSE":
        default = _FALSE[dialect]
    return f"{sql} NOT NULL DEFAULT {default}"


def _level_table(dialect: str, table: str, id_column: str,
                 own: tuple[tuple[str, str, str | None], ...]) -> str:
    cols = [f"{id_column} TEXT PRIMARY KEY"]
    cols += [_column(dialect, *c) for c in (*own, *_LIMITS)]
    return f"CREATE TABLE IF NOT EXISTS {table} ({', '.join(cols)})"


def _rollup(dialect: str, table: str, bucket: str, dims: tuple[str, ...]) -> str:
    types = _TYPES[dialect]
    keys = ", ".join(f"{d} TEXT NOT NULL DEFAULT ''" for d in dims)
    tail = " WITHOUT ROWID" if dialect == "sqlite" else ""
    return (f"CREATE TABLE IF NOT EXISTS {table} ({bucket} {types['time']} NOT NULL, {keys}, "
            f"{_SUMS.format(**types)}, PRIMARY KEY ({bucket}, {', '.join(dims)})){tail}")


def _bucket(dialect: str, unit: str, column: str = "start_time") -> str:
    """SQL for the start of the UTC ``unit`` ("hour" or "day") holding ``column``."""
    if dialect == "sqlite":
        seconds = 3600 if unit == "hour" else 86400
        return f"(CAST({column} / {seconds} AS INTEGER) * {seconds})"
    return f"(date_trunc('{unit}', {column} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')"


_SUM_SELECT = ("SUM(cost), COUNT(*), SUM(prompt_tokens), SUM(completion_tokens), "
               "SUM(total_tokens), SUM(CASE WHEN cache_hit THEN 1 ELSE 0 END), "
               "SUM(CASE WHEN status = 'success' THEN 0 ELSE 1 END), SUM(latency_ms)")
_SUM_COLUMNS = ("spend, requests, prompt_tokens, completion_tokens, total_tokens, cache_hits, "
                "failures, latency_ms")


def _backfill(dialect: str) -> tuple[str, ...]:
    """Sum the usage rows already stored into the rollups."""
    day, hour = _bucket(dialect, "day"), _bucket(dialect, "hour")
    daily = ", ".join(f"COALESCE({d}, '')" for d in DAILY_DIMS)
    hourly = ", ".join(f"COALESCE({d}, '')" for d in HOURLY_DIMS)
    out = [
        f"INSERT INTO spend_daily (day, {', '.join(DAILY_DIMS)}, {_SUM_COLUMNS}) "
        f"SELECT {day}, {daily}, {_SUM_SELECT} FROM spend_logs GROUP BY {day}, {daily}",
        f"INSERT INTO spend_hourly (hour, {', '.join(HOURLY_DIMS)}, {_SUM_COLUMNS}) "
        f"SELECT {hour}, {hourly}, {_SUM_SELECT} FROM spend_logs GROUP BY {hour}, {hourly}",
        f"INSERT INTO spend_daily_dims (day, dim, value, model_group, {_SUM_COLUMNS}) "
        f"SELECT {day}, 'end_user', COALESCE(end_user, ''), COALESCE(model_group, ''), "
        f"{_SUM_SELECT} FROM spend_logs "
        f"GROUP BY {day}, COALESCE(end_user, ''), COALESCE(model_group, '')",
    ]
    if dialect == "sqlite":
        array = ("CASE WHEN json_valid(request_tags) THEN (CASE WHEN json_type(request_tags) "
                 "= 'array' THEN request_tags ELSE '[]' END) ELSE '[]' END")
        tags = f"FROM spend_logs, json_each({array}) AS t"
        tag = "CAST(t.value AS TEXT)"
    else:
        array = ("CASE WHEN jsonb_typeof(request_tags) = 'array' THEN request_tags "
                 "ELSE '[]'::jsonb END")
        tags = f"FROM spend_logs CROSS JOIN LATERAL jsonb_array_elements_text({array}) AS t(value)"
        tag = "t.value"
    out.append(f"INSERT INTO spend_daily_dims (day, dim, value, model_group, {_SUM_COLUMNS}) "
               f"SELECT {day}, 'tag', {tag}, COALESCE(model_group, ''), {_SUM_SELECT} "
               f"{tags} GROUP BY {day}, {tag}, COALESCE(model_group, '')")
    return tuple(out)


def _statements(dialect: str) -> tuple[str, ...]:
    types = _TYPES[dialect]
    serial = ("INTEGER PRIMARY KEY AUTOINCREMENT" if dialect == "sqlite"
              else "BIGSERIAL PRIMARY KEY")
    out = ["SET LOCAL statement_timeout = 0"] if dialect == "postgres" else []
    out += [_level_table(dialect, *spec) for spec in _LEVEL_TABLES]
    out += [
        "CREATE INDEX IF NOT EXISTS teams_organization_id ON teams (organization_id)",
        "CREATE INDEX IF NOT EXISTS users_user_email ON users (user_email)",
        f"CREATE TABLE IF NOT EXISTS budgets (budget_id TEXT PRIMARY KEY, "
        f"{', '.join(_column(dialect, *c) for c in _BUDGET_COLUMNS)})",
        f"CREATE TABLE IF NOT EXISTS team_members (team_id TEXT NOT NULL, "
        f"user_id TEXT NOT NULL, role TEXT NOT NULL DEFAULT 'user', "
        f"created_at {types['time']} NOT NULL, PRIMARY KEY (team_id, user_id))",
        "CREATE INDEX IF NOT EXISTS team_members_user_id ON team_members (user_id)",
        f"CREATE TABLE IF NOT EXISTS audit_log (id {serial}, "
        f"updated_at {types['time']} NOT NULL, changed_by TEXT, changed_by_api_key TEXT, "
        f"action TEXT NOT NULL, table_name TEXT NOT NULL, object_id TEXT, "
        f"before_value {types['json']}, updated_values {types['json']})",
        "CREATE INDEX IF NOT EXISTS audit_log_updated_at ON audit_log (updated_at)",
        "CREATE INDEX IF NOT EXISTS audit_log_object ON audit_log (table_name, object_id)",
    ]
    add = "ADD COLUMN" if dialect == "sqlite" else "ADD COLUMN IF NOT EXISTS"
    out += [f"ALTER TABLE spend_logs {add} {name} TEXT"
            for name in ("provider", "organization_id", "messages", "response")]
    out += [
        _rollup(dialect, "spend_daily", "day", DAILY_DIMS),
        _rollup(dialect, "spend_hourly", "hour", HOURLY_DIMS),
        _rollup(dialect, "spend_daily_dims", "day", ("dim", "value", "model_group")),
        "CREATE INDEX IF NOT EXISTS spend_daily_key ON spend_daily (key_hash, day)",
        "CREATE INDEX IF NOT EXISTS spend_daily_team ON spend_daily (team_id, day)",
        "CREATE INDEX IF NOT EXISTS spend_daily_user ON spend_daily (user_id, day)",
        "CREATE INDEX IF NOT EXISTS spend_daily_dims_value ON spend_daily_dims "
        "(dim, value, day)",
    ]
    out += list(_backfill(dialect))
    return tuple(out)


V4_SQLITE = _statements("sqlite")
V4_POSTGRES = _statements("postgres")
