"""``CustomLLM``: a provider written in Python, as in LiteLLM.

::

    class MyLLM(llmrelay.CustomLLM):
        def completion(self, *args, **kwargs) -> llmrelay.ModelResponse: ...
        def streaming(self, *args, **kwargs) -> Iterator[GenericStreamingChunk]: ...

    llmrelay.custom_provider_map = [{"provider": "my-llm", "custom_handler": MyLLM()}]
    llmrelay.completion(model="my-llm/any-model", messages=[...])

The handler becomes the provider ``my-llm`` (``llmrelay.providers.custom``): calls to
``my-llm/<model>`` go through the whole pipeline (callbacks, cost, caching, the Router)
and, where another provider would send an HTTP request, call the handler's method for the
call type and mode: ``completion`` / ``acompletion``, ``streaming`` / ``astreaming``,
``embedding`` / ``aembedding``, ``image_generation`` / ``aimage_generation``. A method the
handler does not override raises :class:`CustomLLMError` (a 500 ``APIError``). The async
ones default to the sync ones run on a worker thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

from .exceptions import APIError
from .types.utils import GenericStreamingChunk

__all__ = ["CustomLLM", "CustomLLMError", "GenericStreamingChunk"]


class CustomLLMError(APIError):
    """A :class:`CustomLLM` handler lacks the method a call needs."""


class CustomLLM:
    """Base class of Python providers; override the methods your provider serves.

    Each method gets LiteLLM's keyword arguments (``model``, ``messages`` or ``input`` or
    ``prompt``, ``optional_params``, ``api_key``, ``api_base``, ``headers``, ``timeout``,
    ``litellm_params``, ``model_response``, ...): define them as ``(self, *args,
    **kwargs)`` or name the ones you use. ``completion`` returns a
    :class:`~llmrelay.ModelResponse` (or a dict of one), ``streaming`` an iterator of
    :class:`GenericStreamingChunk` dicts (or of ``ModelResponseStream`` chunks),
    ``embedding`` an :class:`~llmrelay.EmbeddingResponse`, ``image_generation`` an
    ``ImageResponse``.
    """

    def completion(self, *args: Any, **kwargs: Any) -> Any:
        raise CustomLLMError(f"{type(self).__name__} does not implement completion()")

    def streaming(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        raise CustomLLMError(f"{type(self).__name__} does not implement streaming()")

    def embedding(self, *args: Any, **kwargs: Any) -> Any:
        raise CustomLLMError(f"{type(self).__name__} does not implement embedding()")

    def image_generation(self, *args: Any, **kwargs: Any) -> Any:
        raise CustomLLMError(f"{type(self).__name__} does not implement image_generation()")

    async def acompletion(self, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(self.completion, *args, **kwargs)

    async def astreaming(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        chunks = await asyncio.to_thread(lambda: iter(self.streaming(*args, **kwargs)))
        end = object()
        while (chunk := await asyncio.to_thread(next, chunks, end)) is not end:
            yield chunk

    async def aembedding(self, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(self.embedding, *args, **kwargs)

    async def aimage_generation(self, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(self.image_generation, *args, **kwargs)
