"""Limits shared by every worker of every instance: counters in Redis, each admission and
each settlement one Lua script (atomic on the server; the server's clock, so instances
need not agree on the time).

Keys, per level scope ``S`` under ``prefix`` (default ``llmrelay:lim:``):

* ``S:lease`` sorted set, lease -> expiry (ms): requests in flight;
* ``S:res`` hash, lease -> ``"usd|window"``: their budget reservations; ``S:resv:W`` the
  sum per window;
* ``S:req`` sorted set of admissions (ms): the sliding minute of ``rpm``;
* ``S:tok`` sorted set of ``lease:tokens`` (ms) and ``S:toksum``: the minute of ``tpm``;
* ``S:spent:W`` the spend of budget window ``W`` (created from the database's figure the
  first time any instance sees the window; a settlement adds the real cost);
* ``S:settled`` sorted set of leases settled in the last 10 minutes (a retried
  settlement counts once).

Every key expires when idle. One Redis server (or a primary with replicas) holds them all;
Redis Cluster is not supported (a script touches several scopes).

Round trips: every script call of the process goes down one pipelined connection
(``redis_pipe.py``): an admission is one write and one reply, admissions issued together
leave together, and settlements and heartbeats wait a couple of milliseconds to ride
along with them. Deadlines of ``timeout`` seconds on connecting and on every reply, TCP
keepalive; a call that fails gets one more try on a new connection (the scripts are
idempotent: a lease admitted or settled twice counts once), then raises
:class:`~.limit_backend.BackendUnavailable` and the limiter applies its failure policy.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from .levels import Level
from .limit_backend import BackendUnavailable, Refusal
from .redis_pipe import PipeError, RedisPipe, ReplyError

__all__ = ["RedisBackend"]

_PURGE = """
local function purge(base, now, rates)
  local expired = redis.call('ZRANGEBYSCORE', base .. ':lease', '-inf', now)
  for _, l in ipairs(expired) do
    local r = redis.call('HGET', base .. ':res', l)
    if r then
      local amt, w = string.match(r, '^([^|]*)|(.*)$')
      redis.call('INCRBYFLOAT', base .. ':resv:' .. w, -tonumber(amt))
      redis.call('HDEL', base .. ':res', l)
    end
  end
  if #expired > 0 then redis.call('ZREMRANGEBYSCORE', base .. ':lease', '-inf', now) end
  if not rates then return end
  redis.call('ZREMRANGEBYSCORE', base .. ':req', '-inf', now - 60000)
  local old = redis.call('ZRANGEBYSCORE', base .. ':tok', '-inf', now - 60000)
  local drop = 0
  for _, m in ipairs(old) do drop = drop + tonumber(string.match(m, ':(%d+)$')) end
  if drop > 0 then redis.call('DECRBY', base .. ':toksum', drop) end
  if #old > 0 then redis.call('ZREMRANGEBYSCORE', base .. ':tok', '-inf', now - 60000) end
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# ARGV: prefix, lease, ttl_ms, reserve, n, then per level: scope, window, init spend,
# parallel, rpm, tpm, budget (-1: none), keep_ms (how long the window counter lives).
_ADMIT = _PURGE + """
local prefix, lease, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
local reserve, n = tonumber(ARGV[4]), tonumber(ARGV[5])
if n > 0 and redis.call('ZSCORE', prefix .. ARGV[6] .. ':lease', lease) then
  return {0}  -- admitted before: a retry whose first answer was lost
end
local levels = {}
for k = 1, n do
  local i = 6 + (k - 1) * 8
  local L = {base = prefix .. ARGV[i], win = ARGV[i + 1], init = ARGV[i + 2],
             par = tonumber(ARGV[i + 3]), rpm = tonumber(ARGV[i + 4]),
             tpm = tonumber(ARGV[i + 5]), budget = tonumber(ARGV[i + 6]),
             keep = tonumber(ARGV[i + 7])}
  purge(L.base, now, L.rpm >= 0 or L.tpm >= 0)
  if L.par >= 0 then
    local c = redis.call('ZCARD', L.base .. ':lease')
    if c >= L.par then return {k, 'parallel', tostring(c), '1000'} end
  end
  if L.rpm >= 0 then
    local c = redis.call('ZCARD', L.base .. ':req')
    if c >= L.rpm then
      local o = redis.call('ZRANGE', L.base .. ':req', 0, 0, 'WITHSCORES')
      local wait = 60000
      if o[2] then wait = tonumber(o[2]) + 60000 - now end
      return {k, 'rpm', tostring(c), tostring(wait)}
    end
  end
  if L.tpm >= 0 then
    local used = tonumber(redis.call('GET', L.base .. ':toksum') or '0')
    if used >= L.tpm then
      local o = redis.call('ZRANGE', L.base .. ':tok', 0, 0, 'WITHSCORES')
      local wait = 60000
      if o[2] then wait = tonumber(o[2]) + 60000 - now end
      return {k, 'tpm', tostring(used), tostring(wait)}
    end
  end
  if L.budget >= 0 then
    local sk = L.base .. ':spent:' .. L.win
    redis.call('SET', sk, L.init, 'NX', 'PX', L.keep)
    local spent = tonumber(redis.call('GET', sk))
    local held = tonumber(redis.call('GET', L.base .. ':resv:' .. L.win) or '0')
    if spent + held >= L.budget then return {k, 'budget', tostring(spent + held), '0'} end
  end
  levels[k] = L
end
for _, L in ipairs(levels) do
  redis.call('ZADD', L.base .. ':lease', now + ttl, lease)
  redis.call('PEXPIRE', L.base .. ':lease', ttl + 60000)
  if L.rpm >= 0 then
    redis.call('ZADD', L.base .. ':req', now, lease)
    redis.call('PEXPIRE', L.base .. ':req', 61000)
  end
  if L.budget >= 0 then
    redis.call('PEXPIRE', L.base .. ':spent:' .. L.win, L.keep)
    if reserve > 0 and redis.call('HSET', L.base .. ':res', lease,
                                  ARGV[4] .. '|' .. L.win) == 1 then
      redis.call('PEXPIRE', L.base .. ':res', ttl + 60000)
      redis.call('INCRBYFLOAT', L.base .. ':resv:' .. L.win, reserve)
      redis.call('PEXPIRE', L.base .. ':resv:' .. L.win, ttl + 60000)
    end
  end
end
return {0}
"""

# ARGV: prefix, m, then per item: lease, cost, tokens, n, then per level: scope, window,
# has tpm (0/1), has budget (0/1).
_SETTLE = _PURGE + """
local prefix, m = ARGV[1], tonumber(ARGV[2])
local i = 3
for _ = 1, m do
  local lease, cost, tokens, n = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]),
                                 tonumber(ARGV[i + 3])
  i = i + 4
  for _ = 1, n do
    local base, win = prefix .. ARGV[i], ARGV[i + 1]
    local tpm, budget = ARGV[i + 2] == '1', ARGV[i + 3] == '1'
    i = i + 4
    if not redis.call('ZSCORE', base .. ':settled', lease) then
      redis.call('ZADD', base .. ':settled', now, lease)
      redis.call('ZREMRANGEBYSCORE', base .. ':settled', '-inf', now - 600000)
      redis.call('PEXPIRE', base .. ':settled', 600000)
      redis.call('ZREM', base .. ':lease', lease)
      local r = redis.call('HGET', base .. ':res', lease)
      if r then
        local amt, w = string.match(r, '^([^|]*)|(.*)$')
        redis.call('INCRBYFLOAT', base .. ':resv:' .. w, -tonumber(amt))
        redis.call('HDEL', base .. ':res', lease)
      end
      local sk = base .. ':spent:' .. win
      if budget and cost > 0 and redis.call('EXISTS', sk) == 1 then
        redis.call('INCRBYFLOAT', sk, cost)
      end
      if tpm and tokens > 0 then
        redis.call('ZADD', base .. ':tok', now, lease .. ':' .. tokens)
        redis.call('INCRBY', base .. ':toksum', tokens)
        redis.call('PEXPIRE', base .. ':tok', 61000)
        redis.call('PEXPIRE', base .. ':toksum', 61000)
      end
    end
  end
end
return 0
"""

# ARGV: prefix, ttl_ms, then pairs: scope, lease.
_REFRESH = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local prefix, ttl = ARGV[1], tonumber(ARGV[2])
for i = 3, #ARGV, 2 do
  redis.call('ZADD', prefix .. ARGV[i] .. ':lease', 'XX', now + ttl, ARGV[i + 1])
end
return 0
"""

_KEEP_ALL_MS = 7 * 86400 * 1000  # a window without an end: kept a week after last use


def _num(value: float | None) -> str:
    return "-1" if value is None else repr(float(value))


def _keep_ms(level: Level, now_s: float) -> int:
    if level.window_end is None:
        return _KEEP_ALL_MS
    return max(int((level.window_end.timestamp() - now_s + 120) * 1000), 60_000)


class RedisBackend:
    """Limits in Redis (see the module docstring)."""

    name = "redis"
    shared = True

    def __init__(self, url: str, *, prefix: str = "llmrelay:lim:", timeout: float = 0.5
                 ) -> None:
        self.url = url
        self.prefix = prefix
        self._pipe = RedisPipe(url, {"admit": _ADMIT, "settle": _SETTLE,
                                     "refresh": _REFRESH}, timeout=timeout)

    async def _run(self, script: str, args: list[Any], lazy: bool = False) -> Any:
        """``script`` with ``args``; a connection that fails (perhaps one that died while
        idle, across a partition that healed) gets one more try on a new one before the
        failure counts. The scripts are idempotent, so a retried call counts once."""
        try:
            try:
                return await self._pipe.script(script, args, lazy)
            except PipeError:
                return await self._pipe.script(script, args, lazy)
        except (PipeError, ReplyError) as exc:
            raise BackendUnavailable(f"Redis {_redact(self.url)}: {exc}") from exc

    async def admit(self, lease: str, levels: Sequence[Level], reserve: float,
                    ttl: float) -> Refusal | None:
        now = time.time()
        args: list[Any] = [self.prefix, lease, int(ttl * 1000), repr(float(reserve)),
                           len(levels)]
        for level in levels:
            args += [level.scope, level.window, repr(float(level.spend)),
                     _num(level.parallel), _num(level.rpm), _num(level.tpm),
                     _num(level.max_budget), _keep_ms(level, now)]
        out = await self._run("admit", args)
        if int(out[0]) == 0:
            return None
        kind = out[1].decode() if isinstance(out[1], bytes) else str(out[1])
        return Refusal(int(out[0]) - 1, kind, float(out[2]), max(float(out[3]), 0) / 1000.0)

    async def settle(self, items: Sequence[tuple[str, Sequence[Level], float, int]]
                     ) -> None:
        if not items:
            return
        args: list[Any] = [self.prefix, len(items)]
        for lease, levels, cost, tokens in items:
            args += [lease, repr(float(cost or 0.0)), int(tokens or 0), len(levels)]
            for level in levels:
                args += [level.scope, level.window, int(level.tpm is not None),
                         int(level.max_budget is not None)]
        await self._run("settle", args, lazy=True)

    async def refresh(self, leases: Sequence[tuple[str, Sequence[Level]]],
                      ttl: float) -> None:
        if not leases:
            return
        args: list[Any] = [self.prefix, int(ttl * 1000)]
        for lease, levels in leases:
            for level in levels:
                args += [level.scope, lease]
        await self._run("refresh", args, lazy=True)

    async def ping(self) -> None:
        try:
            await self._pipe.call("PING")
        except (PipeError, ReplyError) as exc:
            raise BackendUnavailable(f"Redis {_redact(self.url)}: {exc}") from exc

    async def close(self) -> None:
        await self._pipe.close()


def _redact(url: str) -> str:
    from .store import redact_url

    return redact_url(url)
