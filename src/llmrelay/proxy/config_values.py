"""Reading and checking config values: YAML, ``os.environ/`` references, numbers, flags,
callback lists and model list entries. Every problem is a :class:`ConfigError` whose
message names the key (``litellm_settings.num_retries: expected ...``)."""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

__all__ = ["ConfigError", "as_bool", "as_number", "callbacks", "check_models", "numeric",
           "read_yaml", "resolve_env", "section", "string_list"]

_ENV_PREFIX = "os.environ/"
_MODEL_ENTRY = {"model_name", "litellm_params", "model_info"}
_ROUTING = ("rpm", "tpm", "weight")
_PRICES = ("input_cost_per_token", "output_cost_per_token")


class ConfigError(ValueError):
    """The config cannot be used; the message names the key and the problem."""


def read_yaml(path: str) -> Any:
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


def resolve_env(value: Any, where: str, warnings: list[str],
                strict: set[str] | frozenset[str] = frozenset()) -> Any:
    """Replace ``os.environ/NAME`` strings anywhere in ``value`` (unset: None and a
    warning, or a :class:`ConfigError` for the keys in ``strict``)."""
    if isinstance(value, str) and value.startswith(_ENV_PREFIX):
        name = value[len(_ENV_PREFIX):]
        found = os.environ.get(name)
        if found is None:
            if where in strict:
                raise ConfigError(f"{where}: environment variable {name} is not set")
            warnings.append(f"{where}: environment variable {name} is not set; using null")
        return found
    if isinstance(value, dict):
        return {k: resolve_env(v, f"{where}.{k}" if where else str(k), warnings, strict)
                for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_env(v, f"{where}[{i}]", warnings, strict)
                for i, v in enumerate(value)]
    return value


def section(raw: dict[str, Any], name: str) -> dict[str, Any]:
    value = raw.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{name}: expected a mapping, got {type(value).__name__}")
    return value


def as_bool(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"  # os.environ/ values are strings
    raise ConfigError(f"{where}: expected true or false, got {value!r}")


def as_number(value: Any, where: str, *, integer: bool = False, positive: bool = False) -> Any:
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if not ok or isinstance(value, bool) or value < 0 or (positive and value == 0):
        kind = "integer" if integer else "number"
        sign = "positive" if positive else "non-negative"
        raise ConfigError(f"{where}: expected a {sign} {kind}, got {value!r}")
    return value


def numeric(value: Any, where: str, *, integer: bool = False, positive: bool = False) -> Any:
    """A number, also from a numeric string (``os.environ/`` values are strings)."""
    if isinstance(value, str):
        try:
            value = int(value) if integer else float(value)
        except ValueError:
            pass
    return as_number(value, where, integer=integer, positive=positive)


def string_list(value: Any, where: str) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(v, str) and v for v in items):
        raise ConfigError(f"{where}: expected a list of strings, got {value!r}")
    return list(items)


def check_models(models: Any, warnings: list[str]) -> list[dict[str, Any]]:
    """The ``model_list`` entries, their shape checked and prices made numbers."""
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
        warnings.extend(f"{where}.{k}: unknown key, ignored"
                        for k in sorted(str(k) for k in entry
                                        if k not in _MODEL_ENTRY and k not in _ROUTING))
        params, info = dict(params), dict(info)
        for key in _ROUTING:  # LiteLLM reads these next to litellm_params too
            if entry.get(key) is not None:
                params.setdefault(key, entry[key])
        for part, values in (("litellm_params", params), ("model_info", info)):
            for price in _PRICES:
                if values.get(price) is not None:
                    values[price] = numeric(values[price], f"{where}.{part}.{price}")
        out.append({"model_name": name, "litellm_params": params, "model_info": info})
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


def custom_providers(value: Any, where: str, base_dir: str) -> None:
    """LiteLLM's ``custom_provider_map``: ``[{provider: <name>, custom_handler:
    module.attribute}]``, each handler (a :class:`llmrelay.CustomLLM`) imported from the
    config's folder and registered as provider ``<name>`` (for ``model: <name>/...``)."""
    from ..providers.registry import set_custom_providers

    if not isinstance(value, list):
        raise ConfigError(f"{where}: expected a list of {{provider, custom_handler}}")
    entries = []
    for i, item in enumerate(value):
        handler = item.get("custom_handler") if isinstance(item, dict) else None
        if isinstance(handler, str):
            handler = _import_attr(handler, base_dir, f"{where}[{i}].custom_handler")
        entries.append({**item, "custom_handler": handler} if isinstance(item, dict) else item)
    try:
        set_custom_providers(entries)
    except ValueError as exc:
        raise ConfigError(str(exc).replace("custom_provider_map", where, 1)) from None


def callbacks(value: Any, where: str, base_dir: str
              ) -> tuple[list[Any], list[tuple[str, str]]]:
    """The callbacks of one list, and the LiteLLM integration names llmrelay does not have
    or cannot send to for lack of credentials (reported, not fatal). A name neither knows is a :class:`ConfigError` (a typo would
    otherwise log nothing, silently)."""
    from ..integrations.registry import (
        IntegrationError,
        UnconfiguredIntegration,
        get_integration,
        known_integrations,
    )
    from .litellm_keys import LITELLM_CALLBACKS

    if value is None:
        return [], []
    items = value if isinstance(value, list) else [value]
    out: list[Any] = []
    unused: list[tuple[str, str]] = []
    for i, item in enumerate(items):
        here = f"{where}[{i}]" if isinstance(value, list) else where
        if not isinstance(item, str) or not item:
            raise ConfigError(f"{here}: expected a callback name or module.attribute, got "
                              f"{item!r}")
        if "." in item:
            out.append(_import_attr(item, base_dir, here))
            continue
        if item not in known_integrations() and item in LITELLM_CALLBACKS:
            unused.append((f"{here}: {item}", "a LiteLLM integration llmrelay does not "
                                              "have; nothing is sent to it"))
            continue
        try:
            inst = get_integration(item)
        except IntegrationError as exc:
            raise ConfigError(f"{here}: {exc}") from exc
        if isinstance(inst, UnconfiguredIntegration):  # as LiteLLM: starts, cannot send
            unused.append((f"{here}: {item}", f"cannot send: {inst.reason}"))
            continue
        out.append(item)
    return out, unused
