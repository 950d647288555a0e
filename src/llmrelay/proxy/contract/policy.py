"""What a caller may put in an LLM request body beyond OpenAI's parameters, and what
the config (or a key) may widen.

Every body field falls in one class:

* the endpoint's own fields (``model``, ``messages`` ... and OpenAI's parameters; see
  :mod:`.endpoints`): checked, forwarded;
* :data:`GATEWAY` fields the proxy reads (``metadata``, ``tags``, ``cache`` ...): checked,
  accepted from everyone;
* :data:`PROVIDER_EXTRAS`, provider parameters the SDK translates (``thinking``, ``top_k``):
  checked, forwarded;
* :data:`OPTIONS` (``num_retries``, ``timeout``, ``fallbacks`` ...) and :data:`MOCKS`
  (``mock_response`` ...): SDK options that change what the proxy does upstream, refused
  unless named in ``general_settings.allowed_request_params`` or in the key's
  ``metadata.allowed_request_params``;
* :data:`CREDENTIALS` (``api_key``, ``api_base`` ...): refused unless
  ``general_settings.allow_client_side_credentials`` is true (LiteLLM's setting);
* :data:`INTERNAL` (callbacks, logging objects, call ids ...): always refused;
* anything else: refused (400 naming the field) unless on an allow-list, in which case
  it is forwarded to the provider as-is, like the OpenAI SDK's ``extra_body``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ProxyError
from ..limits import Limits
from .checks import INT64, Any_, Array, Boolean, Check, Integer, Number, Object, String, invalid
from .endpoints import Endpoint

__all__ = ["CREDENTIALS", "GATEWAY", "INTERNAL", "MOCKS", "OPTIONS", "PROVIDER_EXTRAS",
           "CallerPolicy", "Metadata", "policy_from"]

POLICY_KEYS = frozenset({"allowed_request_params", "allow_client_side_credentials",
                         "require_auth_for_metrics_endpoint",
                         "require_auth_for_health_details"})


class Metadata(Object):
    """A ``metadata`` object: nested at most ``max_metadata_depth`` levels and at most
    ``max_metadata_size_kb`` as JSON."""

    def __init__(self) -> None:
        super().__init__(max_depth="max_metadata_depth")

    def check(self, value: Any, path: str, limits: Limits) -> None:
        super().check(value, path, limits)
        size = len(json.dumps(value, ensure_ascii=False, default=str).encode("utf-8",
                                                                              "surrogatepass"))
        if size > limits.max_metadata_bytes:
            raise invalid(path, f"Invalid '{path}': {size} bytes as JSON, more than the "
                                f"{limits.max_metadata_bytes} allowed "
                                f"(general_settings.max_metadata_size_kb).", "too_large")


_CACHE = Object({"no-cache": Boolean(), "no-store": Boolean(), "use-cache": Boolean(),
                 "ttl": Number(0), "s-maxage": Number(0), "namespace": String(max_len=256)},
                closed=True)
_SECONDS = Number(0, 86400, exclusive_lo=True)
_FALLBACKS = Array(Any_("a model group name, or {model group: [fallbacks]}"), max_items=32)

GATEWAY: dict[str, Check] = {
    "metadata": Metadata(), "litellm_metadata": Metadata(),
    "tags": Array(String(max_len=256), max_items=64),
    "cache": _CACHE, "caching": Boolean(),
}
PROVIDER_EXTRAS: dict[str, Check] = {"thinking": Object(), "top_k": Integer(0, INT64)}
OPTIONS: dict[str, Check] = {
    "num_retries": Integer(0, 10), "max_retries": Integer(0, 10),
    "timeout": _SECONDS, "request_timeout": _SECONDS, "stream_timeout": _SECONDS,
    "fallbacks": _FALLBACKS, "context_window_fallbacks": _FALLBACKS,
    "drop_params": Boolean(), "extra_body": Object(), "no-log": Boolean(),
}
MOCKS: dict[str, Check] = {
    "mock_response": Any_("what the mock answers instead of calling the upstream"),
    "mock_delay": Number(0, 60), "mock_timeout": Boolean(), "mock_tool_calls": Array(),
}
CREDENTIALS: dict[str, Check] = {
    name: String(max_len=2048) for name in (
        "api_key", "api_base", "base_url", "api_version", "organization", "azure_ad_token")}
CREDENTIALS.update({"extra_headers": Object(values=String()),
                    "headers": Object(values=String())})
_CREDENTIAL_PREFIXES = ("aws_", "vertex_", "azure_", "watsonx_")
INTERNAL = frozenset({
    "callbacks", "success_callback", "failure_callback", "input_callback",
    "litellm_logging_obj", "proxy_server_request", "litellm_call_id", "litellm_trace_id",
    "model_info", "model_list", "custom_llm_provider", "turn_off_message_logging",
    "litellm_params", "secret_fields", "user_api_key_dict", "client", "acompletion",
    "aembedding", "atext_completion", "model_group",
})


def is_credential(name: str) -> bool:
    return name in CREDENTIALS or name.startswith(_CREDENTIAL_PREFIXES)


def _names(value: Any, where: str) -> frozenset[str]:
    if value is None:
        return frozenset()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"{where}: expected a list of request parameter names")
    names = frozenset(value)
    for name in sorted(names):
        if name in INTERNAL:
            raise ValueError(f"{where}: `{name}` is internal to the proxy; callers can never "
                             f"set it")
        if is_credential(name):
            raise ValueError(f"{where}: `{name}` is a credential; allow callers to send "
                             f"credentials with general_settings.allow_client_side_credentials")
    return names


@dataclass(frozen=True)
class CallerPolicy:
    """What callers may set and see, from ``general_settings``."""

    allowed: frozenset[str] = frozenset()
    client_credentials: bool = False
    metrics_auth: str = "off"  # "off" | "key" (any valid key) | "admin" (master key)
    health_details_auth: str = "off"
    limits: Limits = field(default_factory=Limits)

    def key_allowed(self, auth: Any) -> frozenset[str]:
        """Names a virtual key's ``metadata.allowed_request_params`` adds (checked when the
        key was stored; anything unusable here counts as nothing)."""
        meta = getattr(auth, "metadata", None)
        names = meta.get("allowed_request_params") if isinstance(meta, dict) else None
        try:
            return _names(names, "key metadata.allowed_request_params")
        except ValueError:
            return frozenset()

    def check(self, endpoint: Endpoint, data: Mapping[str, Any], auth: Any) -> None:
        """Raise a 400 :class:`ProxyError` naming the first field the caller may not send
        or whose value is out of range."""
        limits = self.limits
        for name, needed in endpoint.required.items():
            value = data.get(name)
            if value is None:
                raise invalid(name, f"Missing required parameter: '{name}'.",
                              "missing_required_parameter")
            needed(value, name, limits)
        extra: frozenset[str] | None = None
        for name, value in data.items():
            rule: Check | None = (endpoint.params.get(name) or GATEWAY.get(name)
                                  or PROVIDER_EXTRAS.get(name))
            if rule is not None:
                rule(value, name, limits)
                continue
            if name in endpoint.required or value is None:
                continue
            if is_credential(name):
                if not self.client_credentials:
                    raise _refused(name, "is a credential: the proxy's config decides it "
                                   "(an admin can allow it with general_settings."
                                   "allow_client_side_credentials)")
                CREDENTIALS.get(name, Any_())(value, name, limits)
                continue
            if name in INTERNAL:
                raise _refused(name, "is internal to the proxy and cannot be set by a request")
            if extra is None:
                extra = self.allowed | self.key_allowed(auth)
            if name in extra:
                (OPTIONS.get(name) or MOCKS.get(name) or Any_())(value, name, limits)
                continue
            if name in OPTIONS or name in MOCKS:
                raise _refused(name, "is an SDK option callers may not set here (an admin can "
                               "allow it with general_settings.allowed_request_params or the "
                               "key's metadata.allowed_request_params)")
            raise ProxyError(400, f"Unknown parameter: '{name}'. This proxy forwards OpenAI's "
                             f"parameters for this endpoint; an admin can allow others with "
                             f"general_settings.allowed_request_params.", param=name,
                             code="unknown_parameter")


def _refused(name: str, why: str) -> ProxyError:
    return ProxyError(400, f"`{name}` {why}.", param=name, code="param_not_allowed")


def _flag(section: Mapping[str, Any], name: str) -> bool:
    value = section.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ValueError(f"general_settings.{name}: expected true or false, got {value!r}")
    return value


def _route_auth(section: Mapping[str, Any], name: str) -> str:
    value = section.get(name)
    if value is None or value is False:
        return "off"
    if value is True:
        return "key"
    if value in ("key", "admin"):
        return str(value)
    raise ValueError(f"general_settings.{name}: expected false, true (any valid key) or "
                     f"\"admin\" (the master key), got {value!r}")


def policy_from(section: Mapping[str, Any], limits: Limits,
                litellm_settings: Mapping[str, Any] | None = None) -> CallerPolicy:
    """The caller policy of a config's ``general_settings`` (``litellm_settings`` may
    hold LiteLLM's ``require_auth_for_metrics_endpoint`` too). Raises ValueError naming
    the key for a bad value."""
    metrics = {**(litellm_settings or {}), **section}
    return CallerPolicy(
        allowed=_names(section.get("allowed_request_params"),
                       "general_settings.allowed_request_params"),
        client_credentials=_flag(section, "allow_client_side_credentials"),
        metrics_auth=_route_auth(metrics, "require_auth_for_metrics_endpoint"),
        health_details_auth=_route_auth(section, "require_auth_for_health_details"),
        limits=limits)


def allowed_names_error(names: Iterable[Any]) -> str | None:
    """Why a key's ``metadata.allowed_request_params`` cannot be stored, or None."""
    try:
        _names(list(names) if not isinstance(names, list) else names,
               "metadata.allowed_request_params")
    except (ValueError, TypeError) as exc:
        return str(exc)
    return None
