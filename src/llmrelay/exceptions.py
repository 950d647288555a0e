"""The one exception tree of llmrelay.

::

    LLMRelayError                      (status_code None unless an HTTP status applies)
    ├── BadRequestError                400
    │   ├── ContextWindowExceededError 400
    │   ├── ContentPolicyViolationError 400
    │   └── UnsupportedParamsError     400  (raised before any network I/O)
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
"""

from __future__ import annotations

from typing import Any

from ._urls import mask_urls_in

__all__ = [
    "APIConnectionError",
    "APIError",
    "AuthenticationError",
    "BadRequestError",
    "ContentPolicyViolationError",
    "ContextWindowExceededError",
    "InternalServerError",
    "LLMRelayError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServiceUnavailableError",
    "Timeout",
    "UnprocessableEntityError",
    "UnsupportedParamsError",
    "error_for_status",
]


class LLMRelayError(Exception):
    """Base of every error llmrelay raises."""

    default_status: int | None = None

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        llm_provider: str | None = None,
        model: str | None = None,
        response_body: str | None = None,
        response_headers: dict[str, str] | None = None,
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        message = mask_urls_in(message)  # an upstream may echo a URL with credentials
        super().__init__(message)
        self.message = message
        self.status_code = status_code if status_code is not None else self.default_status
        self.llm_provider = llm_provider
        self.model = model
        self.response_body = response_body
        self.response_headers = response_headers or {}
        self.param = param
        self.code = code
        self.num_retries: int | None = None

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
    default_status = 400


class ContextWindowExceededError(BadRequestError):
    pass


class ContentPolicyViolationError(BadRequestError):
    pass


class UnsupportedParamsError(BadRequestError):
    pass


class AuthenticationError(LLMRelayError):
    default_status = 401


class PermissionDeniedError(LLMRelayError):
    default_status = 403


class NotFoundError(LLMRelayError):
    default_status = 404


class UnprocessableEntityError(LLMRelayError):
    default_status = 422


class RateLimitError(LLMRelayError):
    default_status = 429


class Timeout(LLMRelayError):
    default_status = 408


class APIConnectionError(LLMRelayError):
    default_status = 500


class InternalServerError(LLMRelayError):
    default_status = 500


class ServiceUnavailableError(InternalServerError):
    default_status = 503


class APIError(LLMRelayError):
    default_status = 500


_OPENAI_TYPES = {
    "BadRequestError": "invalid_request_error",
    "ContextWindowExceededError": "invalid_request_error",
    "ContentPolicyViolationError": "invalid_request_error",
    "UnsupportedParamsError": "invalid_request_error",
    "AuthenticationError": "authentication_error",
    "PermissionDeniedError": "permission_error",
    "NotFoundError": "not_found_error",
    "UnprocessableEntityError": "invalid_request_error",
    "RateLimitError": "rate_limit_error",
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
