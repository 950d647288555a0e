"""Virtual key management (master key only, except that a virtual key may read its own
``/key/info`` and regenerate itself): ``POST /key/generate``, ``/key/update``,
``/key/delete``, ``/key/regenerate`` (also ``/key/{key}/regenerate``),
``GET /key/info?key=``, ``GET /key/list?user_id=&team_id=``.

Request fields (LiteLLM's names): ``key`` (a custom key; default generated), ``key_alias``,
``user_id``, ``team_id``, ``models`` (allowed model groups; empty = all), ``max_budget``
(USD), ``budget_duration`` (``"30d"``, ``"1h"``: spend resets every period), ``rpm_limit``,
``tpm_limit``, ``max_parallel_requests``, ``duration`` (``"30d"``: sets ``expires``) or
``expires`` (ISO 8601), ``metadata``, ``blocked``, and ``aliases``, ``tags``,
``soft_budget`` (see :mod:`..key_settings`; LiteLLM fields llmrelay does not enforce,
such as ``model_max_budget``, are a 400 naming them); the store checks the values (HTTP 400
naming the field; ``metadata`` also against ``general_settings.max_metadata_depth`` and
``max_metadata_size_kb``). Keys are stored hashed; ``/key/generate``
returns the plaintext ``key`` once, with ``token`` (its hash) that identifies it after.
Updates and deletes take either. Unknown fields are ignored and listed in ``warnings``.
Every bad value, in the body or the query, is a 400 naming it; nothing is stored that a
later read cannot serve.
``/key/info`` and ``/key/list`` first flush the spend writer (best effort), so a key's
``spend`` includes its latest requests.
"""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..auth import extract_key
from ..contract.policy import Metadata
from ..errors import ProxyError, from_exception
from ..key_settings import FIELDS as SETTINGS
from ..key_settings import public, split
from ..keys.fields import text_problem
from ..request import read_json
from ..sse import json_response

__all__ = ["delete", "generate", "info", "list_keys", "record_dict", "regenerate", "update"]

# What a request may set; the store checks the values (KeyFieldError -> HTTP 400).
_FIELDS = frozenset({"key_alias", "user_id", "team_id", "models", "max_budget",
                     "budget_duration", "rpm_limit", "tpm_limit", "max_parallel_requests",
                     "duration", "expires", "metadata", "blocked", "spend", "budget_reset_at"})
_KEY = re.compile(r"[\x21-\x7e]{8,256}")  # printable ASCII: it travels in HTTP headers
_MAX_KEYS = 1000
_METADATA = Metadata()


def record_dict(rec: Any) -> dict[str, Any]:
    """A store record as JSON-ready data (datetimes in ISO 8601)."""
    to_dict = getattr(rec, "to_dict", None)
    if callable(to_dict):
        try:
            return public(_servable(dict(to_dict())))
        except RecursionError:  # metadata stored before it was checked: see _servable
            pass
    data = ({f.name: getattr(rec, f.name) for f in dataclasses.fields(rec)}
            if dataclasses.is_dataclass(rec) and not isinstance(rec, type) else dict(vars(rec)))
    for name, value in data.items():
        if isinstance(value, datetime):
            data[name] = value.isoformat()
    return public(_servable(data))


def _servable(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` as it can be sent: a record stored before its metadata was checked (nested
    too deeply for JSON, say) shows a note instead of failing the whole answer."""
    try:
        json.dumps(data.get("metadata"))
    except (ValueError, TypeError, RecursionError):
        data["metadata"] = {"llmrelay_error": "this key's stored metadata cannot be shown"}
    return data


def _bad(field: str, problem: str) -> ProxyError:
    return ProxyError(400, f"`{field}` {problem}", param=field, code="invalid_value")


def _fields(body: dict[str, Any], state: Any) -> tuple[dict[str, Any], list[str]]:
    """The store fields of a request body, and a warning naming unknown ones; ``metadata``
    checked against the configured limits (the store checks the rest)."""
    fields = {k: v for k, v in body.items() if k in _FIELDS}
    if isinstance(fields.get("metadata"), dict):
        _METADATA(fields["metadata"], "metadata", state.cfg.policy.limits)
    unknown = sorted(k for k in body if k not in _FIELDS and k not in SETTINGS
                     and k not in ("key", "new_key"))
    return fields, [f"unknown field(s) ignored: {', '.join(unknown)}"] if unknown else []


def query_text(request: Request, name: str) -> str | None:
    """A query parameter, or a 400 when it cannot be looked up (NUL, too long)."""
    value = request.query_params.get(name)
    if value is not None:
        problem = text_problem(value)
        if problem:
            raise _bad(name, problem)
    return value


async def _admin(request: Request) -> tuple[Any, dict[str, Any] | None]:
    state = request.app.state.proxy
    state.auth.require_master(request.headers)
    body = None
    if request.method == "POST":
        body = await read_json(request, state.cfg.max_request_size)
    return state, body


def _token(value: Any, field: str = "key") -> str:
    if not isinstance(value, str) or not value:
        raise _bad(field, "is required: the key (sk-...) or its token (hash)")
    if not _KEY.fullmatch(value):
        raise _bad(field, "is not a key or a token (8-256 printable ASCII characters)")
    from ..keys.models import hash_key, is_token

    return value if is_token(value) else hash_key(value)


def _error(exc: Exception) -> Response:
    err = from_exception(exc)
    return json_response(err.body(), err.status_code)


async def generate(request: Request) -> Response:
    try:
        state, body = await _admin(request)
        assert body is not None
        fields, warnings = _fields(body, state)
        metadata, _ = split(body, None)
        if metadata is not None:
            fields["metadata"] = metadata
        key = body.get("key")
        if key is not None and (not isinstance(key, str) or not _KEY.fullmatch(key)):
            raise _bad("key", "must be 8-256 printable ASCII characters (no spaces)")
        plaintext, rec = await state.store.create(key=key, **fields)
        state.key_cache.invalidate(rec.token)
    except Exception as exc:
        return _error(exc)
    out = {"key": plaintext, **record_dict(rec)}
    if warnings:
        out["warnings"] = warnings
    return json_response(out)


async def update(request: Request) -> Response:
    try:
        state, body = await _admin(request)
        assert body is not None
        token = _token(body.get("key"))
        fields, warnings = _fields(body, state)
        if "metadata" in body or any(k in body for k in SETTINGS):
            old = await state.store.get(token)
            if old is None:
                raise ProxyError(404, "no such key", param="key", code="key_not_found")
            metadata, _ = split(body, old.metadata)
            if metadata is not None:
                fields["metadata"] = metadata
        else:
            split(body, None)  # refused settings are a 400 on updates too
        try:
            rec = await state.store.update(token, **fields)
        except KeyError:
            raise ProxyError(404, "no such key", param="key", code="key_not_found") from None
        state.key_cache.invalidate(token)
    except Exception as exc:
        return _error(exc)
    out = record_dict(rec)
    if warnings:
        out["warnings"] = warnings
    return json_response(out)


async def delete(request: Request) -> Response:
    try:
        state, body = await _admin(request)
        assert body is not None
        keys = body.get("keys")
        if not isinstance(keys, list) or not keys or len(keys) > _MAX_KEYS:
            raise _bad("keys", f"must be a list of 1 to {_MAX_KEYS} keys or tokens")
        tokens = [_token(k, "keys") for k in keys]
        deleted = await state.store.delete(tokens)
        for token in tokens:
            state.key_cache.invalidate(token)
    except Exception as exc:
        return _error(exc)
    return json_response({"deleted_keys": tokens, "deleted": deleted})


async def _self_or_admin(request: Request, wanted: str | None) -> tuple[Any, str]:
    """The state and the token a request may act on: any key for the master key (or
    with auth off); a virtual key only its own (``wanted`` None: its own)."""
    state = request.app.state.proxy
    caller = extract_key(request.headers, state.auth.key_header)
    if not state.auth.enabled or state.auth.is_master(caller):
        return state, _token(wanted)
    auth = await state.auth.authenticate(request.headers)  # 401 for an unknown key
    own = auth.token
    if wanted is not None and _token(wanted) != own:
        raise ProxyError(403, "a virtual key may only act on itself; use the master key "
                              "for other keys", code="master_key_required")
    return state, own


async def info(request: Request) -> Response:
    try:
        state, token = await _self_or_admin(request, query_text(request, "key"))
        await state.flush_spend()  # so that `spend` includes requests not yet written
        rec = await state.store.get(token)
        if rec is None:
            raise ProxyError(404, "no such key", param="key", code="key_not_found")
    except Exception as exc:
        return _error(exc)
    return json_response({"key": token, "info": record_dict(rec)})


async def list_keys(request: Request) -> Response:
    try:
        state, _ = await _admin(request)
        user_id, team_id = query_text(request, "user_id"), query_text(request, "team_id")
        await state.flush_spend()
        recs = await state.store.list(user_id=user_id, team_id=team_id)
    except Exception as exc:
        return _error(exc)
    keys = [record_dict(r) for r in recs]
    return json_response({"keys": keys, "total_count": len(keys)})


async def regenerate(request: Request) -> Response:
    """``POST /key/regenerate`` (``{"key": ...}``) or ``/key/{key}/regenerate``: a new key
    with the old one's settings and spend (``new_key`` picks it; other fields in the body
    change the settings as ``/key/update`` would); the old key stops working at once.
    Usage records keep the old key's token."""
    try:
        state = request.app.state.proxy
        body = await read_json(request, state.cfg.max_request_size) \
            if request.headers.get("content-length") not in (None, "0") else {}
        old_key = request.path_params.get("key") or body.get("key")
        state, token = await _self_or_admin(request, old_key if old_key is not None else
                                            None)
        old = await state.store.get(token)
        if old is None:
            raise ProxyError(404, "no such key", param="key", code="key_not_found")
        new_key = body.get("new_key")
        if new_key is not None and (not isinstance(new_key, str)
                                    or not _KEY.fullmatch(new_key)):
            raise _bad("new_key", "must be 8-256 printable ASCII characters (no spaces)")
        changes, warnings = _fields({k: v for k, v in body.items() if k != "key"}, state)
        metadata, _ = split(body, old.metadata)
        kept = {name: getattr(old, name) for name in _KEPT}
        kept["metadata"] = old.metadata if metadata is None else metadata
        await state.flush_spend()
        current = await state.store.get(token)
        kept["spend"] = float(current.spend if current is not None else old.spend)
        plaintext, rec = await state.store.create(key=new_key, **{**kept, **changes})
        await state.store.delete([token])
        for t in (token, rec.token):
            state.key_cache.invalidate(t)
    except Exception as exc:
        return _error(exc)
    out = {"key": plaintext, "regenerated_from": token, **record_dict(rec)}
    if warnings:
        out["warnings"] = warnings
    return json_response(out)


# What a regenerated key keeps of the old one (spend is taken after a flush).
_KEPT = ("key_alias", "user_id", "team_id", "models", "max_budget", "budget_duration",
         "budget_reset_at", "rpm_limit", "tpm_limit", "max_parallel_requests", "expires",
         "blocked")
