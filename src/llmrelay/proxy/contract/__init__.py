"""The request contract: per endpoint, what a caller may send and what each value may be
(:mod:`.endpoints`), which other fields a caller may set and how admins widen that
(:mod:`.policy`), and the checks both use (:mod:`.checks`)."""

from __future__ import annotations

from . import messages as _messages  # noqa: F401  (registers the other endpoints)
from . import responses as _responses  # noqa: F401
from . import surfaces as _surfaces  # noqa: F401
from .endpoints import ENDPOINTS, Endpoint, endpoint_for_path
from .policy import POLICY_KEYS, CallerPolicy, policy_from

__all__ = ["ENDPOINTS", "POLICY_KEYS", "CallerPolicy", "Endpoint", "endpoint_for_path",
           "policy_from"]
