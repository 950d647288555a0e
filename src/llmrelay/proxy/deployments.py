"""Model groups: what a client's ``model`` names, and how the proxy calls it.

A config's ``model_list`` entries sharing a ``model_name`` form one group; calls go through
:class:`llmrelay.router.Router` (load balancing, retries, cooldowns and fallbacks per
``router_settings``), so the library's callbacks fire once per request with the serving
deployment in their metadata. Per-deployment prices (``input_cost_per_token`` /
``output_cost_per_token`` in ``litellm_params`` or ``model_info``) become the proxy
client's ``model_prices`` (:func:`deployment_prices`), so spend is tracked for models the
price table lacks without touching the process-wide table.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from .._urls import mask_url

if TYPE_CHECKING:
    from .._client import Client

__all__ = ["Deployment", "ModelTable", "deployment_prices"]

_PRICE_KEYS = ("input_cost_per_token", "output_cost_per_token")


class Deployment:
    """One deployment as the proxy needs it: ids and names for spend records, and pricing."""

    __slots__ = ("api_base", "group", "id", "model", "model_name", "price_model",
                 "price_row", "prices", "provider")

    def __init__(self, dep: Any, prices: dict[str, dict[str, Any]] | None = None) -> None:
        from ..cost import custom_pricing

        self.prices = prices  # the proxy client's price overlay
        # the deployment's own base_model / prices, as the router prices its calls
        self.price_model, self.price_row = custom_pricing(
            (dep.config or {}).get("litellm_params"), dep.model_info)
        self.group: str = dep.model_name
        self.id: str = dep.id
        self.model: str = dep.model  # as configured, e.g. "openai/gpt-4o-mini"
        self.model_name: str = dep.provider_model  # the provider's own name
        self.provider: str = dep.provider
        self.api_base: str | None = mask_url(dep.api_base)  # as spend records show it

    def cost(self, usage: Any) -> float | None:
        """USD cost of ``usage`` on this deployment (None when unpriced)."""
        from ..cost import usage_cost

        return usage_cost(self.model_name, self.provider, usage, self.prices,
                          base_model=self.price_model, custom=self.price_row)


def deployment_prices(model_list: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Price rows (by the configured model string) of the deployments that set prices."""
    rows: dict[str, dict[str, Any]] = {}
    for entry in model_list:
        params, info = entry["litellm_params"], entry.get("model_info") or {}
        price = {k: params.get(k, info.get(k)) for k in _PRICE_KEYS}
        if any(v is not None for v in price.values()):
            rows[params["model"]] = {k: float(v or 0.0) for k, v in price.items()}
    return rows


class ModelTable:
    """The model groups of a config and the router that serves them.

    Raises ``ValueError`` (the router's ``RouterConfigError``) for an unusable model list
    or router setting; router warnings are collected in ``warnings``.
    """

    def __init__(self, model_list: list[dict[str, Any]],
                 router_settings: dict[str, Any] | None = None,
                 client: Client | None = None) -> None:
        from ..router import Router

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            self.router = Router(model_list=model_list, client=client,
                                 **(router_settings or {}))
        self.warnings = [f"router_settings: {w.message}" for w in caught]
        prices = client.settings.model_prices if client is not None else None
        self.groups: dict[str, list[Deployment]] = {
            group: [Deployment(d, prices) for d in deps]
            for group, deps in self.router.groups.items()}
        self.by_id = {d.id: d for deps in self.groups.values() for d in deps}

    def __contains__(self, name: object) -> bool:
        """Whether a request may name ``name``: a model group, an alias of one, or a name
        a wildcard group (``*``, ``openai/*``) matches."""
        return isinstance(name, str) and (name in self.groups
                                          or self.router.resolve(name) is not None)

    def names(self) -> list[str]:
        """What ``/v1/models`` lists: the model groups and the aliases that are not hidden
        (wildcard groups serve names nobody can list)."""
        aliases = [a for a, t in self.router.aliases.items()
                   if not t.hidden and a not in self.groups]
        return [g for g in self.groups if "*" not in g] + aliases

    def deployment_for(self, group: str | None, hidden: dict[str, Any] | None) -> Deployment:
        """The deployment that served a response (by ``model_id``), else the group's first."""
        if hidden:
            model_id = hidden.get("model_id")
            dep = self.by_id.get(model_id)  # type: ignore[arg-type]
            if dep is None and isinstance(model_id, str):
                found = self.router.get_deployment(model_id)  # a wildcard group's
                dep = Deployment(found) if found is not None else None
            if dep is not None:
                return dep
        if group in self.groups:
            return self.groups[group][0]
        resolved = self.router.resolve(group) if group else None
        deps = self.router.deployments(resolved) if resolved else []
        return Deployment(deps[0]) if deps else next(iter(self.by_id.values()))

    async def call(self, call_type: str, group: str, kwargs: dict[str, Any]) -> Any:
        """Call ``group`` with ``kwargs`` (``messages``/``prompt``/``input`` included).

        Returns the SDK's response (a stream wrapper when ``stream=True``); raises
        :class:`~llmrelay.exceptions.LLMRelayError` subclasses for upstream failures.
        """
        router = self.router
        if call_type == "completion":
            return await router.acompletion(group, **kwargs)
        if call_type == "embeddings":
            return await router.aembedding(group, **kwargs)
        if call_type == "text_completion":
            return await router.atext_completion(group, **kwargs)
        # the other surfaces: the router's "a" + call type, arguments by name
        return await getattr(router, "a" + call_type)(model=group, **kwargs)
