"""Chat stream chunks left as bytes until read (types/lazy_chunks.py): the scan, and that a
lazy chunk reads exactly as the eagerly parsed one does."""

from __future__ import annotations

import json
from typing import Any

import pytest

from llmrelay.providers.base import Call
from llmrelay.providers.openai.translate import OpenAIStreamDecoder
from llmrelay.providers.registry import spec_for
from llmrelay.types import ModelResponseStream
from llmrelay.types.lazy_chunks import LAZY_CHUNKS, LazyChunk, parsed, scan_event
from llmrelay.types.responses import raw_json

DELTA = (b'{"id": "c9", "object": "chat.completion.chunk", "created": 5, "model": "m",'
         b' "choices": [{"index": 0, "delta": {"content": "caf\\u00e9"}, "finish_reason":'
         b' null}], "usage": null, "x_vendor": [1]}')
LAST = (b'{"id":"c9","object":"chat.completion.chunk","created":5,"model":"m",'
        b'"choices":[{"index":0,"delta":{},"finish_reason": "stop"}]}')
TOOL = (b'{"id":"c9","object":"chat.completion.chunk","created":5,"model":"m","choices":'
        b'[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"t1","type":"function",'
        b'"function":{"name":"f","arguments":"{}"}}]},"finish_reason":null}]}')


@pytest.mark.parametrize(("data", "plain", "finished"), [
    (DELTA, True, False),
    (LAST, True, True),
    (TOOL, True, False),
    (b'{"choices":[],"usage": {"prompt_tokens":1,"total_tokens":1}}', False, False),
    (b'{"error":{"message":"boom"}}', False, False),
    (b'[1, 2]', False, False),
    (b' {"choices":[]}', False, False),  # not the usual shape: parsed as before
])
def test_scan(data: bytes, plain: bool, finished: bool) -> None:
    assert scan_event(data) == (plain, finished)


@pytest.mark.parametrize("data", [DELTA, LAST, TOOL])
def test_lazy_chunk_reads_as_the_parsed_one(data: bytes) -> None:
    eager = ModelResponseStream.from_dict(json.loads(data))
    lazy = LazyChunk(data)
    assert lazy.usage is None and getattr(eager, "usage", None) is None
    assert raw_json(lazy) == data
    assert lazy.__dict__.get("_lazy")  # nothing read yet
    assert lazy.model_dump() == eager.model_dump()
    assert lazy == eager and LazyChunk(data) == eager
    for read in (lambda c: c.id, lambda c: c["model"], lambda c: c.get("created"),
                 lambda c: c.choices[0].delta.model_dump(), lambda c: sorted(c.keys()),
                 lambda c: "choices" in c, lambda c: c.choices[0].finish_reason):
        assert read(LazyChunk(data)) == read(eager)
    assert repr(LazyChunk(data)) == repr(eager).replace("ModelResponseStream", "LazyChunk")
    assert isinstance(lazy, ModelResponseStream)
    with pytest.raises(AttributeError):
        LazyChunk(data).no_such_field  # noqa: B018


def test_values_set_before_the_parse_stay() -> None:
    lazy = LazyChunk(DELTA)
    lazy.note = "mine"
    assert lazy.choices[0].delta.content == "café"
    assert lazy.note == "mine"
    assert parsed(lazy) is lazy and "_lazy" not in lazy.__dict__


def _decode(events: list[bytes], lazy: bool) -> list[Any]:
    call = Call("completion", "m", spec_for("openai"), messages=[])
    token = LAZY_CHUNKS.set(lazy)
    try:
        dec = OpenAIStreamDecoder(call)
    finally:
        LAZY_CHUNKS.reset(token)
    out: list[Any] = []
    for ev in events:
        out += dec.feed(b"data: " + ev)
        out += dec.feed(b"")
    return out + dec.finish()  # no [DONE]: tolerated only after a finish reason


def test_decoder_leaves_plain_events_as_bytes_only_when_asked() -> None:
    usage = b'{"id":"c9","choices":[],"usage":{"prompt_tokens":2,"completion_tokens":1,' \
            b'"total_tokens":3}}'
    lazy = _decode([DELTA, LAST, usage], True)
    eager = _decode([DELTA, LAST, usage], False)
    assert [type(c).__name__ for c in lazy] == ["LazyChunk", "LazyChunk",
                                                 "ModelResponseStream"]
    assert {type(c).__name__ for c in eager} == {"ModelResponseStream"}
    assert [c.model_dump() for c in lazy] == [c.model_dump() for c in eager]
    assert lazy[2].usage.total_tokens == 3


def test_decoder_still_requires_an_end_when_lazy() -> None:
    from llmrelay.exceptions import APIConnectionError

    with pytest.raises(APIConnectionError):
        _decode([DELTA], True)  # no finish reason and no [DONE]: the reply was cut
