"""The Router's public methods beyond calling: what it holds, what a deployment or group
can do, changing the model list, and resetting its state (LiteLLM's names).

A mixin of :class:`~llmrelay.Router`; it reads the router's ``groups``, ``_by_id`` and
``health`` and never calls a model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..callbacks.custom_logger import CustomLogger
from ..callbacks.registry import hook_methods, overridden, resolve
from ..cost import get_model_info as _table_info
from ..exceptions import (
    AuthenticationError,
    ContentPolicyViolationError,
    ContextWindowExceededError,
    LLMRelayError,
    NotFoundError,
    PermissionDeniedError,
)
from .config import Deployment, Params, as_entry, expand_organizations, load_model_list
from .health import _CALLERS_FAULT, Health

if TYPE_CHECKING:
    from ..caching.dual import DualCache
    from .policies import AllowedFailsPolicy, RetryPolicy

__all__ = ["RouterQueries"]

_CREDENTIALS = ("api_key", "api_base", "api_version", "organization", "azure_ad_token",
                "aws_access_key_id", "aws_secret_access_key", "aws_region_name",
                "vertex_project", "vertex_location", "vertex_credentials")
# model_info keys that override the table for one deployment
_OVERRIDES = ("max_tokens", "max_input_tokens", "max_output_tokens", "input_cost_per_token",
              "output_cost_per_token", "mode")


def _entry_of(deployment: Any) -> dict[str, Any]:
    """A deployment to add as a ``model_list`` entry."""
    if isinstance(deployment, Deployment):
        return deployment.describe()
    entry = as_entry(deployment) or {}
    for part in ("litellm_params", "model_info"):
        if entry.get(part) is not None:
            entry[part] = as_entry(entry[part])
    return entry


def _info_for(dep: Deployment, model_name: str | None = None) -> dict[str, Any]:
    """The table's row for the deployment's model (``model_info.base_model`` first, as for
    Azure deployments named by the customer; for a wildcard entry, ``model_name``, the
    model it would serve), with the deployment's own overrides."""
    info: dict[str, Any] = {}
    served = model_name if model_name and "*" in dep.model else None
    for name in (dep.model_info.get("base_model"), served, dep.model, dep.provider_model):
        if not name:
            continue
        try:
            info = _table_info(str(name), custom_llm_provider=dep.provider)
            break
        except LLMRelayError:
            continue
    lp = dep.config.get("litellm_params") or {}
    for key in _OVERRIDES:
        for source in (dep.model_info, lp):
            if source.get(key) is not None:
                info[key] = source[key]
    info.setdefault("mode", "chat")
    info["id"] = dep.id
    info["provider"] = info["litellm_provider"] = dep.provider
    return info


class RouterQueries:
    """Introspection and model-list changes for :class:`~llmrelay.Router`."""

    if TYPE_CHECKING:  # provided by Router
        groups: dict[str, list[Deployment]]
        _by_id: dict[str, Deployment]
        health: Health
        cache: DualCache
        routing_strategy: str
        num_retries: int | None
        retry_after: float
        timeout: float | None
        allowed_fails: int
        cooldown_time: float
        fallbacks: dict[str, list[str]]
        context_window_fallbacks: dict[str, list[str]]
        content_policy_fallbacks: dict[str, list[str]]
        default_fallbacks: list[str]
        retry_policy: RetryPolicy | None
        allowed_fails_policy: AllowedFailsPolicy | None

        def get_model_list(self, model_name: str | None = None) -> list[dict[str, Any]]: ...

        def get_deployment(self, model_id: str) -> Deployment | None: ...

    # ---- what the router holds --------------------------------------------------------------
    @property
    def model_list(self) -> list[dict[str, Any]]:
        """Every deployment entry, as :meth:`get_model_list` gives them."""
        return self.get_model_list()

    def get_model_ids(self, model_name: str | None = None) -> list[str]:
        """The deployment ids, optionally of one model group."""
        return [d.id for g, deps in self.groups.items() for d in deps
                if model_name is None or g == model_name]

    def get_model_info(self, id: str) -> dict[str, Any] | None:
        """The entry of deployment ``id`` (None if there is none)."""
        dep = self._by_id.get(id)
        return dep.describe() if dep is not None else None

    def get_deployment_model_info(self, model_id: str,
                                  model_name: str | None = None) -> dict[str, Any] | None:
        """What deployment ``model_id`` can do and costs: its model's row in the table,
        with the deployment's ``model_info`` overrides (None for an unknown id)."""
        dep = self.get_deployment(model_id)
        return _info_for(dep, model_name) if dep is not None else None

    def get_router_model_info(self, deployment: dict[str, Any],
                              received_model_name: str | None = None,
                              id: str | None = None) -> dict[str, Any]:
        """:meth:`get_deployment_model_info` for a deployment entry (as
        :meth:`get_model_list` returns them)."""
        dep_id = id or (deployment.get("model_info") or {}).get("id")
        dep = self._by_id.get(str(dep_id)) if dep_id else None
        if dep is None:
            dep = load_model_list([deployment])[str(deployment.get("model_name"))][0]
        return _info_for(dep)

    def get_model_group_info(self, model_group: str) -> dict[str, Any] | None:
        """What a model group offers: its providers, the smallest context window and
        output limit of its deployments, the highest prices, their summed rpm/tpm, and the
        ``supports_*`` flags all of them share (None for an unknown group). A dict whose
        keys also read as attributes (``info.model_group``), as LiteLLM's object."""
        deps = self.groups.get(model_group)
        if not deps:
            return None
        infos = [_info_for(d) for d in deps]
        out: dict[str, Any] = {"model_group": model_group,
                               "providers": sorted({d.provider for d in deps}),
                               "mode": infos[0].get("mode", "chat")}
        for key, pick in (("max_input_tokens", min), ("max_output_tokens", min),
                          ("input_cost_per_token", max), ("output_cost_per_token", max)):
            values = [i[key] for i in infos if i.get(key) is not None]
            out[key] = pick(values) if values else None
        for key in ("rpm", "tpm"):
            values = [getattr(d, key) for d in deps if getattr(d, key) is not None]
            out[key] = sum(values) if values else None
        flags = {k for i in infos for k in i if k.startswith("supports_")}
        for flag in sorted(flags):
            out[flag] = all(bool(i.get(flag)) for i in infos)
        return Params(out)

    def get_model_access_groups(self, model_name: str | None = None,
                                model_access_group: str | None = None
                                ) -> dict[str, list[str]]:
        """Access group -> the model groups in it (from ``model_info.access_groups``)."""
        out: dict[str, list[str]] = {}
        for group, deps in self.groups.items():
            if model_name is not None and group != model_name:
                continue
            for dep in deps:
                for access in dep.model_info.get("access_groups") or []:
                    if model_access_group is not None and access != model_access_group:
                        continue
                    names = out.setdefault(str(access), [])
                    if group not in names:
                        names.append(group)
        return out

    def get_deployment_credentials(self, model_id: str) -> dict[str, Any] | None:
        """The credentials deployment ``model_id`` calls with (resolved secrets)."""
        dep = self.get_deployment(model_id)
        if dep is None:
            return None
        return {k: dep.params[k] for k in _CREDENTIALS if dep.params.get(k) is not None}

    def get_settings(self) -> dict[str, Any]:
        """The router's settings, as LiteLLM's ``get_settings`` names them."""
        return {"routing_strategy": self.routing_strategy, "num_retries": self.num_retries,
                "retry_after": self.retry_after, "timeout": self.timeout,
                "allowed_fails": self.allowed_fails, "cooldown_time": self.cooldown_time,
                "fallbacks": [{k: v} for k, v in self.fallbacks.items()],
                "context_window_fallbacks": [{k: v} for k, v in
                                             self.context_window_fallbacks.items()],
                "content_policy_fallbacks": [{k: v} for k, v in
                                             self.content_policy_fallbacks.items()],
                "default_fallbacks": list(self.default_fallbacks),
                "retry_policy": self.retry_policy, "allowed_fails_policy":
                self.allowed_fails_policy}

    def should_retry_this_error(self, error: BaseException,
                                healthy_deployments: list[Any] | None = None,
                                context_window_fallbacks: list[Any] | None = None,
                                regular_fallbacks: list[Any] | None = None,
                                content_policy_fallbacks: list[Any] | None = None,
                                all_deployments: list[Any] | None = None) -> bool:
        """LiteLLM's retry question for an error a deployment raised: True when another
        attempt may help, else ``error`` is raised. Raised: errors of the request itself
        (a bad request, an unprocessable one; a model that does not exist), a context-window
        or content-policy error when such fallbacks are given (the fallback serves it, not a
        retry), and any error when ``healthy_deployments`` is given and empty (no
        deployment is left to try). ``regular_fallbacks`` and ``all_deployments`` are
        accepted for LiteLLM's signature."""
        if isinstance(error, ContextWindowExceededError) and context_window_fallbacks:
            raise error
        if isinstance(error, ContentPolicyViolationError) and content_policy_fallbacks:
            raise error
        if isinstance(error, (NotFoundError, *_CALLERS_FAULT)):
            raise error
        if (isinstance(error, (AuthenticationError, PermissionDeniedError))
                and all_deployments is not None and len(all_deployments) <= 1):
            raise error  # refused credentials: only another deployment may accept them
        if healthy_deployments is not None and len(healthy_deployments) == 0:
            raise error
        return True

    def routing_strategy_pre_call_checks(self, deployment: Any) -> None:
        """The deployment checks of the router's loggers (its client's ``callbacks``): each
        :class:`~llmrelay.CustomLogger` overriding ``pre_call_check(deployment)`` is called
        in list order. The router runs this just before a sync call's request to a
        deployment it picked for a model group (not when the caller named a deployment id).
        Whatever a check raises fails that attempt as if the deployment had answered with it
        (a :class:`~llmrelay.RateLimitError` moves the call to another deployment and counts
        toward the refused one's cooldown)."""
        for check in hook_methods(self._check_loggers(), "pre_call_check"):
            check(deployment)

    async def async_routing_strategy_pre_call_checks(self, deployment: Any,
                                                     parent_otel_span: Any = None,
                                                     logging_obj: Any = None) -> None:
        """Async :meth:`routing_strategy_pre_call_checks`: each logger's
        ``async_pre_call_check(deployment, parent_otel_span)``, or its ``pre_call_check``
        when it overrides only that. ``logging_obj`` is accepted for LiteLLM's signature."""
        for logger in self._check_loggers():
            names = overridden(logger) if isinstance(logger, CustomLogger) else ()
            if "async_pre_call_check" in names:
                await logger.async_pre_call_check(deployment, parent_otel_span)
            elif "pre_call_check" in names:
                logger.pre_call_check(deployment)

    def _check_loggers(self) -> list[Any]:
        entries = self.client.settings.callbacks or ()  # type: ignore[attr-defined]
        return [obj for obj in map(resolve, entries) if isinstance(obj, CustomLogger)]

    def log_retry(self, kwargs: dict[str, Any], e: BaseException) -> dict[str, Any]:
        """Record one failed attempt in ``kwargs["metadata"]["previous_models"]`` (what
        callbacks of the later attempts see, LiteLLM's name): the attempt's fields
        (``kwargs`` without ``metadata``) with ``exception_type`` and ``exception_string``.
        The router calls it for each failed attempt a retry or a fallback follows; returns
        ``kwargs``."""
        md = kwargs.get("metadata")
        if not isinstance(md, dict):
            md = kwargs["metadata"] = {}
        previous = md.get("previous_models")
        if not isinstance(previous, list):
            previous = md["previous_models"] = []
        entry = {k: v for k, v in kwargs.items() if k != "metadata"}
        entry.update(exception_type=type(e).__name__, exception_string=str(e))
        previous.append(entry)
        return kwargs

    async def get_model_group_usage(self, model_group: str
                                    ) -> tuple[int | None, int | None]:
        """(tokens, requests) used by the group in the last minute (None where nothing
        is counted: see :mod:`llmrelay.router.health`)."""
        deps = self.groups.get(model_group) or []
        tokens = [self.health.tokens_used(d.id) for d in deps if self.health.counts_tokens(d)]
        reqs = [self.health.requests_used(d.id) for d in deps if d.rpm is not None]
        return (sum(tokens) if tokens else None, sum(reqs) if reqs else None)

    # ---- changing the model list --------------------------------------------------------------
    def set_model_list(self, model_list: list[dict[str, Any]]) -> None:
        """Replace every deployment (raises :class:`RouterConfigError` as the constructor)."""
        self.groups = load_model_list(expand_organizations(model_list))
        self._by_id = {d.id: d for deps in self.groups.values() for d in deps}

    def add_deployment(self, deployment: Any) -> Deployment | None:
        """Add one deployment entry (a dict, a :class:`Deployment`, or LiteLLM's pydantic
        ``Deployment``: anything with ``model_dump()``); None when a deployment with its id
        is already there."""
        entry = _entry_of(deployment)
        dep = load_model_list([entry])[str(entry.get("model_name"))][0]
        if dep.id in self._by_id:
            return None
        self.groups.setdefault(dep.model_name, []).append(dep)
        self._by_id[dep.id] = dep
        return dep

    def upsert_deployment(self, deployment: Any) -> Deployment | None:
        """Add the deployment, or replace the one with its id."""
        entry = _entry_of(deployment)
        dep = load_model_list([entry])[str(entry.get("model_name"))][0]
        self.delete_deployment(dep.id)
        return self.add_deployment(entry)

    def delete_deployment(self, id: str) -> Deployment | None:
        """Remove deployment ``id``; returns it (None if there was none)."""
        dep = self._by_id.pop(id, None)
        if dep is not None:
            deps = self.groups.get(dep.model_name, [])
            deps[:] = [d for d in deps if d.id != id]
            if not deps:
                self.groups.pop(dep.model_name, None)
        return dep

    # ---- state ------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget what the router learned: cooldowns, usage windows, latencies and
        in-flight counts. (LiteLLM's ``reset`` also empties the global callback lists;
        llmrelay leaves your callbacks alone.)"""
        old = self.health
        self.health = Health(old.allowed_fails, old.cooldown_time, old.alpha,
                             track_tokens=old.track_tokens, latency_ttl=old.latency_ttl,
                             max_parallel=old.max_parallel, usage_limits=old.usage_limits)
        self.health.on_cooldown = old.on_cooldown

    def flush_cache(self) -> None:
        """Empty the router's key/value cache."""
        self.cache.flush_cache()
