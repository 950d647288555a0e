"""Client: the call pipeline behind completion/acompletion/embedding/...

One call goes: check arguments and resolve the provider (``_prepare``) -> wrap in the
configured layers (caching, a router's ...) -> ``_send.send``/``asend``: build the provider
request, run the in-band pre-call hooks, send with retries, parse -> ``_context.finish``:
price it and emit the terminal callback event. Sync and async twins share every step that
does no I/O.
"""

from __future__ import annotations

import logging
import types as _pytypes
from collections.abc import Callable
from typing import Any

from ._context import UNSET, CallContext, fail, finish
from ._params import auth_options, check_messages, split_params
from ._send import asend, send
from .callbacks.calllog import CallLog
from .callbacks.plan import plan_for
from .exceptions import BadRequestError, LLMRelayError
from .providers.base import Call
from .providers.registry import get_provider, resolve_model
from .types import new_call_id

__all__ = ["CallContext", "Client"]

_UNSET: Any = UNSET  # the name layers imported before the split
_SETTINGS: dict[str, Any] = {
    "callbacks": [], "input_callback": [], "success_callback": [], "failure_callback": [],
    "cache": None, "num_retries": None, "request_timeout": None, "drop_params": False,
    "turn_off_message_logging": False, "api_key": None, "api_base": None,
    "retry_initial_delay": 0.5,
}


class Client:
    """The llmrelay API with its own settings and no global state.

    ``Client(callbacks=[...], cache=..., num_retries=2)`` offers ``completion``,
    ``acompletion``, ``embedding``, ``aembedding``, ``text_completion`` and
    ``atext_completion`` exactly like the module functions, which use a default client
    that reads the ``llmrelay.*`` module settings at call time.
    """

    def __init__(self, *, callbacks: list[Any] | None = None,
                 input_callback: list[Any] | None = None,
                 success_callback: list[Any] | None = None,
                 failure_callback: list[Any] | None = None, cache: Any = None,
                 num_retries: int | None = None, timeout: float | None = None,
                 drop_params: bool = False,
                 turn_off_message_logging: bool = False, api_key: str | None = None,
                 api_base: str | None = None, _settings: Any = None) -> None:
        if _settings is not None:
            self._src = _settings
        else:
            self._src = _pytypes.SimpleNamespace(
                callbacks=list(callbacks or []), input_callback=list(input_callback or []),
                success_callback=list(success_callback or []),
                failure_callback=list(failure_callback or []), cache=cache,
                num_retries=num_retries, request_timeout=timeout, drop_params=drop_params,
                turn_off_message_logging=turn_off_message_logging, api_key=api_key,
                api_base=api_base, retry_initial_delay=0.5)
        self.layers: list[Any] = []  # extra layers (outermost first), e.g. a router's

    def _get(self, name: str) -> Any:
        return getattr(self._src, name, _SETTINGS[name])

    # ---- preparation (no I/O) -----------------------------------------------------------
    def _prepare(self, call_type: str, model: str, messages: Any, input: Any,
                 kwargs: dict[str, Any], is_async: bool) -> CallContext:
        """Check arguments and build the call's context. A bad argument raises before any
        I/O, after its failure event is handed to the callbacks (one terminal event per
        call, even for calls that never reached a provider)."""
        try:
            return self._build_ctx(call_type, model, messages, input, kwargs, is_async)
        except LLMRelayError as exc:
            self._fail_early(call_type, model, messages, input, kwargs, is_async, exc)
            raise

    def _lists(self, kwargs: dict[str, Any]) -> list[Any]:
        lists = []
        for name in ("callbacks", "input_callback", "success_callback", "failure_callback"):
            base = self._get(name)
            extra = kwargs.get(name)
            lists.append(list(base) + list(extra) if extra else base)
        return lists

    def _redact(self, kwargs: dict[str, Any]) -> bool:
        redact = kwargs.get("turn_off_message_logging")
        return bool(self._get("turn_off_message_logging") if redact is None else redact)

    def _fail_early(self, call_type: str, model: Any, messages: Any, input: Any,
                    kwargs: dict[str, Any], is_async: bool, exc: LLMRelayError) -> None:
        try:
            lists = self._lists(kwargs)
            plan = plan_for(lists[0], lists[1], lists[2], lists[3], is_async)
            if plan is None or not plan.failure:
                return
            name = model if isinstance(model, str) else repr(model)
            provider = kwargs.get("custom_llm_provider") or (
                name.partition("/")[0] if "/" in name else None)
            log = CallLog(plan, call_type=("a" if is_async else "") + call_type, model=name,
                          provider=provider,
                          messages=messages if isinstance(messages, list) else None,
                          input=input, optional_params={}, metadata=kwargs.get("metadata"),
                          api_base=None, api_key=None,
                          call_id=kwargs.get("litellm_call_id") or new_call_id(),
                          trace_id=kwargs.get("litellm_trace_id"),
                          stream=bool(kwargs.get("stream")), is_async=is_async,
                          redact=self._redact(kwargs))
            log.failure(exc)
        except Exception:  # reporting a bad call must never hide its real error
            logging.getLogger("llmrelay").debug("failure event for a bad call failed",
                                                exc_info=True)

    def _build_ctx(self, call_type: str, model: str, messages: Any, input: Any,
                   kwargs: dict[str, Any], is_async: bool) -> CallContext:
        spec, model_name = resolve_model(model, kwargs.get("custom_llm_provider"))
        provider = get_provider(spec)
        if call_type == "completion":
            messages = check_messages(messages)
        elif input is None or input == "" or input == []:
            what = "prompt" if call_type == "text_completion" else "input"
            raise BadRequestError(f"`{what}` is required for {call_type}", param=what)
        drop = kwargs.get("drop_params")
        if drop is None:
            drop = self._get("drop_params")
        params = split_params(kwargs, provider.supported_params(call_type), bool(drop),
                              spec.name, model_name)
        stream = bool(params.pop("stream", False))
        api_key = kwargs.get("api_key") or self._get("api_key") or spec.env_key()
        api_base = kwargs.get("api_base") or kwargs.get("base_url") or self._get("api_base")
        headers = kwargs.get("extra_headers") or kwargs.get("headers")
        call = Call(call_type, model_name, spec, messages, input, params, stream, api_base,
                    api_key, kwargs.get("api_version"), headers, kwargs.get("extra_body"),
                    kwargs.get("azure_ad_token"), auth_options(kwargs))
        ctx = CallContext()
        ctx.client = self
        ctx.call = call
        ctx.call_type = call_type
        ctx.provider = provider
        ctx.kwargs = kwargs
        ctx.is_async = is_async
        ctx.mock = kwargs.get("mock_response", UNSET)
        ctx.metadata = kwargs.get("metadata")
        ctx.call_id = kwargs.get("litellm_call_id") or new_call_id()
        timeout = kwargs.get("timeout") or kwargs.get("request_timeout")
        ctx.timeout = timeout if timeout is not None else self._get("request_timeout")
        retries = kwargs.get("num_retries", kwargs.get("max_retries"))
        ctx.num_retries = int(retries if retries is not None else self._get("num_retries") or 0)
        ctx.retry_delay = float(self._get("retry_initial_delay"))
        ctx.cache_options = kwargs.get("cache")
        ctx.log = self._make_log(ctx, kwargs, is_async)
        return ctx

    def _make_log(self, ctx: CallContext, kwargs: dict[str, Any], is_async: bool) -> CallLog | None:
        lists = self._lists(kwargs)
        plan = plan_for(lists[0], lists[1], lists[2], lists[3], is_async)
        if plan is None:
            return None
        call = ctx.call
        prefix = "a" if is_async else ""
        return CallLog(plan, call_type=prefix + ctx.call_type, model=call.model,
                       provider=call.provider, messages=call.messages, input=call.input,
                       optional_params=call.params, metadata=ctx.metadata,
                       api_base=call.api_base, api_key=call.api_key, call_id=ctx.call_id,
                       trace_id=kwargs.get("litellm_trace_id"), stream=call.stream,
                       is_async=is_async, redact=self._redact(kwargs))

    def _layers(self, ctx: CallContext) -> list[Any]:
        """Outermost first: the cache (a hit skips routing entirely), then ``self.layers``
        (e.g. a router's)."""
        cache = self._get("cache")
        layer = getattr(cache, "as_layer", None) if cache is not None else None
        if layer is None:
            return self.layers
        return [layer(), *self.layers]

    # ---- running ------------------------------------------------------------------------------
    def _run(self, ctx: CallContext) -> Any:
        handler: Callable[[CallContext], Any] = send
        for layer in reversed(self._layers(ctx)):
            handler = _bind(layer.handle, handler)
        try:
            result = handler(ctx)
        except BaseException as exc:
            fail(ctx, exc)
            raise
        if ctx.call.stream:
            return result
        return finish(ctx, result)

    async def _arun(self, ctx: CallContext) -> Any:
        handler: Callable[[CallContext], Any] = asend
        for layer in reversed(self._layers(ctx)):
            handler = _bind(layer.ahandle, handler)
        try:
            result = await handler(ctx)
        except BaseException as exc:
            fail(ctx, exc)
            raise
        if ctx.call.stream:
            return result
        return finish(ctx, result)

    # ---- public API -------------------------------------------------------------------------
    def completion(self, model: str = "", messages: list[Any] | None = None,
                   **kwargs: Any) -> Any:
        """A chat completion: a :class:`~llmrelay.types.ModelResponse`, or with
        ``stream=True`` an iterator of chunks. Raises :class:`~llmrelay.LLMRelayError`
        subclasses, bad arguments before any network I/O."""
        return self._run(self._prepare("completion", model, messages, None, kwargs, False))

    async def acompletion(self, model: str = "", messages: list[Any] | None = None,
                          **kwargs: Any) -> Any:
        """Async :meth:`completion`; with ``stream=True`` an async iterator of chunks."""
        return await self._arun(self._prepare("completion", model, messages, None, kwargs,
                                              True))

    def embedding(self, model: str = "", input: Any = None, **kwargs: Any) -> Any:
        """Embeddings for a string or a list of strings: an ``EmbeddingResponse``."""
        return self._run(self._prepare("embedding", model, None, input, kwargs, False))

    async def aembedding(self, model: str = "", input: Any = None, **kwargs: Any) -> Any:
        """Async :meth:`embedding`."""
        return await self._arun(self._prepare("embedding", model, None, input, kwargs, True))

    def text_completion(self, model: str = "", prompt: Any = None, **kwargs: Any) -> Any:
        """A legacy completion (``/v1/completions``): a ``TextCompletionResponse``."""
        return self._run(self._prepare("text_completion", model, None, prompt, kwargs, False))

    async def atext_completion(self, model: str = "", prompt: Any = None,
                               **kwargs: Any) -> Any:
        """Async :meth:`text_completion`."""
        return await self._arun(self._prepare("text_completion", model, None, prompt, kwargs,
                                              True))


def _bind(layer_fn: Callable[..., Any], nxt: Callable[[CallContext], Any]
          ) -> Callable[[CallContext], Any]:
    def handler(ctx: CallContext) -> Any:
        return layer_fn(ctx, nxt)
    return handler
