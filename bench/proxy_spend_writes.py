"""Spend write throughput of the key store as ``spend_logs`` grows.

Writes batches of 1000 usage records (20 keys, random call ids, as the proxy makes them)
through ``KeyStore.add_spend`` and prints rows/second of write time per slice of the
table, so a slowdown with table size shows as falling numbers.

    python bench/proxy_spend_writes.py                       # SQLite, 1M rows, temp file
    python bench/proxy_spend_writes.py --rows 300000 \\
        --url 'postgresql://postgres@127.0.0.1:5432/test?schema=bench_spend'

Measured here (2 cores, batches of 1000): before batching (row-by-row inserts with ON
CONFLICT on a unique random call_id) SQLite fell from 12,100 to 7,800 rows/s over the
first million rows and PostgreSQL from 13,500 to 11,000 over 300,000; with batch ids,
``executemany`` (SQLite) and COPY (PostgreSQL) they hold at 50,000-65,000 and
26,000-34,000 rows/s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

from llmrelay.proxy.keys import SpendRecord, open_store


async def run(url: str | None, rows: int, report: int) -> None:
    with tempfile.TemporaryDirectory(prefix="llmrelay-spend-bench-") as folder:
        await _run(url, os.path.join(folder, "spend.db"), rows, report)


async def _run(url: str | None, path: str, rows: int, report: int) -> None:
    store = await open_store(url, path)
    try:
        keys = [(await store.create())[1].token for _ in range(20)]
        done, spent, last = 0, 0.0, 0.0
        while done < rows:
            batch = [SpendRecord(call_id=str(uuid.uuid4()), key_hash=random.choice(keys),
                                 cost=0.001, model="openai/gpt-4o-mini", model_group="gpt",
                                 deployment="d1", prompt_tokens=10, completion_tokens=5,
                                 total_tokens=15) for _ in range(1000)]
            t0 = time.perf_counter()
            await store.add_spend(batch)
            spent += time.perf_counter() - t0
            done += len(batch)
            if done % report == 0:
                print(f"{done:>9} rows: {report / (spent - last):>8,.0f} rows/s", flush=True)
                last = spent
    finally:
        await store.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default=None, help="database_url (default: a temp SQLite file)")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--report", type=int, default=200_000, help="rows per printed slice")
    args = ap.parse_args()
    asyncio.run(run(args.url, args.rows, args.report))


if __name__ == "__main__":
    main()
