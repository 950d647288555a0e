"""LiteLLM's ``litellm.types.router`` import path: the router's policy and deployment
classes (``Deployment``, ``LiteLLM_Params``, ``ModelInfo`` as ``Router.add_deployment`` takes
them)."""

from __future__ import annotations

from ..router.config import Deployment, LiteLLM_Params, ModelInfo
from ..router.policies import AllowedFailsPolicy, RetryPolicy

__all__ = ["AllowedFailsPolicy", "Deployment", "LiteLLM_Params", "ModelInfo", "RetryPolicy"]
