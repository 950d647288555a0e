"""The one exception tree of llmrelay.

::

    LLMRelayError                      (status_code None unless an HTTP status applies)
    ├── BadRequestError                400
    │   ├── ContextWindowExceededError 400
    │   ├── ContentPolicyViolationError 400
    │   ├── UnsupportedParamsError     400  (raised before any network I/O)
    │   └── ProviderConfigError        400  (no endpoint/project configured; before any I/O)
    ├── AuthenticationError            401
    ├── PermissionDeniedError          403
    ├── NotFoundError                  404
    ├── UnprocessableEntityError       422
    ├── RateLimitError                 429
    ├── Timeout                        408
    ├── APIConnectionError             500  (network failure, truncated or unreadable reply)
    ├── InternalServerError            500
    │   └── ServiceUnavailableError    503
    └── APIError                       any other status

Every error carries ``status_code``, ``message``, ``llm_provider``, ``model``, the upstream
``response_body`` excerpt and ``response_headers`` when there was a reply, and chains the
original exception (``__cause__``) when one was raised underneath.

As LiteLLM documents for its errors, llmrelay's are also the OpenAI SDK's when the
``openai`` package is in use: once ``openai`` has been imported (by the application;
llmrelay never imports it for this), each class also derives from its OpenAI counterpart
(``except openai.RateLimitError`` catches :class:`RateLimitError`; ``Timeout`` is an
``openai.APITimeoutError``), from the first error constructed after that import on.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from ._urls import mask_urls_in

__all__ = [
    "APIConnectionError",
    "APIError",
    "AuthenticationError",
    "BadRequestError",
    "BudgetExceededError",
    "ContentPolicyViolationError",
    "ContextWindowExceededError",
    "InternalServerError",
    "LLMRelayError",
    "NotFoundError",
    "PermissionDeniedError",
    "ProviderConfigError",
    "RateLimitError",
    "ServiceUnavailableError",
    "Timeout",
    "UnprocessableEntityError",
    "UnsupportedParamsError",
    "error_for_status",
]


class LLMRelayError(Exception):
    """Base of every error llmrelay raises.

    Constructed as ``Error("message", llm_provider=..., model=...)``; LiteLLM's positional
    forms are accepted too (``RateLimitError(message, llm_provider, model, response)``,
    ``NotFoundError(message, model, llm_provider, response)``, ``APIError(status_code,
    message, llm_provider, model)``: each class lists its order in ``_positional``), as are
    ``response=`` (an ``httpx.Response``-like object: its headers and text are kept),
    ``headers=``, ``body=``, ``max_retries=``, ``num_retries=`` and ``litellm_debug_info=``.
    ``code`` defaults to the status code as a string, as LiteLLM and its proxy report it.
    """

    default_status: int | None = None
    _positional: tuple[str, ...] = ("llm_provider", "model", "response")

    def __init__(
        self,
        message: str = "",
        *args: Any,
        status_code: int | None = None,
        llm_provider: str | None = None,
        model: str | None = None,
        response_body: str | None = None,
        response_headers: dict[str, str] | None = None,
        param: str | None = None,
        code: str | None = None,
        **extra: Any,
    ) -> None:
        message = mask_urls_in(message)  # an upstream may echo a URL with credentials
        named = dict(zip(self._positional, args, strict=False))  # LiteLLM's forms
        llm_provider = llm_provider if llm_provider is not None else named.get("llm_provider")
        model = model if model is not None else named.get("model")
        response = extra.pop("response", None) or named.get("response")
        if response is not None:
            response_headers = response_headers or _headers_of(response)
            response_body = response_body if response_body is not None else _text_of(response)
        headers = extra.pop("headers", None)
        if headers and not response_headers:
            response_headers = dict(headers)
        if status_code is None and isinstance(named.get("status_code"), int):
            status_code = named["status_code"]
        if not _adopted and "openai" in sys.modules:
            _adopt_openai()
        Exception.__init__(self, message)  # not super(): OpenAI's bases take other arguments
        self.message = message
        self.status_code = status_code if status_code is not None else self.default_status
        self.llm_provider = llm_provider
        self.model = model
        self.response_body = response_body
        self.response_headers = response_headers or {}
        self.param = param
        self.code = code if code is not None or self.status_code is None else str(
            self.status_code)
        self.body = extra.pop("body", None)
        self._debug_info: str | None = extra.pop("litellm_debug_info", None)
        self.max_retries: int | None = extra.pop("max_retries", None)
        self.num_retries: int | None = extra.pop("num_retries", None)
        self._response = response
        for key, value in extra.items():  # other LiteLLM fields (category, detail, ...)
            setattr(self, key, value)

    @property
    def response(self) -> Any:
        """The upstream reply, as the OpenAI SDK's errors carry it: the ``httpx.Response``
        given, else one made from this error's status, headers and body excerpt (status
        500 when the error has no status), so ``e.response.status_code`` and
        ``e.response.headers`` always work."""
        if self._response is None:
            import httpx

            url = f"https://{self.llm_provider or 'llmrelay'}.invalid/"
            self._response = httpx.Response(
                self.status_code or 500, headers=self.response_headers,
                content=(self.response_body or self.message).encode("utf-8", "replace"),
                request=httpx.Request("POST", url))
        return self._response

    @response.setter
    def response(self, value: Any) -> None:
        self._response = value

    @property
    def request(self) -> Any:
        """The request of :attr:`response` (the OpenAI SDK's errors carry it)."""
        return getattr(self.response, "request", None)

    @property
    def request_id(self) -> str | None:
        """The upstream's request id header, when it sent one."""
        headers = self.response_headers or {}
        return headers.get("x-request-id") or headers.get("request-id")

    @property
    def litellm_debug_info(self) -> str:
        """What LiteLLM shows for debugging: the given text, else the model, provider and
        status of the call."""
        if self._debug_info:
            return self._debug_info
        return (f"\nModel: {self.model}\nProvider: {self.llm_provider}"
                f"\nStatus: {self.status_code}")

    @litellm_debug_info.setter
    def litellm_debug_info(self, value: str | None) -> None:
        self._debug_info = value

    @property
    def type(self) -> str:
        """The OpenAI error ``type`` string for this error."""
        return _OPENAI_TYPES.get(type(self).__name__, "api_error")

    def __str__(self) -> str:
        where = f"{self.llm_provider}/{self.model}" if self.llm_provider else self.model
        prefix = f"llmrelay.{type(self).__name__}"
        if where:
            prefix += f" ({where})"
        if self.status_code is not None:
            prefix += f" [{self.status_code}]"
        return f"{prefix}: {self.message}"

    def to_openai_error(self) -> dict[str, Any]:
        """The error as OpenAI's JSON error body."""
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code if self.code is not None else self.status_code,
            }
        }


class BadRequestError(LLMRelayError):
    _positional: tuple[str, ...] = ("model", "llm_provider", "response")
    default_status = 400


class ContextWindowExceededError(BadRequestError):
    pass


class ContentPolicyViolationError(BadRequestError):
    pass


class ProviderConfigError(BadRequestError):
    """The provider cannot be called as configured: no base URL, no project ... (raised
    before any network I/O). A 400 for the caller; a Router treats it as the deployment's
    fault: it tries another deployment, as LiteLLM's router does."""


class UnsupportedParamsError(BadRequestError):
    _positional: tuple[str, ...] = ("llm_provider", "model", "status_code", "response")


class AuthenticationError(LLMRelayError):
    default_status = 401


class PermissionDeniedError(LLMRelayError):
    default_status = 403


class NotFoundError(LLMRelayError):
    _positional: tuple[str, ...] = ("model", "llm_provider", "response")
    default_status = 404


class UnprocessableEntityError(LLMRelayError):
    _positional: tuple[str, ...] = ("model", "llm_provider", "response")
    default_status = 422


class RateLimitError(LLMRelayError):
    default_status = 429


class Timeout(LLMRelayError):
    _positional: tuple[str, ...] = ("model", "llm_provider")
    default_status = 408


class APIConnectionError(LLMRelayError):
    _positional: tuple[str, ...] = ("llm_provider", "model", "request")
    default_status = 500


class InternalServerError(LLMRelayError):
    default_status = 500


class ServiceUnavailableError(InternalServerError):
    default_status = 503


class APIError(LLMRelayError):
    """An upstream error with any other status. Also ``APIError(status_code, message,
    llm_provider, model)`` as LiteLLM builds it."""

    default_status = 500

    def __init__(self, message: Any = "", *args: Any, **kwargs: Any) -> None:
        if isinstance(message, int) and not isinstance(message, bool):  # LiteLLM's order
            kwargs.setdefault("status_code", message)
            message, args = (args[0] if args else ""), args[1:]
        super().__init__(str(message), *args, **kwargs)


class BudgetExceededError(LLMRelayError):
    """Spend went over a budget: ``llmrelay.max_budget`` (the running total in
    ``llmrelay._current_cost``) or a :class:`~llmrelay.BudgetManager` user's budget.
    ``BudgetExceededError(current_cost, max_budget)`` as in LiteLLM."""

    default_status = 400

    def __init__(self, current_cost: float, max_budget: float, message: str | None = None,
                 **kwargs: Any) -> None:
        self.current_cost = float(current_cost)
        self.max_budget = float(max_budget)
        super().__init__(message or f"Budget has been exceeded! Current cost: "
                         f"{self.current_cost}, Max budget: {self.max_budget}", **kwargs)


_OPENAI_TYPES = {
    "BadRequestError": "invalid_request_error",
    "ContextWindowExceededError": "invalid_request_error",
    "ContentPolicyViolationError": "invalid_request_error",
    "UnsupportedParamsError": "invalid_request_error",
    "ProviderConfigError": "invalid_request_error",
    "AuthenticationError": "authentication_error",
    "PermissionDeniedError": "permission_error",
    "NotFoundError": "not_found_error",
    "UnprocessableEntityError": "invalid_request_error",
    "RateLimitError": "throttling_error",
    "Timeout": "timeout",
    "APIConnectionError": "api_connection_error",
    "InternalServerError": "api_error",
    "ServiceUnavailableError": "service_unavailable",
}

_BY_STATUS: dict[int, type[LLMRelayError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    408: Timeout,
    413: BadRequestError,
    422: UnprocessableEntityError,
    429: RateLimitError,
    500: InternalServerError,
    502: ServiceUnavailableError,
    503: ServiceUnavailableError,
    504: Timeout,
    529: ServiceUnavailableError,
}


def _headers_of(response: Any) -> dict[str, str]:
    try:
        return {str(k).lower(): str(v) for k, v in dict(response.headers).items()}
    except Exception:
        return {}


def _text_of(response: Any) -> str | None:
    try:
        text = response.text
    except Exception:  # a streamed or unread response
        return None
    return text if isinstance(text, str) else None


def error_for_status(status: int) -> type[LLMRelayError]:
    """The exception class for an upstream HTTP status."""
    cls = _BY_STATUS.get(status)
    if cls is not None:
        return cls
    if 400 <= status < 500:
        return BadRequestError
    if status >= 500:
        return InternalServerError
    return APIError


# Our classes and the OpenAI SDK classes they also derive from once ``openai`` is loaded.
_OPENAI_BASES = {
    "APIError": "APIError", "BadRequestError": "BadRequestError",
    "AuthenticationError": "AuthenticationError",
    "PermissionDeniedError": "PermissionDeniedError", "NotFoundError": "NotFoundError",
    "UnprocessableEntityError": "UnprocessableEntityError",
    "RateLimitError": "RateLimitError", "InternalServerError": "InternalServerError",
    "APIConnectionError": "APIConnectionError", "Timeout": "APITimeoutError",
}
_adopted = False
_adopt_lock = threading.Lock()


def _adopt_openai() -> None:
    """Add each OpenAI SDK error class to its counterpart's bases (once; skipped quietly
    if the installed ``openai`` lacks a class or refuses the layout)."""
    global _adopted
    with _adopt_lock:
        if _adopted:
            return
        _adopted = True
        openai = sys.modules.get("openai")
        for ours, theirs in _OPENAI_BASES.items():
            cls, base = globals()[ours], getattr(openai, theirs, None)
            if not isinstance(base, type) or issubclass(cls, base):
                continue
            try:
                cls.__bases__ = (*cls.__bases__, base)
            except TypeError:  # an incompatible layout: keep ours as it is
                continue
