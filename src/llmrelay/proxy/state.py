"""Everything one proxy process holds: config, model groups, hooks, metrics, and the key
store half (store, key cache, spend writer, limiter), opened at start and closed at stop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import llmrelay

from .._client import Client
from ..callbacks.registry import check_lists
from .auth import Authenticator
from .config import ConfigError, ProxyConfig
from .deployments import ModelTable, deployment_prices
from .hooks import HookRunner
from .metrics import Metrics

__all__ = ["ProxyState", "build_client"]

log = logging.getLogger("llmrelay.proxy")

_LISTS = ("callbacks", "success_callback", "failure_callback", "input_callback")


def build_client(cfg: ProxyConfig) -> Client:
    """The proxy's own :class:`~llmrelay.Client` from ``litellm_settings`` (callback lists,
    cache, retries, timeouts ...) and the deployments' configured prices. Nothing is written
    to the ``llmrelay`` module, so two apps in one process share nothing.

    Raises :class:`ConfigError` when a callback list or the cache cannot be set up.
    """
    lists: dict[str, Any] = {name: list(getattr(cfg, name)) for name in _LISTS}
    for name, entries in lists.items():
        try:
            check_lists({name: entries}, proxy=True)  # proxy-only hooks are expected here
        except (TypeError, ValueError, ImportError) as exc:
            raise ConfigError(f"litellm_settings.{name}: {exc}") from exc
    cache = None
    if cfg.cache:
        try:
            from ..caching import Cache

            cache = Cache(**cfg.cache_params)
        except ImportError as exc:
            raise ConfigError(f"litellm_settings.cache: caching is not available: {exc}") from exc
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"litellm_settings.cache_params: {exc}") from exc
    try:
        return Client(**lists, cache=cache,
                      model_prices=deployment_prices(cfg.model_list) or None, **cfg.settings)
    except TypeError as exc:
        raise ConfigError(f"litellm_settings: {exc}") from exc


class ProxyState:
    """Per-process state shared by the routes (``request.app.state.proxy``)."""

    def __init__(self, cfg: ProxyConfig) -> None:
        self.cfg = cfg
        self.client = build_client(cfg)  # this app's settings; llmrelay.* is never written
        from .responses_store import ProxyResponsesStore

        # the Responses API's turns, in the key store's database once it is open
        self.responses = ProxyResponsesStore()
        self.client.settings.responses_store = self.responses
        try:
            self.models = ModelTable(cfg.model_list, cfg.router_settings, client=self.client)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"model_list / router_settings: {exc}") from exc
        cfg.warnings.extend(self.models.warnings)
        self.hooks = HookRunner(self.client)
        self.metrics = Metrics()
        self.auth = Authenticator(cfg.master_key, None, cfg.key_header)
        self.store: Any = None
        self.key_cache: Any = None
        self.spend: Any = None
        self.limiter: Any = None
        self.hierarchy: Any = None  # keys/hierarchy.py: teams, users, orgs ... audit log
        self.gate: Any = None  # hierarchy_gate.py: the levels above each request's key
        from .bodies import keep_bodies

        self.keep_bodies = keep_bodies(cfg)  # store_prompts_in_spend_logs
        self.started_at = time.time()

    async def start(self) -> None:
        """Open the key store (migrations run there) and start the spend writer."""
        from .keys.cache import KeyCache
        from .keys.limit_backend import open_backend
        from .keys.limits import Limiter
        from .keys.spend import SpendWriter
        from .keys.spool import Spool
        from .keys.store import open_store

        self.store = await open_store(self.cfg.database_url, self.cfg.sqlite_path,
                                      **self.cfg.store_options())
        self.key_cache = KeyCache(self.store)
        self.responses.bind(self.store)
        from .hierarchy_gate import HierarchyGate
        from .keys.entity_cache import EntityCache
        from .keys.hierarchy import Hierarchy

        self.hierarchy = Hierarchy(self.store)
        entities = EntityCache(self.hierarchy)
        self.key_cache.followers.append(entities)  # one poll of key_changes for both
        self.gate = HierarchyGate(entities, self.models, self.cfg)
        self.key_cache.start_watching()
        acct = self.cfg.accounting
        self.spend = SpendWriter(self.store, Spool(
            acct.spool_dir, fsync=acct.spool_fsync, max_bytes=acct.spool_max_bytes))
        await self.spend.start()
        self.limiter = Limiter(open_backend(acct.redis_url, acct.spool_dir),
                               policy=acct.limits_failure_policy)
        await self.limiter.start()
        self.auth.key_cache = self.key_cache

    async def stop(self) -> None:
        """Flush usage records and callback events, close the store."""
        if self.key_cache is not None:
            await self.key_cache.stop_watching()
        if self.limiter is not None:
            try:
                await self.limiter.close()
            except Exception:
                log.warning("llmrelay proxy: closing the limiter failed", exc_info=True)
        if self.spend is not None:
            try:
                await self.spend.close()
            except Exception:
                log.warning("llmrelay proxy: final spend flush failed", exc_info=True)
        await self.responses.close()
        if self.store is not None:
            try:
                await self.store.close()
            except Exception:
                log.warning("llmrelay proxy: closing the key store failed", exc_info=True)
        await llmrelay.aflush(timeout=5.0)
        if self.cfg.team_callbacks:  # default_team_settings' own Langfuse loggers
            from .team_logging import close_team_loggers

            await close_team_loggers(self.cfg.team_callbacks)

    def spend_now(self, rec: Any) -> float:
        """The key's spend including usage not yet written to the database."""
        if self.spend is None:
            return float(rec.spend or 0.0)
        return float(self.spend.spend_of(rec.token, rec.spend))

    async def flush_spend(self, timeout: float = 3.0) -> str | None:
        """Write spooled usage records now, and wait (up to ``timeout`` s) until every
        record spooled on this machine before the call (other workers' too) is in the
        database. Returns None then, else what is missing (a report would be partial)."""
        writer = self.spend
        if writer is None:
            return None
        snapshot = writer.spool.snapshot()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            await asyncio.wait_for(writer.flush(), timeout)
        except Exception:
            log.debug("llmrelay proxy: spend flush before a report failed", exc_info=True)
        while True:
            left = writer.spool.caught_up(snapshot) + len(writer._memory)
            if not left:
                return None
            if loop.time() >= deadline:
                return (f"{left} bytes of usage records spooled on this machine are not in "
                        f"the database yet ({writer.last_error or 'the writers are behind'})")
            await asyncio.sleep(0.05)
