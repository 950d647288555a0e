"""Azure OpenAI: OpenAI's wire API behind per-deployment URLs and Azure's own auth.

``azure/<deployment>`` calls
``{api_base}/openai/deployments/{deployment}/{chat/completions|completions|embeddings}``
with ``?api-version=...``. The body is OpenAI's (Azure ignores its ``model``), so request
building and reply parsing reuse :class:`~llmrelay.providers.openai.translate.OpenAIProvider`;
only the URL, the auth header and the error mapping differ.

Auth is an ``api-key`` header (``api_key=``, ``AZURE_API_KEY``, ``AZURE_OPENAI_API_KEY``), or
``Authorization: Bearer <token>`` for a Microsoft Entra ID token (``azure_ad_token=``,
``AZURE_AD_TOKEN``). The token is read from the call and never sent in the body.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from typing import Any
from urllib.parse import quote

from ...exceptions import (
    AuthenticationError,
    BadRequestError,
    ContentPolicyViolationError,
    LLMRelayError,
)
from ..base import Call, HTTPRequest, body_excerpt
from ..openai.translate import OpenAIProvider, openai_error

__all__ = ["AZURE_API_VERSION", "AzureProvider"]

# The newest generally-available data-plane version; pass api_version= for preview features.
AZURE_API_VERSION = "2024-10-21"
_VERSION_ENV = ("AZURE_API_VERSION", "OPENAI_API_VERSION")
_TOKEN_ENV = ("AZURE_AD_TOKEN", "AZURE_OPENAI_AD_TOKEN")
_PATHS = {"completion": "chat/completions", "text_completion": "completions",
          "embedding": "embeddings"}
# Our own keyword arguments that may reach call.params; never sent to Azure.
_OWN_PARAMS = ("azure_ad_token",)


def _first_env(names: tuple[str, ...]) -> str | None:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


class AzureProvider(OpenAIProvider):
    """OpenAI translation with Azure's deployment URLs, api-version and auth headers."""

    def check_key(self, call: Call, base: str) -> None:
        """Credentials are checked in :meth:`build_request` (a key or an AD token)."""

    def ad_token(self, call: Call) -> str | None:
        """The Entra ID bearer token for ``call``, if one was given (argument, then env)."""
        token = call.azure_ad_token
        if isinstance(token, str) and token:
            return token
        return _first_env(_TOKEN_ENV)

    def api_version(self, call: Call) -> str:
        return call.api_version or _first_env(_VERSION_ENV) or AZURE_API_VERSION

    def deployment_url(self, call: Call) -> str:
        """The full request URL; raises BadRequestError when no endpoint is configured."""
        return self.endpoint_url(call, _PATHS[call.call_type])

    def endpoint_url(self, call: Call, path: str) -> str:
        """Per-deployment endpoints (images, audio) with ``?api-version``; the Responses API
        is per resource: ``/openai/v1/responses`` (GA, no version), or
        ``/openai/responses?api-version=...`` when ``api_version`` is given."""
        base = self.api_base(call)
        if base.endswith("/openai"):
            base = base[: -len("/openai")]
        if path.startswith("responses"):
            if call.api_version:
                return (f"{base}/openai/{path}?api-version="
                        f"{quote(call.api_version, safe='')}")
            return f"{base}/openai/v1/{path}"
        if not call.model:
            raise BadRequestError("azure needs a deployment name: call model='azure/<deployment>'",
                                  llm_provider=self.spec.name)
        return (f"{base}/openai/deployments/{quote(call.model, safe='')}/{path}"
                f"?api-version={quote(self.api_version(call), safe='')}")

    def auth_headers(self, call: Call) -> dict[str, str]:
        """``api-key`` (or an Entra ID bearer token); raises AuthenticationError without
        either."""
        token = self.ad_token(call)
        if not call.api_key and not token:
            env = " or ".join(self.spec.key_env)
            raise AuthenticationError(
                f"missing credentials for azure deployment {call.model!r}: pass api_key= "
                f"(or set {env}) or azure_ad_token= (or set AZURE_AD_TOKEN)",
                llm_provider=self.spec.name, model=call.model)
        headers = {"api-key": call.api_key} if call.api_key else {
            "Authorization": f"Bearer {token}"}
        if call.extra_headers:
            headers.update(call.extra_headers)
        return headers

    def build_request(self, call: Call) -> HTTPRequest:
        """The OpenAI body sent to the deployment URL.

        Raises BadRequestError without an endpoint (``api_base=``, ``AZURE_API_BASE`` or
        ``AZURE_OPENAI_ENDPOINT``) and AuthenticationError without a key or AD token; both
        before any network I/O.
        """
        url = self.deployment_url(call)
        auth = self.auth_headers(call)
        req = super().build_request(_for_openai(call))
        req.headers.update(auth)  # the caller's headers (in ``auth``, last) still win
        req.url = url
        return req

    def map_error(self, call: Call, status: int, headers: dict[str, str],
                  body: bytes) -> LLMRelayError:
        """OpenAI's error mapping, plus Azure's content-filter errors (``code: content_filter``,
        any status) as ContentPolicyViolationError."""
        err = openai_error(call, status, headers, body)
        if isinstance(err, ContentPolicyViolationError) or not _is_content_filter(body):
            return err
        return ContentPolicyViolationError(
            err.message, status_code=status, llm_provider=call.provider, model=call.model,
            response_body=body_excerpt(body), response_headers=headers, code="content_filter",
            param=err.param)


def _for_openai(call: Call) -> Call:
    """A shallow copy of ``call`` for the OpenAI body builder: params without our own
    options, and no key or extra headers (Azure's auth headers are added afterwards)."""
    params = call.params
    if any(k in params for k in _OWN_PARAMS):
        params = {k: v for k, v in params.items() if k not in _OWN_PARAMS}
    return replace(call, params=params, api_key=None, extra_headers=None)


def _is_content_filter(body: bytes) -> bool:
    try:
        data: Any = json.loads(body)
    except ValueError:
        return False
    err = data.get("error") if isinstance(data, dict) else None
    if not isinstance(err, dict):
        return False
    inner = err.get("innererror")
    inner_code = inner.get("code") if isinstance(inner, dict) else None
    return "content_filter" in (str(err.get("code")), str(inner_code)) or \
        inner_code == "ResponsibleAIPolicyViolation"
