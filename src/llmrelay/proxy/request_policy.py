"""What ``general_settings`` asks of every request, checked before anything else runs.

* ``allowed_routes``: only the listed paths answer (others: 403 ``route_not_allowed``),
  for every caller, as LiteLLM checks them (exact paths, e.g. ``/v1/chat/completions``
  and ``/chat/completions`` are two routes); the health probes always answer; ``/ui``
  (or the group ``ui_routes``) admits the dashboard's page and files (``/ui/...``).
* ``allowed_ips`` (with ``use_x_forwarded_for``): other client addresses get 403.
* ``completion_model`` / ``embedding_model``: the model every chat/text completion or
  embedding request uses, whatever it names (LiteLLM's server-side default).
* ``enforce_user_param``: LLM requests without ``user`` get 400.
* ``reject_clientside_metadata_tags``: LLM requests carrying ``metadata.tags`` get 400.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

from starlette.types import Scope

from .errors import ProxyError

if TYPE_CHECKING:
    from .config import ProxyConfig

__all__ = ["RouteGate", "apply_to_body"]

_PROBES = frozenset({"/health/liveliness", "/health/liveness", "/health/readiness"})
_LLM_ROUTES = ("/chat/completions", "/completions", "/embeddings", "/models",
               "/images/generations", "/moderations", "/audio/transcriptions",
               "/audio/speech", "/rerank", "/responses", "/messages",
               "/messages/count_tokens")
# LiteLLM's route group names, expanded to llmrelay's routes.
_GROUPS = {
    "openai_routes": tuple(p for r in _LLM_ROUTES for p in (r, "/v1" + r)),
    "llm_api_routes": tuple(p for r in _LLM_ROUTES for p in (r, "/v1" + r)),
    "info_routes": ("/key/info", "/v1/models", "/models"),
    "ui_routes": ("/ui",),
}


class RouteGate:
    """The per-request checks of ``allowed_routes`` and ``allowed_ips`` (None when the
    config sets neither: :meth:`from_config` returns None so the app skips the gate)."""

    def __init__(self, routes: list[str] | None, ips: list[str] | None,
                 forwarded_for: bool) -> None:
        self.routes: frozenset[str] | None = None
        if routes is not None:
            expanded: set[str] = set()
            for route in routes:  # "chat/completions" can only mean "/chat/completions"
                expanded.update(_GROUPS.get(route, ("/" + route.lstrip("/"),)))
            self.routes = frozenset(expanded)
        self.networks = [_network(ip) for ip in ips] if ips is not None else None
        self.forwarded_for = forwarded_for

    @classmethod
    def from_config(cls, cfg: ProxyConfig) -> RouteGate | None:
        if cfg.allowed_routes is None and cfg.allowed_ips is None:
            return None
        return cls(cfg.allowed_routes, cfg.allowed_ips, cfg.use_x_forwarded_for)

    def refuse(self, scope: Scope) -> ProxyError | None:
        """The 403 for this request, or None when it may go on."""
        path = scope.get("path", "")
        if self.networks is not None:
            ip = self._client_ip(scope)
            if not any(_contains(net, ip) for net in self.networks):
                return ProxyError(403, f"Access forbidden: IP address {ip} not allowed",
                                  type="permission_error", code="ip_not_allowed")
        if self.routes is not None and path not in self.routes and path not in _PROBES \
                and not (path.startswith("/ui/") and "/ui" in self.routes):
            return ProxyError(403, f"Access forbidden: Route {path} not allowed "
                                   f"(general_settings.allowed_routes)",
                              type="permission_error", code="route_not_allowed")
        return None

    def _client_ip(self, scope: Scope) -> str:
        if self.forwarded_for:
            for name, value in scope.get("headers", ()):
                if name == b"x-forwarded-for":
                    return str(value.decode("latin-1")).split(",")[0].strip()
        client = scope.get("client")
        return str(client[0]) if client else ""


def _network(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    from .config_values import ConfigError

    try:
        return ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        raise ConfigError(f"general_settings.allowed_ips: {value!r} is not an IP address "
                          f"or network") from None


def _contains(net: ipaddress.IPv4Network | ipaddress.IPv6Network, ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip) in net
    except ValueError:
        return False


def apply_to_body(cfg: ProxyConfig, data: dict[str, Any], call_type: str) -> None:
    """Apply the config's server-side model and the request rules to an LLM request body
    (before it is checked); raises a 400 :class:`ProxyError` naming the setting."""
    forced = {"embeddings": cfg.embedding_model, "completion": cfg.completion_model,
              "text_completion": cfg.completion_model,
              "image_generation": cfg.image_generation_model}.get(call_type)
    if forced is not None:
        data["model"] = forced
    if cfg.enforce_user_param and not data.get("user"):
        raise ProxyError(400, "`user` is required: this proxy sets "
                              "general_settings.enforce_user_param", param="user",
                         code="missing_required_parameter")
    meta = data.get("metadata")
    if cfg.reject_clientside_metadata_tags and isinstance(meta, dict) and "tags" in meta:
        raise ProxyError(400, "`metadata.tags` may not be set by the caller: this proxy sets "
                              "general_settings.reject_clientside_metadata_tags",
                         param="metadata.tags", code="param_not_allowed")
