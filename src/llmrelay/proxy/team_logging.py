"""``litellm_settings.default_team_settings``: LiteLLM's team-based logging.

Each entry names a team (``team_id``) and the callbacks the calls of that team's keys go
to, on top of the proxy-wide ones::

    default_team_settings:
      - team_id: team-1
        success_callback: ["langfuse"]
        failure_callback: ["langfuse"]
        langfuse_public_key: os.environ/LANGFUSE_PROJECT1_PUBLIC
        langfuse_secret: os.environ/LANGFUSE_PROJECT1_SECRET
        langfuse_host: https://us.cloud.langfuse.com      # optional

``langfuse`` in a team's lists is a Langfuse logger of its own, sending with the entry's
keys (``langfuse_secret`` or ``langfuse_secret_key``) to its host; an entry that gives no
keys at all uses ``LANGFUSE_PUBLIC_KEY`` / ``LANGFUSE_SECRET_KEY`` as LiteLLM does. An entry
that names its keys through ``os.environ/`` variables that are not set cannot send: it is
reported in the start-up summary and its team's calls are *not* sent to the proxy-wide
Langfuse project instead (they belong to another project). Other names and
``module.attribute`` callbacks are read as in ``litellm_settings.callbacks``. Keys of an
entry that are not logging settings (LiteLLM's ``max_budget`` for teams created from JWTs)
are reported.
"""

from __future__ import annotations

from typing import Any

from .config_values import ConfigError, callbacks

__all__ = ["TeamCallbacks", "close_team_loggers", "team_callbacks"]

TeamCallbacks = dict[str, dict[str, list[Any]]]  # team_id -> {"success_callback": [...], ...}

_LISTS = ("callbacks", "success_callback", "failure_callback")
_LANGFUSE = ("langfuse_public_key", "langfuse_secret", "langfuse_secret_key", "langfuse_host")
_LANGFUSE_NAMES = ("langfuse", "langfuse_v2")


def team_callbacks(value: Any, where: str, base_dir: str, unused: list[tuple[str, str]]
                   ) -> TeamCallbacks:
    """The per-team callback lists of ``default_team_settings`` (see the module doc);
    raises :class:`ConfigError` naming the entry for a malformed one."""
    if value is None:
        return {}
    if not isinstance(value, list):
        raise ConfigError(f"{where}: expected a list of {{team_id, success_callback, ...}}")
    out: TeamCallbacks = {}
    for i, entry in enumerate(value):
        here = f"{where}[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{here}: expected a mapping with team_id")
        team = entry.get("team_id")
        if not isinstance(team, str) or not team:
            raise ConfigError(f"{here}.team_id: expected a team id (a string)")
        if team in out:
            raise ConfigError(f"{here}.team_id: team {team!r} is listed twice")
        for name in entry:
            if name != "team_id" and name not in _LISTS and name not in _LANGFUSE:
                unused.append((f"{here}.{name}", "not a team logging setting"))
        langfuse = _langfuse(entry, here, unused)
        lists: dict[str, list[Any]] = {}
        for name in _LISTS:
            found = _names(entry.get(name), f"{here}.{name}", base_dir, langfuse, unused)
            if found:
                lists[name] = found
        out[team] = lists
    return out


async def close_team_loggers(teams: TeamCallbacks, timeout: float = 5.0) -> None:
    """Send what the teams' Langfuse loggers still hold and stop their sender threads (at
    the proxy's stop, after the callback events were delivered)."""
    import asyncio

    from ..integrations.langfuse import LangfuseLogger

    seen: dict[int, Any] = {}
    for lists in teams.values():
        for found in lists.values():
            for logger in found:
                if isinstance(logger, LangfuseLogger):
                    seen[id(logger)] = logger
    for logger in seen.values():
        await asyncio.to_thread(logger.close, timeout)


def _names(value: Any, where: str, base_dir: str, langfuse: Any,
           unused: list[tuple[str, str]]) -> list[Any]:
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    rest = [item for item in items if item not in _LANGFUSE_NAMES]
    found, skipped = callbacks(rest, where, base_dir)
    unused.extend(skipped)
    if len(rest) < len(items) and langfuse is not None:
        found.insert(0, langfuse)
    return found


def _langfuse(entry: dict[str, Any], where: str, unused: list[tuple[str, str]]) -> Any:
    """The entry's own Langfuse logger, or None when it cannot send (reported) or no list
    of the entry names Langfuse."""
    named = any(name in _LANGFUSE_NAMES
                for key in _LISTS for name in _as_list(entry.get(key)))
    if not named:
        return None
    from ..integrations.langfuse import LangfuseLogger
    from ..integrations.registry import IntegrationError

    secret_name = "langfuse_secret" if "langfuse_secret" in entry else "langfuse_secret_key"
    public, secret = entry.get("langfuse_public_key"), entry.get(secret_name)
    if "langfuse_public_key" in entry or secret_name in entry:
        # the entry's own project: never completed from the proxy-wide keys
        unset = [name for name, v in (("langfuse_public_key", public), (secret_name, secret))
                 if not v]
        if unset:
            unused.append((where, f"langfuse cannot send: {' and '.join(unset)} not set; "
                                  f"this team's calls are not sent to its project"))
            return None
    try:
        return LangfuseLogger(public_key=public, secret_key=secret,
                              host=entry.get("langfuse_host") or None)
    except IntegrationError as exc:
        unused.append((where, f"langfuse cannot send: {exc}"))
        return None


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
