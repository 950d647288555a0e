"""Virtual key management: ``POST /key/generate``, ``/key/update``, ``/key/delete``,
``/key/regenerate`` (also ``/key/{key}/regenerate``), ``/key/block``, ``/key/unblock``,
``GET /key/info?key=``, ``GET /key/list?user_id=&team_id=``.

Who may (see ``roles.py``): proxy admins, everything; viewers, read every key; team
admins, create, change, block, regenerate, delete and read their team's keys; internal
users, create keys for themselves (in teams they belong to), regenerate and delete their
own keys and read them; any key reads and regenerates itself. Every change is in the
audit log (``GET /audit``).

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

from ..contract.policy import Metadata
from ..errors import ProxyError, from_exception
from ..key_settings import FIELDS as SETTINGS
from ..key_settings import public, split
from ..keys.fields import text_problem
from ..request import read_json
from ..roles import Caller, caller_of
from ..sse import json_response

__all__ = ["block", "create_key", "delete", "generate", "info", "list_keys", "record_dict",
           "regenerate", "unblock", "update"]

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


def _token(value: Any, field: str = "key") -> str:
    if not isinstance(value, str) or not value:
        raise _bad(field, "is required: the key (sk-...) or its token (hash)")
    if not _KEY.fullmatch(value):
        raise _bad(field, "is not a key or a token (8-256 printable ASCII characters)")
    from ..keys.models import hash_key, is_token

    return value if is_token(value) else hash_key(value)


def _error(exc: Exception) -> Response:
    err = from_exception(exc)
    return json_response(err.body(), err.status_code, err.headers)


async def _body(request: Request) -> dict[str, Any]:
    state = request.app.state.proxy
    body = await read_json(request, state.cfg.max_request_size)
    if not isinstance(body, dict):
        raise ProxyError(400, "the request body must be a JSON object", code="invalid_body")
    return body


async def _existing(state: Any, token: str) -> Any:
    rec = await state.store.get(token)
    if rec is None:
        raise ProxyError(404, "no such key", param="key", code="key_not_found")
    return rec


def _may_create(caller: Caller, fields: dict[str, Any], no_personal: bool = False) -> None:
    """Proxy admins: any key; team admins: keys of their team (for its members or no
    user); internal users: their own keys (``user_id`` set to theirs), in their teams.
    ``no_personal`` (``general_settings.default_team_disabled``): only admins create keys
    without a team."""
    if caller.is_admin:
        return
    team_id, user_id = fields.get("team_id"), fields.get("user_id")
    if no_personal and team_id is None:
        raise caller.denied("keys without a team_id are turned off on this proxy "
                            "(general_settings.default_team_disabled); give a team_id")
    if team_id is not None and caller.admin_of(team_id):
        return
    if caller.role == "internal_user" and caller.user_id is not None:
        if user_id not in (None, caller.user_id):
            raise caller.denied(f"an internal user may create keys only for themselves "
                                f"({caller.user_id!r})")
        if team_id is not None and not caller.member_of(team_id):
            raise caller.denied(f"an internal user may create keys only in teams they "
                                f"belong to, and {caller.user_id!r} is not in {team_id!r}")
        fields["user_id"] = caller.user_id
        return
    caller.need_team_admin(team_id, "create keys" + (" in it" if team_id else ""))


async def create_key(state: Any, caller: Caller, fields: dict[str, Any],
                     key: str | None = None) -> tuple[str, Any]:
    """Store a new key and its audit row; returns ``(plaintext, record)``."""
    plaintext, rec = await state.store.create(key=key, **fields)
    state.key_cache.invalidate(rec.token)
    await state.hierarchy.audit(caller.actor, "created", "keys", rec.token, None,
                                record_dict(rec))
    return plaintext, rec


async def generate(request: Request) -> Response:
    try:
        caller = await caller_of(request)
        state = request.app.state.proxy
        body = await _body(request)
        fields, warnings = _fields(body, state)
        _may_create(caller, fields, state.cfg.default_team_disabled)
        metadata, _ = split(body, None)
        if metadata is not None:
            fields["metadata"] = metadata
        key = body.get("key")
        if key is not None and (not isinstance(key, str) or not _KEY.fullmatch(key)):
            raise _bad("key", "must be 8-256 printable ASCII characters (no spaces)")
        plaintext, rec = await create_key(state, caller, fields, key)
    except Exception as exc:
        return _error(exc)
    out = {"key": plaintext, **record_dict(rec)}
    if warnings:
        out["warnings"] = warnings
    return json_response(out)


async def _change(state: Any, caller: Caller, token: str, fields: dict[str, Any],
                  action: str, old: Any = None) -> Any:
    """Update a key (with its audit row); 404 for an unknown key."""
    old = old or await _existing(state, token)
    try:
        rec = await state.store.update(token, **fields)
    except KeyError:
        raise ProxyError(404, "no such key", param="key", code="key_not_found") from None
    state.key_cache.invalidate(token)
    await state.hierarchy.audit(caller.actor, action, "keys", token, record_dict(old),
                                record_dict(rec))
    return rec


async def update(request: Request) -> Response:
    try:
        caller = await caller_of(request)
        state = request.app.state.proxy
        body = await _body(request)
        token = _token(body.get("key"))
        old = await _existing(state, token)
        caller.need_key_manager(old, "change keys")
        fields, warnings = _fields(body, state)
        if "team_id" in fields and fields["team_id"] != old.team_id:
            caller.need_team_admin(fields["team_id"], "move keys into it")
        if "metadata" in body or any(k in body for k in SETTINGS):
            metadata, _ = split(body, old.metadata)
            if metadata is not None:
                fields["metadata"] = metadata
        else:
            split(body, None)  # refused settings are a 400 on updates too
        rec = await _change(state, caller, token, fields, "updated", old)
    except Exception as exc:
        return _error(exc)
    out = record_dict(rec)
    if warnings:
        out["warnings"] = warnings
    return json_response(out)


async def _set_blocked(request: Request, blocked: bool) -> Response:
    """``POST /key/block`` / ``/key/unblock`` (``{"key": ...}``)."""
    try:
        caller = await caller_of(request)
        state = request.app.state.proxy
        token = _token((await _body(request)).get("key"))
        old = await _existing(state, token)
        caller.need_key_manager(old, "block or unblock keys")
        rec = await _change(state, caller, token, {"blocked": blocked},
                            "blocked" if blocked else "unblocked", old)
    except Exception as exc:
        return _error(exc)
    return json_response(record_dict(rec))


async def block(request: Request) -> Response:
    return await _set_blocked(request, True)


async def unblock(request: Request) -> Response:
    return await _set_blocked(request, False)


async def delete(request: Request) -> Response:
    try:
        caller = await caller_of(request)
        state = request.app.state.proxy
        body = await _body(request)
        keys = body.get("keys")
        if not isinstance(keys, list) or not keys or len(keys) > _MAX_KEYS:
            raise _bad("keys", f"must be a list of 1 to {_MAX_KEYS} keys or tokens")
        tokens = list(dict.fromkeys(_token(k, "keys") for k in keys))
        found = []
        for token in tokens:
            rec = await state.store.get(token)
            if rec is not None:
                caller.need_key_manager(rec, "delete keys", owner_may=True)
                found.append(rec)
        deleted = await state.store.delete(tokens)
        for token in tokens:
            state.key_cache.invalidate(token)
        for rec in found:
            await state.hierarchy.audit(caller.actor, "deleted", "keys", rec.token,
                                        record_dict(rec), None)
    except Exception as exc:
        return _error(exc)
    return json_response({"deleted_keys": tokens, "deleted": deleted})


_READ_RULE = ("a key may read only itself, its user's keys, and for team admins their "
              "teams' keys")


def _may_read(caller: Caller, rec: Any) -> None:
    if caller.reads_all or caller.owns(rec) or caller.admin_of(rec.team_id):
        return
    raise caller.denied(_READ_RULE)


async def info(request: Request) -> Response:
    try:
        caller = await caller_of(request)
        state = request.app.state.proxy
        wanted = query_text(request, "key")
        if wanted is None and caller.token is None:
            raise _bad("key", "is required: the key (sk-...) or its token (hash)")
        token = _token(wanted) if wanted is not None else caller.token
        assert token is not None
        await state.flush_spend()  # so that `spend` includes requests not yet written
        rec = await state.store.get(token)
        if rec is None:
            if not caller.reads_all:
                raise caller.denied(_READ_RULE)
            raise ProxyError(404, "no such key", param="key", code="key_not_found")
        _may_read(caller, rec)
    except Exception as exc:
        return _error(exc)
    return json_response({"key": token, "info": record_dict(rec)})


async def list_keys(request: Request) -> Response:
    try:
        caller = await caller_of(request)
        state = request.app.state.proxy
        user_id, team_id = query_text(request, "user_id"), query_text(request, "team_id")
        if team_id is not None and not caller.reads_all:
            caller.need_team_admin(team_id, "list its keys")
        await state.flush_spend()
        if caller.reads_all or team_id is not None:
            recs = await state.store.list(user_id=user_id, team_id=team_id)
        else:
            if user_id not in (None, caller.user_id) or not (caller.user_id
                                                             or caller.admin_teams):
                raise caller.denied("only proxy admins and viewers may list every key; "
                                    "team admins their teams' keys, and users their own")
            recs = [r for t in caller.admin_teams for r in await state.store.list(team_id=t)]
            if caller.user_id is not None:
                recs += await state.store.list(user_id=caller.user_id)
            recs = list({r.token: r for r in recs}.values())
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
        caller = await caller_of(request)
        state = request.app.state.proxy
        body = await _body(request) \
            if request.headers.get("content-length") not in (None, "0") else {}
        old_key = request.path_params.get("key") or body.get("key")
        if old_key is None and caller.token is None:
            raise _bad("key", "is required: the key (sk-...) or its token (hash)")
        token = _token(old_key) if old_key is not None else caller.token
        assert token is not None
        old = await state.store.get(token)
        if old is None:
            if not caller.reads_all:
                raise caller.denied("a key may regenerate only itself and its user's keys")
            raise ProxyError(404, "no such key", param="key", code="key_not_found")
        if old.token != caller.token:
            caller.need_key_manager(old, "regenerate keys", owner_may=True)
        new_key = body.get("new_key")
        if new_key is not None and (not isinstance(new_key, str)
                                    or not _KEY.fullmatch(new_key)):
            raise _bad("new_key", "must be 8-256 printable ASCII characters (no spaces)")
        changes, warnings = _fields({k: v for k, v in body.items() if k != "key"}, state)
        if changes and not caller.admin_of(old.team_id):
            caller.need_key_manager(old, "change a key's settings")
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
        await state.hierarchy.audit(caller.actor, "regenerated", "keys", rec.token,
                                    record_dict(old), record_dict(rec))
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
