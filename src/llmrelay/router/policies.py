"""Per-error-type retry counts and allowed failures: :class:`RetryPolicy` and
:class:`AllowedFailsPolicy` (LiteLLM's names and fields).

::

    router = Router(model_list=[...],
                    retry_policy=RetryPolicy(RateLimitErrorRetries=3,
                                             ContentPolicyViolationErrorRetries=0),
                    allowed_fails_policy=AllowedFailsPolicy(RateLimitErrorAllowedFails=10))

A field left as None falls back to the router's ``num_retries`` / ``allowed_fails``.
``llmrelay.completion(..., retry_policy=RetryPolicy(...))`` retries a failed module call
the policy's number of times for its error type.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ..exceptions import (
    AuthenticationError,
    BadRequestError,
    ContentPolicyViolationError,
    InternalServerError,
    RateLimitError,
    Timeout,
)

__all__ = ["AllowedFailsPolicy", "RetryPolicy"]

# Most specific first: ContentPolicyViolationError is a BadRequestError.
_KINDS: tuple[tuple[type[BaseException], str], ...] = (
    (AuthenticationError, "AuthenticationError"),
    (Timeout, "TimeoutError"),
    (RateLimitError, "RateLimitError"),
    (ContentPolicyViolationError, "ContentPolicyViolationError"),
    (BadRequestError, "BadRequestError"),
    (InternalServerError, "InternalServerError"),
)


def _kind(exc: BaseException) -> str | None:
    for cls, name in _KINDS:
        if isinstance(exc, cls):
            return name
    return None


class _Policy:
    """Shared behaviour: dict access and ``model_dump`` as LiteLLM's pydantic models."""

    _suffix = ""

    def _value(self, exc: BaseException) -> int | None:
        kind = _kind(exc)
        if kind is None:
            return None
        value = getattr(self, kind + self._suffix)
        return None if value is None else int(value)

    def model_dump(self, exclude_none: bool = False) -> dict[str, Any]:
        out = dataclasses.asdict(self)  # type: ignore[call-overload]
        return {k: v for k, v in out.items() if v is not None} if exclude_none else dict(out)

    def __getitem__(self, name: str) -> Any:
        return getattr(self, name)

    def get(self, name: str, default: Any = None) -> Any:
        return getattr(self, name, default)


def _check(obj: Any) -> None:
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                  or value < 0):
            raise ValueError(f"{type(obj).__name__}.{f.name} must be a whole number >= 0 "
                             f"or None, got {value!r}")


@dataclass
class RetryPolicy(_Policy):
    """Retries per error type (None: the router's ``num_retries``)."""

    BadRequestErrorRetries: int | None = None
    AuthenticationErrorRetries: int | None = None
    TimeoutErrorRetries: int | None = None
    RateLimitErrorRetries: int | None = None
    ContentPolicyViolationErrorRetries: int | None = None
    InternalServerErrorRetries: int | None = None
    _suffix = "Retries"

    def __post_init__(self) -> None:
        _check(self)

    def retries_for(self, exc: BaseException) -> int | None:
        """The retries this policy gives an error of ``exc``'s type, None if it is silent."""
        return self._value(exc)


@dataclass
class AllowedFailsPolicy(_Policy):
    """Failures a deployment may have per error type within a minute before it cools
    down (None: the router's ``allowed_fails``)."""

    BadRequestErrorAllowedFails: int | None = None
    AuthenticationErrorAllowedFails: int | None = None
    TimeoutErrorAllowedFails: int | None = None
    RateLimitErrorAllowedFails: int | None = None
    ContentPolicyViolationErrorAllowedFails: int | None = None
    InternalServerErrorAllowedFails: int | None = None
    _suffix = "AllowedFails"

    def __post_init__(self) -> None:
        _check(self)

    def allowed_fails_for(self, exc: BaseException) -> int | None:
        """The failures this policy allows for ``exc``'s type, None if it is silent."""
        return self._value(exc)


def as_policy(value: Any, cls: type[Any], name: str) -> Any:
    """``value`` as a ``cls`` (a dict of its fields is accepted); None stays None."""
    if value is None or isinstance(value, cls):
        return value
    if isinstance(value, dict):
        try:
            return cls(**value)
        except TypeError as exc:
            raise ValueError(f"{name}: {exc}") from None
    dump = getattr(value, "model_dump", None)  # e.g. a LiteLLM pydantic policy
    if callable(dump):
        return cls(**{k: v for k, v in dump().items() if k in cls.__dataclass_fields__})
    raise ValueError(f"{name} must be a {cls.__name__} or a dict, got {type(value).__name__}")
