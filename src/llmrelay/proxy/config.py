"""The proxy's YAML config, in the format LiteLLM users already have, checked at start.

::

    model_list:                      # model groups clients ask for by ``model_name``
      - model_name: gpt-4o-mini
        litellm_params: {model: openai/gpt-4o-mini, api_key: os.environ/OPENAI_API_KEY}
        model_info: {id: primary}
    litellm_settings:                # set on the ``llmrelay`` module at start
      callbacks: custom_callbacks.proxy_handler_instance   # module in the config's folder
      success_callback: [...]
      failure_callback: [...]
      cache: true
      cache_params: {type: local}
      num_retries: 2
      drop_params: true
      turn_off_message_logging: false
      request_timeout: 600
    router_settings: {...}           # passed to llmrelay.router.Router
    general_settings:
      master_key: os.environ/LLMRELAY_MASTER_KEY
      database_url: sqlite:///./llmrelay.db    # or postgresql://...
      max_request_size_mb: 10
    environment_variables: {NAME: value}      # exported before anything else is read

``os.environ/NAME`` anywhere is replaced by that variable (unset: None and a warning; for
``master_key`` and ``database_url`` an error). Unknown keys give a warning naming them;
invalid values raise :class:`ConfigError` naming the key and the problem, and the proxy
refuses to start.

Without a config file (or without ``model_list``) the embedded defaults apply: the ``mock``
model, plus OpenAI / Anthropic models when ``OPENAI_API_KEY`` / ``ANTHROPIC_API_KEY`` is set,
an in-memory response cache, and the SQLite file ``$LLMRELAY_DATA_DIR/llmrelay.db``
(``./llmrelay.db`` when ``LLMRELAY_DATA_DIR`` is unset) for keys and spend.
"""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass, field
from typing import Any

from .contract.policy import POLICY_KEYS, CallerPolicy, policy_from
from .limits import LIMIT_KEYS, limits_from

__all__ = ["ConfigError", "ProxyConfig", "default_model_list", "load_config"]

_ENV_PREFIX = "os.environ/"
_TOP = {"model_list", "litellm_settings", "router_settings", "general_settings",
        "environment_variables"}
_LITELLM = {"callbacks", "success_callback", "failure_callback", "input_callback", "cache",
            "cache_params", "num_retries", "drop_params", "turn_off_message_logging",
            "request_timeout", "callback_timeout", "require_auth_for_metrics_endpoint"}
_GENERAL = {"master_key", "database_url", "max_request_size_mb", *LIMIT_KEYS, *POLICY_KEYS}
_MODEL_ENTRY = {"model_name", "litellm_params", "model_info"}
_PRICES = ("input_cost_per_token", "output_cost_per_token")
_MIN_MASTER_KEY = 16
DEFAULT_MAX_REQUEST_MB = 10.0


class ConfigError(ValueError):
    """The config cannot be used; the message names the key and the problem."""


@dataclass
class ProxyConfig:
    """A checked config, with ``os.environ/`` values resolved and callbacks imported."""

    path: str | None = None
    model_list: list[dict[str, Any]] = field(default_factory=list)
    router_settings: dict[str, Any] = field(default_factory=dict)
    master_key: str | None = None
    database_url: str | None = None
    sqlite_path: str = "llmrelay.db"
    max_request_size: int = int(DEFAULT_MAX_REQUEST_MB * 1024 * 1024)
    policy: CallerPolicy = field(default_factory=CallerPolicy)  # request contract, limits
    callbacks: list[Any] = field(default_factory=list)
    success_callback: list[Any] = field(default_factory=list)
    failure_callback: list[Any] = field(default_factory=list)
    input_callback: list[Any] = field(default_factory=list)
    cache: bool = False
    cache_params: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)  # num_retries, drop_params ...
    warnings: list[str] = field(default_factory=list)
    defaults: bool = False  # True when the embedded default model list is in use

    def model_names(self) -> list[str]:
        return list(dict.fromkeys(m["model_name"] for m in self.model_list))


def default_model_list(env: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The embedded models: ``mock`` always, real providers whose key is in ``env``."""
    env = dict(os.environ) if env is None else env
    models: list[dict[str, Any]] = [
        {"model_name": "mock", "litellm_params": {"model": "mock/mock"},
         "model_info": {"id": "mock", "input_cost_per_token": 0.0,
                        "output_cost_per_token": 0.0}}]
    if env.get("OPENAI_API_KEY"):
        key = _ENV_PREFIX + "OPENAI_API_KEY"
        for name in ("gpt-4o-mini", "gpt-4o", "text-embedding-3-small"):
            models.append({"model_name": name,
                           "litellm_params": {"model": "openai/" + name, "api_key": key}})
    if env.get("ANTHROPIC_API_KEY"):
        key = _ENV_PREFIX + "ANTHROPIC_API_KEY"
        for name, model in (("claude-3-5-haiku", "claude-3-5-haiku-latest"),
                            ("claude-sonnet-4", "claude-sonnet-4-20250514")):
            models.append({"model_name": name,
                           "litellm_params": {"model": "anthropic/" + model, "api_key": key}})
    return models


def _read_yaml(path: str) -> Any:
    try:
        import yaml
    except ImportError as exc:  # pragma: no cover - pyyaml is in the proxy extra
        raise ConfigError("reading a config file needs PyYAML: pip install "
                          "'llmrelay[proxy]'") from exc
    try:
        with open(path, encoding="utf-8") as f:
            return yaml.safe_load(f)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc


def _resolve_env(value: Any, where: str, warnings: list[str], strict: set[str]) -> Any:
    """Replace ``os.environ/NAME`` strings anywhere in ``value``."""
    if isinstance(value, str) and value.startswith(_ENV_PREFIX):
        name = value[len(_ENV_PREFIX):]
        found = os.environ.get(name)
        if found is None:
            if where in strict:
                raise ConfigError(f"{where}: environment variable {name} is not set")
            warnings.append(f"{where}: environment variable {name} is not set; using null")
        return found
    if isinstance(value, dict):
        return {k: _resolve_env(v, f"{where}.{k}" if where else str(k), warnings, strict)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_env(v, f"{where}[{i}]", warnings, strict) for i, v in enumerate(value)]
    return value


def _section(raw: dict[str, Any], name: str) -> dict[str, Any]:
    value = raw.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{name}: expected a mapping, got {type(value).__name__}")
    return value


def _unknown(section: dict[str, Any], known: set[str], where: str, warnings: list[str]) -> None:
    extra = sorted(str(k) for k in section if k not in known)
    if extra:
        prefix = f"{where}." if where else ""
        names = ", ".join(prefix + k for k in extra)
        warnings.append(f"unknown config key(s) ignored: {names}")


def _check_models(models: Any, warnings: list[str]) -> list[dict[str, Any]]:
    if not isinstance(models, list):
        raise ConfigError(f"model_list: expected a list of models, got {type(models).__name__}")
    if not models:
        raise ConfigError("model_list: is empty; list at least one model or remove the key "
                          "to use the defaults")
    out = []
    for i, entry in enumerate(models):
        where = f"model_list[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: expected a mapping with model_name and litellm_params")
        name = entry.get("model_name")
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{where}.model_name: required, a non-empty string")
        params = entry.get("litellm_params")
        if not isinstance(params, dict):
            raise ConfigError(f"{where}.litellm_params: required, a mapping with `model`")
        model = params.get("model")
        if not isinstance(model, str) or not model:
            raise ConfigError(f"{where}.litellm_params.model: required, a model string such "
                              f"as openai/gpt-4o-mini")
        info = entry.get("model_info") or {}
        if not isinstance(info, dict):
            raise ConfigError(f"{where}.model_info: expected a mapping")
        _unknown(entry, _MODEL_ENTRY, where, warnings)
        params, info = dict(params), dict(info)
        for section, values in (("litellm_params", params), ("model_info", info)):
            for price in _PRICES:
                if values.get(price) is not None:
                    values[price] = _numeric(values[price], f"{where}.{section}.{price}")
        out.append({"model_name": name, "litellm_params": params, "model_info": info})
    return out


def _as_bool(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    raise ConfigError(f"{where}: expected true or false, got {value!r}")


def _as_number(value: Any, where: str, *, integer: bool = False, positive: bool = False) -> Any:
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if not ok or isinstance(value, bool) or value < 0 or (positive and value == 0):
        kind = "integer" if integer else "number"
        sign = "positive" if positive else "non-negative"
        raise ConfigError(f"{where}: expected a {sign} {kind}, got {value!r}")
    return value


def _numeric(value: Any, where: str, *, integer: bool = False,
             positive: bool = False) -> Any:
    """A number, also from a numeric string (``os.environ/`` values are strings)."""
    if isinstance(value, str):
        try:
            value = int(value) if integer else float(value)
        except ValueError:
            pass
    return _as_number(value, where, integer=integer, positive=positive)


def _cache_params(params: dict[str, Any], where: str) -> dict[str, Any]:
    """``cache_params`` with the types of the common options checked (the cache checks
    the values it knows, e.g. ``type``, when it is built at start)."""
    out = dict(params)
    for name in ("type", "host", "url", "password", "namespace", "mode", "disk_cache_dir",
                 "path"):
        if out.get(name) is not None and not isinstance(out[name], str):
            raise ConfigError(f"{where}.{name}: expected a string, got {out[name]!r}")
    for name, integer, positive in (("port", True, True), ("db", True, False),
                                    ("max_size", True, True), ("ttl", False, False),
                                    ("timeout", False, True), ("retry_after", False, False)):
        if out.get(name) is not None:
            out[name] = _numeric(out[name], f"{where}.{name}", integer=integer,
                                 positive=positive)
    return out


def _import_attr(ref: str, base_dir: str, where: str) -> Any:
    """``module.attr`` from the config's folder (or anywhere importable)."""
    module_name, _, attr = ref.rpartition(".")
    if base_dir not in sys.path:
        sys.path.insert(0, base_dir)
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise ConfigError(f"{where}: cannot import module {module_name!r} (looked in "
                          f"{base_dir} and on sys.path): {type(exc).__name__}: {exc}") from exc
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ConfigError(f"{where}: module {module_name!r} has no attribute {attr!r}") from None


def _callbacks(value: Any, where: str, base_dir: str) -> list[Any]:
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    out: list[Any] = []
    for i, item in enumerate(items):
        here = f"{where}[{i}]" if isinstance(value, list) else where
        if not isinstance(item, str) or not item:
            raise ConfigError(f"{here}: expected a callback name or module.attribute, got "
                              f"{item!r}")
        if "." in item:
            out.append(_import_attr(item, base_dir, here))
            continue
        from ..integrations.registry import get_integration

        try:
            get_integration(item)
        except Exception as exc:
            raise ConfigError(f"{here}: {exc}") from exc
        out.append(item)
    return out


def _litellm_settings(cfg: ProxyConfig, section: dict[str, Any], base_dir: str) -> None:
    w = "litellm_settings"
    _unknown(section, _LITELLM, w, cfg.warnings)
    cfg.callbacks = _callbacks(section.get("callbacks"), f"{w}.callbacks", base_dir)
    cfg.success_callback = _callbacks(section.get("success_callback"),
                                      f"{w}.success_callback", base_dir)
    cfg.failure_callback = _callbacks(section.get("failure_callback"),
                                      f"{w}.failure_callback", base_dir)
    cfg.input_callback = _callbacks(section.get("input_callback"), f"{w}.input_callback",
                                    base_dir)
    if section.get("cache") is not None:
        cfg.cache = _as_bool(section["cache"], f"{w}.cache")
    params = section.get("cache_params")
    if params is not None:
        if not isinstance(params, dict):
            raise ConfigError(f"{w}.cache_params: expected a mapping")
        cfg.cache_params = _cache_params(params, f"{w}.cache_params")
    if section.get("num_retries") is not None:
        cfg.settings["num_retries"] = _as_number(section["num_retries"], f"{w}.num_retries",
                                                 integer=True)
    for flag in ("drop_params", "turn_off_message_logging"):
        if section.get(flag) is not None:
            cfg.settings[flag] = _as_bool(section[flag], f"{w}.{flag}")
    if section.get("request_timeout") is not None:
        cfg.settings["request_timeout"] = float(_as_number(
            section["request_timeout"], f"{w}.request_timeout", positive=True))
    if section.get("callback_timeout") is not None:
        cfg.settings["callback_timeout"] = float(_as_number(
            section["callback_timeout"], f"{w}.callback_timeout", positive=True))


def _general_settings(cfg: ProxyConfig, section: dict[str, Any]) -> None:
    w = "general_settings"
    _unknown(section, _GENERAL, w, cfg.warnings)
    key = section.get("master_key")
    source = f"{w}.master_key"
    if key is None and os.environ.get("LLMRELAY_MASTER_KEY"):
        key, source = os.environ["LLMRELAY_MASTER_KEY"], "LLMRELAY_MASTER_KEY"
    if key is not None:
        if not isinstance(key, str):
            raise ConfigError(f"{source}: expected a string, got {type(key).__name__}")
        if len(key) < _MIN_MASTER_KEY:
            raise ConfigError(f"{source}: the master key is {len(key)} characters long; use "
                              f"at least {_MIN_MASTER_KEY} (e.g. sk- plus 32 random characters)")
        cfg.master_key = key
    url = section.get("database_url") or os.environ.get("LLMRELAY_DATABASE_URL") or None
    if url is not None:
        if not isinstance(url, str) or not url.startswith(
                ("sqlite://", "postgresql://", "postgres://")):
            raise ConfigError(f"{w}.database_url: expected sqlite:///path or "
                              f"postgresql://..., got {url!r}")
        cfg.database_url = url
    size = section.get("max_request_size_mb")
    if size is not None:
        cfg.max_request_size = int(_as_number(size, f"{w}.max_request_size_mb",
                                              positive=True) * 1024 * 1024)


def load_config(path: str | None = None) -> ProxyConfig:
    """Read, check and resolve the config at ``path`` (None: the embedded defaults).

    Imports ``module.attr`` callbacks from the config file's folder. Raises
    :class:`ConfigError` naming the key and the problem; unknown keys only add
    ``warnings``.
    """
    raw: Any = {}
    base_dir = os.getcwd()
    if path is not None:
        raw = _read_yaml(path)
        base_dir = os.path.dirname(os.path.abspath(path))
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise ConfigError(f"config file {path}: expected a mapping at the top level, got "
                              f"{type(raw).__name__}")
    cfg = ProxyConfig(path=path)
    env_vars = _section(raw, "environment_variables")
    for name, value in env_vars.items():
        if value is not None:
            os.environ[str(name)] = str(value)
    strict = {"general_settings.master_key", "general_settings.database_url"}
    raw = _resolve_env(raw, "", cfg.warnings, strict)
    _unknown(raw, _TOP, "", cfg.warnings)
    data_dir = os.environ.get("LLMRELAY_DATA_DIR")
    cfg.sqlite_path = os.path.join(data_dir or ".", "llmrelay.db")
    if raw.get("model_list") is None:
        cfg.model_list = _check_models(_resolve_env(default_model_list(), "", [], set()), [])
        cfg.defaults = True
        cfg.cache = path is None  # the embedded defaults include an in-memory cache
    else:
        cfg.model_list = _check_models(raw["model_list"], cfg.warnings)
    _litellm_settings(cfg, _section(raw, "litellm_settings"), base_dir)
    cfg.router_settings = _section(raw, "router_settings")
    general = _section(raw, "general_settings")
    _general_settings(cfg, general)
    try:
        cfg.policy = policy_from(general, limits_from(general),
                                 _section(raw, "litellm_settings"))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return cfg
