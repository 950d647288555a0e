"""Reading a LiteLLM-style ``model_list`` into :class:`Deployment` objects.

Each entry is ``{"model_name": <group>, "litellm_params": {...}, "model_info": {...}}``.
``litellm_params["model"]`` names the provider model (``"openai/gpt-4o"``); every other key
is a default keyword argument for calls routed to that deployment (``api_key``,
``api_base``, ``timeout``, ``temperature`` ...), except the routing keys ``rpm``, ``tpm``,
``weight`` (also accepted next to ``litellm_params`` or in ``model_info``) and the
config-only keys in :data:`CONFIG_ONLY` that are never sent upstream. String values of the
form ``"os.environ/NAME"`` are replaced by that environment variable when the router is
built; a variable that is not set raises :class:`RouterConfigError` naming it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..cost import Row, custom_pricing
from ..exceptions import LLMRelayError
from ..providers.registry import ProviderSpec, resolve_model

__all__ = ["CONFIG_ONLY", "Deployment", "LiteLLM_Params", "ModelInfo", "RouterConfigError",
           "as_entry", "entry_id",
           "expand_organizations", "load_model_list", "parse_fallbacks", "resolve_env"]

_log = logging.getLogger("llmrelay")
ENV_PREFIX = "os.environ/"
_ROUTING_KEYS = ("rpm", "tpm", "weight")
# Keys LiteLLM configs carry that describe the deployment rather than the request.
CONFIG_ONLY = frozenset({
    "model", "rpm", "tpm", "weight", "order", "max_retries", "num_retries",
    "input_cost_per_token", "output_cost_per_token", "input_cost_per_second",
    "output_cost_per_second", "max_parallel_requests", "region_name", "tags",
    "use_in_pass_through", "use_litellm_proxy", "merge_reasoning_content_in_choices",
    "litellm_credential_name", "configurable_clientside_auth_params", "max_budget",
    "budget_duration", "stream_timeout", "cooldown_time", "base_model", "cache_read_input_token_cost",
    "cache_creation_input_token_cost", "output_cost_per_reasoning_token",
})


class RouterConfigError(ValueError):
    """A ``model_list`` or router setting that cannot work (raised when the router is built)."""


@dataclass(init=False)
class Deployment:
    """One configured deployment of a model group.

    Also built as LiteLLM builds one for ``Router.add_deployment``:
    ``Deployment(model_name=..., litellm_params=LiteLLM_Params(model=...),
    model_info=ModelInfo(...))`` (``litellm_params`` and ``model_info`` may be dicts or
    objects with ``model_dump()``); it is then read like a ``model_list`` entry, and raises
    :class:`RouterConfigError` as one would."""

    id: str
    model_name: str  # the model group callers ask for
    model: str  # the configured model string, e.g. "openai/gpt-4o"
    spec: ProviderSpec
    provider_model: str  # the provider's own model name (no "provider/" prefix)
    params: dict[str, Any] = field(repr=False)  # default call kwargs, secrets resolved
    model_info: dict[str, Any]
    rpm: int | None = None
    tpm: int | None = None
    weight: float | None = None
    inner_retries: int = 0  # retries of the same request inside one attempt
    config: dict[str, Any] = field(default_factory=dict, repr=False)  # the entry as given
    # Why llmrelay cannot call this deployment (a provider it does not serve), raised when
    # the deployment is picked; the rest of the router works.
    error: LLMRelayError | None = field(default=None, repr=False)
    max_parallel: int | None = None  # requests in flight at once (max_parallel_requests)
    order: int | None = None  # priority in the group: the lowest ready order serves

    def __init__(self, id: str | None = None, model_name: str = "", model: str | None = None,
                 spec: ProviderSpec | None = None, provider_model: str | None = None,
                 params: dict[str, Any] | None = None, model_info: Any = None,
                 rpm: int | None = None, tpm: int | None = None, weight: float | None = None,
                 inner_retries: int = 0, config: dict[str, Any] | None = None,
                 error: LLMRelayError | None = None, max_parallel: int | None = None,
                 order: int | None = None, *, litellm_params: Any = None) -> None:
        if spec is None:  # LiteLLM's form: an entry to read
            info = as_entry(model_info) or {}
            if id is not None:
                info.setdefault("id", id)
            entry = {"model_name": model_name, "litellm_params": as_entry(litellm_params),
                     "model_info": info}
            self.__dict__.update(_deployment(0, entry).__dict__)
            return
        self.id, self.model_name, self.spec = str(id), model_name, spec
        self.model = model if model is not None else provider_model or ""
        self.provider_model = provider_model if provider_model is not None else self.model
        self.params = params if params is not None else {}
        self.model_info = model_info if isinstance(model_info, dict) else (
            as_entry(model_info) or {})
        self.rpm, self.tpm, self.weight, self.order = rpm, tpm, weight, order
        self.inner_retries, self.max_parallel, self.error = inner_retries, max_parallel, error
        self.config = config if config is not None else {}

    @property
    def provider(self) -> str:
        return self.spec.name

    @functools.cached_property
    def pricing(self) -> tuple[str | None, Row | None]:
        """How the deployment's own settings price its calls (``base_model``, custom
        prices from ``litellm_params`` then ``model_info``: :func:`~llmrelay.cost.custom_pricing`),
        worked out on first use; a call's own pricing arguments come first when it has
        any."""
        return custom_pricing(self.config.get("litellm_params"), self.model_info)

    @property
    def api_base(self) -> str | None:
        base = self.params.get("api_base") or self.params.get("base_url")
        return str(base) if base else None

    def describe(self) -> dict[str, Any]:
        """The entry as configured (``os.environ/`` references unresolved) with its id."""
        entry = json.loads(json.dumps(self.config, default=str))
        entry.setdefault("model_info", {})["id"] = self.id
        return dict(entry)

    # ---- LiteLLM's view of a deployment: a dict with attribute access ------------------------
    @property
    def litellm_params(self) -> Params:
        """The call settings with secrets resolved (``.model``, ``.api_key`` ...)."""
        lp = self.config.get("litellm_params") or {}
        return Params({**self.params, **{k: v for k, v in lp.items() if k in CONFIG_ONLY
                                         and not _is_env(v)}, "model": self.model})

    def to_json(self, **_: Any) -> dict[str, Any]:
        """The entry as :meth:`describe` gives it (LiteLLM's ``Deployment.to_json``)."""
        return self.describe()

    model_dump = to_json

    def __getitem__(self, key: str) -> Any:
        if key == "litellm_params":
            return self.litellm_params
        if key in ("model_name", "model_info"):
            return getattr(self, key)
        return self.describe()[key]

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default


class Params(dict[str, Any]):
    """A dict whose keys also read as attributes (absent ones read None)."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self.get(name)

    def model_dump(self, **_: Any) -> dict[str, Any]:
        """The keys set, as a plain dict (LiteLLM's pydantic spelling)."""
        return dict(self)


class LiteLLM_Params(Params):  # LiteLLM's class name
    """A deployment's call settings, as LiteLLM spells them for ``Deployment``:
    ``LiteLLM_Params(model="openai/gpt-4o", api_key=..., rpm=...)``; a dict."""

    def __init__(self, model: str, **params: Any) -> None:
        super().__init__(model=model, **{k: v for k, v in params.items() if v is not None})


class ModelInfo(Params):
    """A deployment's ``model_info`` (``id``, ``base_model``, ``mode``, limits and prices
    ...), as LiteLLM spells it: ``ModelInfo(id="my-id")``; a dict of the keys given (the
    router gives a deployment without ``id`` one of its own)."""

    def __init__(self, id: str | None = None, **info: Any) -> None:
        super().__init__({k: v for k, v in {"id": id, **info}.items() if v is not None})


def as_entry(value: Any) -> dict[str, Any] | None:
    """A deployment part (``litellm_params``, ``model_info``, a whole entry) as a plain dict:
    a mapping as is, an object with pydantic's ``model_dump()`` (or ``dict()``) dumped
    without its unset values; None stays None."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        return dict(value)
    for method in ("model_dump", "dict"):
        dump = getattr(value, method, None)
        if callable(dump):
            try:
                out = dump(exclude_none=True)
            except TypeError:
                out = dump()
            if isinstance(out, Mapping):
                return dict(out)
    raise RouterConfigError(f"a deployment part must be a dict or a pydantic model, got "
                            f"{type(value).__name__}")


def _is_env(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(ENV_PREFIX)


def resolve_env(value: Any, where: str) -> Any:
    """``"os.environ/NAME"`` -> the value of ``NAME`` (also inside dicts and lists)."""
    if isinstance(value, str) and value.startswith(ENV_PREFIX):
        name = value[len(ENV_PREFIX):]
        if not name:
            raise RouterConfigError(f"{where}: {value!r} does not name an environment variable")
        found = os.environ.get(name)
        if found is None:
            raise RouterConfigError(
                f"{where} refers to environment variable {name} ({value!r}), which is not set")
        return found
    if isinstance(value, Mapping):
        return {k: resolve_env(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_env(v, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


def expand_organizations(model_list: Iterable[Any]) -> list[Any]:
    """LiteLLM's multi-organisation entries: an entry whose ``litellm_params.organization``
    is a list stands for one deployment per organisation (a given ``model_info.id`` gets
    the organisation appended, so ids stay unique)."""
    out: list[Any] = []
    for entry in model_list:
        lp = entry.get("litellm_params") if isinstance(entry, Mapping) else None
        orgs = lp.get("organization") if isinstance(lp, Mapping) else None
        if not isinstance(orgs, list) or not isinstance(lp, Mapping):
            out.append(entry)
            continue
        for org in orgs:
            info = dict(entry.get("model_info") or {})
            if info.get("id"):
                info["id"] = f"{info['id']}-{org}"
            out.append({**entry, "litellm_params": {**lp, "organization": org},
                        "model_info": info})
    return out


def entry_id(entry: Mapping[str, Any]) -> str:
    """A deployment entry's id: its ``model_info.id``, else a hash of the entry."""
    given = (entry.get("model_info") or {}).get("id")
    return str(given) if given else _stable_id(entry)


def _stable_id(entry: Mapping[str, Any]) -> str:
    text = json.dumps({"model_name": entry.get("model_name"),
                       "litellm_params": entry.get("litellm_params")},
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def _number(value: Any, key: str, where: str, integer: bool) -> Any:
    if value is None:
        return None
    try:
        number = int(value) if integer else float(value)
    except (TypeError, ValueError):
        raise RouterConfigError(f"{where}: {key} must be a number, got {value!r}") from None
    if number < 0:
        raise RouterConfigError(f"{where}: {key} must not be negative, got {value!r}")
    return number


def _routing_value(key: str, entry: Mapping[str, Any], lp: Mapping[str, Any],
                   info: Mapping[str, Any]) -> Any:
    for source in (lp, entry, info):
        if source.get(key) is not None:
            return source[key]
    return None


def _deployment(index: int, entry: Any, quiet: bool = False) -> Deployment:
    where = f"model_list[{index}]"
    if not isinstance(entry, Mapping):
        raise RouterConfigError(f"{where} must be a dict with 'model_name' and "
                                f"'litellm_params', got {type(entry).__name__}")
    group = entry.get("model_name")
    if not isinstance(group, str) or not group:
        raise RouterConfigError(f"{where} has no 'model_name' (the group name callers use)")
    where = f"{where} (model_name {group!r})"
    raw_lp = entry.get("litellm_params")
    if not isinstance(raw_lp, Mapping) or not raw_lp.get("model"):
        raise RouterConfigError(f"{where} needs litellm_params with a 'model', e.g. "
                                f"{{'model': 'openai/gpt-4o'}}")
    lp = resolve_env(dict(raw_lp), f"{where} litellm_params")
    info = dict(entry.get("model_info") or {})
    model = str(lp["model"])
    error: LLMRelayError | None = None
    try:
        spec, provider_model = resolve_model(model, lp.get("custom_llm_provider"))
    except LLMRelayError as exc:  # kept: the router serves its other deployments
        spec, provider_model = _unserved(model, lp.get("custom_llm_provider")), model
        error = exc
        if not quiet:
            _log.warning("%s: %s; requests routed to this deployment will fail", where,
                         exc.message)
    retries = lp.get("max_retries", lp.get("num_retries"))
    return Deployment(
        id=entry_id(entry),
        model_name=group, model=model, spec=spec, provider_model=provider_model,
        params={k: v for k, v in lp.items() if k not in CONFIG_ONLY},
        model_info=info,
        rpm=_number(_routing_value("rpm", entry, lp, info), "rpm", where, True),
        tpm=_number(_routing_value("tpm", entry, lp, info), "tpm", where, True),
        weight=_number(_routing_value("weight", entry, lp, info), "weight", where, False),
        inner_retries=int(_number(retries, "max_retries", where, True) or 0),
        config=dict(entry),
        error=error,
        max_parallel=_number(lp.get("max_parallel_requests"), "max_parallel_requests", where,
                             True) or None,
        order=_number(_routing_value("order", entry, lp, info), "order", where, True),
    )


def _unserved(model: str, provider: str | None) -> ProviderSpec:
    """A stand-in row for a deployment of a provider llmrelay does not serve."""
    head, sep, _ = model.partition("/")
    return ProviderSpec(provider or (head if sep else "unknown"), "unserved", None,
                        requires_key=False)


def load_model_list(model_list: Iterable[Any]) -> dict[str, list[Deployment]]:
    """Group the entries by ``model_name``, in configuration order.

    Raises :class:`RouterConfigError` for a malformed entry, an unset ``os.environ/``
    variable or two deployments given the same ``model_info.id``. A deployment of a
    provider llmrelay does not serve is kept (with a warning): picking it fails that
    attempt with the error naming the provider, so retries and fallbacks apply.
    """
    if isinstance(model_list, (str, bytes, Mapping)) or model_list is None:
        raise RouterConfigError("model_list must be a list of deployment dicts")
    groups: dict[str, list[Deployment]] = {}
    ids: dict[str, int] = {}
    for index, entry in enumerate(model_list):
        dep = _deployment(index, entry)
        if dep.id in ids:
            if (entry.get("model_info") or {}).get("id"):
                raise RouterConfigError(
                    f"model_list[{index}] reuses model_info.id {dep.id!r} of "
                    f"model_list[{ids[dep.id]}]; deployment ids must be unique")
            dep.id = f"{dep.id}-{index}"  # the same deployment listed twice (double weight)
        ids[dep.id] = index
        dep.model_info["id"] = dep.id
        groups.setdefault(dep.model_name, []).append(dep)
    _register_prices([d for deps in groups.values() for d in deps])
    return groups


def _register_prices(deps: list[Deployment]) -> None:
    """A deployment with prices of its own (``input_cost_per_token`` ... in its
    ``litellm_params`` or ``model_info``) is in the model table under its id, as LiteLLM
    registers it: ``get_model_info(<id>)`` and ``completion_cost(model=<id>)`` find it."""
    from ..cost import custom_pricing, register_model

    rows: dict[str, dict[str, Any]] = {}
    for dep in deps:
        _, row = custom_pricing(dep.model_info, dep.config.get("litellm_params"))
        if row:
            rows[dep.id] = {**{k: v for k, v in dep.model_info.items() if k != "id"},
                            **row, "provider": dep.provider}
    if rows:
        register_model(rows)


def parse_fallbacks(value: Any, name: str, groups: Sequence[str] | None = None
                    ) -> dict[str, list[str]]:
    """``[{"gpt-4o": ["claude"]}, ...]`` (or one dict) -> ``{"gpt-4o": ["claude"]}``.

    With ``groups`` given, names that are not model groups raise :class:`RouterConfigError`
    (the key ``"*"`` stands for every group).
    """
    if not value:
        return {}
    items = [value] if isinstance(value, Mapping) else value
    if not isinstance(items, list):
        raise RouterConfigError(f"{name} must be a list of {{group: [fallback groups]}} dicts")
    out: dict[str, list[str]] = {}
    for item in items:
        if not isinstance(item, Mapping):
            raise RouterConfigError(f"{name} entries must be dicts like "
                                    f"{{'gpt-4o': ['claude-3-5-sonnet']}}, got {item!r}")
        for key, targets in item.items():
            names = [targets] if isinstance(targets, str) else list(targets or [])
            out.setdefault(str(key), []).extend(str(t) for t in names)
    if groups is not None:
        known = set(groups)
        for key, targets in out.items():
            unknown = [n for n in [key, *targets] if n not in known and n != "*"]
            if unknown:
                raise RouterConfigError(
                    f"{name} names unknown model group(s) {', '.join(map(repr, unknown))}; "
                    f"model groups: {', '.join(sorted(known))}")
    return out
