"""LiteLLM's per-key settings beyond the key store's columns: ``aliases``, ``tags`` and
``soft_budget``, set with ``/key/generate`` and ``/key/update`` and shown by ``/key/info``
and ``/key/list`` as LiteLLM shows them.

* ``aliases``: ``{"gpt-4": "gpt-4o"}``: this key's requests for ``gpt-4`` go to ``gpt-4o``
  (which the key must be allowed to use).
* ``tags``: added to the tags of every usage record of this key (``/spend/logs``).
* ``soft_budget``: USD; once the key's spend passes it, the proxy logs a warning (once per
  process), and every response carries ``x-litellm-key-soft-budget``. It never blocks a
  request (``max_budget`` does).

They are kept in the key's ``metadata`` under :data:`EXTRA`, so every key store holds them
as it is; callers never see that entry (it is lifted out into the fields above).
LiteLLM key fields llmrelay does not enforce (per-model budgets and limits, key-level
guardrails, routes ...) are refused with a 400 naming them, never stored and ignored.
"""

from __future__ import annotations

import logging
from typing import Any

from .errors import ProxyError

__all__ = ["EXTRA", "REFUSED", "apply_alias", "check_soft_budget", "key_tags", "public",
           "settings_of", "split"]

log = logging.getLogger("llmrelay.proxy")

EXTRA = "_llmrelay_key"
FIELDS = ("aliases", "tags", "soft_budget")
REFUSED = {
    "model_max_budget": "per-model budgets of a key are not supported; give the key "
                        "max_budget, or use one key per model",
    "model_rpm_limit": "per-model rpm limits of a key are not supported",
    "model_tpm_limit": "per-model tpm limits of a key are not supported",
    "guardrails": "guardrails are not implemented",
    "enforced_params": "enforced request params are not implemented",
    "allowed_routes": "per-key allowed routes are not implemented",
    "allowed_cache_controls": "per-key cache controls are not implemented",
    "permissions": "per-key permissions are not implemented",
    "object_permission": "per-key object permissions are not implemented",
    "budget_id": "shared budgets are not implemented",
    "rpm_limit_type": "rpm limit types are not implemented",
    "tpm_limit_type": "tpm limit types are not implemented",
}
_warned: set[tuple[str, float]] = set()


def _bad(field: str, problem: str) -> ProxyError:
    return ProxyError(400, f"`{field}` {problem}", param=field, code="invalid_value")


def _check(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name == "aliases":
        if not isinstance(value, dict) or not all(
                isinstance(k, str) and isinstance(v, str) and k and v
                for k, v in value.items()):
            raise _bad(name, "must be an object of model name -> model name")
        return dict(value)
    if name == "tags":
        if not isinstance(value, list) or not all(isinstance(t, str) and t for t in value):
            raise _bad(name, "must be a list of strings")
        return list(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 \
            or value != value or value == float("inf"):
        raise _bad(name, "must be a non-negative number (USD)")
    return float(value)


def settings_of(metadata: Any) -> dict[str, Any]:
    """The settings kept in a key's metadata (``{}`` when none)."""
    found = metadata.get(EXTRA) if isinstance(metadata, dict) else None
    return dict(found) if isinstance(found, dict) else {}


def split(body: dict[str, Any], old_metadata: dict[str, Any] | None
          ) -> tuple[dict[str, Any] | None, bool]:
    """The ``metadata`` to store for a generate/update ``body`` (None: unchanged) with its
    settings merged into what ``old_metadata`` (the stored key's, for an update) held; and
    whether the body named a setting. Raises a 400 for a refused field or a bad value."""
    refused = [f"{k} ({REFUSED[k]})" for k in body if k in REFUSED and body[k] not in
               (None, {}, [])]
    if refused:
        raise ProxyError(400, "llmrelay does not support these key settings: "
                              + "; ".join(refused), param=next(iter(
                                  k for k in body if k in REFUSED)),
                         code="unsupported_key_setting")
    named = any(k in body for k in FIELDS)
    user_meta = body.get("metadata")
    if not named and user_meta is None:
        return None, False
    settings = settings_of(old_metadata)
    for name in FIELDS:
        if name in body:
            value = _check(name, body[name])
            if value is None:
                settings.pop(name, None)
            else:
                settings[name] = value
    base = user_meta if isinstance(user_meta, dict) else {
        k: v for k, v in (old_metadata or {}).items() if k != EXTRA}
    if user_meta is not None and not isinstance(user_meta, dict):
        return user_meta, named  # the store names the bad type
    if EXTRA in base:
        raise _bad("metadata", f"may not hold the reserved entry {EXTRA!r}")
    return ({**base, EXTRA: settings} if settings else dict(base)), named


def public(data: dict[str, Any]) -> dict[str, Any]:
    """A key record as sent to callers: the settings lifted out of ``metadata``."""
    meta = data.get("metadata")
    settings = settings_of(meta)
    if isinstance(meta, dict) and EXTRA in meta:
        data["metadata"] = {k: v for k, v in meta.items() if k != EXTRA}
    data["aliases"] = settings.get("aliases", {})
    data["tags"] = settings.get("tags", [])
    data["soft_budget"] = settings.get("soft_budget")
    return data


def apply_alias(rec: Any, data: dict[str, Any]) -> None:
    """Replace the request's ``model`` by the key's alias for it, if any."""
    if rec is None:
        return
    aliases = settings_of(rec.metadata).get("aliases")
    model = data.get("model")
    if aliases and isinstance(model, str) and model in aliases:
        data["model"] = aliases[model]


def key_tags(rec: Any) -> list[str]:
    return list(settings_of(rec.metadata).get("tags") or []) if rec is not None else []


def check_soft_budget(rec: Any, spend: float, headers: dict[str, str]) -> None:
    """Header and once-per-process warning for a key past its soft budget."""
    if rec is None:
        return
    soft = settings_of(rec.metadata).get("soft_budget")
    if soft is None:
        return
    headers["x-litellm-key-soft-budget"] = repr(float(soft))
    if spend >= soft and (rec.token, soft) not in _warned:
        _warned.add((rec.token, soft))
        log.warning("llmrelay proxy: key %s... (%s) spent $%.6f, past its soft budget of "
                    "$%.6f", rec.token[:8], rec.key_alias or "no alias", spend, soft)
