"""The routing half of a LiteLLM config: router settings (from ``router_settings`` and
the router keys LiteLLM also reads from ``litellm_settings``), the cache's parameters, and
the model list made ready for :class:`llmrelay.router.Router`: named credentials filled
in, ``default_litellm_params`` applied, and deployments llmrelay cannot serve set aside.

Deployments llmrelay cannot serve (an unknown provider prefix, say) are handled as
LiteLLM's proxy handles invalid deployments: left out, listed in the start-up summary, and a
request for a model group left with none gets a 400 naming why. With
``router_settings.ignore_invalid_deployments: false`` (or when nothing at all could be
served) the proxy refuses to start instead.
"""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .config_values import ConfigError, as_bool, numeric

if TYPE_CHECKING:
    from .config import ProxyConfig, _Policy

__all__ = ["LITELLM_ROUTER_KEYS", "build_router_settings", "cache_params", "prepare_models",
           "redis_from_env"]

# Router settings LiteLLM also reads from litellm_settings (router_settings wins).
LITELLM_ROUTER_KEYS = frozenset({
    "fallbacks", "context_window_fallbacks", "content_policy_fallbacks", "default_fallbacks",
    "allowed_fails", "cooldown_time", "retry_after"})
_REDIS = ("redis_host", "redis_port", "redis_password", "redis_url", "redis_db")
# Read here rather than passed to the Router.
_OWN = frozenset({*_REDIS, "default_litellm_params", "ignore_invalid_deployments",
                  "disable_cooldowns", "stream_timeout"})


@dataclass
class _Plan:
    """What the model list needs from the router settings."""

    default_params: dict[str, Any] = field(default_factory=dict)
    stream_timeout: float | None = None
    ignore_invalid: bool = True


def _router_params() -> set[str]:
    from ..router import Router

    params = inspect.signature(Router.__init__).parameters
    return {name for name, p in params.items()
            if p.kind is not inspect.Parameter.VAR_KEYWORD} - {"self", "model_list", "client"}


def build_router_settings(cfg: ProxyConfig, litellm: dict[str, Any], router: dict[str, Any],
                          policy: _Policy) -> tuple[dict[str, Any], _Plan]:
    """``llmrelay.Router`` keyword arguments, and what :func:`prepare_models` needs; keys
    the Router does not take are read here (see ``_OWN``) or go through the key policy."""
    w = "router_settings"
    merged = {k: v for k, v in litellm.items() if k in LITELLM_ROUTER_KEYS and v is not None}
    merged.update({k: v for k, v in router.items() if v is not None})
    accepted = _router_params()
    kwargs = {k: v for k, v in merged.items() if k in accepted}
    plan = _Plan()
    defaults = merged.get("default_litellm_params")
    if defaults is not None:
        if not isinstance(defaults, dict):
            raise ConfigError(f"{w}.default_litellm_params: expected a mapping")
        plan.default_params = dict(defaults)
    if merged.get("ignore_invalid_deployments") is not None:
        plan.ignore_invalid = as_bool(merged["ignore_invalid_deployments"],
                                      f"{w}.ignore_invalid_deployments")
    if merged.get("stream_timeout") is not None:
        plan.stream_timeout = float(numeric(merged["stream_timeout"], f"{w}.stream_timeout",
                                            positive=True))
    if merged.get("disable_cooldowns") is not None and as_bool(
            merged["disable_cooldowns"], f"{w}.disable_cooldowns"):
        kwargs["cooldown_time"] = 0.0
    if merged.get("default_max_parallel_requests") is not None:
        kwargs["default_max_parallel_requests"] = numeric(
            merged["default_max_parallel_requests"], f"{w}.default_max_parallel_requests",
            integer=True) or None
    elif cfg.max_parallel_requests is not None:  # general_/litellm_settings' name for it
        kwargs["default_max_parallel_requests"] = cfg.max_parallel_requests
    cfg.redis_settings = {k: merged[k] for k in _REDIS if k in merged}
    policy.rest(w, {k: v for k, v in router.items() if k not in accepted},
                _OWN | LITELLM_ROUTER_KEYS)
    return kwargs, plan


# ---- the model list ------------------------------------------------------------------------
def _credentials(value: Any) -> dict[str, dict[str, Any]]:
    if value is None:
        return {}
    if not isinstance(value, list):
        raise ConfigError("credential_list: expected a list of {credential_name, "
                          "credential_values}")
    out = {}
    for i, item in enumerate(value):
        name = item.get("credential_name") if isinstance(item, dict) else None
        values = item.get("credential_values") if isinstance(item, dict) else None
        if not isinstance(name, str) or not isinstance(values, dict):
            raise ConfigError(f"credential_list[{i}]: needs credential_name (a string) and "
                              f"credential_values (a mapping)")
        out[name] = values
    return out


def _servable(params: dict[str, Any]) -> str | None:
    """Why llmrelay cannot serve a deployment with these params, or None when it can."""
    from ..exceptions import LLMRelayError
    from ..providers.registry import resolve_model, spec_for

    model = str(params["model"])
    provider = params.get("custom_llm_provider")
    try:
        if "*" in model:  # a wildcard: the model is known per request, its provider now
            head, sep, _ = model.partition("/")
            if provider:
                spec_for(provider)
            elif sep and head != "*":
                resolve_model(f"{head}/x")
            return None
        resolve_model(model, provider)
    except LLMRelayError as exc:
        return exc.message.split("; known providers")[0].split(" (known providers")[0]
    return None


def _environment_ok(entry: dict[str, Any], where: str) -> bool:
    """``model_info.supported_environments`` as LiteLLM reads it, with
    ``$LITELLM_ENVIRONMENT`` (production, staging or development)."""
    allowed = entry["model_info"].get("supported_environments")
    current = os.environ.get("LITELLM_ENVIRONMENT")
    if allowed is None or not current:
        return True
    if not isinstance(allowed, list):
        raise ConfigError(f"{where}.model_info.supported_environments: expected a list")
    return current in allowed


def prepare_models(cfg: ProxyConfig, credential_list: Any, plan: _Plan, policy: _Policy
                   ) -> None:
    """Fill in credentials and defaults, and set aside what cannot be served (see the
    module doc). Raises ConfigError for an unknown credential name, or when no deployment
    is left."""
    creds = _credentials(credential_list)
    kept: list[dict[str, Any]] = []
    why: dict[str, list[str]] = {}
    for i, entry in enumerate(cfg.model_list):
        where = f"model_list[{i}]"
        params = entry["litellm_params"]
        name = params.pop("litellm_credential_name", None)
        if name is not None:
            if name not in creds:
                raise ConfigError(f"{where}.litellm_params.litellm_credential_name: no "
                                  f"credential named {name!r} in credential_list")
            for key, value in creds[name].items():
                params.setdefault(key, value)
        for key, value in plan.default_params.items():
            params.setdefault(key, value)
        if plan.stream_timeout is not None:
            params.setdefault("stream_timeout", plan.stream_timeout)
        label = f"{where} ({entry['model_name']}: {params['model']})"
        if not _environment_ok(entry, where):
            cfg.skipped.append((label, "not for LITELLM_ENVIRONMENT="
                                       f"{os.environ.get('LITELLM_ENVIRONMENT')}"))
            continue
        problem = _servable(params)
        if problem is None:
            kept.append(entry)
            continue
        if not plan.ignore_invalid:
            policy.refused.append(f"{label}: {problem} (router_settings."
                                  f"ignore_invalid_deployments is false)")
        cfg.skipped.append((label, problem))
        why.setdefault(entry["model_name"], []).append(problem)
    served = {e["model_name"] for e in kept}
    cfg.unservable = {g: "; ".join(dict.fromkeys(p)) for g, p in why.items() if g not in served}
    if not kept and cfg.model_list:
        raise ConfigError("no deployment in model_list can be served by llmrelay: "
                          + "; ".join(f"{d}: {r}" for d, r in cfg.skipped))
    cfg.model_list = kept
    _drop_unservable_fallbacks(cfg)


_FALLBACK_LISTS = ("fallbacks", "context_window_fallbacks", "content_policy_fallbacks")


def _drop_unservable_fallbacks(cfg: ProxyConfig) -> None:
    """Fallbacks naming a model group this proxy does not serve (one set aside, or one
    that is not configured at all: LiteLLM starts with those too) cannot run: they are
    left out, with a warning, so that the router gets only fallbacks it can follow."""
    from ..router.names import parse_aliases, pattern_entries

    groups = {e["model_name"] for e in cfg.model_list}
    _, patterns = pattern_entries(cfg.model_list)
    aliases = set(parse_aliases(cfg.router_settings.get("model_group_alias")))

    def why(name: str) -> str | None:
        if name in groups or name in aliases or name == "*" \
                or any(p.match(name) is not None for p in patterns):
            return None
        return cfg.unservable.get(name, "not a model group of this config")

    settings = cfg.router_settings
    for list_name in _FALLBACK_LISTS:
        value = settings.get(list_name)
        if isinstance(value, list):
            settings[list_name] = _clean_fallbacks(list_name, value, why, cfg.warnings)
    default = settings.get("default_fallbacks")
    if isinstance(default, list):
        for name in default:
            reason = why(str(name))
            if reason is not None:
                cfg.warnings.append(f"default_fallbacks: {name}: {reason}; left out")
        settings["default_fallbacks"] = [n for n in default if why(str(n)) is None]


def _clean_fallbacks(list_name: str, value: list[Any], why: Any, warnings: list[str]
                     ) -> list[Any]:
    kept = []
    for item in value:
        if not isinstance(item, dict):
            kept.append(item)  # the router reports a malformed entry
            continue
        clean = {}
        for key, targets in item.items():
            names = [targets] if isinstance(targets, str) else list(targets or [])
            bad = {n: why(str(n)) for n in [key, *names] if why(str(n)) is not None}
            if bad:
                reasons = "; ".join(f"{n}: {r}" for n, r in bad.items())
                warnings.append(f"{list_name} {key} -> {', '.join(map(str, names))}: left "
                                f"out {', '.join(map(str, bad))} ({reasons})")
            left = [t for t in names if t not in bad]
            if key not in bad and left:
                clean[key] = left
        if clean:
            kept.append(clean)
    return kept


# ---- cache_params ----------------------------------------------------------------------------
_CACHE_STR = ("type", "host", "url", "password", "namespace", "mode", "disk_cache_dir", "path")
_CACHE_NUM = (("port", True, True), ("db", True, False), ("max_size", True, True),
              ("ttl", False, False), ("timeout", False, True), ("retry_after", False, False))
# redis-py client options LiteLLM's cache_params carry.
_REDIS_CLIENT = ("ssl", "ssl_cert_reqs", "ssl_check_hostname", "max_connections")
_CACHE_REFUSED = {
    "redis_startup_nodes": "Redis Cluster is not supported; give one host or url",
    "service_name": "Redis Sentinel is not supported; give one host or url",
    "sentinel_nodes": "Redis Sentinel is not supported; give one host or url",
    "gcp_service_account": "GCP IAM auth for Redis is not supported",
}
# LiteLLM's cache types llmrelay has no cache for.
_OTHER_CACHES = ("s3", "gcs", "azure-blob", "redis-semantic", "qdrant-semantic",
                 "valkey-semantic")


def cache_params(params: dict[str, Any], where: str, unused: list[tuple[str, str]]
                 ) -> dict[str, Any]:
    """``cache_params`` as :class:`llmrelay.caching.Cache` arguments: common options
    type-checked, redis-py options passed as client arguments, call types llmrelay does
    not serve left out (reported), options of cache types llmrelay lacks reported."""
    from ..caching.cache import CALL_TYPES
    from .litellm_keys import LITELLM_CALL_TYPES

    out: dict[str, Any] = {}
    client: dict[str, Any] = {}
    refused = []
    for name, value in params.items():
        if value is None:
            continue
        if name in _CACHE_STR:
            if not isinstance(value, str):
                raise ConfigError(f"{where}.{name}: expected a string, got {value!r}")
            if name == "type" and value in _OTHER_CACHES:
                raise ConfigError(f"{where}.type: LiteLLM's {value} cache is not implemented "
                                  f"in llmrelay; use local, disk or redis (or cache: false)")
            out[name] = value
        elif name in {n for n, _, _ in _CACHE_NUM}:
            integer, positive = next((i, p) for n, i, p in _CACHE_NUM if n == name)
            out[name] = numeric(value, f"{where}.{name}", integer=integer, positive=positive)
        elif name in _REDIS_CLIENT:
            client[name] = value
        elif name == "supported_call_types":
            out[name] = _call_types(value, f"{where}.{name}", CALL_TYPES, LITELLM_CALL_TYPES,
                                    unused)
        elif name in _CACHE_REFUSED:
            refused.append(f"{where}.{name} ({_CACHE_REFUSED[name]})")
        else:
            unused.append((f"{where}.{name}", "not an option of llmrelay's local, disk or "
                                              "redis caches"))
    if refused:
        raise ConfigError("; ".join(refused))
    if client:
        out["client_kwargs"] = client
    return out


def redis_from_env(params: dict[str, Any]) -> dict[str, Any]:
    """LiteLLM's cache defaults: ``cache: true`` without a ``type`` is a Redis cache when
    ``REDIS_URL`` or ``REDIS_HOST`` is set (else in memory), and a Redis cache without an
    address takes it from ``REDIS_URL`` or ``REDIS_HOST``/``REDIS_PORT``/``REDIS_PASSWORD``
    (``REDIS_SSL=true`` for TLS)."""
    env = os.environ
    out = dict(params)
    if "type" not in out:
        out["type"] = "redis" if env.get("REDIS_URL") or env.get("REDIS_HOST") else "local"
    if out["type"] != "redis" or out.get("url") or out.get("host"):
        return out
    if env.get("REDIS_URL"):
        out["url"] = env["REDIS_URL"]
    elif env.get("REDIS_HOST"):
        out["host"] = env["REDIS_HOST"]
        if env.get("REDIS_PORT") and "port" not in out:
            out["port"] = numeric(env["REDIS_PORT"], "REDIS_PORT", integer=True, positive=True)
        if env.get("REDIS_PASSWORD") and "password" not in out:
            out["password"] = env["REDIS_PASSWORD"]
    if env.get("REDIS_SSL", "").lower() == "true":
        out.setdefault("client_kwargs", {}).setdefault("ssl", True)
    return out


def _call_types(value: Any, where: str, ours: tuple[str, ...], litellm: frozenset[str],
                unused: list[tuple[str, str]]) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: expected a list of call types")
    kept, other = [], []
    for name in value:
        base = name[1:] if name.startswith("a") and name[1:] in ours else name
        if base in ours:
            kept.append(name)
        elif name in litellm:
            other.append(name)
        else:
            raise ConfigError(f"{where}: unknown call type {name!r}")
    if other:
        unused.append((f"{where}: {', '.join(other)}", "calls llmrelay does not serve yet; "
                                                       "nothing to cache"))
    return kept
