"""Google OAuth2 access tokens for Vertex AI, through google-auth (``llmrelay[vertex]``).

Credentials come from ``vertex_credentials`` (a service-account or other Google credentials
JSON: a dict, a JSON string or a file path; ``VERTEXAI_CREDENTIALS`` or
``VERTEX_AI_CREDENTIALS`` likewise), else from application-default credentials
(``GOOGLE_APPLICATION_CREDENTIALS``, gcloud's user credentials, the metadata server). One
credentials object is kept per source; google-auth refreshes its token a few minutes before
it expires. Only getting or refreshing a token does network I/O, which :func:`token` can be
asked not to do (``may_block=False``).
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

from ...exceptions import APIConnectionError, AuthenticationError, BadRequestError
from ..base import Call

__all__ = ["SCOPES", "credentials_info", "reset", "token"]

SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
_CRED_ENV = ("VERTEXAI_CREDENTIALS", "VERTEX_AI_CREDENTIALS")
_lock = threading.Lock()
_entries: dict[str, tuple[Any, threading.Lock]] = {}
_transport: Any = None


def reset() -> None:
    """Forget cached credentials and tokens."""
    with _lock:
        _entries.clear()


def _raw(call: Call) -> Any:
    raw = call.auth.get("vertex_credentials") or call.auth.get("vertex_ai_credentials")
    if raw:
        return raw
    for var in _CRED_ENV:
        if os.environ.get(var):
            return os.environ[var]
    return None


def credentials_info(call: Call) -> dict[str, Any] | None:
    """The credentials JSON given for ``call`` (a dict; read from a path or JSON string), or
    the file ``GOOGLE_APPLICATION_CREDENTIALS`` names; None for other ADC sources.
    Raises BadRequestError for something that is neither."""
    raw = _raw(call)
    if raw is None:
        path = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
        if not path or not os.path.isfile(path):
            return None
        raw = path
    if isinstance(raw, dict):
        return raw
    text = str(raw).strip()
    if not text.startswith("{"):
        try:
            with open(text, encoding="utf-8") as f:
                text = f.read()
        except OSError as exc:
            raise BadRequestError(f"vertex_credentials is neither JSON nor a readable file: "
                                  f"{exc}", llm_provider=call.provider, model=call.model,
                                  param="vertex_credentials") from None
    try:
        info = json.loads(text)
    except ValueError:
        raise BadRequestError("vertex_credentials is not valid JSON", llm_provider=call.provider,
                              model=call.model, param="vertex_credentials") from None
    if not isinstance(info, dict):
        raise BadRequestError("vertex_credentials must be a JSON object",
                              llm_provider=call.provider, model=call.model,
                              param="vertex_credentials")
    return info


def _load(call: Call) -> Any:
    import google.auth

    raw = _raw(call)
    if raw is None:
        creds, _ = google.auth.default(scopes=SCOPES)
        return creds
    info = credentials_info(call) or {}
    kind = info.get("type")
    if kind == "service_account":
        from google.oauth2 import service_account

        return service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
            info, scopes=SCOPES)
    if kind == "authorized_user":
        from google.oauth2 import credentials as user_credentials

        return user_credentials.Credentials.from_authorized_user_info(  # type: ignore[no-untyped-call]
            info, scopes=SCOPES)
    if kind == "external_account":  # workload identity federation
        source = info.get("credential_source") or {}
        if str(source.get("environment_id", "")).startswith("aws"):
            from google.auth import aws

            return aws.Credentials.from_info(info, scopes=SCOPES)  # type: ignore[no-untyped-call]
        from google.auth import identity_pool

        return identity_pool.Credentials.from_info(  # type: ignore[no-untyped-call]
            info, scopes=SCOPES)
    raise BadRequestError(f"vertex_credentials of type {kind!r} are not supported; use a "
                          "service_account, authorized_user or external_account JSON",
                          llm_provider=call.provider, model=call.model,
                          param="vertex_credentials")


def _key(call: Call) -> str:
    raw = _raw(call)
    if raw is None:
        return "adc"
    return json.dumps(raw, sort_keys=True) if isinstance(raw, dict) else str(raw)


def _request() -> Any:
    global _transport
    if _transport is None:
        from google.auth.transport.requests import Request

        _transport = Request()
    return _transport


def _entry(call: Call) -> tuple[Any, threading.Lock]:
    key = _key(call)
    entry = _entries.get(key)
    if entry is None:
        with _lock:
            entry = _entries.get(key)
            if entry is None:
                entry = (_load(call), threading.Lock())
                _entries[key] = entry
    return entry


def token(call: Call, may_block: bool = True) -> str | None:
    """A valid access token for ``call``'s credentials, refreshed when it is about to
    expire; None when that needs I/O and ``may_block`` is false. Raises
    AuthenticationError (no or refused credentials) or APIConnectionError (token endpoint
    unreachable)."""
    try:
        from google.auth import exceptions as gexc
    except ImportError:
        raise BadRequestError("Vertex AI needs google-auth: pip install 'llmrelay[vertex]'",
                              llm_provider=call.provider, model=call.model) from None
    entry = _entries.get(_key(call))
    if entry is not None and entry[0].valid:
        return str(entry[0].token)
    if not may_block:
        return None
    try:
        creds, lock = _entry(call)
        with lock:
            if not creds.valid:
                creds.refresh(_request())
    except gexc.TransportError as exc:
        raise APIConnectionError(f"could not reach Google's token endpoint: {exc}",
                                 llm_provider=call.provider, model=call.model) from exc
    except (gexc.GoogleAuthError, ValueError) as exc:
        raise AuthenticationError(f"could not get a Google access token for Vertex AI: {exc}",
                                  llm_provider=call.provider, model=call.model) from exc
    return str(creds.token)
