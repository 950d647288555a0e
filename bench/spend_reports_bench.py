"""Spend reports on many usage rows: how long ``/spend/report`` and LiteLLM's
``/global/spend/*`` views take on PostgreSQL and SQLite, and which indexes they use.

    python bench/spend_reports_bench.py [--rows 10000000] [--days 90] [--repeat 3]
        [--backends postgres,sqlite] [--postgres postgresql://postgres@127.0.0.1:5432/test]
        [--no-baseline] [--keep]

The tables are made by the proxy's own migrations (PostgreSQL: a schema of its own,
dropped at the end unless ``--keep``; SQLite: a file in a temporary directory). Usage rows
come from one seeded generator, so both databases hold the same data: ``--rows`` rows over
``--days`` days ending today, 2,000 keys (each with its user, team and organisation),
24 models on 6 providers, 0-2 of 60 request tags, 8,000 end users, 2% failures.

Bulk load, rollups kept as the proxy keeps them:

* PostgreSQL: the secondary indexes of ``spend_logs`` are dropped, the rows go in with
  ``COPY``, the indexes are rebuilt, and the rollups are summed from the rows by schema
  v4's and v6's own back-fill statements (what the migrations run over existing rows).
* SQLite: ``executemany`` in chunks of 20,000 rows in a transaction each, each chunk added
  to the rollups by ``rollup.sqlite_rollup`` (the proxy's own write path).

Then both are checked: every rollup's totals equal the rows' totals.

Each report runs through ``keys.reports.run_report`` (the SQL the endpoints run, on the
store's read path); the time is the median of ``--repeat`` warm runs. The baseline, in the
same run, is the same report computed from ``spend_logs`` (what a report costs without the
rollups), so figures are ratios. ``EXPLAIN`` (PostgreSQL) / ``EXPLAIN QUERY PLAN``
(SQLite) of each query is summarised as the indexes and scans it uses. CSV export times
the rows' rendering as ``GET /spend/report?format=csv`` does it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from llmrelay.proxy.keys import KeyStore, open_store  # noqa: E402
from llmrelay.proxy.keys.models import SPEND_COLUMNS  # noqa: E402
from llmrelay.proxy.keys.reports import Report, build, run_report  # noqa: E402
from llmrelay.proxy.keys.rollup import sqlite_rollup  # noqa: E402
from llmrelay.proxy.keys.schema_v4 import _backfill  # noqa: E402
from llmrelay.proxy.keys.schema_v6 import V6_POSTGRES  # noqa: E402
from llmrelay.proxy.routes.reports import _csv  # noqa: E402

PG_URL = os.environ.get("LLMRELAY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
_DAY = 86400

# ---------------------------------------------------------------------------------------
# The data


@dataclass(frozen=True)
class World:
    """Who and what the rows are about (seeded: the same for both databases)."""

    keys: list[tuple[str, str, str, str, str]]  # key_hash, alias, user, team, organisation
    models: list[tuple[str, str, str, float, float]]  # group, model, provider, $in, $out
    tags: list[str]
    end_users: list[str]


def make_world(seed: int = 7) -> World:
    rnd = random.Random(seed)
    orgs = [f"org-{i:02d}" for i in range(12)]
    teams = [(f"team-{i:03d}", orgs[i % len(orgs)]) for i in range(120)]
    users = [(f"user-{i:04d}", teams[rnd.randrange(len(teams))]) for i in range(1200)]
    keys = []
    for i in range(2000):
        user, (team, org) = users[rnd.randrange(len(users))]
        keys.append((uuid.UUID(int=rnd.getrandbits(128)).hex * 2, f"key-{i:04d}", user, team,
                     org))
    providers = ["openai", "anthropic", "azure", "bedrock", "vertex_ai", "gemini"]
    models = []
    for i in range(24):
        provider = providers[i % len(providers)]
        price = 10 ** rnd.uniform(-7, -5)
        models.append((f"model-{i:02d}", f"{provider}/model-{i:02d}", provider, price,
                       price * 4))
    return World(keys, models, [f"tag-{i:02d}" for i in range(60)],
                 [f"customer-{i:05d}" for i in range(8000)])


def rows(world: World, count: int, days: int, end: float, seed: int = 11
         ) -> Iterator[tuple[Any, ...]]:
    """``count`` usage rows in ``SPEND_COLUMNS`` order as SQLite stores them (times in
    unix seconds, tags as JSON text), spread over ``days`` days before ``end``. Keys and
    models are skewed (a few carry most of the traffic), as in real gateways."""
    rnd = random.Random(seed)
    start = end - days * _DAY
    step = (end - start) / count
    nkeys, nmodels = len(world.keys), len(world.models)
    keys = [world.keys[int(nkeys * (i / 4096) ** 2)] for i in range(4096)]
    models = [world.models[int(nmodels * (i / 4096) ** 2)] for i in range(4096)]
    tag_sets = ["[]"] * 2000 + [json.dumps(rnd.sample(world.tags, 1 + i % 2))
                                for i in range(2000)]
    run = uuid.UUID(int=rnd.getrandbits(128)).hex[:16]
    getrandbits = rnd.getrandbits
    for i in range(count):
        bits = getrandbits(128)
        t = start + (i + (bits & 0xFFFF) / 65536) * step
        key_hash, alias, user, team, org = keys[(bits >> 16) & 4095]
        group, model, provider, p_in, p_out = models[(bits >> 28) & 4095]
        prompt = 20 + ((bits >> 40) & 0xFFF) % 3980
        completion = 1 + ((bits >> 52) & 0x3FF) % 800
        failed = (bits >> 62) & 0x3F == 0
        if failed:
            completion = 0
        latency = 80.0 + ((bits >> 68) & 0xFFF)
        tags = tag_sets[((bits >> 80) & 0xFFF) % 4000]
        end_user = None if (bits >> 92) & 0xF < 5 else world.end_users[
            ((bits >> 96) & 0x1FFF) % len(world.end_users)]
        yield (f"{run}{i:016x}", key_hash, alias, user, team, model,
               group, f"{group}-deployment", "https://api.example.test/v1", prompt,
               completion, prompt + completion,
               0.0 if failed else prompt * p_in + completion * p_out, latency,
               "failure" if failed else "success", t, t + latency / 1000,
               1 if (bits >> 109) & 0x1F == 0 else 0, tags, end_user, provider, org, None, None)


# ---------------------------------------------------------------------------------------
# Loading


_NULL = "\\N"
_BOOL = SPEND_COLUMNS.index("cache_hit")
_TIMES = (SPEND_COLUMNS.index("start_time"), SPEND_COLUMNS.index("end_time"))


_MINUTES: dict[int, str] = {}


def _pg_time(t: float) -> str:
    minute = int(t // 60)
    prefix = _MINUTES.get(minute)
    if prefix is None:
        if len(_MINUTES) > 10_000:
            _MINUTES.clear()
        prefix = _MINUTES[minute] = datetime.fromtimestamp(
            minute * 60, timezone.utc).strftime("%Y-%m-%d %H:%M:")
    return f"{prefix}{t - minute * 60:09.6f}+00"


def _pg_line(row: tuple[Any, ...]) -> str:
    """One row in COPY's text format (the generated text holds no tab, newline or
    backslash, so nothing needs escaping)."""
    out = [_NULL if v is None else str(v) for v in row]
    for at in _TIMES:
        out[at] = _pg_time(row[at])
    out[_BOOL] = "t" if row[_BOOL] else "f"
    return "\t".join(out) + "\n"


def load_postgres(url: str, schema: str, data: Iterator[tuple[Any, ...]]) -> dict[str, float]:
    import psycopg
    from psycopg import sql

    took: dict[str, float] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        conn.execute("SET maintenance_work_mem = '512MB'")
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s AND "
            "tablename = 'spend_logs' AND indexname <> 'spend_logs_pkey'", (schema,)).fetchall()
        for name, _ in indexes:
            conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
        t0 = time.perf_counter()
        columns = sql.SQL(", ").join(sql.Identifier(c) for c in SPEND_COLUMNS)
        with conn.cursor() as cur, cur.copy(
                sql.SQL("COPY spend_logs ({}) FROM STDIN").format(columns)) as copy:
            chunk: list[str] = []
            for row in data:
                chunk.append(_pg_line(row))
                if len(chunk) >= 20_000:
                    copy.write("".join(chunk))
                    chunk.clear()
            if chunk:
                copy.write("".join(chunk))
        took["copy"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        for _, definition in indexes:
            conn.execute(definition)
        took["indexes"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        with conn.transaction():
            conn.execute("SET LOCAL work_mem = '256MB'")
            for statement in (*_backfill("postgres"), V6_POSTGRES[-1]):
                conn.execute(statement)
        took["rollups"] = time.perf_counter() - t0
        conn.execute("VACUUM ANALYZE")
    return took


def load_sqlite(path: str, data: Iterator[tuple[Any, ...]]) -> dict[str, float]:
    import sqlite3

    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -262144")
    insert = (f"INSERT INTO spend_logs ({', '.join(SPEND_COLUMNS)}) VALUES "
              f"({', '.join('?' * len(SPEND_COLUMNS))})")
    t0 = time.perf_counter()
    chunk: list[tuple[Any, ...]] = []

    def flush() -> None:
        conn.execute("BEGIN")
        conn.executemany(insert, chunk)
        sqlite_rollup(conn, chunk)
        conn.execute("COMMIT")
        chunk.clear()

    for row in data:
        chunk.append(row)
        if len(chunk) >= 20_000:
            flush()
    if chunk:
        flush()
    took = {"insert+rollups": time.perf_counter() - t0}
    t0 = time.perf_counter()
    conn.execute("ANALYZE")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    took["analyze"] = time.perf_counter() - t0
    conn.close()
    return took


def check_rollups(store: KeyStore) -> list[str]:
    """The rollups whose totals differ from the rows' (empty: all consistent)."""
    raw = "SELECT COUNT(*), ROUND(CAST(SUM(cost) AS NUMERIC), 6), SUM(total_tokens) FROM spend_logs"
    if store.dialect == "sqlite":
        raw = raw.replace("ROUND(CAST(SUM(cost) AS NUMERIC), 6)", "ROUND(SUM(cost), 6)")
    queries = {"spend_logs": raw}
    for table, where in (("spend_daily", ""), ("spend_daily_models", ""), ("spend_hourly", ""),
                         ("spend_daily_dims", " WHERE dim = 'end_user'")):
        queries[table] = raw.replace("COUNT(*)", "SUM(requests)").replace(
            "SUM(cost)", "SUM(spend)").replace("spend_logs", table + where)

    async def run() -> dict[str, Any]:
        out = {}
        for name, q in queries.items():
            def program(q: str = q) -> Any:
                return (yield (q, []))
            out[name] = tuple((await store.run_program(program, write=False, timeout=600))[0])
        return out

    totals = asyncio.get_event_loop().run_until_complete(run())
    want = tuple(float(v) for v in totals["spend_logs"])
    return [f"{t}: {v} != {want}" for t, v in totals.items()
            if tuple(float(x) for x in v) != want]


# ---------------------------------------------------------------------------------------
# The reports


@dataclass
class Case:
    name: str
    endpoint: str
    report: Report
    csv: bool = False


def cases(end: datetime, world: World) -> list[Case]:
    d30 = end - timedelta(days=30)
    d90 = end - timedelta(days=90)
    day = end - timedelta(days=1)
    key, team, user = world.keys[5][0], world.keys[5][3], world.keys[5][2]
    odd = (end - timedelta(days=3, hours=7, minutes=30), end - timedelta(days=1, minutes=15))
    return [
        Case("spend per day, 30 d", "/global/spend/logs, /global/activity",
             Report(d30, end, "day", [])),
        Case("day x model, 30 d", "/global/activity/model", Report(d30, end, "day", ["model"])),
        Case("day x team, 30 d", "/global/spend/teams", Report(d30, end, "day", ["team_id"])),
        Case("top 10 keys, 30 d", "/global/spend/keys",
             Report(d30, end, None, ["api_key"], limit=10)),
        Case("day x key, 30 d", "/spend/report?group_by=day,key",
             Report(d30, end, "day", ["api_key"])),
        Case("day x user, 30 d", "/spend/report?group_by=day,user",
             Report(d30, end, "day", ["user_id"])),
        Case("day x provider, 30 d", "/spend/report?group_by=day,provider",
             Report(d30, end, "day", ["provider"])),
        Case("tags, 30 d", "/global/spend/tags", Report(d30, end, None, ["tag"])),
        Case("day x tag, 30 d", "/spend/report?group_by=day,tag",
             Report(d30, end, "day", ["tag"])),
        Case("top 100 end users, 30 d", "/global/spend/end_users",
             Report(d30, end, None, ["end_user"], limit=100)),
        Case("hour x model, 1 d", "/spend/report?group_by=hour,model",
             Report(day, end, "hour", ["model"])),
        Case("hour x team, 7 d", "/spend/report?group_by=hour,team",
             Report(end - timedelta(days=7), end, "hour", ["team_id"])),
        Case("one key: day x model, 90 d", "/spend/report?api_key=...",
             Report(d90, end, "day", ["model"], {"api_key": key})),
        Case("one team: day x user, 90 d", "/spend/report?team_id=... (team admin)",
             Report(d90, end, "day", ["user_id"], {"team_id": team})),
        Case("one user: day, 90 d", "/spend/report (internal user)",
             Report(d90, end, "day", [], {"user_id": user})),
        Case("one tag: day x model, 30 d", "/spend/report?tag=...",
             Report(d30, end, "day", ["model"], {"tag": world.tags[3]})),
        Case("one model: day x key, 30 d", "/spend/report?model=...",
             Report(d30, end, "day", ["api_key"], {"model": world.models[2][0]})),
        Case("hour x key, 1 d", "/spend/report?group_by=hour,key (rows)",
             Report(day, end, "hour", ["api_key"])),
        Case("hour x tag, 1 d", "/spend/report?group_by=hour,tag (rows)",
             Report(day, end, "hour", ["tag"])),
        Case("one team: tags, 30 d", "/spend/report?team_id=...&group_by=tag (rows)",
             Report(d30, end, None, ["tag"], {"team_id": team})),
        Case("key x model, 55.5 h (not hour-aligned)", "/spend/report?start_date=ISO (rows)",
             Report(odd[0], odd[1], None, ["api_key", "model"])),
        Case("CSV: day x key x model, 90 d", "/spend/report?format=csv",
             Report(d90, end, "day", ["api_key", "model"]), csv=True),
    ]


class RawReport(Report):
    """The same report computed from ``spend_logs`` (the baseline)."""

    def source(self) -> str:
        return "spend_logs"


def _as_raw(report: Report) -> RawReport:
    raw = RawReport()
    for name in ("start", "end", "interval", "group_by", "filters", "limit"):
        setattr(raw, name, getattr(report, name))
    return raw


async def _timed(store: KeyStore, report: Report, as_csv: bool, repeat: int
                 ) -> tuple[float, list[dict[str, Any]], str, int]:
    times = []
    out: list[dict[str, Any]] = []
    source = ""
    size = 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        out, source = await run_report(store, report)
        if as_csv:
            columns = (["date"] if report.interval else []) + report.group_by + [
                "spend", "requests", "prompt_tokens", "completion_tokens", "total_tokens",
                "failures", "cache_hits", "avg_latency_ms"]
            size = len(_csv(out, columns).body)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out, source, size


def _plan_pg(store: KeyStore, report: Report) -> str:
    sql_text, params, _, _ = build(report, "postgres")

    def program() -> Any:
        return (yield ("EXPLAIN " + sql_text, params))

    lines = [r[0] for r in asyncio.get_event_loop().run_until_complete(
        store.run_program(program, write=False, timeout=600))]
    found = []
    for line in lines:
        m = re.search(r"(Index Only Scan|Index Scan|Bitmap Index Scan|Seq Scan|Function Scan)"
                      r"(?: using (\w+))?(?: on (\w+))?", line)
        if m:
            kind, index, table = m.groups()
            found.append(f"{kind} {index or table or ''}".strip())
    return ", ".join(dict.fromkeys(found))


def _plan_sqlite(store: KeyStore, report: Report) -> str:
    sql_text, params, _, _ = build(report, "sqlite")

    def program() -> Any:
        return (yield ("EXPLAIN QUERY PLAN " + sql_text, params))

    rows_ = asyncio.get_event_loop().run_until_complete(
        store.run_program(program, write=False, timeout=600))
    found = []
    for r in rows_:
        detail = str(r[-1])
        if detail.startswith(("SCAN", "SEARCH")):
            detail = re.sub(r" \(.*\)$", "", detail)
            found.append(detail.replace("USING ", "").replace(" INDEX", ""))
    return ", ".join(dict.fromkeys(found))


def _same(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> bool:
    def key(rows_: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return sorted((tuple(str(v) for k, v in r.items() if k not in (
            "spend", "latency_ms", "avg_latency_ms")), round(r["spend"], 6)) for r in rows_)
    return key(a) == key(b)


def measure(store: KeyStore, world: World, end: datetime, repeat: int, baseline: bool
            ) -> list[dict[str, Any]]:
    loop = asyncio.get_event_loop()
    explain = _plan_pg if store.dialect == "postgres" else _plan_sqlite
    results = []
    for case in cases(end, world):
        seconds, got, source, size = loop.run_until_complete(
            _timed(store, case.report, case.csv, repeat))
        entry: dict[str, Any] = {
            "name": case.name, "endpoint": case.endpoint, "source": source,
            "rows": len(got), "ms": seconds * 1000, "plan": explain(store, case.report)}
        if case.csv:
            entry["csv_bytes"] = size
        if baseline and source != "spend_logs":
            raw = _as_raw(case.report)
            raw_s, raw_rows, _, _ = loop.run_until_complete(_timed(store, raw, False, 1))
            entry["raw_ms"] = raw_s * 1000
            entry["same_as_raw"] = _same(got, raw_rows) if case.report.limit >= len(
                raw_rows) else None
        results.append(entry)
        print(f"  {case.name:42s} {source:17s} {len(got):7d} rows {seconds * 1000:9.1f} ms"
              + (f"  raw {entry['raw_ms']:9.1f} ms  x{entry['raw_ms'] / max(entry['ms'], 1e-3):.0f}"
                 f" {'same' if entry.get('same_as_raw') else ''}" if "raw_ms" in entry else "")
              + f"  [{entry['plan']}]", flush=True)
    return results


# ---------------------------------------------------------------------------------------


def _table_rows(store: KeyStore) -> dict[str, int]:
    async def run() -> dict[str, int]:
        out = {}
        for table in ("spend_logs", "spend_daily", "spend_daily_models", "spend_hourly",
                      "spend_daily_dims"):
            def program(table: str = table) -> Any:
                return (yield (f"SELECT COUNT(*) FROM {table}", []))
            out[table] = int((await store.run_program(program, write=False, timeout=600))[0][0])
        return out
    return asyncio.get_event_loop().run_until_complete(run())


def bench_backend(kind: str, args: argparse.Namespace, world: World, end: datetime
                  ) -> dict[str, Any]:
    loop = asyncio.get_event_loop()
    data = rows(world, args.rows, args.days, end.timestamp())
    tmp = tempfile.mkdtemp(prefix="llmrelay-reports-")
    schema = f"llmrelay_bench_reports_{uuid.uuid4().hex[:8]}"
    print(f"{kind}: loading {args.rows:,} rows ...", flush=True)
    if kind == "postgres":
        url = args.postgres + ("&" if "?" in args.postgres else "?") + "schema=" + schema
        loop.run_until_complete(loop.run_until_complete(open_store(url, "")).close())
        took = load_postgres(args.postgres, schema, data)
        store = loop.run_until_complete(open_store(url, ""))
    else:
        path = os.path.join(tmp, "keys.db")
        loop.run_until_complete(loop.run_until_complete(open_store(None, path)).close())
        took = load_sqlite(path, data)
        store = loop.run_until_complete(open_store(None, path))
    print(f"{kind}: load {', '.join(f'{k} {v:.0f} s' for k, v in took.items())}", flush=True)
    try:
        counts = _table_rows(store)
        problems = check_rollups(store)
        print(f"{kind}: rows {counts}; rollups {problems if problems else 'consistent'}",
              flush=True)
        results = measure(store, world, end, args.repeat, args.baseline)
    finally:
        loop.run_until_complete(store.close())
        if kind == "postgres" and not args.keep:
            import psycopg
            with psycopg.connect(args.postgres, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        elif kind == "sqlite" and not args.keep:
            for name in os.listdir(tmp):
                os.unlink(os.path.join(tmp, name))
            os.rmdir(tmp)
    return {"load_s": took, "tables": counts, "rollups_consistent": not problems,
            "reports": results}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backends", default="postgres,sqlite")
    parser.add_argument("--postgres", default=PG_URL)
    parser.add_argument("--no-baseline", dest="baseline", action="store_false")
    parser.add_argument("--keep", action="store_true", help="keep the schema / file")
    parser.add_argument("--json", help="write the results here too")
    args = parser.parse_args(argv)
    asyncio.set_event_loop(asyncio.new_event_loop())
    world = make_world()
    end = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0) + \
        timedelta(days=1)
    out = {"rows": args.rows, "days": args.days, "repeat": args.repeat}
    for kind in args.backends.split(","):
        out[kind] = bench_backend(kind.strip(), args, world, end)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()
