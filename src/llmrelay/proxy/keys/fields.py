"""Checking the fields handed to ``KeyStore.create``/``update`` before they reach SQL.

Every backend stores exactly what :func:`clean_fields` returns, so a bad value is refused
the same way (a :class:`KeyFieldError`, HTTP 400) whatever the database.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from .models import as_utc, parse_duration

__all__ = ["EDITABLE", "KeyFieldError", "budget_window", "clean_fields"]

_STR = ("key_alias", "user_id", "team_id")
_INT = ("rpm_limit", "tpm_limit", "max_parallel_requests")
_WHEN = ("expires", "budget_reset_at")
# Fields a caller may set; token, created_at are the store's. ``duration`` (e.g. "30d")
# is accepted too and becomes ``expires`` = now + duration.
EDITABLE = frozenset({*_STR, *_INT, *_WHEN, "models", "max_budget", "budget_duration",
                      "metadata", "spend", "blocked"})


class KeyFieldError(ValueError):
    """A field handed to the key store is unknown or has a bad value (HTTP 400)."""

    status_code = 400

    def __init__(self, message: str, *, param: str | None = None,
                 code: str = "invalid_value") -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code
        self.type = "invalid_request_error"


def _bad(name: str, problem: str) -> KeyFieldError:
    return KeyFieldError(f"`{name}` {problem}", param=name)


def _when(name: str, value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return None if value is None else as_utc(value)
    if isinstance(value, str):
        try:
            return as_utc(datetime.fromisoformat(value.strip().replace("Z", "+00:00")))
        except ValueError:
            pass
    raise _bad(name, "must be a datetime or an ISO 8601 date-time string")


def _number(name: str, value: Any) -> float | None:
    if value is None and name != "spend":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise _bad(name, "must be a non-negative number")
    return float(value)


def _clean_one(name: str, value: Any) -> Any:
    if name in _STR:
        if value is not None and not isinstance(value, str):
            raise _bad(name, "must be a string or null")
        return value
    if name in _INT:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise _bad(name, "must be a non-negative integer or null")
        return value
    if name in _WHEN:
        return _when(name, value)
    if name in ("max_budget", "spend"):
        return _number(name, value)
    if name == "models":
        if value is None:
            return []
        if not isinstance(value, (list, tuple)) or not all(isinstance(m, str) for m in value):
            raise _bad(name, "must be a list of model names (empty = all models)")
        return list(value)
    if name == "metadata":
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise _bad(name, "must be an object")
        return dict(value)
    if name == "blocked":
        if value is None:
            return False
        if not isinstance(value, bool):
            raise _bad(name, "must be true or false")
        return value
    # budget_duration
    if value is None:
        return None
    try:
        parse_duration(value)
    except ValueError as exc:
        raise _bad(name, str(exc)) from None
    return value.strip()


def clean_fields(fields: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """Checked, normalised copies of ``fields`` (datetimes to aware UTC).

    ``duration`` turns into ``expires``. Raises :class:`KeyFieldError` naming the first
    unknown field or bad value.
    """
    unknown = sorted(name for name in fields if name not in EDITABLE and name != "duration")
    if unknown:
        raise KeyFieldError(f"unknown key field(s): {', '.join(unknown)}", param=unknown[0],
                            code="unknown_field")
    out = {name: _clean_one(name, value) for name, value in fields.items()
           if name != "duration"}
    duration = fields.get("duration")
    if duration is not None:
        if fields.get("expires") is not None:
            raise KeyFieldError("give either `duration` or `expires`, not both",
                                param="duration")
        try:
            out["expires"] = now + parse_duration(duration)
        except ValueError as exc:
            raise _bad("duration", str(exc)) from None
    elif "duration" in fields and "expires" not in fields:
        out["expires"] = None
    return out


def budget_window(values: dict[str, Any], now: datetime) -> None:
    """Set ``budget_reset_at`` from ``budget_duration`` when the caller changed the duration
    without naming a reset time: the first window starts now; no duration, no window."""
    if "budget_duration" not in values or "budget_reset_at" in values:
        return
    duration = values["budget_duration"]
    values["budget_reset_at"] = None if duration is None else now + parse_duration(duration)
