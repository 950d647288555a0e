"""``POST /v1/chat/completions``, ``/v1/completions``, ``/v1/embeddings`` and the other
LLM endpoints of the request contract (images, audio, moderations, rerank, ...: see
:func:`handler`).

One request: authenticate (master key or virtual key, from the in-process key cache) ->
read and check the body (once) -> key limits and budget (429 / 400 ``budget_exceeded``,
before any upstream call) -> ``async_pre_call_hook`` -> the upstream call through the model
table (``async_moderation_hook`` concurrently) -> ``async_post_call_success_hook`` ->
response, plus one usage record for the spend writer (never a database write on the request
path). Failures go through ``async_post_call_failure_hook`` and come back as OpenAI error
bodies with the upstream status class kept.

Every response carries ``x-llmrelay-call-id`` (also the SDK's ``litellm_call_id``, so
callbacks and spend logs share it), ``x-llmrelay-response-cost`` (USD, or ``unknown`` when
the model is unpriced or the response is a stream, whose cost is sent in the final usage
chunk as ``usage.cost`` when the client asks for usage) and
``x-llmrelay-overhead-duration-ms`` (the proxy's own time, upstream excluded), and
LiteLLM's ``x-litellm-*`` headers (see :mod:`..headers`).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from datetime import datetime, timezone
from typing import Any

from starlette.responses import Response

from ...types.lazy_chunks import LAZY_CHUNKS
from ..answers import AudioResponse, answer, error_response
from ..contract import ENDPOINTS
from ..errors import ProxyError, for_caller, from_exception
from ..headers import litellm_headers
from ..key_settings import apply_alias, key_tags
from ..keys.models import SpendRecord
from ..keys.reserve import worst_case_cost
from ..lean import AnyRequest
from ..raw import raw_answer
from ..request import build_kwargs, model_of, read_request
from ..request_policy import apply_to_body
from ..sse import SSEResponse
from ..streaming import StreamRun

__all__ = ["LLMRequest", "chat_completions", "completions", "embeddings"]

log = logging.getLogger("llmrelay.proxy")


async def chat_completions(request: AnyRequest) -> Response:
    return await LLMRequest(request, "completion").run()


async def completions(request: AnyRequest) -> Response:
    return await LLMRequest(request, "text_completion").run()


async def embeddings(request: AnyRequest) -> Response:
    return await LLMRequest(request, "embeddings").run()


# The endpoints whose routes are listed one by one in routes/__init__.py.
OWN_ROUTES = frozenset({"completion", "text_completion", "embeddings"})


def handler(call_type: str) -> Any:
    """The route handler of an LLM endpoint declared in the request contract."""
    async def handle(request: AnyRequest) -> Response:
        return await LLMRequest(request, call_type).run()
    handle.__name__ = call_type
    return handle


def _tokens(usage: Any) -> tuple[int, int, int]:
    if usage is None:
        return 0, 0, 0
    if isinstance(usage, dict):
        prompt = int(usage.get("prompt_tokens") or 0)
        completion = int(usage.get("completion_tokens") or 0)
        return prompt, completion, int(usage.get("total_tokens") or prompt + completion)
    prompt = int(getattr(usage, "prompt_tokens", 0) or 0)
    completion = int(getattr(usage, "completion_tokens", 0) or 0)
    return prompt, completion, int(getattr(usage, "total_tokens", 0) or prompt + completion)


def new_call_id() -> str:
    """A version-7 UUID string: 48 bits of unix milliseconds, then 74 random bits (no
    ``os.urandom`` system call per request: call ids need uniqueness, not secrecy). Ids
    that grow with time keep the unique index on ``spend_logs.call_id`` appending at its
    right edge instead of touching a random page per row."""
    rand = _random_bits(74)
    value = ((time.time_ns() // 1_000_000) << 80 | 0x7 << 76 | (rand >> 62) << 64
             | 0b10 << 62 | rand & _LOW_62)
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_random_bits = random.getrandbits
_LOW_62 = (1 << 62) - 1


class LLMRequest:
    """One LLM request through the proxy (see the module docstring for the steps)."""

    __slots__ = ("accounted", "auth", "call_id", "call_type", "data", "endpoint", "group",
                 "hooks", "lease", "levels", "request", "served", "start_time", "state", "t0",
                 "upstream")

    def __init__(self, request: AnyRequest, call_type: str) -> None:
        self.request = request
        self.state = request.app.state.proxy
        self.call_type = call_type
        self.endpoint = ENDPOINTS[call_type]
        self.call_id = new_call_id()
        self.t0 = time.perf_counter()
        self.start_time = datetime.now(timezone.utc)
        self.upstream = 0.0
        self.auth: Any = None
        self.data: dict[str, Any] | None = None
        self.group: str | None = None
        self.lease: Any = None
        self.hooks: Any = None
        self.accounted = False
        self.served: Any = None  # the upstream response, once there is one
        self.levels: Any = None  # hierarchy_gate.RequestScope: the levels above the key

    async def run(self) -> Response:
        metrics = self.state.metrics
        metrics.in_flight += 1
        streaming = False
        try:
            response = await self._serve()
            streaming = isinstance(response, SSEResponse)
            return response
        except Exception as exc:
            return await self._fail(exc)
        finally:
            if not streaming:
                metrics.in_flight -= 1
                if not self.accounted:  # cancelled: still hand the limiter lease back
                    self.account("failure", 499, None, 0.0, None)

    async def _serve(self) -> Response:
        state = self.state
        self.auth = auth = await state.auth.authenticate(self.request.headers)
        limit = state.cfg.global_max_parallel_requests
        if limit is not None and state.metrics.in_flight > limit:  # this one included
            raise ProxyError(429, f"the proxy is serving its limit of {limit} requests at "
                             f"once (general_settings.global_max_parallel_requests); retry "
                             f"shortly", type="rate_limit_error", code="rate_limit_exceeded",
                             headers={"retry-after": "1"})
        self.data = data = await read_request(self.request, self.call_type, auth,
                                              state.cfg.policy, state.cfg.max_request_size)
        if not data.get("model"):  # general_settings.moderation_model, else the endpoint's
            default = state.cfg.moderation_model if self.call_type == "moderation" else None
            if default or self.endpoint.default_model:
                data["model"] = default or self.endpoint.default_model
        apply_to_body(state.cfg, data, self.call_type)
        apply_alias(auth.record, data)
        self.group = group = self._model_group(data)
        spend = state.spend
        if spend is not None and not spend.accepting:
            raise _spool_refusal(spend)
        rec = auth.record
        if rec is not None:
            state.limiter.check(state.gate.key_view(rec), group)
        self.levels = levels = await state.gate.scope(auth, data, self.request.headers, group)
        if rec is not None or levels.levels:
            self.lease = await state.limiter.admit(
                auth, self.call_id, lambda: worst_case_cost(
                    state.models.groups[group], self.call_type, data),
                spend.unflushed_spend if spend is not None else None, levels.levels)
        hooks = self.hooks = state.hooks.current()
        if hooks.pre_call:
            data = await state.hooks.pre_call(hooks, auth, data, self.call_type)
            self.data = data
            self.group = group = self._model_group(data)
        kwargs = build_kwargs(data, auth, self.call_id, group)
        if auth.team_id is not None and auth.team_id in state.cfg.team_callbacks:
            kwargs.update(state.cfg.team_callbacks[auth.team_id])  # default_team_settings
        for name in self.endpoint.forward_headers:  # e.g. anthropic-beta, to the upstream
            value = self.request.headers.get(name)
            if value:
                kwargs.setdefault("extra_headers", {})[name] = value
        if self.endpoint.answer == "audio":
            return await self._stream(kwargs, "audio")
        if data.get("stream") and self.endpoint.streams:
            return await self._stream(kwargs, self.endpoint.stream_style)
        response = self.served = await self._upstream(kwargs)
        if hooks.success:
            response = await state.hooks.post_success(hooks, data, auth, response)
        hidden = getattr(response, "_hidden_params", None) or {}
        cost = hidden.get("response_cost")
        headers = self.headers(cost, hidden)
        self.account("success", 200, getattr(response, "usage", None), cost, hidden)
        raw = raw_answer(self.call_type, hooks, response, headers)  # the upstream's bytes
        return raw if raw is not None else answer(data, response, headers)

    def _model_group(self, data: dict[str, Any]) -> str:
        group = model_of(data)
        why = self.state.cfg.unservable.get(group)
        if why is not None:
            raise ProxyError(400, f"model group `{group}` has no deployment llmrelay can "
                             f"serve: {why}", param="model", code="model_not_served")
        if group not in self.state.models:
            raise ProxyError(404, f"The model `{group}` does not exist on this proxy; "
                             f"GET /v1/models lists the available models", param="model",
                             type="invalid_request_error", code="model_not_found")
        return group

    async def _upstream(self, kwargs: dict[str, Any]) -> Any:
        start = time.perf_counter()
        try:
            call = self.state.models.call(self.call_type, self.group, kwargs)
            if self.hooks.moderation:
                return await self._with_moderation(call)
            return await call
        finally:
            self.upstream += time.perf_counter() - start

    async def _with_moderation(self, call: Any) -> Any:
        """The upstream call with the moderation hooks alongside; a hook raising cancels
        the call (or closes the stream it opened) and fails the request."""
        state = self.state
        up = asyncio.ensure_future(call)
        mod = asyncio.ensure_future(state.hooks.moderation(self.hooks, self.data, self.auth,
                                                           self.call_type))
        try:
            await asyncio.wait((up, mod), return_when=asyncio.FIRST_EXCEPTION)
            if mod.done() and mod.exception() is not None:
                if up.done() and up.exception() is None:
                    _close(up.result())
                raise mod.exception()  # type: ignore[misc]
            if up.done() and up.exception() is not None:
                raise up.exception()  # type: ignore[misc]
            return up.result()
        finally:
            for task in (up, mod):
                if not task.done():
                    task.cancel()
                elif not task.cancelled():
                    task.exception()  # retrieved: no "never retrieved" warning

    async def _stream(self, kwargs: dict[str, Any], style: str = "chat") -> Response:
        opts = self.data.get("stream_options") if self.data else None
        opts = opts if isinstance(opts, dict) else {}
        kwargs["stream"] = True
        if style == "chat":
            # Usage is always requested upstream to price the stream; the usage chunk is
            # passed on only when the client asked for it.
            kwargs["stream_options"] = {**opts, "include_usage": True}
        hooks = self.hooks
        # no hook reads chat chunks: they stay the upstream's bytes until something reads
        # them (types/lazy_chunks.py); the decoder reads this when the stream opens
        token = (LAZY_CHUNKS.set(True) if style == "chat"
                 and not (hooks.stream_chunk or hooks.iterator) else None)
        try:
            stream = await self._upstream(kwargs)
        finally:
            if token is not None:
                LAZY_CHUNKS.reset(token)
        run = StreamRun(self, stream, bool(opts.get("include_usage")), style)
        hidden = getattr(stream, "_hidden_params", None) or {}
        headers = self.headers(None, hidden)
        if style == "audio":
            kind = (hidden.get("response_headers") or {}).get("content-type") or "audio/mpeg"
            return AudioResponse(run.events(), kind, headers, on_close=run.finish,
                                 on_disconnect=run.abandon)
        return SSEResponse(run.events(), headers, on_close=run.finish,
                           on_disconnect=run.abandon)

    def headers(self, cost: float | None, hidden: dict[str, Any] | None) -> dict[str, str]:
        out: dict[str, str] = {}
        extra = hidden.get("additional_headers") if hidden else None
        if extra:
            for name, value in extra.items():
                if value is not None:
                    out[str(name)] = str(value)
        overhead = time.perf_counter() - self.t0 - self.upstream
        lite = litellm_headers(self, cost, hidden, overhead)
        out.update(lite)
        out["x-llmrelay-call-id"] = self.call_id
        if self.levels is not None and self.levels.soft:
            out["x-llmrelay-soft-budget-exceeded"] = ", ".join(self.levels.soft)
        # the same figures as LiteLLM's headers, formatted once
        out["x-llmrelay-response-cost"] = lite.get("x-litellm-response-cost") or "unknown"
        out["x-llmrelay-overhead-duration-ms"] = lite["x-litellm-overhead-duration-ms"]
        return out

    def account(self, status: str, http_status: int, usage: Any, cost: float | None,
                hidden: dict[str, Any] | None) -> None:
        """Once per request: metrics, the limiter lease back, and the usage record.
        Never raises: bookkeeping must not fail a request that was served."""
        if self.accounted:
            return
        self.accounted = True
        state = self.state
        prompt, completion, total = _tokens(usage)
        seconds = time.perf_counter() - self.t0
        try:
            state.metrics.observe(self.endpoint.paths[0], self.group or "unknown", http_status,
                                  prompt, completion, cost, seconds)
            if self.lease is not None:
                state.limiter.release(self.lease, total, cost)
            if self.group is not None and state.spend is not None and self.endpoint.accounted:
                state.spend.record(self._spend_record(status, prompt, completion, total, cost,
                                                      seconds, hidden))
        except Exception:
            log.exception("llmrelay proxy: accounting for call %s failed", self.call_id)

    def _spend_record(self, status: str, prompt: int, completion: int, total: int,
                      cost: float | None, seconds: float,
                      hidden: dict[str, Any] | None) -> SpendRecord:
        dep = self.state.models.deployment_for(self.group, hidden)
        auth, data, hidden = self.auth, self.data or {}, hidden or {}
        meta = data.get("metadata")
        tags = (meta.get("tags") if isinstance(meta, dict) else None) or data.get("tags")
        return SpendRecord(
            call_id=self.call_id, key_hash=auth.token, key_alias=auth.key_alias,
            user_id=auth.user_id, team_id=auth.team_id, model=dep.model,
            model_group=self.group, deployment=dep.id, provider=dep.provider,
            api_base=dep.api_base or hidden.get("api_base"), prompt_tokens=prompt,
            completion_tokens=completion, total_tokens=total, cost=float(cost or 0.0),
            latency_ms=seconds * 1000.0, status=status, start_time=self.start_time,
            end_time=datetime.now(timezone.utc), cache_hit=bool(hidden.get("cache_hit")),
            request_tags=_tags(tags, key_tags(auth.record)),
            end_user=data.get("user") if isinstance(data.get("user"), str) else None,
            organization_id=self.levels.organization_id if self.levels is not None else None,
            **self._bodies(data))

    def _bodies(self, data: dict[str, Any]) -> dict[str, Any]:
        """``messages`` and ``response`` for the usage row (see ``bodies.py``)."""
        if not self.state.keep_bodies:
            return {}
        from ..bodies import request_json, response_json

        return {"messages": request_json(data), "response": response_json(self.served)}

    async def fail_hooks(self, exc: BaseException) -> BaseException:
        """Run ``async_post_call_failure_hook`` (once the body is known)."""
        if self.data is None or self.auth is None:
            return exc
        hooks = self.hooks or self.state.hooks.current()
        if not hooks.failure:
            return exc
        reported: BaseException = await self.state.hooks.post_failure(hooks, self.data, exc,
                                                                       self.auth)
        return reported

    async def _fail(self, exc: BaseException) -> Response:
        exc = await self.fail_hooks(exc)
        err = for_caller(from_exception(exc), exc, self.auth, self.call_id)
        # A request failing after the upstream answered (a post-call hook raised) still
        # costs what the upstream charged.
        served = self.served
        hidden = getattr(served, "_hidden_params", None) if served is not None else None
        cost = (hidden or {}).get("response_cost") or 0.0
        headers = self.headers(cost, None)
        headers.update(err.headers)
        self.account("failure", err.status_code, getattr(served, "usage", None), cost, hidden)
        return error_response(self.endpoint, err, headers)


def _tags(request_tags: Any, key: list[str]) -> list[str]:
    """A usage record's tags: the request's, then the key's own (LiteLLM's key tags)."""
    out = [str(t) for t in request_tags] if isinstance(request_tags, list) else []
    return out + [t for t in key if t not in out]


def _spool_refusal(writer: Any) -> ProxyError:
    """503 while usage records cannot be spooled: answering would break the promise that
    every answered request is recorded."""
    reason = ("the spend spool cannot be written" if not writer.stats()["spool_writable"]
              else f"the spend spool is full ({writer.spool.folder_bytes} bytes of "
                   f"{writer.spool.max_bytes}; the database is not taking the backlog)")
    return ProxyError(503, f"The proxy cannot account for new requests right now: {reason}. "
                      "Retry later.", code="spend_spool_unavailable",
                      headers={"retry-after": "5"})


def _close(stream: Any) -> None:
    close = getattr(stream, "close", None)
    if callable(close):
        try:
            close()
        except Exception:
            pass
