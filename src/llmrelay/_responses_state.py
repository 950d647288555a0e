"""The Responses API's conversation state: what a ``previous_response_id`` stands for.

OpenAI (and Azure) keep their responses themselves; every other provider serves the
Responses API through its chat API (:mod:`llmrelay.providers.bridges.responses_chat`)
and keeps nothing. So the client keeps, for each response it returns, a record: the
conversation's items so far (every earlier input and output item, this turn's input and
its output), who may continue it (the proxy key that made it), which model served it and,
for a translated response, the response itself (to retrieve it later). The
:class:`ResponsesLayer` (the ``responses`` call type's own layer, inside the router's,
so it sees the deployment that serves the call) does the work:

* before the call, a ``previous_response_id`` is resolved: for a translated call its
  items become the call's earlier turns (``call.state``); for a native upstream it goes
  through as it is, unless the earlier turn was a translated one, whose items are then
  sent as input instead (so a conversation may move between providers);
* after it, the new turn is recorded (for a stream, once it completes), unless the
  request said ``store: false``.

The store is the client's ``responses_store`` setting: any object with ``get``/``put``/
``delete`` (and async ``aget``/``aput``/``adelete``); without one, a bounded in-memory
LRU shared by the process (:class:`MemoryResponsesStore`, 10,000 responses: the oldest
are forgotten first, and nothing survives the process). The proxy gives its client a
store backed by its database, so any worker or instance can continue a conversation.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol

from .exceptions import BadRequestError
from .types.responses_api import assemble_response, input_items

__all__ = ["MemoryResponsesStore", "ResponsesLayer", "ResponsesStore", "default_store",
           "layer"]

Record = dict[str, Any]


class ResponsesStore(Protocol):
    """Where response records live (a record is a JSON-serialisable dict)."""

    def get(self, response_id: str) -> Record | None: ...

    def put(self, response_id: str, record: Record) -> None: ...

    def delete(self, response_id: str) -> bool: ...

    async def aget(self, response_id: str) -> Record | None: ...

    async def aput(self, response_id: str, record: Record) -> None: ...

    async def adelete(self, response_id: str) -> bool: ...


class MemoryResponsesStore:
    """A bounded, thread-safe, least-recently-used store in this process."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self.max_entries = max_entries
        self._data: OrderedDict[str, Record] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, response_id: str) -> Record | None:
        with self._lock:
            found = self._data.get(response_id)
            if found is not None:
                self._data.move_to_end(response_id)
            return found

    def put(self, response_id: str, record: Record) -> None:
        with self._lock:
            self._data[response_id] = record
            self._data.move_to_end(response_id)
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)

    def delete(self, response_id: str) -> bool:
        with self._lock:
            return self._data.pop(response_id, None) is not None

    async def aget(self, response_id: str) -> Record | None:
        return self.get(response_id)

    async def aput(self, response_id: str, record: Record) -> None:
        self.put(response_id, record)

    async def adelete(self, response_id: str) -> bool:
        return self.delete(response_id)

    def __len__(self) -> int:
        return len(self._data)


_DEFAULT = MemoryResponsesStore()


def default_store(settings: Any) -> Any:
    """The client's ``responses_store``, else the process's in-memory one."""
    store = getattr(settings, "responses_store", None)
    return store if store is not None else _DEFAULT


def owner_of(ctx_metadata: Any) -> str | None:
    """Who made a call: the proxy key's hash, when the proxy made it."""
    meta = ctx_metadata if isinstance(ctx_metadata, dict) else {}
    owner = meta.get("user_api_key_hash")
    return owner if isinstance(owner, str) else None


def visible(record: Record | None, owner: str | None) -> Record | None:
    """``record`` unless it belongs to another key (then it does not exist for them)."""
    if record is None:
        return None
    mine = record.get("owner")
    return record if not mine or not owner or mine == owner else None


def _replayable(items: list[Any]) -> list[Any]:
    """Output items as input of a later turn: without reasoning items (another vendor's
    summaries) and without item ids (only the upstream that made an id knows it)."""
    out = []
    for item in items:
        if not isinstance(item, dict) or item.get("type") == "reasoning":
            continue
        out.append({k: v for k, v in item.items() if k not in ("id", "status")})
    return out


class ResponsesLayer:
    """See the module docstring."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def _prepare(self, ctx: Any, record: Record | None) -> list[Any]:
        """Point the call at its earlier turns; the items before this turn's input."""
        call = ctx.call
        prev = call.params.get("previous_response_id")
        native = bool(getattr(ctx.provider, "stores_responses", False))
        record = visible(record, owner_of(ctx.metadata))
        if not prev:
            return []
        if record is None:
            if native:
                return []  # the upstream's own response: it knows it
            raise BadRequestError(f"Previous response with id '{prev}' not found.",
                                  llm_provider=call.provider, model=call.model,
                                  param="previous_response_id")
        items = list(record.get("items") or [])
        if native and not record.get("native"):  # continue a translated conversation
            params = {k: v for k, v in call.params.items() if k != "previous_response_id"}
            ctx.call = dataclasses.replace(
                call, input=[*items, *input_items(call.input)], params=params)
            return []
        if not native:
            ctx.call = dataclasses.replace(call, state=items)
        return items

    def _record(self, ctx: Any, prior: list[Any], response: Any) -> Record | None:
        call = ctx.call
        if call.params.get("store") is False or getattr(response, "id", None) is None:
            return None
        native = bool(getattr(ctx.provider, "stores_responses", False))
        items = [*prior, *input_items(call.input), *_replayable(list(response.output or []))]
        return {"items": items, "native": native, "model": call.model,
                "provider": call.provider, "model_id": ctx.model_id,
                "owner": owner_of(ctx.metadata), "created_at": time.time(),
                "response": None if native else response.model_dump()}

    def _at_end(self, ctx: Any, prior: list[Any], stream: Any) -> None:
        """Record a stream's turn once it completes."""
        state = getattr(stream, "_state", None)
        if state is None:
            return
        inner: Callable[[Any, str, BaseException | None], None] = state.on_end
        store = self.store

        def on_end(st: Any, status: str, error: BaseException | None) -> None:
            try:
                if error is None and status == "complete":
                    response = assemble_response(st.chunks)
                    record = self._record(ctx, prior, response) if response else None
                    if record is not None and response is not None:
                        store.put(response.id, record)
            finally:
                inner(st, status, error)

        state.on_end = on_end

    def handle(self, ctx: Any, call_next: Callable[[Any], Any]) -> Any:
        prev = ctx.call.params.get("previous_response_id")
        prior = self._prepare(ctx, self.store.get(prev) if prev else None)
        result = call_next(ctx)
        if ctx.call.stream:
            self._at_end(ctx, prior, result)
            return result
        record = self._record(ctx, prior, result)
        if record is not None:
            self.store.put(result.id, record)
        return result

    async def ahandle(self, ctx: Any, call_next: Callable[[Any], Any]) -> Any:
        prev = ctx.call.params.get("previous_response_id")
        prior = self._prepare(ctx, await self.store.aget(prev) if prev else None)
        result = await call_next(ctx)
        if ctx.call.stream:
            self._at_end(ctx, prior, result)
            return result
        record = self._record(ctx, prior, result)
        if record is not None:
            await self.store.aput(result.id, record)
        return result


def layer(settings: Any) -> ResponsesLayer:
    """The ``responses`` call type's layer for a client with these settings."""
    return ResponsesLayer(default_store(settings))
