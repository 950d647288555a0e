"""Who may do what on the management routes: the caller's role and team roles.

Roles (LiteLLM's names):

* ``proxy_admin``: the master key, or a key whose user has this role: everything.
* ``proxy_admin_viewer``: reads everything (keys, teams, users, organisations, spend,
  the audit log, the dashboard), changes nothing.
* team admin: a user who is a member of a team with the ``admin`` role (a membership role,
  not a user role): manages that team's keys and members, and nothing else.
* ``internal_user`` (a virtual key's default): its own user, keys and spend; may create,
  regenerate and delete its own keys.
* ``internal_user_viewer``: reads its own user, keys and spend.

A refusal is a 403 whose message says what the caller's role allows; a missing or unknown
key is a 401. With authentication off (no master key) every caller is a proxy admin, as
every other route lets everyone in then.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from .errors import ProxyError
from .keys.hierarchy import Actor

__all__ = ["ADMIN", "VIEWER", "Caller", "caller_of", "forbidden"]

ADMIN = "proxy_admin"
VIEWER = "proxy_admin_viewer"
_READ_ALL = (ADMIN, VIEWER)


def forbidden(message: str) -> ProxyError:
    """403 with the reason."""
    return ProxyError(403, message, type="permission_error", code="insufficient_permissions")


@dataclass
class Caller:
    """The identity behind a management request."""

    role: str
    user_id: str | None = None
    token: str | None = None  # the key's token (None for the master key)
    key: Any = None  # the caller's KeyRecord
    teams: dict[str, str] = field(default_factory=dict)  # team_id -> "admin" / "user"

    @property
    def actor(self) -> Actor:
        return Actor(self.user_id or (ADMIN if self.role == ADMIN and self.key is None
                                      else self.role), self.token)

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN

    @property
    def reads_all(self) -> bool:
        return self.role in _READ_ALL

    @property
    def admin_teams(self) -> list[str]:
        return sorted(t for t, r in self.teams.items() if r == "admin")

    def admin_of(self, team_id: str | None) -> bool:
        return self.is_admin or (team_id is not None and self.teams.get(team_id) == "admin")

    def member_of(self, team_id: str | None) -> bool:
        return self.reads_all or (team_id is not None and team_id in self.teams)

    def owns(self, rec: Any) -> bool:
        """The caller's own key (the key itself, or a key of the caller's user)."""
        return rec is not None and (rec.token == self.token or (
            self.user_id is not None and rec.user_id == self.user_id))

    # -- requirements --------------------------------------------------------------------
    def denied(self, rule: str) -> ProxyError:
        """403: ``rule`` (who may do what), and this caller's role."""
        return forbidden(f"{rule}; this key's role is {self._described()}")

    def need_admin(self, what: str) -> None:
        if not self.is_admin:
            raise self.denied(f"only a proxy admin may {what}")

    def need_read_all(self, what: str) -> None:
        if not self.reads_all:
            raise self.denied(f"only a proxy admin or a proxy admin viewer may {what}")

    def need_team_admin(self, team_id: str | None, what: str) -> None:
        if not self.admin_of(team_id):
            raise self.denied(f"only a proxy admin or an admin of team {team_id!r} may {what}")

    def need_key_manager(self, rec: Any, what: str, *, owner_may: bool = False) -> None:
        """Proxy admins; admins of the key's team; the key's owner when ``owner_may``
        (and the owner's role is not a viewer's)."""
        if self.admin_of(getattr(rec, "team_id", None)):
            return
        if owner_may and self.owns(rec) and self.role == "internal_user":
            return
        owner = ", or an internal user for their own keys," if owner_may else ""
        raise self.denied(f"only a proxy admin or an admin of the key's team{owner} may "
                          f"{what}")

    def _described(self) -> str:
        teams = self.admin_teams
        base = self.role
        if teams:
            base += f" (admin of team {', '.join(repr(t) for t in teams)})"
        return base


async def caller_of(request: Request) -> Caller:
    """The caller of a management request (401 for a missing, unknown, blocked or
    expired key)."""
    state = request.app.state.proxy
    auth = state.auth
    if not auth.enabled:
        return Caller(ADMIN)
    ident = await auth.authenticate(request.headers)
    rec = ident.record
    if rec is None:
        return Caller(ADMIN)  # the master key
    label = rec.key_alias or rec.token[:8] + "..."
    if rec.blocked:
        raise ProxyError(401, f"Key {label} is blocked", code="key_blocked")
    if rec.is_expired():
        raise ProxyError(401, f"Key {label} has expired", code="key_expired")
    role, teams = "internal_user", {}
    if rec.user_id is not None and state.hierarchy is not None:
        user = await state.hierarchy.get("user", rec.user_id)
        if user is not None:
            if user.get("blocked"):
                raise ProxyError(401, f"User {rec.user_id!r} is blocked", code="user_blocked")
            role = user.get("user_role") or role
        teams = dict(await state.hierarchy.memberships(rec.user_id))
    return Caller(role, rec.user_id, rec.token, rec, teams)
