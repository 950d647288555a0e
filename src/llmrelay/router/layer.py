"""One router call as a client layer: pick a deployment, retry, fall back.

The router builds one :class:`RouterCall` per call and runs the client pipeline with it as
the outermost layer, so the client emits exactly one terminal callback event for the whole
call, however many attempts it took. For each attempt the layer re-points ``ctx.call`` at
the chosen deployment and calls the rest of the pipeline; it records every attempt in
``ctx.attempts`` (which the client passes to callbacks as ``kwargs["attempts"]``)
and describes the serving deployment in ``kwargs["litellm_params"]["metadata"]``
(``model_group``, ``model_id``, ``deployment``).

Order of work: the requested group gets ``1 + num_retries`` attempts (each preferring a
deployment not yet tried in this call; errors the caller caused are not retried, and a
deployment refusing with 401/403/404 is not asked again); then the fallback groups in
order, each with the same budget. Between attempts, :meth:`RouterCall.retry_wait` decides
the pause as the SDK's retries do (``_retry.backoff_delay``): none when an untried
deployment is ready, else the server's ``Retry-After`` or exponential backoff with
jitter, at least ``retry_after``; a pause that would end past the request's timeout ends
the retries instead.
A stream is routed, retried and failed over until it opens; once chunks flow, a failure
reaches the caller (and counts against the deployment's health).
Sync and async twins share every decision; only sleeping and awaiting differ.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import datetime as dt
import hashlib
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._calltypes import known_params
from .._context import UNSET, CallContext
from .._params import AUTH_OPTIONS, auth_options, client_defaults, request_headers, split_params
from .._retry import backoff_delay, timeout_seconds
from .._urls import mask_url
from ..callbacks.dispatcher import Delivery, Hook, Job, dispatcher
from ..callbacks.payload import mask_key
from ..callbacks.registry import hook_methods, is_async
from ..cost import PRICING_ARGS, custom_pricing
from ..exceptions import (
    AuthenticationError,
    ContentPolicyViolationError,
    ContextWindowExceededError,
    LLMRelayError,
    NotFoundError,
    PermissionDeniedError,
    ProviderConfigError,
    RateLimitError,
    ServiceUnavailableError,
)
from ..providers.base import Call
from ..providers.registry import provider_for
from .config import Deployment
from .health import _CALLERS_FAULT, counts_as_failure
from .precall import ContextCheck
from .strategies import choose
from .tags import TagFilter, request_tags

if TYPE_CHECKING:
    from .router import Router

__all__ = ["RouterCall"]

_LISTS = ("callbacks", "input_callback", "success_callback", "failure_callback")
_CALL_CREDENTIALS = ("api_key", "api_base", "base_url", "api_version", "organization",
                     "azure_ad_token")
_AUTH = AUTH_OPTIONS
_FALLBACK_HOOKS = ("log_success_fallback_event", "log_failure_fallback_event")
# Refusals that the same deployment would repeat: wrong key, no access, no such model.
_REFUSED = (AuthenticationError, PermissionDeniedError, NotFoundError)


class RouterCall:
    """The layer for one router call (``handle``/``ahandle`` as the client expects)."""

    def __init__(self, router: Router, group: str, kwargs: dict[str, Any],
                 retries: int, fallbacks: dict[str, dict[str, list[str]]]) -> None:
        self.router = router
        self.group = group
        self.kwargs = kwargs
        self.retries = retries
        self.fallbacks = fallbacks  # "fallbacks" / "context_window" / "content_policy"
        self.attempts: list[dict[str, Any]] = []
        # mock_testing_*fallbacks=True: the requested group fails with this error
        self.mock_error: LLMRelayError | None = None
        # a retry policy may allow more attempts for some errors than ``retries``
        self.max_retries = max(retries, router.policy_max_retries(group))
        self.context: ContextCheck | None = None  # router.enable_pre_call_checks
        self.tags = (TagFilter(request_tags(kwargs), router.tag_filtering_match_any)
                     if router.enable_tag_filtering else None)
        self.fallbacks_disabled = False  # disable_fallbacks=True for this call
        # LiteLLM's ``previous_models``: one entry per failed attempt that a retry follows
        # or that was a retry, and one more (the requested group's error) each time the
        # call moves on to a fallback group
        self.crumbs: list[dict[str, Any]] = []
        self.cap: int | None = None  # llmrelay.num_retries_per_request
        # the deployment Router._start prepared the call for, and that call: the first
        # attempt on that deployment finds ctx.call built already (see retarget)
        self.prepared: tuple[Deployment, Call] | None = None

    # ---- decisions (no I/O) ---------------------------------------------------------------
    def pick(self, group: str, tried: list[str], refused: frozenset[str] | set[str] = frozenset()
             ) -> Deployment | None:
        """A deployment of ``group`` that can take a request, preferring untried ones and
        never one in ``refused`` (nor, with pre-call checks, one the prompt is too long
        for). Deployments with an ``order`` are priorities: only the lowest order among
        the ready ones serves (a cooled-down order 1 hands over to order 2)."""
        deps = self.router.deployments(group)
        if self.tags is not None:
            deps = self.tags.filter(group, deps)
        ready, _ = self.router.health.partition(deps)
        if self.context is not None:
            ready = [d for d in ready if self.context.fits(d)]
        if refused:
            ready = [d for d in ready if d.id not in refused]
        orders = [d.order for d in ready if d.order is not None]
        if orders:
            lowest = min(orders)
            ready = [d for d in ready if d.order == lowest]
        fresh = [d for d in ready if d.id not in tried]
        pool = fresh or ready
        if not pool:
            return None
        return choose(self.router.strategy, pool, self.router.health)

    def claim(self, group: str, tried: list[str], refused: set[str]) -> Deployment | None:
        """:meth:`pick` and start a request on the pick, atomically per deployment: a
        deployment another thread just filled up is passed over."""
        deps = self.router.deployments(group)
        if len(deps) == 1 and self.tags is None and self.context is None:
            # what pick() decides for a group of one, with one check under the lock
            only = deps[0]
            if only.id in refused or not self.router.health.try_start(only):
                return None
            return only
        for _ in range(3):
            dep = self.pick(group, tried, refused)
            if dep is None or self.router.health.try_start(dep):
                return dep
        return None

    def unavailable(self, group: str) -> LLMRelayError:
        """The error for a group none of whose deployments can take a request now."""
        deps = self.router.deployments(group)
        if self.tags is not None:
            deps = self.tags.filter(group, deps)
        _, blocked = self.router.health.partition(deps)
        now_mono, now_wall = self.router.health.clock(), time.time()

        def at(until: float) -> str:
            when = dt.datetime.fromtimestamp(now_wall + (until - now_mono))
            return f"until {when:%H:%M:%S} (in {max(0.0, until - now_mono):.1f}s)"

        cooling = [b for b in blocked if b.reason.startswith("cooling")]
        limited = [b for b in blocked if not b.reason.startswith("cooling")]
        parts = []
        if cooling:
            parts.append(f"{len(cooling)} cooling down ({at(min(b.until for b in cooling))})")
        if limited:
            parts.append(f"{len(limited)} at their rpm/tpm limit "
                         f"({at(min(b.until for b in limited))})")
        details = "; ".join(f"{b.deployment.id} ({b.deployment.model}): {b.reason}, "
                            f"{at(b.until)}" for b in blocked)
        message = (f"no deployments available for model group {group!r}: "
                   f"{', '.join(parts) or 'none ready'} -- {details}")
        wait = min((b.until for b in blocked), default=now_mono + 1.0) - now_mono
        cls = RateLimitError if blocked and all(b.rate_limited for b in blocked) else (
            ServiceUnavailableError)
        return cls(message, model=group,
                   response_headers={"retry-after": str(max(1, math.ceil(wait)))})

    def retry_in_group(self, exc: BaseException, dep: Deployment, refused: set[str],
                       group: str | None = None, attempts: int = 0) -> bool:
        """Whether another attempt in the group may help after ``dep`` failed with ``exc``
        (attempt number ``attempts``, from 1): any exception but the caller's own errors,
        as LiteLLM's router retries a deployment's plain ``Exception`` too; a deployment
        that refused the credentials or the model joins ``refused``. A retry policy's count
        for the error type wins."""
        if isinstance(exc, _REFUSED):
            refused.add(dep.id)  # the same request to it would be refused the same way
            if all(d.id in refused for d in self.router.deployments(group or self.group)):
                # no other deployment of the group is left to ask: a retry cannot happen
                # (LiteLLM: a 401/403 in a group of one is not retried)
                return False
        if not isinstance(exc, Exception):
            return False
        if isinstance(exc, ProviderConfigError):  # this deployment's setup, not the caller's:
            return attempts <= self.retries  # retried as LiteLLM does (it costs no request)
        allowed = self.router.policy_retries(exc, group or self.group)
        if allowed is not None:
            return attempts <= allowed
        return not isinstance(exc, _CALLERS_FAULT) and attempts <= self.retries

    def retry_wait(self, attempt: int, last: BaseException | None, ctx: CallContext,
                   group: str, tried: list[str], refused: set[str],
                   began: float) -> float | None:
        """Seconds to pause before retry number ``attempt`` (from 1) after ``last``, or
        None when the pause would end past the request's timeout (measured from
        ``began``, ``time.monotonic()``): then the retries end with ``last``."""
        if isinstance(last, ProviderConfigError):
            return 0.0  # nothing was sent: no upstream to give time
        fresh = self.pick(group, tried, refused)
        if fresh is not None and fresh.id not in tried and self.router.retry_after <= 0:
            return 0.0  # another deployment is ready: its limits are not this one's
        wait = max(backoff_delay(attempt - 1, last, ctx.retry_delay or 0.5),
                   self.router.retry_after)
        timeout = timeout_seconds(ctx.timeout)
        if timeout is not None and time.monotonic() - began + wait >= timeout:
            return None
        return wait

    def fallback_groups(self, exc: BaseException) -> list[str]:
        """The groups to try after the requested one failed with ``exc`` (any exception),
        in order: the context-window or content-policy list for those errors when the
        group has one, else the generic list (for every error: another model may accept a
        request this one rejected), else ``default_fallbacks``; at most the router's
        ``max_fallbacks``. Aliases and wildcard names are resolved to their groups."""
        if self.fallbacks_disabled:
            return []
        specific: dict[str, list[str]] | None = None
        if isinstance(exc, ContextWindowExceededError):
            specific = self.fallbacks["context_window"]
        elif isinstance(exc, ContentPolicyViolationError):
            specific = self.fallbacks["content_policy"]
        names: list[str] = []
        if specific:
            names = specific.get(self.group) or specific.get("*") or []
        if not names:
            generic = self.fallbacks["fallbacks"]
            names = (generic.get(self.group) or generic.get("*")
                     or self.router.default_fallbacks)
        out: list[str] = []
        for name in names:
            group = self.router.resolve(name) if self.router._resolvable(name) else None
            if group is not None and group != self.group and group not in out:
                out.append(group)
        return out[:self.router.max_fallbacks]

    # ---- per attempt ----------------------------------------------------------------------
    def retarget(self, ctx: CallContext, dep: Deployment, group: str) -> None:
        """Point ``ctx`` at ``dep``: the request, timeout, mock and callback kwargs.
        Raises the deployment's error for a provider llmrelay does not serve."""
        if dep.error is not None:
            raise dep.error
        merged = {**dep.params, **self.kwargs}
        if "client" in merged:  # an OpenAI SDK client: its key and base URL
            merged.update(client_defaults(merged))
        settings = ctx.settings
        prepared, self.prepared = self.prepared, None
        if (prepared is None or prepared[0] is not dep or prepared[1] is not ctx.call
                or ctx.call.spec is not dep.spec or ctx.call.model != dep.provider_model
                or "client" in merged):
            # else: Client.prepare built ctx.call from these same arguments for this
            # same deployment (the router's first pick) and nothing replaced it since
            provider = provider_for(dep.spec, ctx.kind)
            drop = merged.get("drop_params")
            params = split_params(merged, provider.supported_params(ctx.call_type),
                                  bool(settings.drop_params if drop is None else drop),
                                  dep.spec.name, dep.provider_model, known_params(ctx.kind))
            stream = bool(params.pop("stream", False))
            ctx.call = dataclasses.replace(
                ctx.call, model=dep.provider_model, spec=dep.spec, params=params,
                stream=stream,
                api_key=merged.get("api_key") or settings.api_key or dep.spec.env_key(),
                api_base=merged.get("api_base") or merged.get("base_url") or settings.api_base,
                api_version=merged.get("api_version"),
                extra_headers=request_headers(dep.spec, merged, settings),
                extra_body=merged.get("extra_body"), auth=auth_options(merged))
            ctx.provider = provider
        timeout = merged.get("timeout") or merged.get("request_timeout")
        if ctx.call.stream:  # stream_timeout is config-only: not among dep.params
            timeout = (self.kwargs.get("stream_timeout")
                       or dep.config.get("litellm_params", {}).get("stream_timeout")
                       or timeout)
        if timeout is None:
            timeout = self.router.timeout
        ctx.timeout = timeout if timeout is not None else settings.request_timeout
        ctx.num_retries = dep.inner_retries
        ctx.mock = merged.get("mock_response", UNSET)
        # LiteLLM's mock_timeout tests fallbacks: it holds for the requested group only
        ctx.mock_timeout = bool(merged.get("mock_timeout")) and group == self.group
        ctx.mock_delay = merged.get("mock_delay")
        if PRICING_ARGS.isdisjoint(self.kwargs):
            ctx.price_model, ctx.price_row = dep.pricing  # the deployment's own, made once
        else:
            ctx.price_model, ctx.price_row = custom_pricing(
                self.kwargs, dep.config.get("litellm_params"), dep.model_info)
        ctx.model_id = self._model_id(dep)
        if ctx.log is not None:
            self._retarget_log(ctx, dep, group)

    def _retarget_log(self, ctx: CallContext, dep: Deployment, group: str) -> None:
        assert ctx.log is not None
        call, kw = ctx.call, ctx.log.kwargs
        masked = mask_key(call.api_key)
        kw.update(model=call.model, custom_llm_provider=call.provider, api_key=masked,
                  optional_params=call.params)
        lp = kw["litellm_params"]
        lp.update(api_base=mask_url(call.api_base), custom_llm_provider=call.provider, api_key=masked,
                  model_info=dep.model_info)
        md = lp.get("metadata")
        if md is None:
            md = lp["metadata"] = {}
        md.update(model_group=group, model_id=dep.id, deployment=dep.model,
                  model_info=dep.model_info, api_base=self._base(ctx, dep))
        if group != self.group:
            md["original_model_group"] = self.group
        if self.kwargs.get("cooldown_time") is not None:
            lp["cooldown_time"] = self.kwargs["cooldown_time"]
        md["previous_models"] = list(self.crumbs)  # LiteLLM's record of what failed so far

    @staticmethod
    def _base(ctx: CallContext, dep: Deployment) -> str | None:
        return mask_url(ctx.call.api_base or dep.spec.env_base() or dep.spec.base_url)

    def _record(self, ctx: CallContext, dep: Deployment, group: str, started: float,
                exc: BaseException | None) -> float:
        duration = time.perf_counter() - started
        self.attempts.append(_attempt(group, dep, self._base(ctx, dep), exc, duration))
        return duration

    def crumb(self, exc: BaseException, group: str, dep: Deployment | None) -> None:
        """Add one entry to ``previous_models`` (through the router's public
        ``log_retry``)."""
        self.router.log_retry({"model": dep.model if dep else None, "model_group": group,
                               "deployment_id": dep.id if dep else None,
                               "metadata": {"previous_models": self.crumbs}}, exc)

    def exhausted(self) -> bool:
        """Whether ``num_retries_per_request`` forbids another attempt: the request has
        failed that many times (LiteLLM counts the same way: 0 and 1 both allow none)."""
        return self.cap is not None and len(self.crumbs) >= max(self.cap, 1)

    def to_fallback(self, original: BaseException) -> bool:
        """Record the move to a fallback group (LiteLLM logs the requested group's error
        once more); False when ``num_retries_per_request`` forbids the attempt."""
        last = next((a for a in reversed(self.attempts) if a["model_group"] == self.group),
                    None)
        dep = self.router._by_id.get(last["model_id"]) if last and last["model_id"] else None
        self.crumb(original, self.group, dep)
        return not self.exhausted()

    def failed(self, ctx: CallContext, dep: Deployment, group: str, started: float,
               exc: BaseException) -> None:
        """Bookkeeping for a failed attempt."""
        duration = self._record(ctx, dep, group, started, exc)
        self.router.health.finished(dep)
        if self._may_cool(dep) and self._model_id(dep) == dep.id:  # not the caller's keys
            self.router.health.failed(dep, exc, duration, self.router.allowed_fails_for(exc),
                                      self._cooldown_time(dep))

    def _model_id(self, dep: Deployment) -> str:
        """The id this call's requests to ``dep`` report: the deployment's, or, when the
        call brings credentials of its own (``api_key=`` ...), an id of that pairing, as
        LiteLLM's dynamic deployments have: another caller's bad key must not cool the
        shared deployment down, nor be counted against it."""
        own = self.kwargs
        if not (own.get("api_key") or own.get("api_base") or own.get("base_url")
                or not _AUTH.isdisjoint(own)):
            return dep.id
        given = {k: own[k] for k in (*_CALL_CREDENTIALS, *sorted(_AUTH))
                 if own.get(k) is not None and own[k] != dep.params.get(k)}
        if not given:
            return dep.id
        digest = hashlib.sha256(repr(sorted(given.items())).encode()).hexdigest()[:12]
        dynamic = f"{dep.id}-{digest}"
        self.router.remember_dynamic(dynamic, dep)
        return dynamic

    def _cooldown_time(self, dep: Deployment) -> float | None:
        """The cooldown a failure of ``dep`` starts: the call's ``cooldown_time``, else the
        deployment's, else None (the router's); 0 means none."""
        for source in (self.kwargs, dep.config.get("litellm_params") or {}):
            value = source.get("cooldown_time")
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
        return None

    def _may_cool(self, dep: Deployment) -> bool:
        """A group's only deployment never cools down: there is nowhere else to send the
        request, so callers should see the upstream's own error, not "no deployments"."""
        return len(self.router.deployments(dep.model_name)) > 1

    def succeeded(self, ctx: CallContext, dep: Deployment, group: str, started: float,
                  result: Any) -> Any:
        """Bookkeeping for a served attempt; streams settle their usage when they end."""
        health = self.router.health
        if group == self.group and not ctx.call.stream and _filtered(result):
            exc = ContentPolicyViolationError(
                "the reply was stopped by the provider's content filter "
                "(finish_reason=content_filter)", llm_provider=dep.provider,
                model=dep.provider_model)
            if self.fallback_groups(exc):  # only worth raising when a fallback can answer
                self.failed(ctx, dep, group, started, exc)
                raise exc
        duration = self._record(ctx, dep, group, started, None)
        try:
            hidden = result.__dict__.setdefault("_hidden_params", {})
            hidden["model_group"] = group
            hidden["model_id"] = self._model_id(dep)
            groups = list(dict.fromkeys(a["model_group"] for a in self.attempts))
            hidden["attempted_fallbacks"] = len(groups) - 1
            hidden["attempted_retries"] = sum(
                1 for a in self.attempts if a["model_group"] == group) - 1
        except AttributeError:
            pass
        state = getattr(result, "_state", None) if ctx.call.stream else None
        if state is None or not hasattr(state, "on_end"):
            health.settle(dep, duration, _total_tokens(getattr(result, "usage", None)))
            return result
        health.add_latency(dep, duration)
        inner: Callable[[Any, str, BaseException | None], None] = state.on_end

        def on_end(st: Any, status: str, error: BaseException | None) -> None:
            try:
                health.finished(dep)
                health.add_tokens(dep, _total_tokens(getattr(st, "usage", None)))
                if error is not None and counts_as_failure(error) and self._may_cool(dep):
                    health.failed(dep, error, time.perf_counter() - started,
                                  self.router.allowed_fails_for(error),
                                  self._cooldown_time(dep))
            finally:
                inner(st, status, error)

        state.on_end = on_end
        return result

    # ---- fallback hooks -------------------------------------------------------------------
    def fallback_event(self, ctx: CallContext, ok: bool, group: str,
                       original: BaseException) -> None:
        """Deliver ``log_(success|failure)_fallback_event`` in the background."""
        hook = _FALLBACK_HOOKS[0] if ok else _FALLBACK_HOOKS[1]
        entries = [e for name in _LISTS for e in (*(getattr(ctx.settings, name) or ()),
                                                   *(self.kwargs.get(name) or ()))]
        methods = hook_methods(entries, hook)
        if not methods:
            return
        kw = self._fallback_kwargs(ctx, group)
        args = (self.group, kw, original)
        deliveries = [Delivery(Hook(getattr(fn, "__self__", fn), hook, fn, is_async(fn)), args)
                      for fn in methods]
        context = ctx.log.context if ctx.log is not None else contextvars.copy_context()
        dispatcher.submit(Job(lambda: deliveries, context, ctx.settings))

    def _fallback_kwargs(self, ctx: CallContext, group: str) -> dict[str, Any]:
        kw: dict[str, Any] = dict(ctx.log.kwargs) if ctx.log is not None else {
            "call_type": ("a" if ctx.is_async else "") + ctx.call_type,
            "litellm_call_id": ctx.call_id, "stream": ctx.call.stream,
            "litellm_params": {"metadata": dict(ctx.metadata or {})}}
        lp = dict(kw.get("litellm_params") or {})
        md = dict(lp.get("metadata") or {})
        last = self.attempts[-1] if self.attempts else {}
        md.update(model_group=group, original_model_group=self.group,
                  model_id=last.get("model_id"), deployment=last.get("deployment"))
        lp["metadata"] = md
        lp.setdefault("api_base", last.get("api_base"))
        kw.update(model=group, litellm_params=lp, attempts=list(self.attempts),
                  metadata=md)
        return kw

    # ---- the layer ------------------------------------------------------------------------
    def begin(self, ctx: CallContext) -> None:
        """Give the call's terminal event this call's attempts and group (the router calls
        it once the call is prepared)."""
        if self.router.enable_pre_call_checks:
            self.context = ContextCheck(ctx.call)
        cap = ctx.settings.num_retries_per_request
        self.cap = None if cap is None else int(cap)
        ctx.attempts = self.attempts
        if ctx.log is not None:
            lp = ctx.log.kwargs["litellm_params"]
            if lp.get("metadata") is None:
                lp["metadata"] = {}
            lp["metadata"]["model_group"] = self.group

    def handle(self, ctx: CallContext, call_next: Callable[[CallContext], Any]) -> Any:
        try:
            return self._group(ctx, call_next, self.group)
        except Exception as exc:  # any exception a deployment raises, as LiteLLM
            original = exc
        for group in self.fallback_groups(original):
            if not self.to_fallback(original):
                break
            try:
                result = self._group(ctx, call_next, group)
            except Exception:
                self.fallback_event(ctx, False, group, original)
                continue
            self.fallback_event(ctx, True, group, original)
            return result
        raise original

    def _group(self, ctx: CallContext, call_next: Callable[[CallContext], Any],
               group: str) -> Any:
        if self.context is not None:
            self.context.check_group(group, self.router.deployments(group))
        if self.tags is not None:
            self.tags.check_group(group, self.router.deployments(group))
        if self.mock_error is not None and group == self.group:
            # LiteLLM's mock_testing_*fallbacks: the group fails once, straight to its
            # fallbacks, and no deployment is asked (nor counted, nor cooled down)
            self.attempts.append(_attempt(group, None, None, self.mock_error))
            raise self.mock_error
        tried: list[str] = []
        refused: set[str] = set()
        last: Exception | None = None
        began = time.monotonic()
        for n in range(self.max_retries + 1):
            if n:
                wait = self.retry_wait(n, last, ctx, group, tried, refused, began)
                if wait is None or self.exhausted():
                    break
                time.sleep(wait)
            dep = self.claim(group, tried, refused)
            if dep is None:
                raise last if last is not None else self.unavailable(group)
            tried.append(dep.id)
            started = time.perf_counter()
            try:
                self.retarget(ctx, dep, group)
                if group != dep.id:  # picked for a group, not a deployment the caller named
                    self.router.routing_strategy_pre_call_checks(dep)
                result = call_next(ctx)
            except BaseException as exc:
                self.failed(ctx, dep, group, started, exc)
                retry = self.retry_in_group(exc, dep, refused, group, n + 1)
                if retry or n:  # as LiteLLM: the first failure counts once a retry follows
                    self.crumb(exc, group, dep)
                if not retry:
                    raise
                last = exc  # type: ignore[assignment]  # retry_in_group: an Exception
                continue
            return self.succeeded(ctx, dep, group, started, result)
        assert last is not None
        raise last

    async def ahandle(self, ctx: CallContext, call_next: Callable[[CallContext], Any]) -> Any:
        try:
            return await self._agroup(ctx, call_next, self.group)
        except Exception as exc:  # any exception a deployment raises, as LiteLLM
            original = exc
        for group in self.fallback_groups(original):
            if not self.to_fallback(original):
                break
            try:
                result = await self._agroup(ctx, call_next, group)
            except Exception:
                self.fallback_event(ctx, False, group, original)
                continue
            self.fallback_event(ctx, True, group, original)
            return result
        raise original

    async def _agroup(self, ctx: CallContext, call_next: Callable[[CallContext], Any],
                      group: str) -> Any:
        if self.context is not None:
            self.context.check_group(group, self.router.deployments(group))
        if self.tags is not None:
            self.tags.check_group(group, self.router.deployments(group))
        if self.mock_error is not None and group == self.group:
            # LiteLLM's mock_testing_*fallbacks: the group fails once, straight to its
            # fallbacks, and no deployment is asked (nor counted, nor cooled down)
            self.attempts.append(_attempt(group, None, None, self.mock_error))
            raise self.mock_error
        tried: list[str] = []
        refused: set[str] = set()
        last: Exception | None = None
        began = time.monotonic()
        for n in range(self.max_retries + 1):
            if n:
                wait = self.retry_wait(n, last, ctx, group, tried, refused, began)
                if wait is None or self.exhausted():
                    break
                await asyncio.sleep(wait)
            dep = self.claim(group, tried, refused)
            if dep is None:
                raise last if last is not None else self.unavailable(group)
            tried.append(dep.id)
            started = time.perf_counter()
            try:
                self.retarget(ctx, dep, group)
                if group != dep.id:
                    await self.router.async_routing_strategy_pre_call_checks(dep, None)
                result = await call_next(ctx)
            except BaseException as exc:
                self.failed(ctx, dep, group, started, exc)
                retry = self.retry_in_group(exc, dep, refused, group, n + 1)
                if retry or n:  # as LiteLLM: the first failure counts once a retry follows
                    self.crumb(exc, group, dep)
                if not retry:
                    raise
                last = exc  # type: ignore[assignment]  # retry_in_group: an Exception
                continue
            return self.succeeded(ctx, dep, group, started, result)
        assert last is not None
        raise last


def _attempt(group: str, dep: Deployment | None, base: str | None, exc: BaseException | None,
             duration: float = 0.0) -> dict[str, Any]:
    """One entry of ``kwargs["attempts"]`` (``dep`` None: the group failed before any
    deployment was asked)."""
    return {
        "model_group": group, "model_id": dep.id if dep else None,
        "deployment": dep.model if dep else None,
        "model": dep.provider_model if dep else None, "provider": dep.provider if dep else None,
        "api_base": base,
        "error": None if exc is None else str(exc),
        "error_type": None if exc is None else type(exc).__name__,
        "status_code": getattr(exc, "status_code", None),
        "duration_s": duration}


def _filtered(result: Any) -> bool:
    """Whether a reply was cut by the provider's content filter."""
    choices = getattr(result, "choices", None) or []
    return any(getattr(c, "finish_reason", None) == "content_filter" for c in choices)


def _total_tokens(usage: Any) -> int:
    if usage is None:
        return 0
    total = getattr(usage, "total_tokens", None)
    if total is None and isinstance(usage, dict):
        total = usage.get("total_tokens")
    try:
        return int(total or 0)
    except (TypeError, ValueError):
        return 0
