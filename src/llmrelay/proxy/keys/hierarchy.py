"""Organisations, teams (and their members), users, end users, tags and shared budgets in
the key store, with the audit log.

Every change is one transaction (a store *program*, see ``store.Program``): it reads the
row as it was (``FOR UPDATE`` on PostgreSQL; SQLite's write transaction locks the file),
writes it, logs ``<kind>:<id>`` in ``key_changes`` (other processes' caches drop it within
a second, as for keys) and appends the audit row with the values before and after. In
this process, the store's listeners hear ``on_key_changed("<kind>:<id>")`` once the
change is committed.

Deleting a team also deletes its memberships and its keys; deleting a user, their
memberships and their keys (each key audited); an organisation that still has teams is
not deleted (400). Budget windows roll on read, as for keys (``budget_duration``).
"""

from __future__ import annotations

import builtins
import sqlite3
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from .entities import KINDS, Kind, clean, decode, encode, jsonable, new_id
from .fields import KeyFieldError
from .models import next_reset, parse_duration
from .store import KeyStore, Program

__all__ = ["Actor", "Hierarchy", "NotFound"]

_AUDIT_COLUMNS = ("id", "updated_at", "changed_by", "changed_by_api_key", "action",
                  "table_name", "object_id", "before_value", "updated_values")
_MAX_LIST = 10_000


@dataclass(frozen=True)
class Actor:
    """Who makes a change, as the audit log shows it: ``changed_by`` (a user id, or
    ``"proxy_admin"`` for the master key) and ``api_key`` (the token of the key used)."""

    changed_by: str | None = None
    api_key: str | None = None


class NotFound(KeyError):
    """No record of that kind with that id (HTTP 404)."""

    status_code = 404

    def __init__(self, kind: str, object_id: Any) -> None:
        super().__init__(f"{kind} {object_id!r} not found")
        self.message = f"{kind} {object_id!r} not found"
        self.param = KINDS[kind].id if kind in KINDS else None
        self.code = f"{kind}_not_found"
        self.type = "not_found_error"


def _exists(kind: Kind, object_id: str) -> KeyFieldError:
    return KeyFieldError(f"a {kind.name} with {kind.id} {object_id!r} already exists",
                         param=kind.id, code=f"{kind.name}_exists")


def _is_unique_violation(exc: BaseException) -> bool:
    if isinstance(exc, sqlite3.IntegrityError):
        return True
    try:
        from psycopg import errors
    except ImportError:
        return False
    return isinstance(exc, errors.UniqueViolation)


class Hierarchy:
    """The records above keys in ``store`` (see the module docstring)."""

    def __init__(self, store: KeyStore) -> None:
        self.store = store
        self.dialect = store.dialect

    # -- encoding ------------------------------------------------------------------------
    def _row(self, kind: Kind, row: Sequence[Any]) -> dict[str, Any]:
        return {name: decode(self.dialect, type_, value)
                for (name, type_), value in zip(kind.columns, row, strict=True)}

    def _enc(self, kind: Kind, name: str, value: Any) -> Any:
        return encode(self.dialect, kind.types[name], value)

    def _lock(self) -> str:
        return " FOR UPDATE" if self.dialect == "postgres" else ""

    def _changed(self, tokens: Iterable[str]) -> Program[None]:
        """Log ``tokens`` in ``key_changes`` (other processes' caches drop them)."""
        now = time.time()
        for token in list(tokens):
            if self.dialect == "sqlite":
                yield ("INSERT INTO key_changes (token, changed_at) VALUES (?, ?)", (token, now))
            else:
                yield ("INSERT INTO key_changes (token) VALUES (?)", (token,))

    def _audit(self, actor: Actor, action: str, table: str, object_id: str | None,
               before: Any, after: Any) -> tuple[str, Sequence[Any]]:
        now = datetime.now(timezone.utc)
        values = (encode(self.dialect, "time", now), actor.changed_by, actor.api_key, action,
                  table, object_id,
                  encode(self.dialect, "json", jsonable(before) if before is not None else None),
                  encode(self.dialect, "json", jsonable(after) if after is not None else None))
        return ("INSERT INTO audit_log (updated_at, changed_by, changed_by_api_key, action, "
                "table_name, object_id, before_value, updated_values) VALUES "
                "(?, ?, ?, ?, ?, ?, ?, ?)", values)

    def _notify(self, tokens: Iterable[str]) -> None:
        for token in tokens:
            self.store._notify("on_key_changed", token)

    # -- one record ----------------------------------------------------------------------
    async def create(self, kind_name: str, fields: Mapping[str, Any], actor: Actor,
                     object_id: str | None = None) -> dict[str, Any]:
        """Store a new record (``object_id`` None: a new UUID). Raises KeyFieldError for
        bad fields or an id that exists."""
        kind = KINDS[kind_name]
        now = datetime.now(timezone.utc)
        values = clean(kind, fields, now)
        oid = object_id or new_id()
        record: dict[str, Any] = {name: None for name in kind.names}
        record.update({kind.id: oid, "created_at": now, "updated_at": now,
                       "created_by": actor.changed_by, "updated_by": actor.changed_by})
        defaults = {"models": [], "metadata": {}, "spend": 0.0, "spend_epoch": 0,
                    "blocked": False, "user_role": "internal_user"}
        record.update({k: v for k, v in defaults.items() if k in kind.types})
        record.update(values)
        record = {k: v for k, v in record.items() if k in kind.types}

        def program() -> Program[dict[str, Any]]:
            found = yield (f"SELECT 1 FROM {kind.table} WHERE {kind.id} = ?", (oid,))
            if found:
                raise _exists(kind, oid)
            names = list(record)
            rows = yield (f"INSERT INTO {kind.table} ({', '.join(names)}) VALUES "
                          f"({', '.join('?' * len(names))}) RETURNING "
                          f"{', '.join(kind.names)}",
                          [self._enc(kind, n, record[n]) for n in names])
            out = self._row(kind, rows[0])
            yield from self._changed([f"{kind.name}:{oid}"])
            yield self._audit(actor, "created", kind.table, oid, None, out)
            return out

        try:
            out = await self.store.run_program(program)
        except Exception as exc:
            if _is_unique_violation(exc):
                raise _exists(kind, oid) from None
            raise
        self._notify([f"{kind.name}:{oid}"])
        return out

    async def update(self, kind_name: str, object_id: str, fields: Mapping[str, Any],
                     actor: Actor, action: str = "updated") -> dict[str, Any]:
        """Change fields of a record; returns it. Raises NotFound, KeyFieldError."""
        kind = KINDS[kind_name]
        now = datetime.now(timezone.utc)
        values = clean(kind, fields, now)
        values.update(updated_at=now, updated_by=actor.changed_by)

        def program() -> Program[dict[str, Any] | None]:
            rows = yield (f"SELECT {', '.join(kind.names)} FROM {kind.table} "
                          f"WHERE {kind.id} = ?{self._lock()}", (object_id,))
            if not rows:
                return None
            before = self._row(kind, rows[0])
            names = sorted(values)
            rows = yield (f"UPDATE {kind.table} SET {', '.join(f'{n} = ?' for n in names)} "
                          f"WHERE {kind.id} = ? RETURNING {', '.join(kind.names)}",
                          [*(self._enc(kind, n, values[n]) for n in names), object_id])
            after = self._row(kind, rows[0])
            yield from self._changed([f"{kind.name}:{object_id}"])
            yield self._audit(actor, action, kind.table, object_id, before, after)
            return after

        out = await self.store.run_program(program)
        if out is None:
            raise NotFound(kind.name, object_id)
        self._notify([f"{kind.name}:{object_id}"])
        return out

    async def delete(self, kind_name: str, object_ids: Sequence[str], actor: Actor
                     ) -> builtins.list[dict[str, Any]]:
        """Delete records (and what belongs to them, see the module docstring); returns
        the records that existed. Raises KeyFieldError for an organisation with teams."""
        kind = KINDS[kind_name]
        ids = list(dict.fromkeys(object_ids))
        if not ids:
            return []
        marks = ", ".join("?" * len(ids))
        tokens: list[str] = []

        def program() -> Program[builtins.list[dict[str, Any]]]:
            tokens.clear()
            rows = yield (f"SELECT {', '.join(kind.names)} FROM {kind.table} "
                          f"WHERE {kind.id} IN ({marks}){self._lock()}", ids)
            gone = [self._row(kind, r) for r in rows]
            found = [g[kind.id] for g in gone]
            if not found:
                return []
            if kind.name == "organization":
                teams = yield ("SELECT organization_id, team_id FROM teams WHERE "
                               f"organization_id IN ({', '.join('?' * len(found))})", found)
                if teams:
                    raise KeyFieldError(
                        f"organization {teams[0][0]!r} still has teams ({teams[0][1]!r}...): "
                        "delete them or move them to another organization first",
                        param="organization_ids", code="organization_has_teams")
            fmarks = ", ".join("?" * len(found))
            if kind.name in ("team", "user"):
                column = "team_id" if kind.name == "team" else "user_id"
                keys = yield (f"SELECT token, key_alias, user_id, team_id FROM keys WHERE "
                              f"{column} IN ({fmarks})", found)
                for token, alias, user_id, team_id in keys:
                    tokens.append(token)
                    yield self._audit(actor, "deleted", "keys", token, {
                        "token": token, "key_alias": alias, "user_id": user_id,
                        "team_id": team_id}, None)
                yield (f"DELETE FROM keys WHERE {column} IN ({fmarks})", found)
                yield (f"DELETE FROM team_members WHERE {column} IN ({fmarks})", found)
            yield (f"DELETE FROM {kind.table} WHERE {kind.id} IN ({fmarks})", found)
            tokens.extend(f"{kind.name}:{i}" for i in found)
            yield from self._changed(tokens)
            for record in gone:
                yield self._audit(actor, "deleted", kind.table, record[kind.id], record, None)
            return gone

        gone = await self.store.run_program(program)
        self._notify(tokens)
        return gone

    async def get(self, kind_name: str, object_id: str) -> dict[str, Any] | None:
        """The record, its budget window rolled if over; None if unknown."""
        found = await self.get_many(kind_name, [object_id])
        return found[0] if found else None

    async def get_many(self, kind_name: str, object_ids: Sequence[str]
                       ) -> builtins.list[dict[str, Any]]:
        kind = KINDS[kind_name]
        return [await self._rolled(kind, r) for r in await self._select(kind, object_ids)]

    async def _select(self, kind: Kind, object_ids: Sequence[str]
                      ) -> builtins.list[dict[str, Any]]:
        ids = list(dict.fromkeys(object_ids))[:_MAX_LIST]
        if not ids:
            return []

        def program() -> Program[builtins.list[dict[str, Any]]]:
            rows = yield (f"SELECT {', '.join(kind.names)} FROM {kind.table} WHERE "
                          f"{kind.id} IN ({', '.join('?' * len(ids))})", ids)
            return [self._row(kind, r) for r in rows]

        return await self.store.run_program(program, write=False)

    async def list(self, kind_name: str, where: Mapping[str, Any] | None = None, *,
                   member: str | None = None, in_team: str | None = None, limit: int = 1000,
                   offset: int = 0) -> builtins.list[dict[str, Any]]:
        """Records whose columns equal ``where`` (teams: ``member`` a user id belongs to;
        users: ``in_team`` a team they belong to), oldest first."""
        kind = KINDS[kind_name]
        clauses, params = self._where(kind, where, member, in_team)
        sql = (f"SELECT {', '.join(kind.names)} FROM {kind.table}{clauses} ORDER BY "
               f"{'created_at, ' if 'created_at' in kind.types else ''}{kind.id} "
               f"LIMIT ? OFFSET ?")

        def program() -> Program[builtins.list[dict[str, Any]]]:
            rows = yield (sql, [*params, min(int(limit), _MAX_LIST), max(int(offset), 0)])
            return [self._row(kind, r) for r in rows]

        records = await self.store.run_program(program, write=False)
        return [await self._rolled(kind, r) for r in records]

    async def count(self, kind_name: str, where: Mapping[str, Any] | None = None, *,
                    member: str | None = None, in_team: str | None = None) -> int:
        kind = KINDS[kind_name]
        clauses, params = self._where(kind, where, member, in_team)

        def program() -> Program[int]:
            rows = yield (f"SELECT COUNT(*) FROM {kind.table}{clauses}", params)
            return int(rows[0][0])

        return await self.store.run_program(program, write=False)

    def _where(self, kind: Kind, where: Mapping[str, Any] | None, member: str | None,
               in_team: str | None) -> tuple[str, builtins.list[Any]]:
        clauses, params = [], []
        for name, value in (where or {}).items():
            if value is None:
                continue
            clauses.append(f"{name} = ?")
            params.append(self._enc(kind, name, value))
        if member is not None:
            clauses.append("team_id IN (SELECT team_id FROM team_members WHERE user_id = ?)")
            params.append(member)
        if in_team is not None:
            clauses.append("user_id IN (SELECT user_id FROM team_members WHERE team_id = ?)")
            params.append(in_team)
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params

    async def start_window(self, kind_name: str, rec: dict[str, Any], duration: str
                           ) -> dict[str, Any]:
        """Give a record that takes ``budget_duration`` from its shared budget a window
        (``budget_reset_at`` = now + duration, where it has none), or roll its window
        when it is over; returns the record as stored."""
        kind = KINDS[kind_name]
        if rec.get("budget_reset_at") is not None:
            return await self._rolled(kind, rec, duration)
        oid = rec[kind.id]
        end = datetime.now(timezone.utc) + parse_duration(duration)

        def program() -> Program[None]:
            yield (f"UPDATE {kind.table} SET budget_reset_at = ? WHERE {kind.id} = ? AND "
                   "budget_reset_at IS NULL", (self._enc(kind, "budget_reset_at", end), oid))

        await self.store.run_program(program)
        fresh = await self._select(kind, [oid])
        return fresh[0] if fresh else rec

    async def _rolled(self, kind: Kind, rec: dict[str, Any], duration: str | None = None
                      ) -> dict[str, Any]:
        """Reset the spend of a record whose budget window is over (once, across
        workers: a conditional update)."""
        old, duration = rec.get("budget_reset_at"), duration or rec.get("budget_duration")
        if old is None or not duration or datetime.now(timezone.utc) < old:
            return rec
        try:
            new = next_reset(old, duration, datetime.now(timezone.utc))
        except ValueError:
            return rec
        oid = rec[kind.id]

        def program() -> Program[None]:
            yield (f"UPDATE {kind.table} SET spend = 0, budget_reset_at = ? WHERE "
                   f"{kind.id} = ? AND budget_reset_at = ?",
                   (self._enc(kind, "budget_reset_at", new), oid,
                    self._enc(kind, "budget_reset_at", old)))
            yield from self._changed([f"{kind.name}:{oid}"])

        await self.store.run_program(program)
        self._notify([f"{kind.name}:{oid}"])
        fresh = await self._select(kind, [oid])
        return fresh[0] if fresh else {**rec, "spend": 0.0, "budget_reset_at": new}

    # -- team members --------------------------------------------------------------------
    async def add_members(self, team_id: str, members: Sequence[tuple[str, str]],
                          actor: Actor) -> builtins.list[dict[str, Any]]:
        """Add (or change the role of) ``(user_id, role)`` members of a team; returns the
        team's members. Raises NotFound for an unknown team."""
        now = encode(self.dialect, "time", datetime.now(timezone.utc))

        def program() -> Program[builtins.list[dict[str, Any]] | None]:
            team = yield (f"SELECT team_id FROM teams WHERE team_id = ?{self._lock()}",
                          (team_id,))
            if not team:
                return None
            for user_id, role in members:
                old = yield ("SELECT role FROM team_members WHERE team_id = ? AND user_id = ?",
                             (team_id, user_id))
                if old and old[0][0] == role:
                    continue
                yield ("INSERT INTO team_members (team_id, user_id, role, created_at) VALUES "
                       "(?, ?, ?, ?) ON CONFLICT (team_id, user_id) DO UPDATE SET role = "
                       "excluded.role", (team_id, user_id, role, now))
                yield self._audit(actor, "member_added", "team_members",
                                  f"{team_id}/{user_id}",
                                  {"role": old[0][0]} if old else None,
                                  {"team_id": team_id, "user_id": user_id, "role": role})
            yield from self._changed([f"team:{team_id}"])
            return (yield from self._members(team_id))

        out = await self.store.run_program(program)
        if out is None:
            raise NotFound("team", team_id)
        self._notify([f"team:{team_id}"])
        return out

    async def remove_members(self, team_id: str, user_ids: Sequence[str], actor: Actor
                             ) -> builtins.list[dict[str, Any]]:
        """Remove members (and their keys for this team stay, unowned by the member:
        LiteLLM keeps them too); returns the members left. Raises NotFound."""

        def program() -> Program[builtins.list[dict[str, Any]] | None]:
            team = yield (f"SELECT team_id FROM teams WHERE team_id = ?{self._lock()}",
                          (team_id,))
            if not team:
                return None
            for user_id in dict.fromkeys(user_ids):
                old = yield ("SELECT role FROM team_members WHERE team_id = ? AND user_id = ?",
                             (team_id, user_id))
                if not old:
                    continue
                yield ("DELETE FROM team_members WHERE team_id = ? AND user_id = ?",
                       (team_id, user_id))
                yield self._audit(actor, "member_deleted", "team_members",
                                  f"{team_id}/{user_id}", {"team_id": team_id,
                                                           "user_id": user_id,
                                                           "role": old[0][0]}, None)
            yield from self._changed([f"team:{team_id}"])
            return (yield from self._members(team_id))

        out = await self.store.run_program(program)
        if out is None:
            raise NotFound("team", team_id)
        self._notify([f"team:{team_id}"])
        return out

    def _members(self, team_id: str) -> Program[builtins.list[dict[str, Any]]]:
        rows = yield ("SELECT m.user_id, m.role, m.created_at, u.user_email FROM team_members m "
                      "LEFT JOIN users u ON u.user_id = m.user_id WHERE m.team_id = ? "
                      "ORDER BY m.created_at, m.user_id", (team_id,))
        return [{"user_id": u, "role": r, "user_email": e,
                 "created_at": decode(self.dialect, "time", c)} for u, r, c, e in rows]

    async def members(self, team_id: str) -> builtins.list[dict[str, Any]]:
        """A team's members: ``user_id``, ``role`` (``admin``/``user``), ``user_email``."""
        return await self.store.run_program(lambda: self._members(team_id), write=False)

    async def memberships(self, user_id: str) -> builtins.list[tuple[str, str]]:
        """``(team_id, role)`` of every team ``user_id`` belongs to."""

        def program() -> Program[builtins.list[tuple[str, str]]]:
            rows = yield ("SELECT team_id, role FROM team_members WHERE user_id = ? "
                          "ORDER BY team_id", (user_id,))
            return [(str(t), str(r)) for t, r in rows]

        return await self.store.run_program(program, write=False)

    # -- audit log -----------------------------------------------------------------------
    async def audit(self, actor: Actor, action: str, table: str, object_id: str | None,
                    before: Any, after: Any) -> None:
        """Append one audit row (for changes made outside this module: keys)."""
        statement = self._audit(actor, action, table, object_id, before, after)

        def program() -> Program[None]:
            yield statement

        await self.store.run_program(program)

    async def audit_log(self, *, table_name: str | None = None, object_id: str | None = None,
                        changed_by: str | None = None, action: str | None = None,
                        start: datetime | None = None, end: datetime | None = None,
                        entry_id: int | None = None, limit: int = 100, offset: int = 0
                        ) -> builtins.list[dict[str, Any]]:
        """Audit rows, newest first."""
        clauses, params = [], []
        for column, value in (("table_name", table_name), ("object_id", object_id),
                              ("changed_by", changed_by), ("action", action),
                              ("id", entry_id)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        for op, when in ((">=", start), ("<", end)):
            if when is not None:
                clauses.append(f"updated_at {op} ?")
                params.append(encode(self.dialect, "time", when))
        sql = (f"SELECT {', '.join(_AUDIT_COLUMNS)} FROM audit_log"
               + (" WHERE " + " AND ".join(clauses) if clauses else "")
               + " ORDER BY updated_at DESC, id DESC LIMIT ? OFFSET ?")

        def program() -> Program[builtins.list[dict[str, Any]]]:
            rows = yield (sql, [*params, min(int(limit), _MAX_LIST), max(int(offset), 0)])
            types = ("int", "time", "text", "text", "text", "text", "text", "json", "json")
            return [{name: decode(self.dialect, t, v)
                     for name, t, v in zip(_AUDIT_COLUMNS, types, row, strict=True)}
                    for row in rows]

        return await self.store.run_program(program, write=False)
