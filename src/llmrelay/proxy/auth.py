"""Who is calling: the API key from the request, checked against the master key and the
virtual keys (through the in-process key cache, so no database round trip per request).

Keys are read from ``Authorization: Bearer <key>``, ``x-api-key`` or ``api-key``. With a
master key configured every request needs a key; without one, authentication is off:
requests without a key (or with an unknown one) run as an anonymous caller, and a known
virtual key still gets its identity, limits and spend tracking.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

from .errors import ProxyError

__all__ = ["Authenticator", "UserAPIKeyAuth", "extract_key"]

_FIELDS = ("token", "key_alias", "user_id", "team_id", "models", "spend", "max_budget",
           "budget_duration", "rpm_limit", "tpm_limit", "max_parallel_requests", "expires",
           "metadata", "user_role", "blocked")


class UserAPIKeyAuth:
    """The caller's identity, as proxy hooks receive it in ``user_api_key_dict``.

    Attribute access (``user_api_key_dict.user_id``) and dict-style ``get``/``[]``.
    ``token`` (and its alias ``api_key``) is the sha256 hash of the key, never the key.
    ``user_role`` is ``"proxy_admin"`` for the master key, ``"internal_user"`` for a
    virtual key and ``"anonymous"`` when authentication is off and no key matched.
    """

    __slots__ = (*_FIELDS, "record")

    def __init__(self, token: str | None = None, key_alias: str | None = None,
                 user_id: str | None = None, team_id: str | None = None,
                 models: list[str] | None = None, spend: float = 0.0,
                 max_budget: float | None = None, budget_duration: str | None = None,
                 rpm_limit: int | None = None, tpm_limit: int | None = None,
                 max_parallel_requests: int | None = None, expires: Any = None,
                 metadata: dict[str, Any] | None = None, user_role: str = "anonymous",
                 blocked: bool = False, record: Any = None) -> None:
        self.token = token
        self.key_alias = key_alias
        self.user_id = user_id
        self.team_id = team_id
        self.models = list(models or [])
        self.spend = float(spend or 0.0)
        self.max_budget = max_budget
        self.budget_duration = budget_duration
        self.rpm_limit = rpm_limit
        self.tpm_limit = tpm_limit
        self.max_parallel_requests = max_parallel_requests
        self.expires = expires
        self.metadata = dict(metadata or {})
        self.user_role = user_role
        self.blocked = blocked
        self.record = record  # the store's KeyRecord, None for master/anonymous

    @classmethod
    def from_record(cls, rec: Any) -> UserAPIKeyAuth:
        return cls(token=rec.token, key_alias=rec.key_alias, user_id=rec.user_id,
                   team_id=rec.team_id, models=rec.models, spend=rec.spend,
                   max_budget=rec.max_budget, budget_duration=rec.budget_duration,
                   rpm_limit=rec.rpm_limit, tpm_limit=rec.tpm_limit,
                   max_parallel_requests=rec.max_parallel_requests, expires=rec.expires,
                   metadata={k: v for k, v in (rec.metadata or {}).items()
                             if k != "_llmrelay_key"},  # key_settings.EXTRA
                   user_role="internal_user",
                   blocked=bool(rec.blocked), record=rec)

    @property
    def api_key(self) -> str | None:
        return self.token

    def get(self, name: str, default: Any = None) -> Any:
        if name == "api_key":
            return self.token
        return getattr(self, name, default) if name in _FIELDS else default

    def __getitem__(self, name: str) -> Any:
        if name not in _FIELDS and name != "api_key":
            raise KeyError(name)
        return self.get(name)

    def model_dump(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in _FIELDS}
        out["api_key"] = self.token
        return out

    def __repr__(self) -> str:
        return (f"UserAPIKeyAuth(token={self.token!r}, key_alias={self.key_alias!r}, "
                f"user_id={self.user_id!r}, team_id={self.team_id!r}, "
                f"user_role={self.user_role!r})")


def extract_key(headers: Mapping[str, str], header: str | None = None) -> str | None:
    """The API key a request carries, or None. ``header`` (``general_settings.
    litellm_key_header_name``) is looked at first."""
    if header is not None:
        value = headers.get(header)
        if value:
            scheme, _, rest = value.partition(" ")
            return (rest if rest and scheme.lower() == "bearer" else value).strip() or None
    auth = headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if value and scheme.lower() == "bearer":
            return value.strip() or None
        return auth.strip() or None
    return headers.get("x-api-key") or headers.get("api-key") or None


def _hash(key: str) -> str:
    from .keys.models import hash_key

    return hash_key(key)


_ANONYMOUS = UserAPIKeyAuth()


class Authenticator:
    """Checks a request's key: master key, virtual key (via ``key_cache``), or refusal."""

    def __init__(self, master_key: str | None, key_cache: Any,
                 key_header: str | None = None) -> None:
        self.master_key = master_key
        self.key_header = key_header.lower() if key_header else None
        self.master_hash = _hash(master_key) if master_key else None
        self.key_cache = key_cache
        self._master = UserAPIKeyAuth(token=self.master_hash, key_alias="master",
                                      user_role="proxy_admin")

    @property
    def enabled(self) -> bool:
        return self.master_key is not None

    def is_master(self, key: str | None) -> bool:
        master = self.master_key
        return master is not None and key is not None and hmac.compare_digest(
            key.encode("utf-8"), master.encode("utf-8"))

    async def authenticate(self, headers: Mapping[str, str]) -> UserAPIKeyAuth:
        """The caller's identity; raises :class:`ProxyError` 401 for a missing/unknown key."""
        key = extract_key(headers, self.key_header)
        if self.is_master(key):
            return self._master
        rec = None
        if key is not None and self.key_cache is not None:
            rec = await self.key_cache.get(_hash(key))
        if rec is not None:
            return UserAPIKeyAuth.from_record(rec)
        if self.master_key is None:
            return _ANONYMOUS
        if key is None:
            raise ProxyError(401, "No API key provided: send `Authorization: Bearer <key>` "
                             "or `x-api-key: <key>`", code="missing_api_key")
        raise ProxyError(401, "Invalid API key: it is neither the master key nor a known "
                         "virtual key", code="invalid_api_key")

    def require_master(self, headers: Mapping[str, str]) -> None:
        """Raise 401/403 unless the request carries the master key (no-op with auth off)."""
        if self.master_key is None:
            return
        key = extract_key(headers, self.key_header)
        if key is None:
            raise ProxyError(401, "This endpoint needs the master key: send "
                             "`Authorization: Bearer <master key>`", code="missing_api_key")
        if not self.is_master(key):
            raise ProxyError(403, "This endpoint is for the master key only",
                             code="master_key_required")

    async def require(self, headers: Mapping[str, str], level: str) -> None:
        """Check a route's access ``level``: ``"off"`` (anyone), ``"key"`` (any valid key)
        or ``"admin"`` (the master key); raises :class:`ProxyError` 401/403. Without a
        master key authentication is off and every level lets everyone in."""
        if level == "key":
            await self.authenticate(headers)
        elif level == "admin":
            self.require_master(headers)
