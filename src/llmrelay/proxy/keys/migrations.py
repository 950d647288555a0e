"""Versioned schema migrations for the key store, one list per SQL dialect.

Each backend applies the migrations newer than ``MAX(version)`` of its ``schema_version``
table when it opens, inside one transaction that first takes a lock (SQLite: ``BEGIN
IMMEDIATE``; PostgreSQL: a transaction-scoped advisory lock), so several proxy workers
starting together migrate once. Never edit a released migration: append a new one.

Times are ``TIMESTAMPTZ`` in PostgreSQL and unix seconds (``REAL``) in SQLite; lists and
dicts are ``JSONB`` in PostgreSQL and JSON text in SQLite. ``spend_logs.call_id`` is unique
so that a batch retried after an unclear failure (commit sent, answer lost) is not counted
twice.
"""

from __future__ import annotations

from dataclasses import dataclass

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

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "keys and spend_logs", _V1_SQLITE, _V1_POSTGRES),
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
