"""Load balancing, retries, cooldowns and fallbacks over deployments: :class:`Router`."""

from __future__ import annotations

from .config import Deployment, RouterConfigError
from .policies import AllowedFailsPolicy, RetryPolicy
from .router import Router

__all__ = ["AllowedFailsPolicy", "Deployment", "RetryPolicy", "Router", "RouterConfigError"]
