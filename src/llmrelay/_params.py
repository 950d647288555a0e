"""Argument checking and sorting, shared by every call style (sync and async alike).

Arguments fall in three groups: the request itself (model, messages/input), our own options
(timeout, num_retries, callbacks, metadata ...), and the parameters sent to the provider.
Provider parameters OpenAI defines are checked against what the provider supports
(``UnsupportedParamsError`` naming them, or dropped with ``drop_params=True``); any other
keyword is passed through to the provider untouched, as OpenAI's SDK does with ``extra_body``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._environ import getenv
from .cost import PRICING_ARGS
from .exceptions import BadRequestError, UnsupportedParamsError
from .response_format import response_format_of

__all__ = ["AUTH_OPTIONS", "OPTIONS", "SECRET_PARAMS", "auth_options", "check_messages",
           "client_defaults", "is_secret_param", "request_headers", "split_params"]

# Credentials and auth settings under LiteLLM's litellm_params names: they reach the
# provider in ``Call.auth``, never the request body or the callbacks' ``optional_params``.
AUTH_OPTIONS = frozenset({
    "aws_access_key_id", "aws_secret_access_key", "aws_session_token", "aws_region_name",
    "aws_profile_name", "aws_role_name", "aws_session_name", "aws_web_identity_token",
    "aws_sts_endpoint", "aws_external_id", "aws_bedrock_runtime_endpoint",
    "vertex_project", "vertex_location", "vertex_credentials", "vertex_ai_project",
    "vertex_ai_location", "vertex_ai_credentials",
    "project_id", "space_id", "token", "zen_api_key",  # watsonx
    "tenant_id", "adapter_id",  # predibase
})


# Call parameters that carry a credential: never shown or stored (spend rows, /health ...).
SECRET_PARAMS = frozenset({
    "api_key", "azure_ad_token", "aws_access_key_id", "aws_secret_access_key",
    "aws_session_token", "aws_web_identity_token", "vertex_credentials",
    "vertex_ai_credentials", "token", "zen_api_key",
})
_SECRET_ENDINGS = ("_key", "_secret", "_token", "password", "_credentials")


def is_secret_param(name: str) -> bool:
    """Whether a parameter (of a call or a config entry) names a credential: one of
    :data:`SECRET_PARAMS`, or any ``*_key``, ``*_secret``, ``*_token``, ``*password``,
    ``*_credentials`` (``langfuse_secret``, ``s3_secret_access_key`` ...)."""
    low = name.lower()
    return low in SECRET_PARAMS or low.endswith(_SECRET_ENDINGS) or "secret" in low

# Our own keyword arguments: never sent to a provider.
OPTIONS = frozenset({
    "timeout", "request_timeout", "api_key", "api_base", "base_url", "api_version",
    "extra_headers", "extra_body", "metadata", "num_retries", "max_retries", "mock_response",
    "drop_params", "callbacks", "success_callback", "failure_callback", "input_callback",
    "custom_llm_provider", "caching", "cache", "turn_off_message_logging", "litellm_call_id",
    "litellm_trace_id", "headers", "organization", "model_list", "litellm_logging_obj",
    "no-log", "proxy_server_request", "model_info", "mock_delay", "stream_timeout",
    "azure_ad_token", "mock_timeout", "mock_tool_calls", "cooldown_time", "client",
}) | AUTH_OPTIONS | PRICING_ARGS


def check_messages(messages: Any) -> list[dict[str, Any]]:
    """Return ``messages`` as a list of dicts, or raise naming what is wrong."""
    if messages is None:
        raise BadRequestError("`messages` is required for a chat completion: pass a list of "
                              "{'role': ..., 'content': ...} dicts", param="messages")
    if not isinstance(messages, (list, tuple)):
        raise BadRequestError(f"`messages` must be a list of dicts, got "
                              f"{type(messages).__name__}", param="messages")
    if not messages:
        raise BadRequestError("`messages` must not be empty", param="messages")
    out: list[dict[str, Any]] = []
    for i, m in enumerate(messages):
        if not isinstance(m, Mapping):
            dump = getattr(m, "model_dump", None)
            if not callable(dump):
                raise BadRequestError(
                    f"messages[{i}] must be a dict with 'role' and 'content', got "
                    f"{type(m).__name__}", param="messages")
            m = {k: v for k, v in dump().items() if v is not None}
        role = m.get("role")
        if not isinstance(role, str) or not role:
            raise BadRequestError(f"messages[{i}] has no 'role' (expected 'system', 'user', "
                                  f"'assistant' or 'tool')", param="messages")
        if "content" not in m and not m.get("tool_calls") and not m.get("function_call"):
            raise BadRequestError(f"messages[{i}] (role {role!r}) has no 'content'",
                                  param="messages")
        content = m.get("content")
        if content is not None and not isinstance(content, (str, list)):
            raise BadRequestError(f"messages[{i}].content must be a string or a list of "
                                  f"content parts, got {type(content).__name__}",
                                  param="messages")
        out.append(m if isinstance(m, dict) else dict(m))
    return out


def client_defaults(kwargs: dict[str, Any]) -> dict[str, Any]:
    """``api_key`` / ``api_base`` of an OpenAI SDK client passed as ``client=`` (LiteLLM
    reuses it; llmrelay sends through its own pooled transport, with the client's key and
    base URL), for the ones the call does not give itself."""
    client = kwargs.get("client")
    if client is None:
        return {}
    found: dict[str, Any] = {}
    key = getattr(client, "api_key", None)
    if isinstance(key, str) and key and not kwargs.get("api_key"):
        found["api_key"] = key
    base = getattr(client, "base_url", None)
    if base is not None and not (kwargs.get("api_base") or kwargs.get("base_url")):
        found["api_base"] = str(base).rstrip("/")
    return found


def auth_options(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The :data:`AUTH_OPTIONS` among ``kwargs`` (None values skipped)."""
    if not AUTH_OPTIONS.intersection(kwargs):
        return {}
    return {k: kwargs[k] for k in AUTH_OPTIONS if kwargs.get(k) is not None}


# OpenAI's own endpoints bill the organization named in a header (as the OpenAI SDK sends it)
_BILLS_ORGANIZATION = frozenset({"openai", "text-completion-openai"})
_ORG_ENV = ("OPENAI_ORGANIZATION", "OPENAI_ORG_ID")


def request_headers(spec: Any, kwargs: Mapping[str, Any], settings: Any) -> Any:
    """The extra HTTP headers of a call: ``extra_headers`` (or ``headers``), and for
    OpenAI's own API the ``OpenAI-Organization`` header of the call's ``organization=``,
    else the client's ``organization`` setting, else ``OPENAI_ORGANIZATION`` /
    ``OPENAI_ORG_ID`` (a header the caller set wins)."""
    headers = kwargs.get("extra_headers") or kwargs.get("headers")
    if spec.name not in _BILLS_ORGANIZATION:
        return headers
    org = kwargs.get("organization") or settings.organization
    if not org:
        org = getenv(_ORG_ENV[0]) or getenv(_ORG_ENV[1])
        if not org:
            return headers
    if headers and any(k.lower() == "openai-organization" for k in headers):
        return headers
    return {**(headers or {}), "OpenAI-Organization": org}


def split_params(kwargs: dict[str, Any], supported: frozenset[str], drop_params: bool,
                 provider: str, model: str, known: frozenset[str]) -> dict[str, Any]:
    """Provider parameters from ``kwargs`` (None values skipped): a parameter OpenAI
    defines (one of ``known``) that the provider does not support raises
    :class:`UnsupportedParamsError` naming it, or is dropped with ``drop_params``."""
    params: dict[str, Any] = {}
    unsupported: list[str] = []
    for key, value in kwargs.items():
        if value is None or key in OPTIONS:
            continue
        if key == "response_format" and isinstance(value, type):  # a Pydantic model class
            value = response_format_of(value)
        if key in known and key not in supported:
            if key == "n" and value == 1:
                continue  # asking for one choice is what every provider does anyway
            if not drop_params:
                unsupported.append(key)
            continue
        params[key] = value
    if unsupported:
        names = ", ".join(sorted(unsupported))
        raise UnsupportedParamsError(
            f"{provider} does not support parameter(s) {names} for model {model!r}; remove "
            f"them or pass drop_params=True to drop them",
            llm_provider=provider, model=model, param=sorted(unsupported)[0])
    return params
