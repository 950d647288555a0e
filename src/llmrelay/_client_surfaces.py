"""The :class:`~llmrelay.Client` methods of the surfaces beyond chat, text and embeddings,
with LiteLLM's names and argument order: images, audio, moderation, rerank, Anthropic's
Messages API and OpenAI's Responses API.

Each is ``prepare`` + ``run`` (``arun`` for the async twin) of its call type, so every one
goes through the same pipeline as a chat call: the client's layers (cache, router),
retries, pricing and exactly one terminal callback event.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._context import CallContext

__all__ = ["SurfaceMethods"]

DEFAULT_IMAGE_MODEL = "dall-e-2"  # OpenAI's default when no model is named
DEFAULT_MODERATION_MODEL = "omni-moderation-latest"


class SurfaceMethods:
    """Mixed into :class:`~llmrelay.Client`."""

    def prepare(self, call_type: str, model: str, kwargs: dict[str, Any], *,
                messages: Any = None, input: Any = None, is_async: bool = False
                ) -> CallContext:
        raise NotImplementedError

    def run(self, ctx: CallContext) -> Any:
        raise NotImplementedError

    async def arun(self, ctx: CallContext) -> Any:
        raise NotImplementedError

    # ---- images -------------------------------------------------------------------------
    def image_generation(self, prompt: str | None = None, model: str | None = None,
                         **kwargs: Any) -> Any:
        """Images for ``prompt`` (``/v1/images/generations``): an
        :class:`~llmrelay.types.ImageResponse`. ``n``, ``size``, ``quality``, ``style``,
        ``response_format`` as OpenAI defines them; priced per image by quality and size
        (or by tokens for ``gpt-image-*``)."""
        return self.run(self.prepare("image_generation", model or DEFAULT_IMAGE_MODEL,
                                     kwargs, input=prompt))

    async def aimage_generation(self, prompt: str | None = None, model: str | None = None,
                                **kwargs: Any) -> Any:
        """Async :meth:`image_generation`."""
        return await self.arun(self.prepare("image_generation", model or DEFAULT_IMAGE_MODEL,
                                            kwargs, input=prompt, is_async=True))

    # ---- audio --------------------------------------------------------------------------
    def transcription(self, model: str = "", file: Any = None, **kwargs: Any) -> Any:
        """The text of an audio ``file`` (a path, bytes, a binary file or a ``(name,
        content)`` tuple), uploaded as multipart: a
        :class:`~llmrelay.types.TranscriptionResponse`. Priced per second of audio."""
        return self.run(self.prepare("transcription", model, kwargs, input=file))

    async def atranscription(self, model: str = "", file: Any = None, **kwargs: Any) -> Any:
        """Async :meth:`transcription`."""
        return await self.arun(self.prepare("transcription", model, kwargs, input=file,
                                            is_async=True))

    def speech(self, model: str = "", input: str | None = None, voice: Any = None,
               **kwargs: Any) -> Any:
        """Speech for ``input``: an :class:`~llmrelay.types.HttpxBinaryResponseContent`
        (``.content``, ``.stream_to_file(path)`` ...), or with ``stream=True`` an iterator
        of audio byte chunks as the upstream sends them. Priced per character."""
        if voice is not None:
            kwargs["voice"] = voice
        return self.run(self.prepare("speech", model, kwargs, input=input))

    async def aspeech(self, model: str = "", input: str | None = None, voice: Any = None,
                      **kwargs: Any) -> Any:
        """Async :meth:`speech` (``stream=True``: an async iterator of byte chunks)."""
        if voice is not None:
            kwargs["voice"] = voice
        return await self.arun(self.prepare("speech", model, kwargs, input=input,
                                            is_async=True))

    # ---- moderation and rerank ----------------------------------------------------------
    def moderation(self, input: Any = None, model: str | None = None, **kwargs: Any) -> Any:
        """OpenAI's moderation verdicts for ``input`` (a string or a list): an
        :class:`~llmrelay.types.OpenAIModerationResponse`."""
        return self.run(self.prepare("moderation", model or DEFAULT_MODERATION_MODEL, kwargs,
                                     input=input))

    async def amoderation(self, input: Any = None, model: str | None = None,
                          **kwargs: Any) -> Any:
        """Async :meth:`moderation`."""
        return await self.arun(self.prepare("moderation", model or DEFAULT_MODERATION_MODEL,
                                            kwargs, input=input, is_async=True))

    def rerank(self, model: str = "", query: str | None = None,
               documents: list[Any] | None = None, **kwargs: Any) -> Any:
        """``documents`` ranked by relevance to ``query`` (Cohere's rerank): a
        :class:`~llmrelay.types.RerankResponse`. ``top_n``, ``return_documents`` (default
        True), ``rank_fields``, ``max_tokens_per_doc``. Priced per search unit."""
        kwargs["documents"] = documents
        return self.run(self.prepare("rerank", model, kwargs, input=query))

    async def arerank(self, model: str = "", query: str | None = None,
                      documents: list[Any] | None = None, **kwargs: Any) -> Any:
        """Async :meth:`rerank`."""
        kwargs["documents"] = documents
        return await self.arun(self.prepare("rerank", model, kwargs, input=query,
                                            is_async=True))

    # ---- Anthropic's Messages API -------------------------------------------------------
    def anthropic_messages(self, max_tokens: int | None = None,
                           messages: list[Any] | None = None, model: str = "",
                           **kwargs: Any) -> Any:
        """A call in Anthropic's Messages API shape, to any model: an
        :class:`~llmrelay.types.AnthropicMessagesResponse`, or with ``stream=True`` an
        iterator of :class:`~llmrelay.types.AnthropicEvent` (the SSE bytes of each event,
        parsed in ``.data``). Anthropic models get the request as it is; every other
        provider serves it through its chat API (tools, images, thinking and usage
        translated both ways)."""
        if max_tokens is not None:
            kwargs["max_tokens"] = max_tokens
        return self.run(self.prepare("anthropic_messages", model, kwargs, messages=messages))

    async def aanthropic_messages(self, max_tokens: int | None = None,
                                  messages: list[Any] | None = None, model: str = "",
                                  **kwargs: Any) -> Any:
        """Async :meth:`anthropic_messages` (``stream=True``: an async iterator)."""
        if max_tokens is not None:
            kwargs["max_tokens"] = max_tokens
        return await self.arun(self.prepare("anthropic_messages", model, kwargs,
                                            messages=messages, is_async=True))

    # ---- OpenAI's Responses API ---------------------------------------------------------
    def responses(self, input: Any = None, model: str = "", **kwargs: Any) -> Any:
        """A Responses API call to any model: a
        :class:`~llmrelay.types.ResponsesAPIResponse`, or with ``stream=True`` an iterator
        of typed :class:`~llmrelay.types.ResponsesStreamEvent`. OpenAI and Azure answer it
        natively; every other provider through its chat API, the turns of a
        ``previous_response_id`` kept by the client (see
        :mod:`llmrelay._responses_state`)."""
        return self.run(self.prepare("responses", model, kwargs, input=input))

    async def aresponses(self, input: Any = None, model: str = "", **kwargs: Any) -> Any:
        """Async :meth:`responses` (``stream=True``: an async iterator of events)."""
        return await self.arun(self.prepare("responses", model, kwargs, input=input,
                                            is_async=True))

    def get_responses(self, response_id: str, **kwargs: Any) -> Any:
        """A stored response, from the client's store or the upstream keeping it."""
        from ._responses_stored import get_stored

        return get_stored(self, response_id, kwargs)

    async def aget_responses(self, response_id: str, **kwargs: Any) -> Any:
        """Async :meth:`get_responses`."""
        from ._responses_stored import aget_stored

        return await aget_stored(self, response_id, kwargs)

    def delete_responses(self, response_id: str, **kwargs: Any) -> Any:
        """Delete a stored response: a ``DeleteResponseResult``."""
        from ._responses_stored import delete_stored

        return delete_stored(self, response_id, kwargs)

    async def adelete_responses(self, response_id: str, **kwargs: Any) -> Any:
        """Async :meth:`delete_responses`."""
        from ._responses_stored import adelete_stored

        return await adelete_stored(self, response_id, kwargs)
