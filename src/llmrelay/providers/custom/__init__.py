"""Python handlers as providers: a :class:`llmrelay.CustomLLM` registered in
``llmrelay.custom_provider_map`` under a provider name.

The name gets a registry row (wire ``custom``, see :func:`..registry.set_custom_providers`)
and this translation. Like every provider it does no I/O: it builds the body callbacks see
as the request, says which handler method a call needs and with which of LiteLLM's keyword
arguments (:meth:`HandlerProvider.handler_call`), and normalises what the handler returns
(:meth:`~HandlerProvider.reply`, :meth:`~HandlerProvider.chunk`); the pipeline
(:mod:`llmrelay._inprocess`) makes the call where other providers' requests are sent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...exceptions import APIError, LLMRelayError
from ...types import (
    Delta,
    EmbeddingResponse,
    ModelResponse,
    ModelResponseStream,
    StreamingChoices,
    Usage,
)
from ..base import Call, HTTPRequest

__all__ = ["HandlerProvider", "create"]

# The handler method per call type: (whole reply, stream).
_METHODS = {"completion": ("completion", "streaming"),
            "embedding": ("embedding", None),
            "image_generation": ("image_generation", None)}


class _Any(frozenset[str]):
    """Every parameter: the handler decides what it accepts."""

    def __contains__(self, item: object) -> bool:
        return True


_ALL = _Any()


def _print_verbose(*args: Any, **kwargs: Any) -> None:
    return None


class HandlerProvider:
    """The provider of one registered handler."""

    in_process = True  # the pipeline calls the handler instead of sending a request

    def __init__(self, spec: Any, handler: Any) -> None:
        self.spec = spec
        self.handler = handler

    def supported_params(self, call_type: str) -> frozenset[str]:
        return _ALL

    def surface(self, call_type: str) -> HandlerProvider | None:
        """Call types beyond chat, text and embeddings: images, when the handler has them."""
        return self if call_type in _METHODS else None

    def build_request(self, call: Call) -> HTTPRequest:
        """What callbacks see as the request (``complete_input_dict``)."""
        body: dict[str, Any] = {"model": call.model}
        if call.messages is not None:
            body["messages"] = call.messages
        elif call.input is not None:
            key = "prompt" if call.call_type in ("text_completion", "image_generation") else "input"
            body[key] = call.input
        body.update(call.params)
        if call.stream:
            body["stream"] = True
        return HTTPRequest("POST", f"custom://{self.spec.name}", {}, body)

    def handler_call(self, call: Call, is_async: bool, timeout: Any,
                     metadata: dict[str, Any] | None) -> tuple[Callable[..., Any], bool,
                                                                dict[str, Any]]:
        """(the handler method, whether it is the async one, LiteLLM's keyword arguments).
        The async method is used when the handler has one, else the sync one (the caller
        runs it on a worker thread). Raises BadRequestError for a call type no method
        serves."""
        names = _METHODS.get(call.call_type)
        name = names[1] if names is not None and call.stream else (names or (None,))[0]
        if name is None:
            raise APIError(f"custom provider {self.spec.name!r} cannot serve "
                           f"{call.call_type}{' streams' if call.stream else ''}",
                           llm_provider=self.spec.name, model=call.model)
        method = getattr(self.handler, ("a" + name) if is_async else name, None)
        if method is None:
            method, is_async = getattr(self.handler, name), False
        return method, is_async, self._kwargs(call, is_async, timeout, metadata)

    def _kwargs(self, call: Call, is_async: bool, timeout: Any,
                metadata: dict[str, Any] | None) -> dict[str, Any]:
        kw: dict[str, Any] = {
            "model": call.model, "api_key": call.api_key, "api_base": call.api_base,
            "optional_params": dict(call.params), "timeout": timeout,
            "headers": dict(call.extra_headers or {}), "logging_obj": None, "client": None,
            "print_verbose": _print_verbose,
            "litellm_params": {"metadata": dict(metadata or {}), "api_base": call.api_base,
                               "custom_llm_provider": self.spec.name},
        }
        if call.call_type == "embedding":
            kw.update(input=call.input, model_response=EmbeddingResponse(),
                      aembedding=is_async)
        elif call.call_type == "image_generation":
            from ...types import ImageResponse

            kw.update(prompt=call.input, model_response=ImageResponse())
        else:
            messages = call.messages if call.messages is not None else [
                {"role": "user", "content": call.input if isinstance(call.input, str)
                 else str(call.input)}]
            kw.update(messages=messages, model_response=ModelResponse(), custom_prompt_dict={},
                      encoding=None, acompletion=is_async, logger_fn=None)
        return kw

    def reply(self, call: Call, result: Any) -> Any:
        """The handler's reply as this call's own response object (a dict becomes the
        response type; a response made by another llmrelay call is copied, so its hidden
        params stay that call's)."""
        kind = EmbeddingResponse if call.call_type == "embedding" else ModelResponse
        if isinstance(result, dict):
            return kind(**result)
        dump = getattr(result, "model_dump", None)
        if dump is None or call.call_type == "image_generation":
            return result
        return type(result)(**dump())

    def chunk(self, call: Call, item: Any, index: int) -> Any:
        """One streamed item as a chunk: a ``GenericStreamingChunk`` dict (``text``,
        ``tool_use``, ``is_finished``, ``finish_reason``, ``usage``, ``index``) or a
        chunk object as it is."""
        if not isinstance(item, dict):
            return item
        delta = Delta(content=item.get("text") or None, role="assistant" if index == 0 else None)
        tool = item.get("tool_use")
        if tool:
            delta.tool_calls = [tool]
        finish = (item.get("finish_reason") or "stop") if item.get("is_finished") else None
        chunk = ModelResponseStream(model=call.model, choices=[StreamingChoices(
            index=item.get("index") or 0, delta=delta, finish_reason=finish)])
        usage = item.get("usage")
        if usage:
            chunk.usage = Usage(prompt_tokens=usage.get("prompt_tokens") or 0,
                                completion_tokens=usage.get("completion_tokens") or 0)
        return chunk

    # Not an HTTP wire: the pipeline never parses replies or maps statuses for it.
    def parse_response(self, call: Call, status: int, headers: dict[str, str],
                       body: bytes) -> Any:
        raise self.map_error(call, status, headers, body)

    def stream_decoder(self, call: Call) -> Any:
        raise APIError("a custom provider has no stream decoder", llm_provider=self.spec.name)

    def map_error(self, call: Call, status: int, headers: dict[str, str],
                  body: bytes) -> LLMRelayError:
        return APIError(f"custom provider {self.spec.name!r} got an HTTP reply",
                        status_code=status, llm_provider=self.spec.name, model=call.model)


def create(spec: Any, handler: Any = None) -> HandlerProvider:
    return HandlerProvider(spec, handler)
