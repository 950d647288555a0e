"""The records the key store holds: virtual keys (:class:`KeyRecord`) and usage rows
(:class:`SpendRecord`), plus the small pure helpers around them (hashing, durations, time).

Keys are identified by ``token``, the sha256 hex digest of the plaintext key; the plaintext
is shown once at creation and never stored. All datetimes the store returns are aware and
in UTC; naive datetimes handed in are taken as local time (what ``datetime.now()`` gives).
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

__all__ = [
    "KEY_COLUMNS",
    "SPEND_COLUMNS",
    "KeyRecord",
    "SpendRecord",
    "as_utc",
    "generate_key",
    "hash_key",
    "is_token",
    "next_reset",
    "parse_duration",
    "utcnow",
]


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(timezone.utc)


def as_utc(value: datetime) -> datetime:
    """``value`` as an aware UTC datetime (a naive value is taken as local time)."""
    return value.astimezone(timezone.utc)


def hash_key(plaintext: str) -> str:
    """The token of a key: the sha256 hex digest of its UTF-8 bytes."""
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def is_token(value: str) -> bool:
    """True when ``value`` looks like a token (64 lowercase hex digits), not a key."""
    return len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def generate_key() -> str:
    """A new random key: ``"sk-"`` and 43 URL-safe characters (256 bits)."""
    return "sk-" + secrets.token_urlsafe(32)


_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d|w|mo)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "mo": 30 * 86400}


def parse_duration(text: str) -> timedelta:
    """``"30s"``, ``"10m"``, ``"1h"``, ``"1d"``, ``"2w"``, ``"1mo"`` (30 days) -> timedelta.

    Raises ValueError for anything else, and for a zero duration.
    """
    match = _DURATION.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{text!r} is not a duration like 30s, 10m, 1h, 1d, 2w or 1mo")
    seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds <= 0:
        raise ValueError(f"{text!r}: a duration must be longer than zero")
    return timedelta(seconds=seconds)


def next_reset(reset_at: datetime, duration: str, now: datetime) -> datetime:
    """The first window boundary after ``now``, stepping from ``reset_at`` by ``duration``.

    Windows stay aligned to the key's original schedule however long nobody looked.
    """
    step = parse_duration(duration)
    if now < reset_at:
        return reset_at
    periods = (now - reset_at) // step + 1
    return reset_at + periods * step


@dataclass
class KeyRecord:
    """A virtual key as stored (``token`` is the hash; the plaintext is never kept).

    ``models`` empty means every model; ``None`` limits mean unlimited. ``spend`` is the
    spend in the current budget window (reset to 0 at ``budget_reset_at`` when
    ``budget_duration`` is set).
    """

    token: str
    key_alias: str | None = None
    user_id: str | None = None
    team_id: str | None = None
    models: list[str] = field(default_factory=list)
    max_budget: float | None = None
    budget_duration: str | None = None
    budget_reset_at: datetime | None = None
    rpm_limit: int | None = None
    tpm_limit: int | None = None
    max_parallel_requests: int | None = None
    expires: datetime | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    spend: float = 0.0
    created_at: datetime = field(default_factory=utcnow)
    blocked: bool = False
    # When ``spend`` was last set by hand (microseconds since the epoch, 0: never): the
    # limiter's budget counters are per (window, epoch), so setting the spend starts anew.
    spend_epoch: int = 0

    def is_expired(self, now: datetime | None = None) -> bool:
        """True once ``expires`` has passed."""
        return self.expires is not None and (now or utcnow()) >= self.expires

    def window_over(self, now: datetime | None = None) -> bool:
        """True when the budget window ended and ``spend`` belongs to the previous one."""
        return self.budget_reset_at is not None and (now or utcnow()) >= self.budget_reset_at

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (datetimes as ISO 8601 strings; internal fields left out)."""
        data = dataclasses.asdict(self)
        del data["spend_epoch"]
        return _jsonable(data)


@dataclass
class SpendRecord:
    """One request's usage, as appended to ``spend_logs`` (``key_hash`` is the key's token,
    or None for the master key / anonymous callers). ``call_id`` is unique: a row whose
    ``call_id`` is stored already is not stored (nor counted) again."""

    call_id: str
    key_hash: str | None = None
    key_alias: str | None = None
    user_id: str | None = None
    team_id: str | None = None
    model: str = ""
    model_group: str | None = None
    deployment: str | None = None
    api_base: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost: float = 0.0
    latency_ms: float = 0.0
    status: str = "success"
    start_time: datetime = field(default_factory=utcnow)
    end_time: datetime = field(default_factory=utcnow)
    cache_hit: bool = False
    request_tags: list[str] = field(default_factory=list)
    end_user: str | None = None  # the request's ``user``
    provider: str | None = None  # the serving deployment's provider ("openai", ...)
    organization_id: str | None = None  # the key's team's organisation
    # With ``store_prompts_in_spend_logs``: the request's messages/input and the response
    # (JSON text, cut to ``storable.MAX_BODY_CHARS``); None otherwise.
    messages: str | None = None
    response: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (datetimes as ISO 8601 strings)."""
        return _jsonable(dataclasses.asdict(self))


# Column order of the tables == field order of the dataclasses.
KEY_COLUMNS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(KeyRecord))
SPEND_COLUMNS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(SpendRecord))


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    for name, value in data.items():
        if isinstance(value, datetime):
            data[name] = value.isoformat()
    return data
