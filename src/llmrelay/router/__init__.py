"""Load balancing, retries, cooldowns and fallbacks over deployments: :class:`Router`."""

from __future__ import annotations

from .config import Deployment, LiteLLM_Params, ModelInfo, RouterConfigError
from .policies import AllowedFailsPolicy, RetryPolicy
from .router import Router

__all__ = ["AllowedFailsPolicy", "Deployment", "LiteLLM_Params", "ModelInfo", "RetryPolicy",
           "Router", "RouterConfigError"]
