"""Predibase (``predibase/<deployment>``) through its OpenAI-compatible endpoint,
``{base}/{tenant_id}/deployments/v2/llms/{deployment}/v1`` (chat and text completions,
streams too).

The base is ``api_base=`` / ``PREDIBASE_API_BASE`` (default
``https://serving.app.predibase.com``), the tenant ``tenant_id=`` / ``PREDIBASE_TENANT_ID``,
the key ``api_key=`` / ``PREDIBASE_API_KEY``. A fine-tuned adapter is ``adapter_id=``
(``"<repo>/<version>"``), sent as the request's ``model`` (empty for the base model, as
Predibase wants).
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import quote

from ...exceptions import AuthenticationError, BadRequestError
from ..base import Call, HTTPRequest
from ..openai.translate import OpenAIProvider
from ..registry import ProviderSpec

__all__ = ["PredibaseProvider", "create"]

DEFAULT_BASE = "https://serving.app.predibase.com"


class PredibaseProvider(OpenAIProvider):
    """The OpenAI wire with Predibase's per-deployment base URL and adapter as model."""

    def api_base(self, call: Call) -> str:
        base = (call.api_base or self.spec.env_base() or DEFAULT_BASE).rstrip("/")
        if "/deployments/" in base:  # already the deployment's OpenAI-compatible URL
            return base
        tenant = call.auth.get("tenant_id") or os.environ.get("PREDIBASE_TENANT_ID")
        if not tenant:
            raise BadRequestError("predibase needs your tenant id: pass tenant_id= or set "
                                  "PREDIBASE_TENANT_ID", llm_provider=self.spec.name,
                                  model=call.model)
        return (f"{base}/{quote(str(tenant), safe='')}/deployments/v2/llms/"
                f"{quote(call.model, safe='')}/v1")

    def check_key(self, call: Call, base: str) -> None:
        if call.api_key:
            return
        raise AuthenticationError(f"missing API key for provider 'predibase': pass api_key= "
                                   f"or set {' or '.join(self.spec.key_env)}",
                                   llm_provider=self.spec.name, model=call.model)

    def build_request(self, call: Call) -> HTTPRequest:
        if call.call_type == "embedding":
            raise BadRequestError("predibase serves chat and text completions, not "
                                  "embeddings", llm_provider=self.spec.name, model=call.model)
        req = super().build_request(call)
        body: dict[str, Any] = req.body or {}
        body["model"] = str(call.auth.get("adapter_id") or "")
        return req


def create(spec: ProviderSpec) -> PredibaseProvider:
    return PredibaseProvider(spec)
