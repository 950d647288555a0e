"""``general_settings.database_disable_prepared_statements`` (PgBouncer in transaction
pooling mode): the key store's PostgreSQL connections never prepare statements; by
default psycopg prepares a query run five times on a connection."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import yaml
from keystore_support import drop_schema, new_schema, pg_url

from llmrelay.proxy.config import load_config
from llmrelay.proxy.keys.postgres import PostgresStore


async def _prepared_after_many_reads(prepared_statements: bool) -> tuple[Any, int]:
    schema = new_schema()
    store = await PostgresStore.open(f"{pg_url()}?schema={schema}", pool_size=1,
                                     prepared_statements=prepared_statements)
    try:
        async def probe(conn: Any) -> tuple[Any, int]:
            for _ in range(8):  # the same statement, more often than psycopg's threshold
                await (await conn.execute("SELECT 1 WHERE %s = %s", (1, 1))).fetchall()
            cur = await conn.execute("SELECT count(*) FROM pg_prepared_statements")
            row = await cur.fetchone()
            return conn.prepare_threshold, int(row[0])

        return await store._pool.run(probe)
    finally:
        await store.close()
        drop_schema(schema)


def test_no_prepared_statements_when_disabled() -> None:
    pg_url()
    threshold, prepared = asyncio.run(_prepared_after_many_reads(False))
    assert threshold is None and prepared == 0
    threshold, prepared = asyncio.run(_prepared_after_many_reads(True))
    assert threshold == 5 and prepared >= 1  # psycopg's default, for comparison


def test_the_config_key_reaches_the_store(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"general_settings": {
        "database_url": "postgresql://u@127.0.0.1/db",
        "database_disable_prepared_statements": True}}))
    assert load_config(str(path)).store_options()["prepared_statements"] is False
    path.write_text(yaml.safe_dump({"general_settings": {
        "database_url": "postgresql://u@127.0.0.1/db"}}))
    assert "prepared_statements" not in load_config(str(path)).store_options()
