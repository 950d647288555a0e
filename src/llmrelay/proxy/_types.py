"""LiteLLM's ``litellm.proxy._types`` import path: :class:`UserAPIKeyAuth` for hook type
hints, and the user roles it reports."""

from __future__ import annotations

import enum

from .auth import UserAPIKeyAuth

__all__ = ["LitellmUserRoles", "UserAPIKeyAuth"]


class LitellmUserRoles(str, enum.Enum):
    """Values of ``UserAPIKeyAuth.user_role``."""

    PROXY_ADMIN = "proxy_admin"
    INTERNAL_USER = "internal_user"
    ANONYMOUS = "anonymous"
