"""Client: the call pipeline behind completion/acompletion/embedding/...

One call goes: :meth:`Client.prepare` (check the arguments, resolve the provider, build
the typed :class:`~llmrelay._context.CallContext`) -> :meth:`Client.run` / ``arun``: the
client's layers, outermost first (the cache, then layers added with
:meth:`Client.with_layers`, e.g. a router's), each ``handle(ctx, call_next)`` -> ``_send``:
build the provider request, run the in-band pre-call hooks, send it through the client's
transport with retries, parse -> ``_context.finish``: price it and emit the terminal
callback event. Sync and async twins share every step that does no I/O.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from . import _surfaces  # noqa: F401  (registers the call types beyond chat)
from ._calltypes import call_type as _kind
from ._calltypes import known_params
from ._client_surfaces import SurfaceMethods
from ._context import UNSET, CallContext, fail, finish
from ._params import auth_options, client_defaults, request_headers, split_params
from ._send import asend, send
from ._settings import SETTING_NAMES, ModuleSettings, Settings
from .callbacks.calllog import BareCall, CallLog
from .callbacks.plan import Plan, plan_for
from .callbacks.reentry import current as _delivering
from .callbacks.registry import check_lists
from .cost import PRICING_ARGS as _PRICING
from .cost import custom_pricing
from .exceptions import LLMRelayError
from .layers import Layer
from .providers.base import Call
from .providers.registry import provider_for, resolve_model
from .types import new_call_id

__all__ = ["CallContext", "Client", "default_client"]

_UNSET: Any = UNSET  # the name layers imported before the split
_LIST_NAMES = ("callbacks", "input_callback", "success_callback", "failure_callback")


class Client(SurfaceMethods):
    """The llmrelay API with its own settings and no global state.

    ``Client(callbacks=[...], cache=..., num_retries=2, transport=...)`` (any
    :class:`~llmrelay._settings.Settings` field by name, ``timeout`` for
    ``request_timeout``; or ``settings=Settings(...)``) offers ``completion``,
    ``acompletion``, ``embedding``, ``aembedding``, ``text_completion``,
    ``atext_completion`` and the other surfaces (``image_generation``, ``transcription``,
    ``speech``, ``moderation``, ``rerank`` ..., see :mod:`llmrelay._client_surfaces`)
    exactly like the module functions, which use a default client
    that reads the ``llmrelay.*`` module settings at call time. Raises TypeError for an
    unknown setting.

    Wrappers stack on a client through :meth:`with_layers` and drive one call with
    :meth:`prepare` then :meth:`run` / :meth:`arun`.
    """

    def __init__(self, *, settings: Settings | None = None, timeout: float | None = None,
                 **options: Any) -> None:
        unknown = sorted(set(options) - set(SETTING_NAMES))
        if unknown:
            raise TypeError(f"Client() got unknown setting(s): {', '.join(unknown)}; "
                            f"settings are: {', '.join(SETTING_NAMES)}")
        if timeout is not None:
            options["request_timeout"] = timeout
        if settings is None:
            settings = Settings(**options).copy()  # the lists given are copied
        elif options:
            settings = settings.copy(**options)
        if not isinstance(settings, ModuleSettings):  # the module checks its own on assignment
            check_lists({name: getattr(settings, name) for name in _LIST_NAMES})
        self.settings: Settings = settings
        self.layers: tuple[Layer, ...] = ()  # outermost first, inside the cache

    def with_layers(self, *layers: Layer) -> Client:
        """A client with the same settings (shared, not copied) and ``layers`` added inside
        this client's own (outermost first; the cache stays outermost, so a hit skips
        them). Cheap enough to call per request."""
        clone = Client.__new__(Client)
        clone.settings = self.settings
        clone.layers = (*self.layers, *layers)
        return clone

    # ---- preparation (no I/O) -----------------------------------------------------------
    def prepare(self, call_type: str, model: str, kwargs: dict[str, Any], *,
                messages: Any = None, input: Any = None, is_async: bool = False
                ) -> CallContext:
        """Check a call's arguments and build its context (no I/O).

        ``call_type`` is a declared call type (``"completion"``, ``"embedding"``,
        ``"text_completion"``, ...); ``kwargs`` the caller's keyword arguments. A bad
        argument raises :class:`~llmrelay.LLMRelayError` (a ``BadRequestError`` naming it)
        after its failure event is handed to the callbacks: one terminal event per call,
        even for a call that never reached a provider.
        """
        try:
            return self._build_ctx(call_type, model, messages, input, kwargs, is_async)
        except LLMRelayError as exc:
            self._fail_early(call_type, model, messages, input, kwargs, is_async, exc)
            raise

    def _plan(self, kwargs: dict[str, Any], is_async: bool) -> Plan | None:
        """Who hears about this call: the client's lists (plan cached) plus the call's own
        (resolved for this call only), minus the loggers whose hook this call is made from
        (the re-entrancy guard, when ``suppress_reentrant_callbacks`` is on)."""
        s = self.settings
        base = s.callback_lists()
        get = kwargs.get
        if get("callbacks") or get("input_callback") or get("success_callback") or get(
                "failure_callback"):
            extra = [get(name) for name in _LIST_NAMES]
            lists = [list(b or ()) + list(e or ()) for b, e in zip(base, extra, strict=True)]
            plan = plan_for(lists[0], lists[1], lists[2], lists[3], is_async, cache=False)
        else:
            plan = plan_for(base[0], base[1], base[2], base[3], is_async)
        if plan is not None:
            marked = _delivering()
            if marked and s.suppress_reentrant_callbacks:
                plan = plan.without(marked)
        return plan

    def _redact(self, kwargs: dict[str, Any]) -> bool:
        redact = kwargs.get("turn_off_message_logging")
        if redact is None:
            return bool(self.settings.turn_off_message_logging)
        return bool(redact)

    def _fail_early(self, call_type: str, model: Any, messages: Any, input: Any,
                    kwargs: dict[str, Any], is_async: bool, exc: LLMRelayError) -> None:
        try:
            plan = self._plan(kwargs, is_async)
            if plan is None or not plan.failure:
                return
            name = model if isinstance(model, str) else repr(model)
            provider = kwargs.get("custom_llm_provider") or (
                name.partition("/")[0] if "/" in name else None)
            bare = BareCall(name, provider, messages if isinstance(messages, list) else None,
                            input, bool(kwargs.get("stream")))
            log = CallLog(plan, self.settings, ("a" if is_async else "") + call_type, bare,
                          kwargs.get("metadata"),
                          kwargs.get("litellm_call_id") or new_call_id(),
                          kwargs.get("litellm_trace_id"), is_async, self._redact(kwargs))
            log.failure(exc)
        except Exception:  # reporting a bad call must never hide its real error
            logging.getLogger("llmrelay").debug("failure event for a bad call failed",
                                                exc_info=True)

    def _build_ctx(self, call_type: str, model: str, messages: Any, input: Any,
                   kwargs: dict[str, Any], is_async: bool) -> CallContext:
        settings = self.settings
        kind = _kind(call_type)
        aliases = settings.model_alias_map
        if aliases and model in aliases:
            model = aliases[model]
        spec, model_name = resolve_model(model, kwargs.get("custom_llm_provider"))
        provider = provider_for(spec, kind)
        messages = kind.check(messages, input)
        input = kind.check_input(input)
        drop = kwargs.get("drop_params")
        if drop is None:
            drop = settings.drop_params
        params = split_params(kwargs, provider.supported_params(call_type), bool(drop),
                              spec.name, model_name, known_params(kind))
        stream = bool(params.pop("stream", False))
        if "client" in kwargs:  # an OpenAI SDK client: its key and base URL
            kwargs = {**kwargs, **client_defaults(kwargs)}
        api_key = kwargs.get("api_key") or settings.api_key or spec.env_key()
        api_base = kwargs.get("api_base") or kwargs.get("base_url") or settings.api_base
        headers = request_headers(spec, kwargs, settings)
        call = Call(call_type, model_name, spec, messages, input, params, stream, api_base,
                    api_key, kwargs.get("api_version"), headers, kwargs.get("extra_body"),
                    kwargs.get("azure_ad_token"), auth_options(kwargs))
        ctx = CallContext()
        ctx.settings = settings
        ctx.kind = kind
        ctx.call = call
        ctx.call_type = call_type
        ctx.provider = provider
        ctx.kwargs = kwargs
        ctx.is_async = is_async
        ctx.mock = kwargs.get("mock_response", UNSET)
        ctx.mock_timeout = bool(kwargs.get("mock_timeout"))
        ctx.mock_delay = kwargs.get("mock_delay")
        if not _PRICING.isdisjoint(kwargs):
            ctx.price_model, ctx.price_row = custom_pricing(kwargs)
        ctx.metadata = kwargs.get("metadata")
        ctx.call_id = kwargs.get("litellm_call_id") or new_call_id()
        timeout = kwargs.get("timeout") or kwargs.get("request_timeout")
        ctx.timeout = timeout if timeout is not None else settings.request_timeout
        retries = kwargs.get("num_retries", kwargs.get("max_retries"))
        ctx.num_retries = int(retries if retries is not None else settings.num_retries or 0)
        ctx.retry_delay = float(settings.retry_initial_delay)
        ctx.cache_options = kwargs.get("cache")
        ctx.log = self._make_log(ctx, kwargs, is_async)
        return ctx

    def _make_log(self, ctx: CallContext, kwargs: dict[str, Any], is_async: bool) -> CallLog | None:
        plan = self._plan(kwargs, is_async)
        if plan is None:
            return None
        redact = kwargs.get("turn_off_message_logging")
        if redact is None:
            redact = self.settings.turn_off_message_logging
        return CallLog(plan, self.settings, ("a" + ctx.call_type) if is_async else ctx.call_type,
                       ctx.call, ctx.metadata, ctx.call_id, kwargs.get("litellm_trace_id"),
                       is_async, bool(redact), ctx.kind.prompt_params)

    def _layers(self, ctx: CallContext) -> tuple[Layer, ...]:
        """Outermost first: the cache (a hit skips routing entirely), then ``self.layers``
        (e.g. a router's), then the call type's own layer (it sees the deployment the
        router picked)."""
        cache = self.settings.cache
        layer = getattr(cache, "as_layer", None) if cache is not None else None
        layers = self.layers if layer is None else (layer(), *self.layers)
        own = ctx.kind.layer
        return layers if own is None else (*layers, own(self.settings))

    # ---- running ------------------------------------------------------------------------------
    def run(self, ctx: CallContext) -> Any:
        """Run a prepared call through the layers and send it; the response (or stream).
        Emits the call's one terminal event (a stream's when it ends); raises the call's
        error after its failure event is handed over."""
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

    async def arun(self, ctx: CallContext) -> Any:
        """Async :meth:`run`."""
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
        return self.run(self.prepare("completion", model, kwargs, messages=messages))

    async def acompletion(self, model: str = "", messages: list[Any] | None = None,
                          **kwargs: Any) -> Any:
        """Async :meth:`completion`; with ``stream=True`` an async iterator of chunks."""
        return await self.arun(self.prepare("completion", model, kwargs, messages=messages,
                                            is_async=True))

    def embedding(self, model: str = "", input: Any = None, **kwargs: Any) -> Any:
        """Embeddings for a string or a list of strings: an ``EmbeddingResponse``."""
        return self.run(self.prepare("embedding", model, kwargs, input=input))

    async def aembedding(self, model: str = "", input: Any = None, **kwargs: Any) -> Any:
        """Async :meth:`embedding`."""
        return await self.arun(self.prepare("embedding", model, kwargs, input=input,
                                            is_async=True))

    def text_completion(self, model: str = "", prompt: Any = None, **kwargs: Any) -> Any:
        """A legacy completion (``/v1/completions``): a ``TextCompletionResponse``."""
        return self.run(self.prepare("text_completion", model, kwargs, input=prompt))

    async def atext_completion(self, model: str = "", prompt: Any = None,
                               **kwargs: Any) -> Any:
        """Async :meth:`text_completion`."""
        return await self.arun(self.prepare("text_completion", model, kwargs, input=prompt,
                                            is_async=True))


def _bind(layer_fn: Callable[..., Any], nxt: Callable[[CallContext], Any]
          ) -> Callable[[CallContext], Any]:
    def handler(ctx: CallContext) -> Any:
        return layer_fn(ctx, nxt)
    return handler


_DEFAULT: Client | None = None


def default_client() -> Client:
    """The client behind the module functions: it reads the ``llmrelay.*`` module
    settings at call time."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = Client(settings=ModuleSettings("llmrelay"))
    return _DEFAULT
