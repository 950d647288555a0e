"""The Router's calls beyond chat, text and embeddings, with LiteLLM's names and argument
order: each is routed, retried, cooled down and failed over exactly like
:meth:`~llmrelay.Router.completion` (one terminal callback event per call)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._client import CallContext, Client

__all__ = ["RouterSurfaces"]


class RouterSurfaces:
    """Mixed into :class:`~llmrelay.Router`."""

    @property
    def client(self) -> Client:
        raise NotImplementedError

    def _start(self, call_type: str, model: str, messages: Any, input: Any,
               kwargs: dict[str, Any], is_async: bool) -> tuple[Client, CallContext]:
        raise NotImplementedError

    def _call(self, call_type: str, model: str, input: Any, kwargs: dict[str, Any]) -> Any:
        client, ctx = self._start(call_type, model, None, input, kwargs, False)
        return client.run(ctx)

    async def _acall(self, call_type: str, model: str, input: Any,
                     kwargs: dict[str, Any]) -> Any:
        client, ctx = self._start(call_type, model, None, input, kwargs, True)
        return await client.arun(ctx)

    def image_generation(self, prompt: str, model: str, **kwargs: Any) -> Any:
        """Images from a deployment of group ``model`` (errors as ``completion``)."""
        return self._call("image_generation", model, prompt, kwargs)

    async def aimage_generation(self, prompt: str, model: str, **kwargs: Any) -> Any:
        """Async :meth:`image_generation`."""
        return await self._acall("image_generation", model, prompt, kwargs)

    def transcription(self, file: Any, model: str, **kwargs: Any) -> Any:
        """A transcription of ``file`` from a deployment of group ``model``."""
        return self._call("transcription", model, file, kwargs)

    async def atranscription(self, file: Any, model: str, **kwargs: Any) -> Any:
        """Async :meth:`transcription`."""
        return await self._acall("transcription", model, file, kwargs)

    def speech(self, model: str, input: str, voice: Any = None, **kwargs: Any) -> Any:
        """Speech for ``input`` from a deployment of group ``model``."""
        if voice is not None:
            kwargs["voice"] = voice
        return self._call("speech", model, input, kwargs)

    async def aspeech(self, model: str, input: str, voice: Any = None, **kwargs: Any) -> Any:
        """Async :meth:`speech`."""
        if voice is not None:
            kwargs["voice"] = voice
        return await self._acall("speech", model, input, kwargs)

    def moderation(self, model: str, input: Any, **kwargs: Any) -> Any:
        """Moderation verdicts from a deployment of group ``model``."""
        return self._call("moderation", model, input, kwargs)

    async def amoderation(self, model: str, input: Any, **kwargs: Any) -> Any:
        """Async :meth:`moderation`."""
        return await self._acall("moderation", model, input, kwargs)

    def rerank(self, model: str, query: str, documents: list[Any], **kwargs: Any) -> Any:
        """``documents`` reranked by a deployment of group ``model``."""
        kwargs["documents"] = documents
        return self._call("rerank", model, query, kwargs)

    async def arerank(self, model: str, query: str, documents: list[Any],
                      **kwargs: Any) -> Any:
        """Async :meth:`rerank`."""
        kwargs["documents"] = documents
        return await self._acall("rerank", model, query, kwargs)

    # ---- Anthropic's Messages API -------------------------------------------------------
    def anthropic_messages(self, model: str, messages: list[Any],
                           max_tokens: int | None = None, **kwargs: Any) -> Any:
        """A Messages API call to a deployment of group ``model``."""
        if max_tokens is not None:
            kwargs["max_tokens"] = max_tokens
        client, ctx = self._start("anthropic_messages", model, messages, None, kwargs, False)
        return client.run(ctx)

    async def aanthropic_messages(self, model: str, messages: list[Any],
                                  max_tokens: int | None = None, **kwargs: Any) -> Any:
        """Async :meth:`anthropic_messages`."""
        if max_tokens is not None:
            kwargs["max_tokens"] = max_tokens
        client, ctx = self._start("anthropic_messages", model, messages, None, kwargs, True)
        return await client.arun(ctx)

    # ---- OpenAI's Responses API ---------------------------------------------------------
    def responses(self, model: str, input: Any, **kwargs: Any) -> Any:
        """A Responses API call to a deployment of group ``model``."""
        return self._call("responses", model, input, kwargs)

    async def aresponses(self, model: str, input: Any, **kwargs: Any) -> Any:
        """Async :meth:`responses`."""
        return await self._acall("responses", model, input, kwargs)

    async def acount_tokens(self, model: str, messages: list[Any], **kwargs: Any
                            ) -> dict[str, int]:
        """``{"input_tokens": n}`` for a Messages API request to group ``model``, counted
        for its first usable deployment (see :func:`llmrelay.anthropic.messages.count_tokens`).
        When that deployment cannot answer (connection refused, timeout, 5xx, 429) the
        next one of the group counts, then those of the group's ``fallbacks``."""
        from ..anthropic_interface.messages import acount_tokens
        from ..exceptions import APIConnectionError, InternalServerError, RateLimitError, Timeout

        given = {k: v for k, v in kwargs.items() if k in _COUNT_FIELDS}
        last: Exception | None = None
        for dep in self._count_candidates(model):
            own = {k: v for k, v in dep.params.items() if k in _COUNT_CREDENTIALS}
            try:
                return await acount_tokens(dep.model, messages, client=self.client,
                                           **own, **given)
            except (APIConnectionError, Timeout, InternalServerError, RateLimitError) as exc:
                last = exc
        assert last is not None  # _count_candidates yields at least one deployment or raises
        raise last

    def _count_candidates(self, model: str) -> list[Any]:
        """The deployments a count may ask, in order: the group's first usable one, the
        group's others, then those of its fallback groups (``fallbacks``, ``"*"``)."""
        first = self._count_deployment(model)
        out = [first]
        groups = [model, *self._count_fallback_groups(model)]
        for group in groups:
            for dep in self.deployments(group):
                if dep.error is None and all(dep is not d for d in out):
                    out.append(dep)
        return out

    def _count_fallback_groups(self, model: str) -> list[str]:
        lists: dict[str, list[str]] = getattr(self, "fallbacks", None) or {}
        return [g for g in (lists.get(model) or lists.get("*") or []) if g != model]

    def _count_deployment(self, model: str) -> Any:
        raise NotImplementedError

    def deployments(self, group: str) -> list[Any]:
        raise NotImplementedError


_COUNT_CREDENTIALS = ("api_key", "api_base", "custom_llm_provider", "timeout")
_COUNT_FIELDS = ("system", "tools", "tool_choice", "thinking", "extra_headers")
