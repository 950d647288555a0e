"""LiteLLM's ``litellm.types.router`` import path: the router's policy and deployment
classes."""

from __future__ import annotations

from ..router.config import Deployment
from ..router.policies import AllowedFailsPolicy, RetryPolicy

__all__ = ["AllowedFailsPolicy", "Deployment", "RetryPolicy"]
