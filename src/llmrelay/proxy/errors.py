"""OpenAI-shaped error bodies for everything the proxy refuses or fails.

Every error the proxy sends is ``{"error": {"message", "type", "param", "code"}}`` with a
4xx/5xx status, never a traceback. :func:`from_exception` maps whatever was raised on the
request path: a :class:`ProxyError`, an SDK :class:`~llmrelay.exceptions.LLMRelayError`
(status class kept), the key store's ``LimitExceeded``, an ``HTTPException``-like object
with an integer ``status_code`` (as raised by users' proxy hooks), or anything else (500).
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from .._urls import mask_urls_in
from ..exceptions import (
    BadRequestError,
    ContentPolicyViolationError,
    ContextWindowExceededError,
    LLMRelayError,
    UnprocessableEntityError,
    UnsupportedParamsError,
)

__all__ = ["ProxyError", "error_body", "for_caller", "from_exception", "type_for_status"]

log = logging.getLogger("llmrelay.proxy")

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


def type_for_status(status: int) -> str:
    """OpenAI's error ``type`` for an HTTP status."""
    return _TYPES.get(status, "invalid_request_error" if status < 500 else "api_error")


class ProxyError(Exception):
    """A refusal or failure with its HTTP status and OpenAI error fields."""

    def __init__(self, status: int, message: str, *, type: str | None = None,
                 param: str | None = None, code: str | int | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status_code = status
        self.message = message
        self.type = type or type_for_status(status)
        self.param = param
        self.code = code if code is not None else str(status)
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.type, self.param, self.code)


def error_body(message: str, type: str, param: str | None = None,
               code: str | int | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def _detail_message(detail: Any) -> str:
    if isinstance(detail, str):
        return detail
    if isinstance(detail, dict):
        for key in ("error", "message", "detail"):
            value = detail.get(key)
            if isinstance(value, str):
                return value
            if isinstance(value, dict) and isinstance(value.get("message"), str):
                return str(value["message"])
    try:
        return json.dumps(detail, default=str)
    except (TypeError, ValueError):
        return str(detail)


def from_exception(exc: BaseException) -> ProxyError:
    """The :class:`ProxyError` to send for ``exc`` (a 500 for anything unexpected)."""
    if isinstance(exc, ProxyError):
        return exc
    if isinstance(exc, LLMRelayError):
        status = exc.status_code or 500
        status = status if 400 <= status <= 599 else 500
        body = exc.to_openai_error()["error"]
        code = body.get("code")
        return ProxyError(status, exc.message, type=body.get("type"), param=_param(body),
                          code=str(code) if code is not None else None,
                          headers=_retry_after(exc))
    exc_status = getattr(exc, "status_code", None)
    if isinstance(exc_status, int) and 400 <= exc_status <= 599:
        status = exc_status
        # LimitExceeded from the key store, or an HTTPException raised by a user's hook.
        message = getattr(exc, "message", None)
        if not isinstance(message, str):
            message = _detail_message(getattr(exc, "detail", None) or str(exc))
        code = getattr(exc, "code", None)
        etype = getattr(exc, "type", None)
        if not isinstance(etype, str):
            etype = "budget_exceeded" if code == "budget_exceeded" else None
        param = getattr(exc, "param", None)
        headers = getattr(exc, "headers", None)
        return ProxyError(status, message, type=etype,
                          param=param if isinstance(param, str) else None,
                          code=code if isinstance(code, (str, int)) else None,
                          headers={str(k): str(v) for k, v in headers.items()}
                          if isinstance(headers, dict) else None)
    log.error("llmrelay proxy: unexpected %s on the request path", type(exc).__name__,
              exc_info=exc)
    return ProxyError(500, f"internal error: {type(exc).__name__}: {exc}", type="api_error")


def _param(body: dict[str, Any]) -> str | None:
    param = body.get("param")
    return param if isinstance(param, str) else None


def _retry_after(exc: LLMRelayError) -> dict[str, str]:
    for name, value in (exc.response_headers or {}).items():
        if name.lower() == "retry-after":
            return {"retry-after": str(value)}
    return {}


# Upstream errors about the request itself: the caller needs the message to fix it.
_CALLERS_FAULT = (BadRequestError, ContextWindowExceededError, ContentPolicyViolationError,
                  UnprocessableEntityError, UnsupportedParamsError)
_ADMINS = ("proxy_admin", "anonymous")  # the master key; anyone when auth is off
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>`]+")


def for_caller(err: ProxyError, exc: BaseException, auth: Any, call_id: str) -> ProxyError:
    """What the caller identified by ``auth`` may see of ``err`` (made from ``exc``).

    URLs in messages never show credentials. An admin (the master key, or anyone when
    authentication is off) sees the detail. Another caller sees the detail of an upstream
    error about the request itself (a 400 such as a context-window or content-policy
    refusal) with URLs removed, and for every other upstream or internal failure only the
    status, the error type and code, and the call id to quote: upstream URLs, deployment
    names and provider account details stay with the admins, who also find the detail in
    the proxy's log under that call id."""
    upstream = isinstance(exc, LLMRelayError)
    if not upstream and err.status_code < 500:
        return err  # the proxy's own refusals and users' hook errors are meant to be read
    detail = mask_urls_in(err.message)
    if upstream or err.status_code >= 500:
        log.warning("llmrelay proxy: call %s failed (%s): %s", call_id, err.status_code,
                    detail)
    param = err.param
    if getattr(auth, "user_role", None) in _ADMINS:
        message = detail
    elif upstream and isinstance(exc, _CALLERS_FAULT):
        message = _URL.sub("[upstream URL]", err.message)
    else:
        param = None
        where = "the upstream provider" if upstream else "the proxy"
        message = (f"{where} failed to serve this request ({err.status_code} "
                   f"{err.type}); quote call id {call_id} to the proxy's administrator for "
                   f"the details")
    return ProxyError(err.status_code, message, type=err.type, param=param, code=err.code,
                      headers=err.headers)
