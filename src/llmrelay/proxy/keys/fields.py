"""Checking the fields handed to ``KeyStore.create``/``update`` before they reach SQL.

Every backend stores exactly what :func:`clean_fields` returns, so a bad value is refused
the same way (a :class:`KeyFieldError`, HTTP 400) whatever the database, and nothing is
stored that a later read could not serve: text holds no NUL character (PostgreSQL refuses
it) and no lone UTF-16 surrogate (no UTF-8 text can hold one), counts fit the columns'
32-bit integers, money is a finite number, durations and dates stay within the years a
datetime can hold, and ``metadata`` is JSON nested at most :data:`MAX_DEPTH` levels and at
most :data:`MAX_METADATA_BYTES` long (the proxy's routes apply its configured, tighter
limits first).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from .models import as_utc, parse_duration

__all__ = ["EDITABLE", "KeyFieldError", "budget_window", "clean_fields"]

_STR = ("key_alias", "user_id", "team_id")
MAX_INT = 2**31 - 1  # PostgreSQL INTEGER
MAX_MONEY = 1e15  # USD
MAX_TEXT = 1024
MAX_MODELS = 1000
MAX_DEPTH = 32
MAX_METADATA_BYTES = 1024 * 1024
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


def text_problem(value: str, max_len: int = MAX_TEXT) -> str | None:
    """Why ``value`` cannot be stored as text, or None."""
    if len(value) > max_len:
        return f"is longer than {max_len} characters"
    if "\x00" in value:
        return "contains a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone UTF-16 surrogate, which is not valid Unicode text"
    return None


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _bad(name, "must be a string")
    problem = text_problem(value)
    if problem:
        raise _bad(name, problem)
    return value


def _when(name: str, value: Any) -> datetime | None:
    try:
        if value is None or isinstance(value, datetime):
            return None if value is None else as_utc(value)
        if isinstance(value, str) and len(value) <= 64:
            return as_utc(datetime.fromisoformat(value.strip().replace("Z", "+00:00")))
    except (ValueError, OverflowError):
        pass
    raise _bad(name, "must be a datetime or an ISO 8601 date-time string (years 1-9999)")


def _number(name: str, value: Any) -> float | None:
    if value is None and name != "spend":
        return None
    if (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0
            or not math.isfinite(value) or value > MAX_MONEY):
        raise _bad(name, f"must be a non-negative number no larger than {MAX_MONEY:g}")
    return float(value)


def _metadata(value: Any) -> dict[str, Any]:
    """``metadata`` checked to be storable JSON that reads back the same."""
    if not isinstance(value, Mapping):
        raise _bad("metadata", "must be an object")
    todo: list[tuple[Any, str, int]] = [(value, "metadata", 1)]
    while todo:
        item, path, depth = todo.pop()
        if isinstance(item, (Mapping, list, tuple)):
            if depth > MAX_DEPTH:
                raise _bad("metadata", f"is nested more than {MAX_DEPTH} levels deep")
            pairs = item.items() if isinstance(item, Mapping) else enumerate(item)
            for k, v in pairs:
                if isinstance(item, Mapping):
                    if not isinstance(k, str):
                        raise _bad(path, "has a member name that is not a string")
                    problem = text_problem(k, MAX_METADATA_BYTES)
                    if problem:
                        raise _bad(path, f"has a member name that {problem}")
                todo.append((v, f"{path}.{k}" if isinstance(item, Mapping) else f"{path}[{k}]",
                             depth + 1))
        elif isinstance(item, str):
            problem = text_problem(item, MAX_METADATA_BYTES)
            if problem:
                raise _bad(path, problem)
        elif isinstance(item, float) and not math.isfinite(item):
            raise _bad(path, "is not a finite number")
        elif item is not None and not isinstance(item, (bool, int, float)):
            raise _bad(path, f"is a {type(item).__name__}, which JSON cannot hold")
    if len(json.dumps(value)) > MAX_METADATA_BYTES:
        raise _bad("metadata", f"is longer than {MAX_METADATA_BYTES} bytes as JSON")
    allowed = value.get("allowed_request_params")
    if allowed is not None:
        from ..contract.policy import allowed_names_error

        problem = allowed_names_error(allowed)
        if problem:
            raise KeyFieldError(problem, param="metadata.allowed_request_params")
    return dict(value)


def _duration(name: str, value: Any, now: datetime | None = None) -> timedelta:
    """A duration string that, added to ``now``, still gives a date (year <= 9999)."""
    try:
        span = parse_duration(value)
        (now or datetime.now().astimezone()) + span
    except ValueError as exc:
        raise _bad(name, str(exc)) from None
    except OverflowError:
        raise _bad(name, f"{value!r} is too long a duration") from None
    return span


def _clean_one(name: str, value: Any) -> Any:
    if name in _STR:
        return None if value is None else _text(name, value)
    if name in _INT:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_INT:
            raise _bad(name, f"must be an integer from 0 to {MAX_INT}, or null")
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
        if len(value) > MAX_MODELS:
            raise _bad(name, f"lists more than {MAX_MODELS} models")
        return [_text(f"models[{i}]", m) for i, m in enumerate(value)]
    if name == "metadata":
        return {} if value is None else _metadata(value)
    if name == "blocked":
        if value is None:
            return False
        if not isinstance(value, bool):
            raise _bad(name, "must be true or false")
        return value
    # budget_duration
    if value is None:
        return None
    _duration(name, value)
    return str(value).strip()


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
        out["expires"] = now + _duration("duration", duration, now)
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
