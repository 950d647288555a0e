"""The accounting part of the proxy's config: where Redis is, the local spool, and what to do
when the limits backend cannot be reached.

Redis (shared rate limits and budgets across workers and instances) is found, first match
wins, in:

1. ``$LLMRELAY_REDIS_URL``;
2. ``general_settings``: ``redis_url``, or ``redis_host`` / ``redis_port`` /
   ``redis_password`` / ``redis_username`` / ``redis_db`` / ``redis_ssl``;
3. ``router_settings``: the same names (LiteLLM's multi-instance rate-limit settings);
4. ``litellm_settings.cache_params`` when ``type: redis``: ``url``, or ``host`` / ``port`` /
   ``password`` / ``username`` / ``db`` / ``ssl``, each falling back to ``$REDIS_URL`` /
   ``$REDIS_HOST`` / ``$REDIS_PORT`` / ``$REDIS_PASSWORD`` / ``$REDIS_USERNAME`` as LiteLLM's
   Redis cache does.

The ``redis_*`` keys are taken out of ``router_settings`` (the proxy uses them; the router
has no use for them). Other accounting settings (``general_settings``):

* ``spool_dir`` (``$LLMRELAY_SPOOL_DIR``; default ``llmrelay-spool`` next to the SQLite file):
  the append-only spool of usage records not yet in the database;
* ``spool_max_size_mb`` (default 1024): above it new LLM requests get a 503 until the
  database takes the backlog;
* ``spool_fsync``: ``off`` | ``interval`` (default) | ``always`` (see ``keys/spool.py``);
* ``limits_failure_policy`` (``$LLMRELAY_LIMITS_FAILURE_POLICY``): ``fail_open`` (default) or
  ``fail_closed``, what a request of a key with limits gets while Redis is unreachable
  (LiteLLM's ``fail_closed_budget_enforcement: true`` means ``fail_closed``);
* ``database_timeout`` (seconds, default 5): the database's connect and statement timeout;
  a call gets 2 s more before its connection is dropped and replaced.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

__all__ = ["FAILURE_POLICIES", "FSYNC_POLICIES", "REDIS_KEYS", "AccountingSettings",
           "accounting_settings", "resolve_redis_url"]

FAILURE_POLICIES = ("fail_open", "fail_closed")
FSYNC_POLICIES = ("off", "interval", "always")
REDIS_KEYS = ("redis_url", "redis_host", "redis_port", "redis_password", "redis_username",
              "redis_db", "redis_ssl")
GENERAL_KEYS = frozenset({*REDIS_KEYS, "spool_dir", "spool_max_size_mb", "spool_fsync",
                          "limits_failure_policy", "database_timeout",
                          "fail_closed_budget_enforcement"})
_MB = 1024 * 1024


class AccountingConfigError(ValueError):
    """A bad accounting setting; the message names the key (a ConfigError in config.py)."""


@dataclass
class AccountingSettings:
    """Resolved accounting settings (see the module docstring)."""

    redis_url: str | None = None
    redis_source: str | None = None  # where redis_url came from, for messages
    spool_dir: str = "llmrelay-spool"
    spool_max_bytes: int = 1024 * _MB
    spool_fsync: str = "interval"
    limits_failure_policy: str = "fail_open"
    database_timeout: float = 5.0

    def store_options(self, database_url: str | None) -> dict[str, float]:
        """Timeouts for ``open_store`` (PostgreSQL: connect and statement; SQLite:
        statement)."""
        if (database_url or "").startswith("postgres"):
            return {"connect_timeout": self.database_timeout,
                    "statement_timeout": self.database_timeout}
        return {"statement_timeout": self.database_timeout}


def _url_from_parts(parts: dict[str, Any], where: str, prefix: str) -> str | None:
    """``redis://user:password@host:port/db`` from separate settings (None without host)."""
    host = parts.get(prefix + "host")
    if host in (None, ""):
        return None
    if not isinstance(host, str):
        raise AccountingConfigError(f"{where}.{prefix}host: expected a string, got {host!r}")
    port = parts.get(prefix + "port") or 6379
    try:
        port = int(port)
    except (TypeError, ValueError):
        raise AccountingConfigError(f"{where}.{prefix}port: expected a port number, got "
                                    f"{port!r}") from None
    db = parts.get(prefix + "db") or 0
    try:
        db = int(db)
    except (TypeError, ValueError):
        raise AccountingConfigError(f"{where}.{prefix}db: expected a number, got {db!r}"
                                    ) from None
    user, password = parts.get(prefix + "username"), parts.get(prefix + "password")
    auth = ""
    if password not in (None, ""):
        auth = f"{quote(str(user or ''), safe='')}:{quote(str(password), safe='')}@"
    elif user not in (None, ""):
        auth = f"{quote(str(user), safe='')}@"
    ssl = parts.get(prefix + "ssl")
    scheme = "rediss" if ssl in (True, "true", "True", "1") else "redis"
    return f"{scheme}://{auth}{host}:{port}/{db}"


def _from_section(section: dict[str, Any], where: str, prefix: str) -> str | None:
    url = section.get(prefix + "url")
    if url not in (None, ""):
        if not isinstance(url, str) or not url.startswith(("redis://", "rediss://",
                                                           "unix://")):
            raise AccountingConfigError(f"{where}.{prefix}url: expected redis://host:port/db, "
                                        f"got {url!r}")
        return url
    return _url_from_parts(section, where, prefix)


def _from_cache_params(params: dict[str, Any], env: dict[str, str]) -> str | None:
    if str(params.get("type") or "") != "redis":
        return None
    merged = dict(params)
    if not merged.get("url") and not merged.get("host") and env.get("REDIS_URL"):
        merged["url"] = env["REDIS_URL"]
    for name in ("host", "port", "password", "username"):
        if merged.get(name) in (None, "") and env.get("REDIS_" + name.upper()):
            merged[name] = env["REDIS_" + name.upper()]
    return _from_section(merged, "litellm_settings.cache_params", "")


def resolve_redis_url(general: dict[str, Any], router: dict[str, Any],
                      cache_params: dict[str, Any] | None,
                      env: dict[str, str] | None = None) -> tuple[str | None, str | None]:
    """``(url, source)`` of the Redis server for limits (see the module docstring), or
    ``(None, None)``. Raises AccountingConfigError naming a bad key."""
    env = dict(os.environ) if env is None else env
    if env.get("LLMRELAY_REDIS_URL"):
        return _from_section({"url": env["LLMRELAY_REDIS_URL"]}, "LLMRELAY_REDIS_URL",
                             ""), "LLMRELAY_REDIS_URL"
    for section, where in ((general, "general_settings"), (router, "router_settings")):
        url = _from_section(section, where, "redis_")
        if url:
            return url, where
    url = _from_cache_params(cache_params or {}, env) if cache_params else None
    if url:
        return url, "litellm_settings.cache_params"
    return None, None


def _choice(value: Any, where: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise AccountingConfigError(f"{where}: expected one of {', '.join(choices)}, got "
                                    f"{value!r}")
    return str(value)


def accounting_settings(general: dict[str, Any], router: dict[str, Any],
                        cache_params: dict[str, Any] | None, data_dir: str,
                        env: dict[str, str] | None = None) -> AccountingSettings:
    """Resolve every accounting setting. Raises AccountingConfigError naming the key."""
    env = dict(os.environ) if env is None else env
    out = AccountingSettings(spool_dir=os.path.join(data_dir, "llmrelay-spool"))
    out.redis_url, out.redis_source = resolve_redis_url(general, router, cache_params, env)
    w = "general_settings"
    spool_dir = general.get("spool_dir") or env.get("LLMRELAY_SPOOL_DIR")
    if spool_dir is not None:
        if not isinstance(spool_dir, str):
            raise AccountingConfigError(f"{w}.spool_dir: expected a folder path")
        out.spool_dir = spool_dir
    size = general.get("spool_max_size_mb")
    if size is not None:
        try:
            mb = float(size)
        except (TypeError, ValueError):
            mb = -1.0
        if isinstance(size, bool) or not mb > 0:
            raise AccountingConfigError(f"{w}.spool_max_size_mb: expected a positive number, "
                                        f"got {size!r}")
        out.spool_max_bytes = int(mb * _MB)
    if general.get("spool_fsync") is not None:
        out.spool_fsync = _choice(general["spool_fsync"], f"{w}.spool_fsync", FSYNC_POLICIES)
    timeout = general.get("database_timeout")
    if timeout is not None:
        try:
            seconds = float(timeout)
        except (TypeError, ValueError):
            seconds = -1.0
        if isinstance(timeout, bool) or not seconds > 0:
            raise AccountingConfigError(f"{w}.database_timeout: expected a positive number "
                                        f"of seconds, got {timeout!r}")
        out.database_timeout = seconds
    policy = general.get("limits_failure_policy")
    source = f"{w}.limits_failure_policy"
    strict = general.get("fail_closed_budget_enforcement")  # LiteLLM's name for fail_closed
    if strict not in (None, False, True, "true", "false", "True", "False"):
        raise AccountingConfigError(f"{w}.fail_closed_budget_enforcement: expected true or "
                                    f"false, got {strict!r}")
    if policy is None and strict in (True, "true", "True"):
        policy, source = "fail_closed", f"{w}.fail_closed_budget_enforcement"
    if policy is None and env.get("LLMRELAY_LIMITS_FAILURE_POLICY"):
        policy, source = env["LLMRELAY_LIMITS_FAILURE_POLICY"], "LLMRELAY_LIMITS_FAILURE_POLICY"
    if policy is not None:
        out.limits_failure_policy = _choice(policy, source, FAILURE_POLICIES)
    return out
