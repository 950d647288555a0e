"""The kinds of record above keys (organisations, teams, users, end users, tags) and
shared budgets: their columns, how a caller's fields are checked, and how values are
encoded for each database.

A record is a plain dict of its columns, decoded (datetimes aware UTC, lists and dicts
parsed). Every level kind holds the same limit columns (:data:`LIMIT_COLUMNS`); what a
caller may set is :attr:`Kind.editable`. Values are checked here (a bad one is a
:class:`~.fields.KeyFieldError`, HTTP 400, naming the field) so that nothing is stored
that a later read cannot serve.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from .fields import EDITABLE, MAX_MONEY, KeyFieldError, budget_window, clean_fields, text_problem

__all__ = ["BUDGET_FIELDS", "KINDS", "LIMIT_COLUMNS", "ROLES", "Kind", "clean", "decode",
           "encode", "jsonable", "new_id"]

# Limits a level or a shared budget holds (a level's own value wins over its budget's).
BUDGET_FIELDS = ("max_budget", "soft_budget", "budget_duration", "rpm_limit", "tpm_limit",
                 "max_parallel_requests")
LIMIT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("models", "json"), ("max_budget", "float"), ("soft_budget", "float"),
    ("budget_duration", "text"), ("budget_reset_at", "time"), ("rpm_limit", "int"),
    ("tpm_limit", "int"), ("max_parallel_requests", "int"), ("budget_id", "text"),
    ("metadata", "json"), ("spend", "float"), ("spend_epoch", "int"), ("blocked", "bool"),
    ("created_at", "time"), ("updated_at", "time"), ("created_by", "text"),
    ("updated_by", "text"))
_SYSTEM = frozenset({"spend_epoch", "created_at", "updated_at", "created_by", "updated_by"})
ROLES = ("proxy_admin", "proxy_admin_viewer", "internal_user", "internal_user_viewer")
_CHOICES = {"user_role": ROLES}
MAX_ID = 256


@dataclass(frozen=True)
class Kind:
    """One kind of record: ``name`` (as routes and audit rows name it), its ``table``, its
    ``id`` column, and its columns (name, type: text/float/int/json/time/bool)."""

    name: str
    table: str
    id: str
    columns: tuple[tuple[str, str], ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c for c, _ in self.columns)

    @property
    def types(self) -> dict[str, str]:
        return dict(self.columns)

    @property
    def editable(self) -> frozenset[str]:
        return frozenset(c for c in self.names if c not in _SYSTEM and c != self.id)

    @property
    def is_level(self) -> bool:
        return "spend" in self.types


def _level(name: str, table: str, id_column: str, *own: tuple[str, str]) -> Kind:
    return Kind(name, table, id_column, ((id_column, "text"), *own, *LIMIT_COLUMNS))


KINDS: dict[str, Kind] = {k.name: k for k in (
    _level("organization", "organizations", "organization_id", ("organization_alias", "text")),
    _level("team", "teams", "team_id", ("team_alias", "text"), ("organization_id", "text")),
    _level("user", "users", "user_id", ("user_alias", "text"), ("user_email", "text"),
           ("user_role", "text")),
    _level("customer", "end_users", "user_id", ("alias", "text"), ("default_model", "text"),
           ("allowed_model_region", "text")),
    _level("tag", "tags", "tag_name", ("description", "text")),
    Kind("budget", "budgets", "budget_id", (
        ("budget_id", "text"), ("max_budget", "float"), ("soft_budget", "float"),
        ("budget_duration", "text"), ("rpm_limit", "int"), ("tpm_limit", "int"),
        ("max_parallel_requests", "int"), ("metadata", "json"), ("created_at", "time"),
        ("updated_at", "time"), ("created_by", "text"), ("updated_by", "text"))),
)}


def new_id() -> str:
    return str(uuid.uuid4())


def _bad(name: str, problem: str) -> KeyFieldError:
    return KeyFieldError(f"`{name}` {problem}", param=name)


def check_id(name: str, value: Any) -> str:
    """An id as stored: a non-empty string of at most :data:`MAX_ID` characters."""
    if not isinstance(value, str) or not value.strip():
        raise _bad(name, "must be a non-empty string")
    problem = text_problem(value, MAX_ID)
    if problem:
        raise _bad(name, problem)
    return value


def _one(kind: Kind, name: str, value: Any, now: datetime) -> Any:
    kind_of = kind.types[name]
    if name in EDITABLE and name not in ("user_id", "team_id"):
        if name == "blocked" and value is None:
            return False
        return clean_fields({name: value}, now)[name]
    if value is None:
        return None
    if name == "soft_budget":
        if (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0
                or value != value or value > MAX_MONEY):
            raise _bad(name, f"must be a non-negative number no larger than {MAX_MONEY:g}")
        return float(value)
    if name in ("organization_id", "budget_id", "team_id", "user_id"):
        return check_id(name, value)
    if kind_of == "text":
        if not isinstance(value, str):
            raise _bad(name, "must be a string")
        problem = text_problem(value)
        if problem:
            raise _bad(name, problem)
        choices = _CHOICES.get(name)
        if choices is not None and value not in choices:
            raise _bad(name, f"must be one of {', '.join(choices)}")
        return value
    raise _bad(name, "cannot be set")


def clean(kind: Kind, fields: Mapping[str, Any], now: datetime | None = None
          ) -> dict[str, Any]:
    """Checked copies of the ``fields`` a caller may set on a ``kind`` (unknown names are a
    400 naming them; routes drop what they ignore before). Setting ``budget_duration``
    starts a window now (``budget_reset_at``)."""
    now = now or datetime.now(timezone.utc)
    unknown = sorted(n for n in fields if n not in kind.editable)
    if unknown:
        raise KeyFieldError(f"unknown {kind.name} field(s): {', '.join(unknown)}",
                            param=unknown[0], code="unknown_field")
    out = {name: _one(kind, name, value, now) for name, value in fields.items()}
    if "budget_reset_at" in kind.types:
        budget_window(out, now)
    if "spend" in out and "spend_epoch" in kind.types:
        out["spend_epoch"] = int(now.timestamp() * 1_000_000)
    return out


def encode(dialect: str, kind_of: str, value: Any) -> Any:
    """A value as ``dialect`` ("sqlite" / "postgres") stores a column of type ``kind_of``."""
    if value is None:
        return None
    if kind_of == "time":
        value = value.astimezone(timezone.utc)
        return value.timestamp() if dialect == "sqlite" else value
    if kind_of == "json":
        if dialect == "sqlite":
            return json.dumps(value, separators=(",", ":"))
        from psycopg.types.json import Jsonb

        return Jsonb(value)
    if kind_of == "bool" and dialect == "sqlite":
        return int(bool(value))
    return value


def decode(dialect: str, kind_of: str, value: Any) -> Any:
    """A stored value back in Python (times aware UTC)."""
    if value is None:
        return None
    if kind_of == "time":
        if isinstance(value, datetime):
            return value.astimezone(timezone.utc)
        return datetime.fromtimestamp(float(value), timezone.utc)
    if kind_of == "json":
        if isinstance(value, (str, bytes)):
            try:
                return json.loads(value)
            except ValueError:
                return None
        return value
    if kind_of == "bool":
        return bool(value)
    if kind_of == "float":
        return float(value)
    if kind_of == "int":
        return int(value)
    return value


def jsonable(value: Any) -> Any:
    """``value`` with datetimes as ISO 8601 strings (dicts and lists copied)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value
