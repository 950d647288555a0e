"""The proxy's YAML config, in the format LiteLLM users already have, checked at start.

::

    model_list:                      # model groups clients ask for by ``model_name``
      - model_name: gpt-4o-mini
        litellm_params: {model: openai/gpt-4o-mini, api_key: os.environ/OPENAI_API_KEY}
        model_info: {id: primary}
      - model_name: "*"              # any other model, keys from the environment
        litellm_params: {model: "*"}
    litellm_settings:                # the settings of the proxy's own llmrelay Client
      callbacks: custom_callbacks.proxy_handler_instance   # module in the config's folder
      success_callback: [...]
      cache: true
      cache_params: {type: redis, host: ..., supported_call_types: [acompletion]}
      num_retries: 2
      fallbacks: [{gpt-4o: [claude]}]   # also context_window_/content_policy_/default_
    router_settings: {routing_strategy: least-busy, model_group_alias: {gpt-4: gpt-4o}, ...}
    general_settings:
      master_key: os.environ/LITELLM_MASTER_KEY
      database_url: sqlite:///./llmrelay.db    # or postgresql://...
      allowed_routes: [/chat/completions]
    environment_variables: {NAME: value}      # exported before anything else is read
    include: [more_models.yaml]                # merged into this file

Every key LiteLLM documents has a policy (see :mod:`.litellm_keys`): honoured, already
llmrelay's behaviour, reported in the start-up summary as naming something llmrelay does
not have, or refused (the proxy does not start) when it would change security, routing,
limits or stored data in a way llmrelay cannot honour. Keys LiteLLM does not document
either are reported as unknown. ``os.environ/NAME`` anywhere is replaced by that variable
(unset: null, reported). Invalid values raise :class:`ConfigError` naming the key.

Without a config file (or without ``model_list``) the embedded defaults apply: the ``mock``
model, plus OpenAI / Anthropic models when ``OPENAI_API_KEY`` / ``ANTHROPIC_API_KEY`` is set,
an in-memory response cache, and the SQLite file ``$LLMRELAY_DATA_DIR/llmrelay.db``
(``./llmrelay.db`` when ``LLMRELAY_DATA_DIR`` is unset) for keys and spend.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from . import litellm_keys as keys
from .accounting_config import GENERAL_KEYS as ACCOUNTING_KEYS
from .accounting_config import AccountingConfigError, AccountingSettings
from .accounting_config import accounting_settings as _accounting
from .config_values import (
    ConfigError,
    as_bool,
    as_number,
    callbacks,
    check_models,
    custom_providers,
    numeric,
    read_yaml,
    resolve_env,
    section,
    string_list,
)
from .contract.policy import POLICY_KEYS, CallerPolicy, policy_from
from .limits import LIMIT_KEYS, limits_from

__all__ = ["ConfigError", "ProxyConfig", "default_model_list", "load_config"]

_ENV_PREFIX = "os.environ/"
DEFAULT_MAX_REQUEST_MB = 10.0


@dataclass
class ProxyConfig:
    """A checked config, with ``os.environ/`` values resolved and callbacks imported."""

    path: str | None = None
    model_list: list[dict[str, Any]] = field(default_factory=list)
    router_settings: dict[str, Any] = field(default_factory=dict)  # llmrelay.Router kwargs
    master_key: str | None = None
    master_key_source: str = "general_settings.master_key"
    permit_weak_master_key: bool = False  # general_settings.dangerously_permit_...
    database_url: str | None = None
    database_options: dict[str, Any] = field(default_factory=dict)  # pool_size, timeouts
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
    redis_settings: dict[str, Any] = field(default_factory=dict)  # router_settings redis_*
    # general_settings the request path honours
    max_parallel_requests: int | None = None  # default per deployment
    global_max_parallel_requests: int | None = None
    allowed_routes: list[str] | None = None
    allowed_ips: list[str] | None = None
    use_x_forwarded_for: bool = False
    key_header: str | None = None  # litellm_key_header_name
    completion_model: str | None = None
    embedding_model: str | None = None
    image_generation_model: str | None = None
    moderation_model: str | None = None  # for moderations that name no model
    default_team_disabled: bool = False  # only admins create keys without a team
    team_callbacks: dict[str, dict[str, list[Any]]] = field(default_factory=dict)
    enforce_user_param: bool = False
    reject_clientside_metadata_tags: bool = False
    store_prompts_in_spend_logs: bool = False  # usage rows keep messages and response
    disable_admin_ui: bool = False  # /ui off (general_settings or $DISABLE_ADMIN_UI)
    pass_through_endpoints: list[Any] = field(default_factory=list)
    general_settings: dict[str, Any] = field(default_factory=dict)  # as given, resolved
    # what the start-up summary reports
    unused: list[tuple[str, str]] = field(default_factory=list)  # (key, why it has no effect)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (deployment, why)
    unservable: dict[str, str] = field(default_factory=dict)  # model group -> why
    warnings: list[str] = field(default_factory=list)
    defaults: bool = False  # True when the embedded default model list is in use
    # Redis for shared limits, the spool, the limits failure policy (accounting_config.py)
    accounting: AccountingSettings = field(default_factory=AccountingSettings)

    @property
    def redis_url(self) -> str | None:
        """The Redis server for shared limits (resolved from LiteLLM's settings), or None."""
        return self.accounting.redis_url

    def model_names(self) -> list[str]:
        return list(dict.fromkeys(m["model_name"] for m in self.model_list))

    def store_options(self) -> dict[str, Any]:
        """Options for the key store's ``open``: the pool settings (PostgreSQL's) and the
        timeouts (``accounting_config.py``)."""
        url = self.database_url or ""
        options = self.accounting.store_options(url)
        if url.startswith("postgres"):
            options.update(self.database_options)
        return options


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


class _Policy:
    """Applies :mod:`.litellm_keys` to the keys a section's loader did not read itself."""

    def __init__(self, cfg: ProxyConfig) -> None:
        self.cfg = cfg
        self.refused: list[str] = []

    def rest(self, where: str, values: dict[str, Any], handled: set[str] | frozenset[str]
             ) -> None:
        for name, value in values.items():
            if name in handled:
                continue
            path = f"{where}.{name}" if where else str(name)
            found = keys.lookup(where, str(name))
            if found is None:
                self.cfg.warnings.append(f"{path}: unknown key (not a LiteLLM setting "
                                         f"either), ignored")
                continue
            policy, note = found
            if policy == keys.ABSENT:
                self.cfg.unused.append((path, note))
            elif policy == keys.REFUSED and _is_set(value):
                self.refused.append(f"{path} ({note})")
            elif policy == keys.HONOURED:  # a key the loader should have read: a bug here
                raise AssertionError(f"{path} is marked honoured but was not read")

    def check(self) -> None:
        if self.refused:
            raise ConfigError(
                "these settings ask for something llmrelay cannot do, so it will not start "
                "without them (remove them or set them to false/null): "
                + "; ".join(self.refused))


def _is_set(value: Any) -> bool:
    return value not in (None, False, 0, "", [], {})


def _include(raw: dict[str, Any], base_dir: str, seen: set[str]) -> dict[str, Any]:
    """``include: [file, ...]``: each file's keys appended to (lists) or merged under
    (mappings) this config's; paths relative to the including file."""
    files = raw.pop("include", None)
    if files is None:
        return raw
    for i, name in enumerate(string_list(files, "include")):
        path = os.path.normpath(os.path.join(base_dir, name))
        if path in seen:
            raise ConfigError(f"include[{i}]: {name} includes itself (directly or not)")
        data = read_yaml(path)
        if not isinstance(data, dict):
            raise ConfigError(f"include[{i}]: {name} must hold a mapping at the top level")
        data = _include(data, os.path.dirname(path), seen | {path})
        for key, value in data.items():
            mine = raw.get(key)
            if isinstance(mine, list) and isinstance(value, list):
                raw[key] = mine + value
            elif isinstance(mine, dict) and isinstance(value, dict):
                raw[key] = {**value, **mine}
            elif mine is None:
                raw[key] = value
            else:
                raise ConfigError(f"include[{i}]: {name} sets {key}, which this config sets "
                                  f"too with another type")
    return raw


_WEAK_OVERRIDE = "dangerously_permit_weak_or_unset_master_key"


def _master_key(cfg: ProxyConfig, general: dict[str, Any], raw_general: dict[str, Any]
                ) -> None:
    """The master key: ``general_settings.master_key``, else ``$LLMRELAY_MASTER_KEY``, else
    ``$LITELLM_MASTER_KEY``. Whether it is strong enough is decided at start
    (:mod:`.startup`), as LiteLLM does, not here."""
    key = general.get("master_key")
    source = "general_settings.master_key"
    reference = raw_general.get("master_key")
    if isinstance(reference, str) and reference.startswith(_ENV_PREFIX):
        source = f"{source} ({reference}, {'set' if key is not None else 'NOT SET'})"
    if key is None and "master_key" not in raw_general:
        for var in ("LLMRELAY_MASTER_KEY", "LITELLM_MASTER_KEY"):
            if os.environ.get(var) is not None:
                key, source = os.environ[var], var
                break
    if key is not None and not isinstance(key, str):
        raise ConfigError(f"{source}: expected a string, got {type(key).__name__}")
    cfg.master_key, cfg.master_key_source = key, source
    permit = general.get(_WEAK_OVERRIDE)
    if permit is not None:
        cfg.permit_weak_master_key = as_bool(permit, f"general_settings.{_WEAK_OVERRIDE}")


def _database(cfg: ProxyConfig, general: dict[str, Any]) -> None:
    w = "general_settings"
    url = general.get("database_url") or os.environ.get("LLMRELAY_DATABASE_URL") or None
    if url is None and cfg.path is not None:
        url = os.environ.get("DATABASE_URL") or None  # LiteLLM's variable, with a config
    if url is not None:
        if not isinstance(url, str) or not url.startswith(
                ("sqlite://", "postgresql://", "postgres://")):
            raise ConfigError(f"{w}.database_url: expected sqlite:///path or "
                              f"postgresql://..., got {url!r}")
        cfg.database_url = url
    limit = general.get("database_connection_pool_limit")
    if limit is not None:
        cfg.database_options["pool_size"] = numeric(
            limit, f"{w}.database_connection_pool_limit", integer=True, positive=True)
    if general.get("database_disable_prepared_statements"):  # PgBouncer transaction mode
        cfg.database_options["prepared_statements"] = not as_bool(
            general["database_disable_prepared_statements"],
            f"{w}.database_disable_prepared_statements")
    for name in ("database_connection_timeout", "database_connect_timeout"):  # 2nd wins
        timeout = general.get(name)
        if timeout is not None:
            cfg.database_options["connect_timeout"] = float(numeric(
                timeout, f"{w}.{name}", positive=True))


_GENERAL_READ = frozenset({
    "master_key", _WEAK_OVERRIDE, "database_url", "database_connection_pool_limit",
    "database_connection_timeout", "database_connect_timeout", "max_request_size_mb",
    "database_disable_prepared_statements",
    "max_parallel_requests", "image_generation_model", "moderation_model",
    "default_team_disabled", "token_rate_limit_type",
    "global_max_parallel_requests", "allowed_routes", "allowed_ips", "use_x_forwarded_for",
    "litellm_key_header_name", "completion_model", "embedding_model", "enforce_user_param",
    "reject_clientside_metadata_tags", "pass_through_endpoints", "store_prompts_in_spend_logs",
    "disable_admin_ui",
    *LIMIT_KEYS, *POLICY_KEYS,  # request contract and limits: see contract/, limits.py
    *ACCOUNTING_KEYS})  # Redis, spool, failure policy, timeouts: accounting_config.py


def _general_settings(cfg: ProxyConfig, general: dict[str, Any], raw_general: dict[str, Any],
                      policy: _Policy) -> None:
    w = "general_settings"
    cfg.general_settings = dict(general)
    _master_key(cfg, general, raw_general)
    _database(cfg, general)
    size = general.get("max_request_size_mb")
    if size is not None:
        cfg.max_request_size = int(numeric(size, f"{w}.max_request_size_mb",
                                           positive=True) * 1024 * 1024)
    for name in ("max_parallel_requests", "global_max_parallel_requests"):
        if general.get(name) is not None:
            value = numeric(general[name], f"{w}.{name}", integer=True)
            setattr(cfg, name, value or None)  # 0 (the schema's placeholder): no limit
    for name in ("allowed_routes", "allowed_ips"):
        if general.get(name) is not None:
            setattr(cfg, name, string_list(general[name], f"{w}.{name}"))
    for name in ("use_x_forwarded_for", "enforce_user_param",
                 "reject_clientside_metadata_tags", "store_prompts_in_spend_logs",
                 "disable_admin_ui", "default_team_disabled"):
        if general.get(name) is not None:
            setattr(cfg, name, as_bool(general[name], f"{w}.{name}"))
    for name, attr in (("litellm_key_header_name", "key_header"),
                       ("completion_model", "completion_model"),
                       ("embedding_model", "embedding_model"),
                       ("image_generation_model", "image_generation_model"),
                       ("moderation_model", "moderation_model")):
        value = general.get(name)
        if value is not None:
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(f"{w}.{name}: expected a non-empty string, got {value!r}")
            setattr(cfg, attr, value.strip())
    counting = general.get("token_rate_limit_type")
    if counting not in (None, "total"):  # tpm limits count input + output tokens
        raise ConfigError(f"{w}.token_rate_limit_type: llmrelay counts total tokens for "
                          f"tpm limits; {counting!r} is not implemented (use total or remove "
                          f"it)")
    from .routes.passthrough import parse_endpoints

    cfg.pass_through_endpoints = parse_endpoints(general.get("pass_through_endpoints"))
    policy.rest(w, general, _GENERAL_READ)


_LITELLM_READ = frozenset({
    "callbacks", "success_callback", "failure_callback", "input_callback", "cache",
    "cache_params", "num_retries", "drop_params", "turn_off_message_logging",
    "request_timeout", "callback_timeout", "max_parallel_requests",
    "require_auth_for_metrics_endpoint", "custom_provider_map", "default_team_settings"})


def _litellm_settings(cfg: ProxyConfig, section_: dict[str, Any], base_dir: str,
                      policy: _Policy) -> None:
    from .config_router import LITELLM_ROUTER_KEYS, cache_params, redis_from_env

    w = "litellm_settings"
    for name in ("callbacks", "success_callback", "failure_callback", "input_callback"):
        found, unused = callbacks(section_.get(name), f"{w}.{name}", base_dir)
        setattr(cfg, name, found)
        cfg.unused.extend(unused)
    from .team_logging import team_callbacks

    cfg.team_callbacks = team_callbacks(section_.get("default_team_settings"),
                                        f"{w}.default_team_settings", base_dir, cfg.unused)
    if section_.get("custom_provider_map") is not None:
        custom_providers(section_["custom_provider_map"], f"{w}.custom_provider_map", base_dir)
    if section_.get("cache") is not None:
        cfg.cache = as_bool(section_["cache"], f"{w}.cache")
    params = section_.get("cache_params")
    if params is not None:
        if not isinstance(params, dict):
            raise ConfigError(f"{w}.cache_params: expected a mapping")
        cfg.cache_params = cache_params(params, f"{w}.cache_params", cfg.unused)
    if cfg.cache:
        cfg.cache_params = redis_from_env(cfg.cache_params)
    if section_.get("num_retries") is not None:
        cfg.settings["num_retries"] = as_number(section_["num_retries"], f"{w}.num_retries",
                                                integer=True)
    for flag in ("drop_params", "turn_off_message_logging"):
        if section_.get(flag) is not None:
            cfg.settings[flag] = as_bool(section_[flag], f"{w}.{flag}")
    for name in ("request_timeout", "callback_timeout"):
        if section_.get(name) is not None:
            cfg.settings[name] = float(as_number(section_[name], f"{w}.{name}",
                                                 positive=True))
    if section_.get("max_parallel_requests") is not None and cfg.max_parallel_requests is None:
        value = numeric(section_["max_parallel_requests"], f"{w}.max_parallel_requests",
                        integer=True)
        cfg.max_parallel_requests = value or None
    policy.rest(w, section_, _LITELLM_READ | LITELLM_ROUTER_KEYS)


def _top_level(cfg: ProxyConfig, raw: dict[str, Any], policy: _Policy) -> None:
    handled = {"model_list", "litellm_settings", "router_settings", "general_settings",
               "environment_variables", "credential_list"}
    policy.rest("", raw, handled)


def _passthrough_targets(general: dict[str, Any]) -> list[str]:
    """The pass-through targets, whose ``os.environ/`` variable must be set (a route
    forwarding to nowhere is a start-up error naming the variable)."""
    routes = general.get("pass_through_endpoints")
    if not isinstance(routes, list):
        return []
    return [f"general_settings.pass_through_endpoints[{i}].target" for i in range(len(routes))]


def _quiet_unused(cfg: ProxyConfig) -> None:
    """Unset ``os.environ/`` variables inside settings that have no effect anyway are not
    worth a warning each (the summary already lists those settings)."""
    unused = tuple(key for key, _ in cfg.unused)
    cfg.warnings = [w for w in cfg.warnings if not (
        "environment variable" in w
        and any(w.startswith((k + ".", k + "[")) for k in unused))]


def load_config(path: str | None = None) -> ProxyConfig:
    """Read, check and resolve the config at ``path`` (None: the embedded defaults).

    Imports ``module.attr`` callbacks from the config file's folder. Raises
    :class:`ConfigError` naming the key and the problem, or listing every refused key at
    once; keys with no effect are listed in ``unused``, unknown ones in ``warnings``.
    """
    from .config_router import build_router_settings, prepare_models

    raw: Any = {}
    base_dir = os.getcwd()
    if path is not None:
        raw = read_yaml(path)
        base_dir = os.path.dirname(os.path.abspath(path))
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise ConfigError(f"config file {path}: expected a mapping at the top level, got "
                              f"{type(raw).__name__}")
        raw = _include(raw, base_dir, {os.path.abspath(path)})
    cfg = ProxyConfig(path=path)
    policy = _Policy(cfg)
    for name, value in section(raw, "environment_variables").items():
        if value is not None:
            os.environ[str(name)] = str(value)
    raw_general = section(raw, "general_settings")
    # An unset variable for the database would quietly put keys and spend elsewhere.
    strict = {"general_settings.database_url", *_passthrough_targets(raw_general)}
    raw = resolve_env(raw, "", cfg.warnings, strict=strict)
    _top_level(cfg, raw, policy)
    data_dir = os.environ.get("LLMRELAY_DATA_DIR")
    cfg.sqlite_path = os.path.join(data_dir or ".", "llmrelay.db")
    _general_settings(cfg, section(raw, "general_settings"), raw_general, policy)
    litellm = section(raw, "litellm_settings")
    _litellm_settings(cfg, litellm, base_dir, policy)
    if raw.get("model_list") is None:
        cfg.model_list = check_models(resolve_env(default_model_list(), "", []), [])
        cfg.defaults = True
        if path is None:
            cfg.cache = True  # the embedded defaults include an in-memory cache
    else:
        cfg.model_list = check_models(raw["model_list"], cfg.warnings)
    router = section(raw, "router_settings")
    cfg.router_settings, plan = build_router_settings(cfg, litellm, router, policy)
    prepare_models(cfg, raw.get("credential_list"), plan, policy)
    try:
        cfg.accounting = _accounting(section(raw, "general_settings"), cfg.redis_settings,
                                     cfg.cache_params if cfg.cache else None, data_dir or ".")
    except AccountingConfigError as exc:
        raise ConfigError(str(exc)) from None
    policy.check()
    _quiet_unused(cfg)
    try:
        cfg.policy = policy_from(section(raw, "general_settings"),
                                 limits_from(section(raw, "general_settings")), litellm)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return cfg
