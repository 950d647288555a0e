"""The client layer that serves calls from a :class:`~llmrelay.caching.Cache`.

On a hit the layer returns a rebuilt response without calling the next handler, so no
request is sent and ``log_pre_api_call`` does not fire; it sets ``ctx.cache_hit`` (the
client then prices the call at 0.0 and reports ``cache_hit=True``), ``ctx.cache_key`` and
``ctx.saved_cache_cost`` (what the call would have cost).
On a miss it calls the next handler and stores the answer: at once for whole responses,
after the last chunk for streams (a stream that fails or is abandoned is not stored).
Embeddings are cached per input item: only the items not found go upstream.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any

from ..exceptions import APIConnectionError
from ..types import Embedding, EmbeddingResponse, Usage
from .codec import CorruptEntry, Entry, encode, rebuild_chunks, rebuild_response
from .keys import cache_key, embedding_items, item_keys

if TYPE_CHECKING:
    from .cache import Cache, Plan

__all__ = ["CacheLayer"]

Handler = Callable[[Any], Any]


class CacheLayer:
    """``handle(ctx, call_next)`` / ``ahandle(ctx, call_next)`` around the client's send."""

    def __init__(self, cache: Cache) -> None:
        self.cache = cache

    # ---- whole responses and streams ----------------------------------------------------
    def handle(self, ctx: Any, call_next: Handler) -> Any:
        plan = self.cache.plan(ctx)
        if plan is None:
            return call_next(ctx)
        if ctx.call_type == "embedding":
            return self._embed(ctx, call_next, plan)
        key = cache_key(ctx.call, plan.namespace, plan.mock)
        if plan.read:
            hit = self._hit(ctx, call_next, plan, key, self.cache.read([key])[0])
            if hit is not None:
                return hit
        result = call_next(ctx)
        if plan.write:
            if ctx.call.stream:
                _tap(result, lambda chunks: self.cache.write(
                    [self._entry(ctx, key, "stream", chunks)], plan.ttl))
            else:
                self.cache.write([self._entry(ctx, key, "response", result.model_dump())],
                                 plan.ttl)
        return result

    async def ahandle(self, ctx: Any, call_next: Handler) -> Any:
        plan = self.cache.plan(ctx)
        if plan is None:
            return await call_next(ctx)
        if ctx.call_type == "embedding":
            return await self._aembed(ctx, call_next, plan)
        key = cache_key(ctx.call, plan.namespace, plan.mock)
        if plan.read:
            raw = (await self.cache.aread([key]))[0]
            hit = self._hit(ctx, call_next, plan, key, raw)
            if hit is not None:
                return hit
        result = await call_next(ctx)
        if plan.write:
            if ctx.call.stream:
                async def store(chunks: list[Any]) -> None:
                    await self.cache.awrite([self._entry(ctx, key, "stream", chunks)], plan.ttl)
                _atap(result, store)
            else:
                await self.cache.awrite(
                    [self._entry(ctx, key, "response", result.model_dump())], plan.ttl)
        return result

    def _entry(self, ctx: Any, key: str, kind: str, data: Any) -> tuple[str, str]:
        return key, encode(kind, ctx.call_type, data, self.cache.clock())

    def _hit(self, ctx: Any, call_next: Handler, plan: Plan, key: str,
             raw: str | bytes | None) -> Any:
        """The cached answer for ``raw`` (a response, or a replayed stream), or None."""
        call = ctx.call
        kind = "stream" if call.stream else "response"
        entry = self.cache.decode(raw, kind, ctx.call_type, plan.max_age)
        result = usage = None
        if entry is not None:
            try:
                if call.stream:
                    result, usage = self._replay(ctx, call_next, entry.data)
                else:
                    result = rebuild_response(ctx.call_type, entry.data)
                    usage = getattr(result, "usage", None)
            except (CorruptEntry, TypeError, ValueError, AttributeError, KeyError):
                # stored by someone else, or by an older version: never fail the call
                self.cache.count("corrupt")
                result = None
                ctx.cache_hit = False
        if result is None:
            self.cache.count("misses")
            return None
        self.cache.count("hits")
        _mark_hit(ctx, key, usage, None if call.stream else result)
        if not call.stream:
            _hidden(result)["cache_key"] = key
        return result

    def _replay(self, ctx: Any, call_next: Handler, data: list[Any]) -> tuple[Any, Any]:
        from .._streaming import stream_chunk_builder

        chunks = rebuild_chunks(ctx.call_type, data)
        usage = getattr(stream_chunk_builder(chunks, ctx.call.messages), "usage", None)
        ctx.cache_hit = True  # before the wrapper copies the hidden params
        stream = _replay_stream(ctx, call_next, chunks)
        if stream is None:
            ctx.cache_hit = False
        return stream, usage

    # ---- embeddings, per input item -------------------------------------------------------
    def _embed(self, ctx: Any, call_next: Handler, plan: Plan) -> Any:
        items, keys = self._item_keys(ctx, plan)
        found: list[Entry | None] = [None] * len(keys)
        if plan.read:
            found = self._found(self.cache.read(keys), plan)
        if all(e is not None for e in found):
            return self._embed_hit(ctx, plan, keys, found)
        todo = _Missing(items, keys, found)
        original_input = ctx.call.input
        ctx.call = todo.upstream_call(ctx.call)
        try:
            resp = call_next(ctx)
        finally:
            todo.restore(ctx, original_input)
        merged, writes = self._embed_merge(ctx, todo, found, resp)
        if plan.write:
            self.cache.write(writes, plan.ttl)
        return merged

    async def _aembed(self, ctx: Any, call_next: Handler, plan: Plan) -> Any:
        items, keys = self._item_keys(ctx, plan)
        found: list[Entry | None] = [None] * len(keys)
        if plan.read:
            found = self._found(await self.cache.aread(keys), plan)
        if all(e is not None for e in found):
            return self._embed_hit(ctx, plan, keys, found)
        todo = _Missing(items, keys, found)
        original_input = ctx.call.input
        ctx.call = todo.upstream_call(ctx.call)
        try:
            resp = await call_next(ctx)
        finally:
            todo.restore(ctx, original_input)
        merged, writes = self._embed_merge(ctx, todo, found, resp)
        if plan.write:
            await self.cache.awrite(writes, plan.ttl)
        return merged

    def _item_keys(self, ctx: Any, plan: Plan) -> tuple[list[Any], list[str]]:
        items = embedding_items(ctx.call.input)
        return items, item_keys(ctx.call, items, plan.namespace, plan.mock)

    def _found(self, raws: list[str | bytes | None], plan: Plan) -> list[Entry | None]:
        found = [self.cache.decode(raw, "item", "embedding", plan.max_age) for raw in raws]
        hits = sum(e is not None for e in found)
        self.cache.count("hits", hits)
        self.cache.count("misses", len(found) - hits)
        return found

    def _embed_hit(self, ctx: Any, plan: Plan, keys: list[str],
                   found: list[Entry | None]) -> EmbeddingResponse:
        entries = [e for e in found if e is not None]
        tokens = sum(int(e.data.get("tokens") or 0) for e in entries)
        resp = EmbeddingResponse(
            model=entries[0].data.get("model") or ctx.call.model,
            data=[Embedding(index=i, embedding=e.data["embedding"])
                  for i, e in enumerate(entries)],
            usage=Usage(prompt_tokens=tokens, total_tokens=tokens))
        key = cache_key(ctx.call, plan.namespace, plan.mock)
        _mark_hit(ctx, key, resp.usage)
        ctx.cache_keys = keys
        _hidden(resp)["cache_key"] = key
        return resp

    def _embed_merge(self, ctx: Any, todo: _Missing, found: list[Entry | None],
                     resp: Any) -> tuple[Any, list[tuple[str, str]]]:
        """The response in the caller's item order, and the entries to store."""
        vectors: dict[int, Any] = {}
        for d in resp.data:
            vectors[int(d.index if d.index is not None else len(vectors))] = d.embedding
        if sorted(vectors) != list(range(len(todo.items))):
            raise APIConnectionError(
                f"upstream returned {len(resp.data)} embeddings for {len(todo.items)} inputs",
                llm_provider=ctx.call.provider, model=ctx.call.model)
        total = int(getattr(resp.usage, "prompt_tokens", 0) or 0)
        shares = _shares(total, [len(x) if isinstance(x, (str, list)) else 1
                                 for x in todo.items])
        now = self.cache.clock()
        writes = [(key, encode("item", "embedding", {"embedding": vectors[slot],
                                                     "model": resp.model,
                                                     "tokens": shares[slot]}, now))
                  for slot, key in enumerate(todo.keys)]
        if not todo.rewritten:
            return resp, writes
        data = []
        for i, entry in enumerate(found):
            vec = entry.data["embedding"] if entry is not None else vectors[todo.slot_of[i]]
            data.append(Embedding(index=i, embedding=vec))
        merged = EmbeddingResponse(model=resp.model, data=data, usage=resp.usage)
        _hidden(merged).update(_hidden(resp))
        if any(e is not None for e in found):  # as LiteLLM: some items came from the cache
            _hidden(merged)["cache_hit"] = True  # (usage and cost: the items sent upstream)
        return merged, writes


class _Missing:
    """The items not found, each once, and where each caller position finds its vector."""

    def __init__(self, items: list[Any], keys: list[str], found: list[Entry | None]) -> None:
        self.items: list[Any] = []
        self.keys: list[str] = []
        self.slot_of: dict[int, int] = {}
        slots: dict[str, int] = {}
        for i, (item, key, entry) in enumerate(zip(items, keys, found, strict=True)):
            if entry is not None:
                continue
            if key not in slots:
                slots[key] = len(self.items)
                self.items.append(item)
                self.keys.append(key)
            self.slot_of[i] = slots[key]
        self.rewritten = len(self.items) != len(items)

    def upstream_call(self, call: Any) -> Any:
        """The call to send: the original one when every item goes upstream."""
        if not self.rewritten:
            return call
        return dataclasses.replace(call, input=list(self.items))

    def restore(self, ctx: Any, original_input: Any) -> None:
        """Give ``ctx.call`` the caller's input back, keeping whatever inner layers changed
        (a router points it at the deployment that served, which prices the call)."""
        if self.rewritten:
            ctx.call = dataclasses.replace(ctx.call, input=original_input)


def _shares(total: int, weights: list[int]) -> list[int]:
    """Split ``total`` tokens over items in proportion to ``weights``, summing exactly."""
    weights = [max(w, 1) for w in weights]
    whole = sum(weights)
    raw = [total * w / whole for w in weights]
    out = [int(r) for r in raw]
    order = sorted(range(len(raw)), key=lambda i: raw[i] - out[i], reverse=True)
    for i in order[:total - sum(out)]:
        out[i] += 1
    return out


def _hidden(obj: Any) -> dict[str, Any]:
    hidden: dict[str, Any] = obj.__dict__.setdefault("_hidden_params", {})
    return hidden


def _mark_hit(ctx: Any, key: str, usage: Any, result: Any = None) -> None:
    from ..cost import usage_cost

    ctx.cache_hit = True
    ctx.cache_key = key
    pricer = getattr(ctx.kind, "price", None)
    if pricer is not None and result is not None:  # priced per image, search unit ...
        ctx.saved_cache_cost = pricer(ctx.call, result, ctx.settings.model_prices)
        return
    ctx.saved_cache_cost = (usage_cost(ctx.call.model, ctx.call.provider, usage,
                                       ctx.settings.model_prices)
                            if usage is not None else None)


# ---- streams: storing on completion, replaying on a hit -------------------------------------
def _tap(stream: Any, on_complete: Callable[[list[Any]], None]) -> None:
    """Call ``on_complete(chunk dumps)`` once the stream's last chunk was read.

    Wraps the wrapper's source iterator, so every upstream chunk is seen (usage chunks the
    caller does not get included) and a failed or abandoned stream never completes."""
    if not hasattr(stream, "tap"):
        return

    def recording(source: Iterator[Any]) -> Iterator[Any]:
        seen = []
        for chunk in source:
            seen.append(chunk.model_dump())
            yield chunk
        on_complete(seen)

    stream.tap(recording)


def _atap(stream: Any, on_complete: Callable[[list[Any]], Any]) -> None:
    """Async :func:`_tap`; ``on_complete`` is awaited."""
    if not hasattr(stream, "tap"):
        return

    async def recording(source: AsyncIterator[Any]) -> AsyncIterator[Any]:
        seen = []
        async for chunk in source:
            seen.append(chunk.model_dump())
            yield chunk
        await on_complete(seen)

    stream.tap(recording)


def _replay_stream(ctx: Any, call_next: Handler, chunks: list[Any]) -> Any:
    """The same wrapper type the client returns for a live stream, fed from ``chunks``,
    with the client's end-of-stream bookkeeping (one terminal event, cost 0.0 on a hit)."""
    return ctx.replay_stream(chunks)


async def _aiter(items: list[Any]) -> AsyncIterator[Any]:
    for item in items:
        yield item


def _noop() -> None:
    return None
