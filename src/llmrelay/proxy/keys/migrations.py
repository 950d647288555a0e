"""Versioned schema migrations for the key store, one list per SQL dialect.

Each backend applies the migrations newer than ``MAX(version)`` of its ``schema_version``
table when it opens, inside one transaction that first takes a lock (SQLite: ``BEGIN
IMMEDIATE``; PostgreSQL: a transaction-scoped advisory lock), so several proxy workers
starting together migrate once. Never edit a released migration: append a new one.

Times are ``TIMESTAMPTZ`` in PostgreSQL and unix seconds (``REAL``) in SQLite; lists and
dicts are ``JSONB`` in PostgreSQL and JSON text in SQLite.

Idempotent spend batches: version 1 made ``spend_logs.call_id`` unique so that a batch retried
after an unclear failure (commit sent, answer lost) was not counted twice. That index, on
random ids, made every insert probe a random page of an ever larger B-tree, so writes slowed
as the table grew. Version 2 drops it and remembers whole batches instead: the spend writer
gives each batch an id (kept across its retries), and the store records it in
``spend_batches`` in the same transaction as the rows; a batch whose id is already there is
skipped. Batch ids start with the time, so old ones are pruned by primary key range.

Key changes: version 2 also adds ``key_changes``, one row per key created, updated or
deleted, written in the same statement or transaction as the change, so that the key
caches of other processes sharing the database (``--workers N``) drop those keys within a
second instead of when their entries expire.

Idempotent by call id: version 3 makes ``spend_logs.call_id`` unique again (rows whose call
id is stored are skipped, ``ON CONFLICT DO NOTHING``), because usage records are now
replayed from a local spool after a crash, by whichever process finds them, in batches
that are not the ones first sent. The index no longer slows writes as the table grows:
call ids are time-ordered (UUID version 7), so new entries land at the right edge of the
B-tree. Duplicate call ids left by older versions are removed first (the oldest row kept).
Version 3 also adds ``spend_logs.end_user`` (the request's ``user``) and
``keys.spend_epoch`` (when the spend was last set by hand; budget counters start anew).

Hierarchy: version 4 adds organisations, teams (and their members), users, end users,
tags and shared budgets, the audit log, and the spend rollups reports read (see
``schema_v4.py``).

Reports: version 6 adds ``spend_daily_models``, a daily rollup small whatever the number of
keys and users, for spend per day, model, team, organisation, provider and status (see
``schema_v6.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

from .schema_v4 import V4_POSTGRES, V4_SQLITE
from .schema_v6 import V6_POSTGRES, V6_SQLITE

__all__ = ["LATEST", "MIGRATIONS", "SCHEMA_VERSION_SQL", "Migration", "pending"]


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sqlite: tuple[str, ...]
    postgres: tuple[str, ...]

    def statements(self, dialect: str) -> tuple[str, ...]:
        """The SQL for ``dialect`` (``"sqlite"`` or ``"postgres"``)."""
        return self.sqlite if dialect == "sqlite" else self.postgres


_V1_SQLITE = (
    """CREATE TABLE IF NOT EXISTS keys (
        token TEXT PRIMARY KEY,
        key_alias TEXT,
        user_id TEXT,
        team_id TEXT,
        models TEXT NOT NULL DEFAULT '[]',
        max_budget REAL,
        budget_duration TEXT,
        budget_reset_at REAL,
        rpm_limit INTEGER,
        tpm_limit INTEGER,
        max_parallel_requests INTEGER,
        expires REAL,
        metadata TEXT NOT NULL DEFAULT '{}',
        spend REAL NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        blocked INTEGER NOT NULL DEFAULT 0
    )""",
    "CREATE INDEX IF NOT EXISTS keys_user_id ON keys (user_id)",
    "CREATE INDEX IF NOT EXISTS keys_team_id ON keys (team_id)",
    """CREATE TABLE IF NOT EXISTS spend_logs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        call_id TEXT,
        key_hash TEXT,
        key_alias TEXT,
        user_id TEXT,
        team_id TEXT,
        model TEXT NOT NULL DEFAULT '',
        model_group TEXT,
        deployment TEXT,
        api_base TEXT,
        prompt_tokens INTEGER NOT NULL DEFAULT 0,
        completion_tokens INTEGER NOT NULL DEFAULT 0,
        total_tokens INTEGER NOT NULL DEFAULT 0,
        cost REAL NOT NULL DEFAULT 0,
        latency_ms REAL NOT NULL DEFAULT 0,
        status TEXT NOT NULL,
        start_time REAL NOT NULL,
        end_time REAL NOT NULL,
        cache_hit INTEGER NOT NULL DEFAULT 0,
        request_tags TEXT NOT NULL DEFAULT '[]'
    )""",
    "CREATE UNIQUE INDEX IF NOT EXISTS spend_logs_call_id ON spend_logs (call_id)",
    "CREATE INDEX IF NOT EXISTS spend_logs_key_hash ON spend_logs (key_hash)",
    "CREATE INDEX IF NOT EXISTS spend_logs_start_time ON spend_logs (start_time)",
)

_V1_POSTGRES = (
    """CREATE TABLE IF NOT EXISTS keys (
        token TEXT PRIMARY KEY,
        key_alias TEXT,
        user_id TEXT,
        team_id TEXT,
        models JSONB NOT NULL DEFAULT '[]',
        max_budget DOUBLE PRECISION,
        budget_duration TEXT,
        budget_reset_at TIMESTAMPTZ,
        rpm_limit INTEGER,
        tpm_limit INTEGER,
        max_parallel_requests INTEGER,
        expires TIMESTAMPTZ,
        metadata JSONB NOT NULL DEFAULT '{}',
        spend DOUBLE PRECISION NOT NULL DEFAULT 0,
        created_at TIMESTAMPTZ NOT NULL,
        blocked BOOLEAN NOT NULL DEFAULT FALSE
    )""",
    "CREATE INDEX IF NOT EXISTS keys_user_id ON keys (user_id)",
    "CREATE INDEX IF NOT EXISTS keys_team_id ON keys (team_id)",
    """CREATE TABLE IF NOT EXISTS spend_logs (
        id BIGSERIAL PRIMARY KEY,
        call_id TEXT,
        key_hash TEXT,
        key_alias TEXT,
        user_id TEXT,
        team_id TEXT,
        model TEXT NOT NULL DEFAULT '',
        model_group TEXT,
        deployment TEXT,
        api_base TEXT,
        prompt_tokens INTEGER NOT NULL DEFAULT 0,
        completion_tokens INTEGER NOT NULL DEFAULT 0,
        total_tokens INTEGER NOT NULL DEFAULT 0,
        cost DOUBLE PRECISION NOT NULL DEFAULT 0,
        latency_ms DOUBLE PRECISION NOT NULL DEFAULT 0,
        status TEXT NOT NULL,
        start_time TIMESTAMPTZ NOT NULL,
        end_time TIMESTAMPTZ NOT NULL,
        cache_hit BOOLEAN NOT NULL DEFAULT FALSE,
        request_tags JSONB NOT NULL DEFAULT '[]'
    )""",
    "CREATE UNIQUE INDEX IF NOT EXISTS spend_logs_call_id ON spend_logs (call_id)",
    "CREATE INDEX IF NOT EXISTS spend_logs_key_hash ON spend_logs (key_hash)",
    "CREATE INDEX IF NOT EXISTS spend_logs_start_time ON spend_logs (start_time)",
)

_V2_SQLITE = (
    """CREATE TABLE IF NOT EXISTS spend_batches (
        batch_id TEXT PRIMARY KEY,
        written_at REAL NOT NULL
    ) WITHOUT ROWID""",
    "DROP INDEX IF EXISTS spend_logs_call_id",
    """CREATE TABLE IF NOT EXISTS key_changes (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        token TEXT NOT NULL,
        changed_at REAL NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS key_changes_changed_at ON key_changes (changed_at)",
)

_V2_POSTGRES = (
    """CREATE TABLE IF NOT EXISTS spend_batches (
        batch_id TEXT PRIMARY KEY,
        written_at TIMESTAMPTZ NOT NULL DEFAULT now()
    )""",
    "DROP INDEX IF EXISTS spend_logs_call_id",
    """CREATE TABLE IF NOT EXISTS key_changes (
        seq BIGSERIAL PRIMARY KEY,
        token TEXT NOT NULL,
        changed_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
    )""",
    "CREATE INDEX IF NOT EXISTS key_changes_changed_at ON key_changes (changed_at)",
)

_V3_SQLITE = (
    "DELETE FROM spend_logs WHERE call_id IS NOT NULL AND id NOT IN "
    "(SELECT MIN(id) FROM spend_logs WHERE call_id IS NOT NULL GROUP BY call_id)",
    "CREATE UNIQUE INDEX IF NOT EXISTS spend_logs_call_id_unique ON spend_logs (call_id)",
    "ALTER TABLE spend_logs ADD COLUMN end_user TEXT",
    "ALTER TABLE keys ADD COLUMN spend_epoch INTEGER NOT NULL DEFAULT 0",
)

_V3_POSTGRES = (
    "SET LOCAL statement_timeout = 0",
    "DELETE FROM spend_logs a USING spend_logs b "
    "WHERE a.call_id = b.call_id AND a.id > b.id",
    "CREATE UNIQUE INDEX IF NOT EXISTS spend_logs_call_id_unique ON spend_logs (call_id)",
    "ALTER TABLE spend_logs ADD COLUMN IF NOT EXISTS end_user TEXT",
    "ALTER TABLE keys ADD COLUMN IF NOT EXISTS spend_epoch BIGINT NOT NULL DEFAULT 0",
)

# The Responses API's conversation state for models the proxy serves through chat (what
# a previous_response_id stands for, and the response to retrieve later); see
# proxy/responses_store.py. The record is JSON text in both dialects; times are unix
# seconds in both, so one statement serves either.
_V5 = (
    """CREATE TABLE IF NOT EXISTS response_states (
        response_id TEXT PRIMARY KEY,
        key_hash TEXT,
        model_group TEXT,
        record TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS response_states_created_at ON response_states (created_at)",
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "keys and spend_logs", _V1_SQLITE, _V1_POSTGRES),
    Migration(2, "idempotent spend batches instead of a unique call_id; key changes",
              _V2_SQLITE, _V2_POSTGRES),
    Migration(3, "unique call_id (replayed spool records count once); end_user; spend_epoch",
              _V3_SQLITE, _V3_POSTGRES),
    Migration(4, "organisations, teams, users, end users, tags, budgets, audit log, spend "
              "rollups (schema_v4.py)", V4_SQLITE, V4_POSTGRES),
    Migration(5, "response_states: the Responses API's stored turns", _V5, _V5),
    Migration(6, "spend_daily_models: the small daily rollup (schema_v6.py)", V6_SQLITE,
              V6_POSTGRES),
)
LATEST = MIGRATIONS[-1].version

SCHEMA_VERSION_SQL = {
    "sqlite": "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, "
              "name TEXT NOT NULL, applied_at REAL NOT NULL)",
    "postgres": "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, "
                "name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
}


def pending(current: int) -> list[Migration]:
    """The migrations newer than ``current``, oldest first."""
    return [m for m in MIGRATIONS if m.version > current]
