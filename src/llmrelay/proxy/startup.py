"""Checks ``llmrelay serve`` makes before it claims to be running, and the start-up summary.

* **Master key.** Refused as LiteLLM (1.108.7) refuses it: not set, empty, or a publicly
  known default (``sk-1234``, the key of LiteLLM's examples), because every request would
  then be accepted without (real) authentication. Allowed anyway, for local development,
  with ``LLMRELAY_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY=true`` or LiteLLM's
  ``LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY=true`` (or
  ``general_settings.dangerously_permit_weak_or_unset_master_key: true``). One exception,
  so that ``make run`` works out of the box: the embedded defaults (no config file) may run
  without a key when bound to a loopback address, where only this machine can reach them.
* **Database.** Opened (and migrated) once before the banner: an unreachable or unusable
  database is one line naming it and exit code 3, never a banner followed by a traceback.
* **Summary.** One block listing every config key that has no effect here, the deployments
  set aside, and the other warnings, printed before the banner.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import ProxyConfig

__all__ = ["OVERRIDE_ENV", "StartupError", "check_database", "master_key_problem",
           "permitted", "summary"]

OVERRIDE_ENV = ("LLMRELAY_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY",
                "LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY")
# sha256 of keys everyone knows from documentation: LiteLLM refuses the same one.
_KNOWN = frozenset({"88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b"})
_SHORT = 16
_DB_TIMEOUT = 30.0


class StartupError(Exception):
    """The proxy cannot start; ``message`` is the one line to print, ``exit_code`` the
    process status (2: the config, 3: the database)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def truthy(value: str | None) -> bool:
    """An environment flag's value read as on (1, true, yes, on) or off."""
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def permitted(cfg: ProxyConfig) -> bool:
    """Whether the config or the environment allows a weak or missing master key."""
    return cfg.permit_weak_master_key or any(truthy(os.environ.get(v)) for v in OVERRIDE_ENV)


def _weakness(key: str | None) -> str | None:
    if key is None:
        return "no master key is set, so every request would be accepted without " \
               "authentication"
    if not key.strip():
        return "the master key is empty"
    if hashlib.sha256(key.strip().encode()).hexdigest() in _KNOWN:
        return "the master key is a publicly known example key (sk-1234)"
    return None


def _loopback(host: str) -> bool:
    bare = host.strip("[]")
    if bare == "localhost":
        return True
    try:
        return ipaddress.ip_address(bare).is_loopback
    except ValueError:
        return False


def master_key_problem(cfg: ProxyConfig, host: str) -> str | None:
    """Why the proxy must not start with the configured master key, or None."""
    weakness = _weakness(cfg.master_key)
    if weakness is None or permitted(cfg):
        return None
    if cfg.path is None and cfg.master_key is None and _loopback(host):
        return None  # the embedded defaults, reachable from this machine only
    if cfg.master_key is None:
        where = ("general_settings.master_key, LLMRELAY_MASTER_KEY and LITELLM_MASTER_KEY "
                 "are all unset" if "master_key" not in cfg.general_settings
                 else f"{cfg.master_key_source} gives no key")
        if cfg.path is None:
            where += f" and --host {host} is reachable from other machines"
    else:
        where = f"it comes from {cfg.master_key_source}"
    return (f"{weakness} ({where}). Set a strong key, e.g. "
            f"`export LLMRELAY_MASTER_KEY=sk-$(openssl rand -hex 32)`, or, for local "
            f"development only, set {OVERRIDE_ENV[0]}=true (LiteLLM's {OVERRIDE_ENV[1]} "
            f"works too)")


def check_database(cfg: ProxyConfig, timeout: float = _DB_TIMEOUT) -> None:
    """Open the key store once (applying its migrations) and close it; raises
    :class:`StartupError` (exit code 3) with one line naming the database."""
    from .app import _redact
    from .keys.store import open_store

    where = cfg.database_url or f"sqlite:///{os.path.abspath(cfg.sqlite_path)}"

    async def probe() -> None:
        store = await open_store(cfg.database_url, cfg.sqlite_path, **cfg.store_options())
        await store.close()

    try:
        asyncio.run(asyncio.wait_for(probe(), timeout))
    except (asyncio.TimeoutError, TimeoutError):
        raise StartupError(f"cannot open the database at {_redact(where)}: no answer within "
                           f"{timeout:g} s", 3) from None
    except Exception as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise StartupError(f"cannot open the database at {_redact(where)}: "
                           f"{type(exc).__name__}{': ' + detail if detail else ''}",
                           3) from None


def summary(cfg: ProxyConfig, host: str) -> list[str]:
    """The start-up summary, one item per line (empty when there is nothing to say)."""
    lines: list[str] = []
    if cfg.unused:
        lines.append(f"{len(cfg.unused)} config setting(s) have no effect in llmrelay "
                     f"(they configure things it does not have):")
        lines += [f"  {key}: {why}" for key, why in cfg.unused]
    if cfg.skipped:
        lines.append(f"{len(cfg.skipped)} deployment(s) set aside (requests for a model "
                     f"group left without deployments get a 400 saying why):")
        lines += [f"  {what}: {why}" for what, why in cfg.skipped]
    key = cfg.master_key
    if key is not None and _weakness(key) is None and len(key.strip()) < _SHORT:
        lines.append(f"warning: the master key ({cfg.master_key_source}) is only "
                     f"{len(key.strip())} characters long; use 32 or more random ones")
    if _weakness(key) is not None and permitted(cfg):
        lines.append(f"warning: {_weakness(key)}; starting anyway because it is "
                     f"explicitly permitted (never do this outside local development)")
    lines += [f"warning: {w}" for w in cfg.warnings]
    return lines
