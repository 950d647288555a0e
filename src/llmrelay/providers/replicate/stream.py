"""A Replicate prediction's event stream -> OpenAI chunks.

Server-sent events: ``output`` (a piece of the text, as is; several ``data:`` lines join
with newlines), then ``done`` (its data may say ``{"reason": "canceled"}``) or ``error``. Each
output piece becomes one chunk (the first with role ``assistant``); ``done`` the chunk with
``finish_reason="stop"``. A body that ends before ``done`` was cut and raises
:class:`~llmrelay.exceptions.APIConnectionError`; an ``error`` event raises ``APIError``.
"""

from __future__ import annotations

import json
from typing import Any

from ...exceptions import APIError
from ...types import ModelResponseStream, StreamingChoices, new_id
from ..base import Call
from ..sse import SSEDecoder, SSEStreamDecoder

__all__ = ["ReplicateStreamDecoder"]


class ReplicateStreamDecoder(SSEStreamDecoder):
    """One per streamed call; see the module docstring."""

    __slots__ = ("_call", "_finished", "_id", "_sse", "_started")

    def __init__(self, call: Call) -> None:
        self._call = call
        self._sse = SSEDecoder()
        self._id = new_id()
        self._started = False
        self._finished = False

    def feed(self, line: bytes) -> list[Any]:
        ev = self._sse.feed(line)
        return [] if ev is None else self._on(ev[0], ev[1])

    def finish(self) -> list[Any]:
        ev = self._sse.flush()
        out = [] if ev is None else self._on(ev[0], ev[1])
        return out + super()._flush()

    def _chunk(self, delta: dict[str, Any], finish: str | None) -> ModelResponseStream:
        return ModelResponseStream(id=self._id, model=self._call.model, choices=[
            StreamingChoices(index=0, delta=delta, finish_reason=finish)])

    def _on(self, event: str | None, data: bytes) -> list[Any]:
        if self._finished:
            return []
        call = self._call
        if event == "error":
            raise APIError(f"replicate's prediction failed while streaming: "
                           f"{data.decode('utf-8', 'replace')[:500]}",
                           llm_provider=call.provider, model=call.model, status_code=500)
        if event == "done":
            self._finished = True
            try:
                info = json.loads(data) if data.strip() else {}
            except ValueError:
                info = {}
            reason = info.get("reason") if isinstance(info, dict) else None
            if reason in ("canceled", "error"):
                raise APIError(f"replicate's prediction ended early ({reason})",
                               llm_provider=call.provider, model=call.model, status_code=500)
            return [self._chunk({} if self._started else {"role": "assistant"}, "stop")]
        if event not in (None, "output"):
            return []  # other events (logs) say nothing to the caller
        delta: dict[str, Any] = {"content": data.decode("utf-8", "replace")}
        if not self._started:
            self._started = True
            delta["role"] = "assistant"
        return [self._chunk(delta, None)]
