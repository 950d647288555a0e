"""Router: load balancing, retries, cooldowns and fallbacks over a LiteLLM-style model list.

::

    router = llmrelay.Router(model_list=[
        {"model_name": "gpt-4o", "litellm_params": {"model": "azure/gpt-4o-eu",
            "api_key": "os.environ/AZURE_EU_KEY", "api_base": "https://eu.example", "rpm": 600}},
        {"model_name": "gpt-4o", "litellm_params": {"model": "openai/gpt-4o", "rpm": 300}},
        {"model_name": "claude", "litellm_params": {"model": "anthropic/claude-3-5-sonnet"}},
    ], fallbacks=[{"gpt-4o": ["claude"]}], num_retries=2)
    r = router.completion(model="gpt-4o", messages=[{"role": "user", "content": "Hi"}])

A router call goes through the llmrelay client pipeline with the router as its outermost
layer (see :mod:`.layer`): callbacks configured on ``llmrelay`` (or on the ``client=``
given) receive ONE terminal event per router call, with ``kwargs["attempts"]`` listing
every attempt and ``kwargs["litellm_params"]["metadata"]`` naming the ``model_group``,
``model_id`` and ``deployment`` that served it. CustomLoggers overriding
``log_success_fallback_event`` / ``log_failure_fallback_event`` hear about fallbacks, in the
background. Deployment health (cooldowns, rpm/tpm windows, latency) is described in
:mod:`.health`, routing strategies in :mod:`.strategies`.
"""

from __future__ import annotations

import sys
import threading
import warnings
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from .._client import CallContext, Client, default_client
from ..caching.dual import DualCache
from ..exceptions import (
    BadRequestError,
    ContentPolicyViolationError,
    ContextWindowExceededError,
    InternalServerError,
    LLMRelayError,
)
from ..providers.registry import resolve_model
from .batching import RouterBatch
from .config import (
    Deployment,
    RouterConfigError,
    _deployment,
    entry_id,
    expand_organizations,
    load_model_list,
    parse_fallbacks,
    resolve_env,
)
from .cooldowns import CooldownCache
from .health import Health
from .layer import RouterCall
from .names import MAX_DERIVED, Alias, Pattern, parse_aliases, pattern_entries
from .policies import AllowedFailsPolicy, RetryPolicy, as_policy
from .queries import RouterQueries
from .strategies import ENFORCES_USAGE_LIMITS, STRATEGIES, USES_TOKENS, strategy_names, with_args
from .surfaces import RouterSurfaces

__all__ = ["Router"]

_PER_CALL = ("fallbacks", "context_window_fallbacks", "content_policy_fallbacks")
_DEFAULT_RETRIES = 2


class Router(RouterQueries, RouterBatch, RouterSurfaces):
    """Route calls for model groups to their deployments.

    ``model_list``: LiteLLM-style entries (see :mod:`.config`); several entries may share
    a ``model_name``. ``routing_strategy``: ``simple-shuffle`` (default), ``least-busy``,
    ``latency-based-routing`` or ``usage-based-routing``. ``num_retries``: extra attempts
    within a group after a failure (default: ``llmrelay.num_retries`` when set, else 2);
    errors the caller caused (400/422) are not retried, and a deployment that answered
    401/403/404 is not tried again within the call. ``retry_after``: seconds to wait
    between attempts. ``timeout``: default request timeout (a deployment's
    ``litellm_params.timeout`` and the call's ``timeout=`` win). ``fallbacks``,
    ``context_window_fallbacks``, ``content_policy_fallbacks``: ``[{"group": ["other",
    ...]}]`` (the key ``"*"`` matches any group); ``default_fallbacks``: groups tried when
    a group has no fallbacks of its own. Context-window and content-policy errors use their
    own lists when the group has one, else the generic ones; every other error, a 400
    included (another model may accept the request), uses the generic ones, as LiteLLM's
    router does; at most ``max_fallbacks`` fallback groups are tried per call (default 5,
    as LiteLLM); ``disable_fallbacks=True`` on a call turns them off for that call.
    ``model_group_alias``: other names for groups; ``model_name`` entries with ``*`` are
    wildcard groups (see :mod:`.names`); a deployment's ``model_info.id`` may be used as a
    model name (calls and fallbacks then go to that deployment only).
    ``routing_strategy_args``: options of the routing strategy (see :mod:`.strategies`). ``enable_pre_call_checks``: leave
    out deployments whose context window the prompt exceeds (see :mod:`.precall`).
    ``enable_tag_filtering`` / ``tag_filtering_match_any``: deployments with ``tags`` serve
    only requests with matching ``metadata.tags`` (see :mod:`.tags`).
    ``default_max_parallel_requests``: requests in flight at once per deployment, for
    deployments without their own ``max_parallel_requests`` (a full deployment is passed
    over like one at its rpm limit).
    ``allowed_fails`` / ``cooldown_time``: see :mod:`.health`. ``client``: a
    :class:`~llmrelay.Client` whose settings (callbacks, cache, ...) the router uses instead
    of the ``llmrelay.*`` module settings.

    Raises :class:`RouterConfigError` (a ``ValueError``) for an unusable configuration,
    e.g. an ``os.environ/NAME`` reference to an unset variable. Unknown keyword arguments
    (LiteLLM router settings llmrelay does not implement) are ignored with a warning.
    """

    def __init__(self, model_list: Iterable[dict[str, Any]] | None = None, *,
                 routing_strategy: str = "simple-shuffle", num_retries: int | None = None,
                 retry_after: float = 0.0, timeout: float | None = None,
                 fallbacks: list[dict[str, list[str]]] | None = None,
                 context_window_fallbacks: list[dict[str, list[str]]] | None = None,
                 content_policy_fallbacks: list[dict[str, list[str]]] | None = None,
                 default_fallbacks: list[str] | None = None, allowed_fails: int = 3,
                 cooldown_time: float = 5.0, client: Client | None = None,
                 retry_policy: RetryPolicy | dict[str, Any] | None = None,
                 model_group_retry_policy: dict[str, Any] | None = None,
                 allowed_fails_policy: AllowedFailsPolicy | dict[str, Any] | None = None,
                 set_verbose: bool = False, debug_level: str = "INFO",
                 model_group_alias: dict[str, Any] | None = None,
                 routing_strategy_args: dict[str, Any] | None = None,
                 max_fallbacks: int = 5, enable_pre_call_checks: bool = False,
                 enable_tag_filtering: bool = False, tag_filtering_match_any: bool = True,
                 default_max_parallel_requests: int | None = None,
                 **unsupported: Any) -> None:
        if set_verbose or debug_level == "DEBUG":
            sys.modules["llmrelay"].set_verbose = True  # type: ignore[attr-defined]
        if unsupported:
            warnings.warn(f"llmrelay.Router ignores unsupported setting(s): "
                          f"{', '.join(sorted(unsupported))}", UserWarning, stacklevel=2)
        if routing_strategy not in STRATEGIES:
            raise RouterConfigError(f"unknown routing_strategy {routing_strategy!r}; choose "
                                    f"one of {', '.join(strategy_names())}")
        plain, self.patterns = pattern_entries(
            [] if model_list is None else expand_organizations(model_list))
        for pattern in self.patterns:  # unset os.environ/ references fail now, not later
            for index, entry in pattern.entries:
                resolve_env(dict(entry["litellm_params"]), f"model_list[{index}] "
                            f"(model_name {pattern.name!r}) litellm_params")
        self.groups: dict[str, list[Deployment]] = load_model_list(plain)
        self._by_id = {d.id: d for deps in self.groups.values() for d in deps}
        # the wildcard entries themselves, by id (their credentials and model info)
        self._pattern_deps = {d.id: d for d in (_deployment(i, e, quiet=True)
                                                for p in self.patterns for i, e in p.entries)}
        self._derived: OrderedDict[str, list[Deployment]] = OrderedDict()
        # ids of deployments called with the caller's own credentials -> the deployment
        self._dynamic: OrderedDict[str, Deployment] = OrderedDict()
        self._names_lock = threading.Lock()
        self.aliases: dict[str, Alias] = parse_aliases(model_group_alias)
        for alias, target in self.aliases.items():
            if alias in self.groups:
                warnings.warn(f"model_group_alias {alias!r} is also a model group; the group "
                              f"is used", UserWarning, stacklevel=2)
            elif not self._resolvable(target.target):
                warnings.warn(f"model_group_alias {alias!r} -> {target.target!r}: no such "
                              f"model group, so requests for {alias!r} will fail",
                              UserWarning, stacklevel=2)
        self.routing_strategy = routing_strategy
        try:
            self.strategy = with_args(routing_strategy, STRATEGIES[routing_strategy],
                                      routing_strategy_args)
        except ValueError as exc:
            raise RouterConfigError(str(exc)) from None
        ttl = (routing_strategy_args or {}).get("ttl")
        if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, (int, float))
                                or ttl <= 0):
            raise RouterConfigError(f"routing_strategy_args.ttl must be a positive number "
                                    f"of seconds, got {ttl!r}")
        self.num_retries = num_retries
        self.retry_after = float(retry_after or 0.0)
        self.timeout = timeout
        self.max_fallbacks = max(0, int(max_fallbacks))
        self.enable_pre_call_checks = bool(enable_pre_call_checks)
        self.enable_tag_filtering = bool(enable_tag_filtering)  # see router/tags.py
        self.tag_filtering_match_any = bool(tag_filtering_match_any)
        self.fallbacks = self._known(parse_fallbacks(fallbacks, "fallbacks"), "fallbacks")
        self.context_window_fallbacks = self._known(parse_fallbacks(
            context_window_fallbacks, "context_window_fallbacks"), "context_window_fallbacks")
        self.content_policy_fallbacks = self._known(parse_fallbacks(
            content_policy_fallbacks, "content_policy_fallbacks"), "content_policy_fallbacks")
        self.default_fallbacks = list(default_fallbacks or [])
        self._known({"*": self.default_fallbacks}, "default_fallbacks")
        self.allowed_fails = int(allowed_fails)
        self.cooldown_time = float(cooldown_time)
        self.health = Health(self.allowed_fails, self.cooldown_time,
                             track_tokens=routing_strategy in USES_TOKENS,
                             latency_ttl=None if ttl is None else float(ttl),
                             max_parallel=int(default_max_parallel_requests or 0) or None,
                             usage_limits=routing_strategy in ENFORCES_USAGE_LIMITS)
        self.cooldown_cache = CooldownCache(self)
        self._watch_cooldowns()
        self._client = client
        self.retry_policy = as_policy(retry_policy, RetryPolicy, "retry_policy")
        self.model_group_retry_policy = {
            g: as_policy(p, RetryPolicy, f"model_group_retry_policy[{g!r}]")
            for g, p in (model_group_retry_policy or {}).items()}
        self.allowed_fails_policy = as_policy(allowed_fails_policy, AllowedFailsPolicy,
                                              "allowed_fails_policy")
        self.cache = DualCache()  # a key/value store for code that uses the router's

    def _watch_cooldowns(self) -> None:
        """Cooldowns start through ``cooldown_cache.add_deployment_to_cooldown`` (looked up
        each time, so code that replaces it sees every cooldown)."""
        def start(dep_id: str, exc: BaseException, seconds: float) -> None:
            self.cooldown_cache.add_deployment_to_cooldown(
                dep_id, exc, getattr(exc, "status_code", None), seconds)
        self.health.on_cooldown = start

    # ---- policies ---------------------------------------------------------------------------
    def _policy(self, group: str) -> RetryPolicy | None:
        found: RetryPolicy | None = self.model_group_retry_policy.get(group) or self.retry_policy
        return found

    def policy_retries(self, exc: BaseException, group: str) -> int | None:
        """The retries the retry policy (of ``group``, else the router's) gives ``exc``'s
        error type; None when no policy names it."""
        policy = self._policy(group)
        return policy.retries_for(exc) if policy is not None else None

    def allowed_fails_for(self, exc: BaseException) -> int | None:
        """The failures the allowed-fails policy lets ``exc``'s type have before a
        cooldown (None: the router's ``allowed_fails``)."""
        policy = self.allowed_fails_policy
        return policy.allowed_fails_for(exc) if policy is not None else None

    def policy_max_retries(self, group: str) -> int:
        """The most retries the policy of ``group`` gives any error type (0 without one)."""
        policy = self._policy(group)
        if policy is None:
            return 0
        return max((v for v in policy.model_dump().values() if isinstance(v, int)), default=0)

    @property
    def default_fallbacks(self) -> list[str]:
        """Groups tried when a group has no fallbacks of its own: the router's
        ``default_fallbacks``, else ``llmrelay.default_fallbacks``."""
        own = self._default_fallbacks
        if own:
            return own
        module = getattr(sys.modules.get("llmrelay"), "default_fallbacks", None) or []
        return [g for g in module if self._resolvable(g)]

    @default_fallbacks.setter
    def default_fallbacks(self, value: list[str]) -> None:
        self._default_fallbacks = list(value or [])

    # ---- model names ------------------------------------------------------------------------
    def resolve(self, name: str) -> str | None:
        """The model group that serves ``name`` (a group, an alias or a wildcard match; see
        :mod:`.names`), or None. A wildcard match gets its group made now; raises
        BadRequestError when the model it names has no provider."""
        if name in self.groups:
            return name
        alias = self.aliases.get(name)
        if alias is not None:
            return self.resolve(alias.target) if alias.target != name else None
        if name in self._by_id:  # one deployment by its id: a group of one
            return name
        for pattern in self.patterns:
            parts = pattern.match(name)
            if parts is not None:
                self._derive(pattern, name, parts)
                return name
        return None

    def _derive(self, pattern: Pattern, name: str, parts: list[str]) -> None:
        """Make (or refresh) the group of deployments serving ``name`` through ``pattern``.
        Copy-on-write: readers never see a dict change size under them."""
        with self._names_lock:
            if name in self._derived:
                self._derived.move_to_end(name)
                return
            entries, reason = [], ""
            for index, entry in pattern.entries_for(name, parts):
                lp = entry["litellm_params"]
                try:  # checked first: a client's odd model name must not log warnings
                    resolve_model(str(lp["model"]), lp.get("custom_llm_provider"))
                except LLMRelayError as exc:
                    reason = exc.message.split(" (known providers")[0]
                    continue
                entries.append((index, entry))
            if not entries:  # the request named a model no provider serves
                raise BadRequestError(f"model {name!r} matches the wildcard model group "
                                      f"{pattern.name!r}, but {reason}", model=name,
                                      param="model")
            deps = [_deployment(i, e) for i, e in entries]
            groups, by_id = dict(self.groups), dict(self._by_id)
            groups[name] = deps
            by_id.update((d.id, d) for d in deps)
            self._derived[name] = deps
            while len(self._derived) > MAX_DERIVED:
                old, gone = self._derived.popitem(last=False)
                groups.pop(old, None)
                for d in gone:
                    by_id.pop(d.id, None)
                    self.health.forget(d.id)
            self.groups, self._by_id = groups, by_id

    def _resolvable(self, name: str) -> bool:
        try:
            return self.resolve(name) is not None
        except BadRequestError:
            return False

    def deployments(self, group: str) -> list[Deployment]:
        """The deployments of a group (a wildcard group evicted meanwhile is made again);
        a deployment's id names a group of that one deployment."""
        deps = self.groups.get(group)
        if deps is None:
            dep = self._by_id.get(group)
            if dep is not None:
                return [dep]
            if self._resolvable(group):
                deps = self.groups.get(self.resolve(group) or group)
        return deps or []

    def _known(self, lists: dict[str, list[str]], name: str) -> dict[str, list[str]]:
        unknown = [n for key, targets in lists.items() for n in [key, *targets]
                   if n != "*" and self._resolvable(n) is False]
        if unknown:
            raise RouterConfigError(
                f"{name} names unknown model group(s) {', '.join(map(repr, unknown))}; "
                f"model groups: {', '.join(self.model_names) or '(none)'}")
        return lists

    # ---- introspection --------------------------------------------------------------------
    @property
    def model_names(self) -> list[str]:
        """The model groups, in configuration order (wildcard groups by their pattern,
        aliases not included)."""
        derived = self._derived
        return [g for g in self.groups if g not in derived] + [p.name for p in self.patterns]

    def get_model_names(self) -> list[str]:
        """The names callers may use: the model groups (wildcard groups by their pattern)
        and the aliases that are not hidden."""
        names = self.model_names
        return names + [a for a, t in self.aliases.items() if not t.hidden and a not in names]

    def get_model_list(self, model_name: str | None = None) -> list[dict[str, Any]]:
        """The configured entries (``os.environ/`` references left unresolved, so no
        secret is exposed), each with its ``model_info.id``: the groups', the wildcard
        groups' as configured, and for each alias that is not hidden its group's entries
        under the alias's name (as LiteLLM lists them); optionally of one name."""
        derived = self._derived
        out = [d.describe() for g, deps in self.groups.items() if g not in derived
               for d in deps if model_name is None or g == model_name]
        for pattern in self.patterns:
            if model_name is None or model_name == pattern.name:
                out += [_described(entry) for _, entry in pattern.entries]
        return out + self.get_model_list_from_model_alias(model_name)

    def get_model_list_from_model_alias(self, model_name: str | None = None
                                        ) -> list[dict[str, Any]]:
        """For each alias that is not hidden (only ``model_name`` when given), its group's
        entries under the alias's name."""
        out: list[dict[str, Any]] = []
        for alias, target in self.aliases.items():
            if target.hidden or alias in self.groups or (model_name not in (None, alias)):
                continue
            group = self.resolve(target.target) if self._resolvable(target.target) else None
            for dep in self.groups.get(group or "", []):
                out.append({**dep.describe(), "model_name": alias})
        return out

    def get_deployment(self, model_id: str) -> Deployment | None:
        """The deployment with id ``model_id`` (attribute and item access to
        ``litellm_params``, ``model_info``, ``model_name``), a wildcard group's entry
        included (and the ids of calls that brought their own credentials), or None."""
        return (self._by_id.get(model_id) or self._pattern_deps.get(model_id)
                or self._dynamic.get(model_id))

    def remember_dynamic(self, model_id: str, dep: Deployment) -> None:
        """Note that ``model_id`` names ``dep`` called with a caller's own credentials (the
        most recent :data:`~.names.MAX_DERIVED` such ids are kept)."""
        with self._names_lock:
            self._dynamic[model_id] = dep
            self._dynamic.move_to_end(model_id)
            while len(self._dynamic) > MAX_DERIVED:
                self._dynamic.popitem(last=False)

    def get_available_deployment(self, model: str, messages: list[Any] | None = None,
                                 **_: Any) -> Deployment | None:
        """The deployment the routing strategy would pick now (None if none can take a
        request). Raises :class:`~llmrelay.BadRequestError` for an unknown group."""
        group = self._check_group(model)
        call = RouterCall(self, group, {}, 0, {})
        return call.pick(group, [])

    def cooldowns(self) -> dict[str, float]:
        """Deployment id -> seconds of cooldown left, for deployments cooling down now."""
        return self.health.cooldowns()

    def deployment_stats(self, model_id: str) -> dict[str, Any]:
        """In-flight count, usage this minute, latency average and cooldown of one
        deployment. Requests are counted only for a deployment with an ``rpm``, tokens only
        for one with a ``tpm`` or under usage-based routing; uncounted usage is None."""
        return self.health.snapshot(model_id, self._by_id.get(model_id))

    # ---- call plumbing --------------------------------------------------------------------
    def _check_group(self, model: str) -> str:
        """The group serving ``model``; raises BadRequestError for an unknown name."""
        group = self.resolve(model)
        if group is None:
            raise BadRequestError(
                f"unknown model group {model!r}; this router serves: "
                f"{', '.join(self.model_names) or '(none)'}", model=model, param="model")
        return group

    @property
    def client(self) -> Client:
        """The client whose settings (callbacks, cache, transport ...) the router's calls
        use: the ``client=`` given, else the default client (the ``llmrelay.*`` module
        settings, read at call time)."""
        return self._client if self._client is not None else default_client()

    def _retries(self, kwargs: dict[str, Any], client: Client) -> int:
        per_call = kwargs.pop("num_retries", None)
        alias = kwargs.pop("max_retries", None)
        for value in (per_call, alias, self.num_retries):
            if value is not None:
                return max(0, int(value))
        configured = client.settings.num_retries
        return _DEFAULT_RETRIES if configured is None else max(0, int(configured))

    def _fallbacks(self, kwargs: dict[str, Any], group: str = "*"
                   ) -> dict[str, dict[str, list[str]]]:
        lists = {"fallbacks": self.fallbacks, "context_window": self.context_window_fallbacks,
                 "content_policy": self.content_policy_fallbacks}
        for key, name in zip(("fallbacks", "context_window", "content_policy"), _PER_CALL,
                             strict=True):
            value = kwargs.pop(name, None)
            if value is None:
                continue
            if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
                value = [{group: value}]  # a per-call list: fallbacks of the requested group
            try:
                lists[key] = self._known(parse_fallbacks(value, name), name)
            except RouterConfigError as exc:
                raise BadRequestError(str(exc), param=name) from None
        return lists

    def _count_deployment(self, model: str) -> Deployment:
        """The first deployment of group ``model`` that llmrelay can serve (for counts)."""
        deps = self.deployments(self._check_group(model))
        servable = [d for d in deps if d.error is None]
        if not servable:
            raise deps[0].error  # type: ignore[misc]
        return servable[0]

    def _start(self, call_type: str, model: str, messages: Any, input: Any,
               kwargs: dict[str, Any], is_async: bool) -> tuple[Client, CallContext]:
        model = self._check_group(model)
        base = self.client
        retries = self._retries(kwargs, base)
        layer = RouterCall(self, model, kwargs, retries, self._fallbacks(kwargs, model))
        layer.mock_error = _mock_testing_error(kwargs, model)
        layer.fallbacks_disabled = bool(kwargs.pop("disable_fallbacks", False))
        client = base.with_layers(layer)
        deps = self.deployments(model)
        servable = [d for d in deps if d.error is None]
        if not servable:
            raise deps[0].error  # type: ignore[misc]
        first = servable[0]  # checks the arguments; each attempt re-targets
        ctx = client.prepare(call_type, first.model, {**first.params, **kwargs},
                             messages=messages, input=input, is_async=is_async)
        layer.prepared = (first, ctx.call)
        layer.begin(ctx)  # before the cache: a hit reports the group and no attempts too
        return client, ctx

    # ---- public API -----------------------------------------------------------------------
    def completion(self, model: str, messages: list[Any] | None = None, **kwargs: Any) -> Any:
        """A chat completion served by a deployment of group ``model``.

        Raises :class:`~llmrelay.BadRequestError` for an unknown group (listing the groups)
        or bad arguments; otherwise the error of the requested group's last attempt when
        every attempt and fallback failed, or :class:`~llmrelay.RateLimitError` /
        :class:`~llmrelay.ServiceUnavailableError` naming the cooldowns when no deployment
        could take the request.
        """
        client, ctx = self._start("completion", model, messages, None, kwargs, False)
        return client.run(ctx)

    async def acompletion(self, model: str, messages: list[Any] | None = None,
                          **kwargs: Any) -> Any:
        """Async :meth:`completion`."""
        client, ctx = self._start("completion", model, messages, None, kwargs, True)
        return await client.arun(ctx)

    def embedding(self, model: str, input: Any = None, **kwargs: Any) -> Any:
        """Embeddings from a deployment of group ``model`` (errors as :meth:`completion`)."""
        client, ctx = self._start("embedding", model, None, input, kwargs, False)
        return client.run(ctx)

    async def aembedding(self, model: str, input: Any = None, **kwargs: Any) -> Any:
        """Async :meth:`embedding`."""
        client, ctx = self._start("embedding", model, None, input, kwargs, True)
        return await client.arun(ctx)

    def text_completion(self, model: str, prompt: Any = None, **kwargs: Any) -> Any:
        """A legacy completion from a deployment of group ``model``."""
        client, ctx = self._start("text_completion", model, None, prompt, kwargs, False)
        return client.run(ctx)

    async def atext_completion(self, model: str, prompt: Any = None, **kwargs: Any) -> Any:
        """Async :meth:`text_completion`."""
        client, ctx = self._start("text_completion", model, None, prompt, kwargs, True)
        return await client.arun(ctx)

    def __repr__(self) -> str:
        sizes = ", ".join(f"{g}: {len(d)}" for g, d in self.groups.items())
        return f"Router({self.routing_strategy}, groups={{{sizes}}})"


def _described(entry: dict[str, Any]) -> dict[str, Any]:
    """A wildcard group's entry as configured, with its id."""
    return {**entry, "model_info": {**(entry.get("model_info") or {}), "id": entry_id(entry)}}


_MOCK_TESTING = (("mock_testing_fallbacks", InternalServerError),
                 ("mock_testing_context_fallbacks", ContextWindowExceededError),
                 ("mock_testing_content_policy_fallbacks", ContentPolicyViolationError))


def _mock_testing_error(kwargs: dict[str, Any], group: str) -> LLMRelayError | None:
    """LiteLLM's switches for testing fallbacks: ``mock_testing_fallbacks=True`` (and the
    ``_context_``/``_content_policy_`` variants) make the requested group fail."""
    found: LLMRelayError | None = None
    for name, cls in _MOCK_TESTING:
        if kwargs.pop(name, None) and found is None:
            found = cls(f"{name}=True: model group {group!r} fails so that its fallbacks "
                        f"are tried", model=group)
    return found
