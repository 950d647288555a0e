"""The pipeline's public interface: settings per client, layers, the typed call context,
a swappable transport, the provider's auth step and byte framing, call types."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

import llmrelay
from llmrelay import Client, Settings
from llmrelay._calltypes import CALL_TYPES, CallType, register_call_type
from llmrelay.integrations.custom_logger import CustomLogger
from llmrelay.layers import CallContext, Layer
from llmrelay.providers.base import Call, HTTPRequest
from llmrelay.transport import MockTransport, Reply

MSGS = [{"role": "user", "content": "Hello"}]
ARGS = {"api_key": "sk-test-0123456789abcdef", "api_base": "http://upstream.invalid/v1"}


def chat_reply(text: str = "from the mock transport") -> dict[str, Any]:
    return {"id": "c1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}}


def sse(*events: dict[str, Any]) -> bytes:
    return b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events) + (
        b"data: [DONE]\n\n")


def chunk(content: str | None, finish: str | None = None) -> dict[str, Any]:
    return {"id": "s1", "object": "chat.completion.chunk", "created": 1,
            "model": "gpt-4o-mini",
            "choices": [{"index": 0, "delta": {"content": content} if content else {},
                         "finish_reason": finish}]}


class Recorder(CustomLogger):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[str, dict[str, Any], Any]] = []

    def log_success_event(self, kwargs: Any, response_obj: Any, start: Any, end: Any) -> None:
        self.events.append(("success", kwargs, response_obj))

    def log_failure_event(self, kwargs: Any, response_obj: Any, start: Any, end: Any) -> None:
        self.events.append(("failure", kwargs, response_obj))

    async def async_log_success_event(self, kwargs: Any, response_obj: Any, start: Any,
                                      end: Any) -> None:
        self.events.append(("success", kwargs, response_obj))


# ---- transport --------------------------------------------------------------------------------
def test_mock_transport_answers_sync_and_async_calls_with_no_network() -> None:
    transport = MockTransport(lambda req: Reply.json(chat_reply()))
    client = Client(transport=transport)
    r = client.completion(model="gpt-4o-mini", messages=MSGS, **ARGS)
    assert r.choices[0].message.content == "from the mock transport"
    assert r.usage.total_tokens == 7
    r2 = asyncio.run(client.acompletion(model="gpt-4o-mini", messages=MSGS, **ARGS))
    assert r2.choices[0].message.content == "from the mock transport"
    sent = transport.requests[0]
    assert sent.url == "http://upstream.invalid/v1/chat/completions"
    assert json.loads(sent.content or b"") == sent.body
    assert sent.body is not None and sent.body["messages"] == MSGS


def test_mock_transport_streams_and_maps_errors() -> None:
    body = sse(chunk("Hel"), chunk("lo"), chunk(None, "stop"))
    client = Client(transport=MockTransport(lambda req: Reply(200, {}, body), chunk_size=7))
    parts = [c.choices[0].delta.content for c in
             client.completion(model="gpt-4o-mini", messages=MSGS, stream=True, **ARGS)]
    assert "".join(p for p in parts if p) == "Hello"

    async def astream() -> str:
        s = await client.acompletion(model="gpt-4o-mini", messages=MSGS, stream=True, **ARGS)
        return "".join([c.choices[0].delta.content or "" async for c in s])

    assert asyncio.run(astream()) == "Hello"
    failing = Client(transport=MockTransport(lambda req: Reply.json(
        {"error": {"message": "slow down", "type": "rate_limit"}}, status=429)))
    with pytest.raises(llmrelay.RateLimitError, match="slow down"):
        failing.completion(model="gpt-4o-mini", messages=MSGS, **ARGS)


def test_transport_is_per_client() -> None:
    a = MockTransport(lambda req: Reply.json(chat_reply("a")))
    b = MockTransport(lambda req: Reply.json(chat_reply("b")))
    ra = Client(transport=a).completion(model="gpt-4o-mini", messages=MSGS, **ARGS)
    rb = Client(transport=b).completion(model="gpt-4o-mini", messages=MSGS, **ARGS)
    assert (ra.choices[0].message.content, rb.choices[0].message.content) == ("a", "b")
    assert len(a.requests) == len(b.requests) == 1


# ---- the provider's auth step and raw byte framing ----------------------------------------
class Signing:
    """Wraps a provider: signs the final bytes, and decodes a length-prefixed binary
    framing fed as raw chunks."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.signed: list[bytes] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def authorize(self, call: Call, req: HTTPRequest, may_block: bool = True) -> bool:
        assert req.content is not None
        self.signed.append(req.content)
        req.headers["x-signature"] = f"len={len(req.content)}"
        return True

    def stream_decoder(self, call: Call) -> Any:
        return Framed(call)


class Framed:
    raw_bytes = True

    def __init__(self, call: Call) -> None:
        self.buf = b""
        self.call = call

    def feed(self, data: bytes) -> list[Any]:
        from llmrelay.types import ModelResponseStream

        self.buf += data
        out = []
        while len(self.buf) >= 2:
            size = int.from_bytes(self.buf[:2], "big")
            if len(self.buf) < 2 + size:
                break
            text, self.buf = self.buf[2:2 + size].decode(), self.buf[2 + size:]
            out.append(ModelResponseStream.from_dict(chunk(text)))
        return out

    def finish(self) -> list[Any]:
        return []


def framed(*texts: str) -> bytes:
    return b"".join(len(t.encode()).to_bytes(2, "big") + t.encode() for t in texts)


def test_authorize_sees_final_bytes_and_each_retry_is_signed_again() -> None:
    replies = [Reply.json({"error": {"message": "busy"}}, status=503),
               Reply.json(chat_reply())]
    transport = MockTransport(lambda req: replies.pop(0))
    client = Client(transport=transport, retry_initial_delay=0.0)
    ctx = client.prepare("completion", "gpt-4o-mini", {**ARGS, "num_retries": 1},
                         messages=MSGS)
    signer = Signing(ctx.provider)
    ctx.provider = signer
    r = client.run(ctx)
    assert r.choices[0].message.content == "from the mock transport"
    assert len(signer.signed) == 2 and signer.signed[0] == transport.requests[0].content
    assert transport.requests[1].headers["x-signature"] == f"len={len(signer.signed[0])}"


def test_a_decoder_can_ask_for_raw_byte_chunks() -> None:
    body = framed("Hel", "lo", " world")
    for size in (1, 3, 100):
        client = Client(transport=MockTransport(lambda req: Reply(200, {}, body),
                                                chunk_size=size))
        ctx = client.prepare("completion", "gpt-4o-mini", {**ARGS, "stream": True},
                             messages=MSGS)
        ctx.provider = Signing(ctx.provider)
        text = "".join(c.choices[0].delta.content or "" for c in client.run(ctx))
        assert text == "Hello world", size

    async def arun() -> str:
        client = Client(transport=MockTransport(lambda req: Reply(200, {}, body),
                                                chunk_size=2))
        ctx = client.prepare("completion", "gpt-4o-mini", {**ARGS, "stream": True},
                             messages=MSGS, is_async=True)
        ctx.provider = Signing(ctx.provider)
        return "".join([c.choices[0].delta.content or "" async for c in await client.arun(ctx)])

    assert asyncio.run(arun()) == "Hello world"


def test_a_request_body_that_is_not_json_is_sent_as_given() -> None:
    transport = MockTransport(lambda req: Reply.json(chat_reply()))
    client = Client(transport=transport)
    ctx = client.prepare("completion", "gpt-4o-mini", dict(ARGS), messages=MSGS)
    inner = ctx.provider

    class Multipart:
        def __getattr__(self, name: str) -> Any:
            return getattr(inner, name)

        def build_request(self, call: Call) -> HTTPRequest:
            req: HTTPRequest = inner.build_request(call)
            req.content = b"--b\r\nraw bytes\r\n--b--"
            req.headers["Content-Type"] = "multipart/form-data; boundary=b"
            return req

    ctx.provider = Multipart()
    client.run(ctx)
    assert transport.requests[0].content == b"--b\r\nraw bytes\r\n--b--"


# ---- call types ---------------------------------------------------------------------------
def test_a_new_call_type_with_a_binary_streamed_reply_is_a_local_change() -> None:
    register_call_type(CallType("speech_test", "input",
                                assemble=lambda chunks, messages: b"".join(chunks)))
    try:
        rec = Recorder()
        audio = b"\x00\x01RIFF" * 50
        client = Client(callbacks=[rec], transport=MockTransport(
            lambda req: Reply(200, {"content-type": "audio/mpeg"}, audio), chunk_size=64))
        ctx = client.prepare("speech_test", "openai/tts-1", {**ARGS, "stream": True},
                             input="say this")
        inner = ctx.provider

        class Speech:
            def __getattr__(self, name: str) -> Any:
                return getattr(inner, name)

            def build_request(self, call: Call) -> HTTPRequest:
                return HTTPRequest("POST", "http://upstream.invalid/v1/audio/speech",
                                   {}, {"model": call.model, "input": call.input})

            def stream_decoder(self, call: Call) -> Any:
                class Raw:
                    raw_bytes = True

                    def feed(self, data: bytes) -> list[bytes]:
                        return [data]

                    def finish(self) -> list[bytes]:
                        return []
                return Raw()

        ctx.provider = Speech()
        got = b"".join(client.run(ctx))
        assert got == audio
        client_flush()
        assert [e[0] for e in rec.events] == ["success"]
        assert rec.events[0][2] == audio
        assert rec.events[0][1]["call_type"] == "speech_test"
    finally:
        CALL_TYPES.pop("speech_test", None)


def test_missing_required_argument_names_it() -> None:
    with pytest.raises(llmrelay.BadRequestError, match="`prompt` is required"):
        Client().text_completion(model="gpt-3.5-turbo-instruct", prompt="", mock_response="x")
    with pytest.raises(KeyError, match="unknown call type"):
        Client().prepare("no_such_type", "gpt-4o", {})


def client_flush() -> None:
    assert llmrelay.flush(timeout=10)


# ---- settings per client --------------------------------------------------------------------
def test_settings_belong_to_the_client() -> None:
    a, b = Recorder(), Recorder()
    ca = Client(callbacks=[a], num_retries=3)
    cb = Client(settings=Settings(callbacks=[b], drop_params=True))
    assert ca.settings.num_retries == 3 and cb.settings.drop_params
    ca.completion(model="gpt-4o", messages=MSGS, mock_response="x")
    cb.completion(model="gpt-4o", messages=MSGS, mock_response="y")
    client_flush()
    assert [e[2].choices[0].message.content for e in a.events] == ["x"]
    assert [e[2].choices[0].message.content for e in b.events] == ["y"]
    assert llmrelay.callbacks == []
    with pytest.raises(TypeError, match="unknown setting"):
        Client(callback=[a])


def test_module_functions_read_module_settings_at_call_time() -> None:
    rec = Recorder()
    llmrelay.callbacks = [rec]
    llmrelay.completion(model="gpt-4o", messages=MSGS, mock_response="x")
    llmrelay.callbacks = []
    llmrelay.completion(model="gpt-4o", messages=MSGS, mock_response="y")
    client_flush()
    assert len(rec.events) == 1
    assert llmrelay.default_client().settings.callbacks is llmrelay.callbacks


def test_client_price_overlay_prices_its_own_calls_only() -> None:
    prices = {"openai/house-model": {"input_cost_per_token": 1.0, "output_cost_per_token": 2.0}}
    transport = MockTransport(lambda req: Reply.json(chat_reply()))
    priced = Client(transport=transport, model_prices=prices)
    r = priced.completion(model="openai/house-model", messages=MSGS, **ARGS)
    assert r._hidden_params["response_cost"] == pytest.approx(3 * 1.0 + 4 * 2.0)
    plain = Client(transport=transport)
    r2 = plain.completion(model="openai/house-model", messages=MSGS, **ARGS)
    assert r2._hidden_params["response_cost"] is None


def test_callbacks_list_setting_is_never_the_subpackage() -> None:
    import llmrelay.callbacks.dispatcher

    assert isinstance(llmrelay.callbacks, list)
    with pytest.raises(TypeError, match="must be a list"):
        llmrelay.callbacks = llmrelay  # type: ignore[assignment]


# ---- layers ---------------------------------------------------------------------------------
class Tag:
    """A layer: records what it saw, may answer by itself."""

    def __init__(self, name: str, seen: list[str], answer: Any = None) -> None:
        self.name, self.seen, self.answer = name, seen, answer

    def handle(self, ctx: CallContext, call_next: Any) -> Any:
        self.seen.append(f"{self.name}:{ctx.call_type}:{ctx.call.model}")
        if self.answer is not None:
            return self.answer(ctx)
        return call_next(ctx)

    async def ahandle(self, ctx: CallContext, call_next: Any) -> Any:
        self.seen.append(f"{self.name}:a{ctx.call_type}")
        return await call_next(ctx)


def test_layers_stack_in_order_and_the_client_emits_one_event() -> None:
    seen: list[str] = []
    rec = Recorder()
    base = Client(callbacks=[rec])
    stacked = base.with_layers(Tag("outer", seen)).with_layers(Tag("inner", seen))
    assert isinstance(stacked.layers[0], Layer)
    assert base.layers == () and stacked.settings is base.settings
    stacked.completion(model="gpt-4o", messages=MSGS, mock_response="x")
    asyncio.run(stacked.acompletion(model="gpt-4o", messages=MSGS, mock_response="x"))
    assert seen == ["outer:completion:gpt-4o", "inner:completion:gpt-4o",
                    "outer:acompletion", "inner:acompletion"]
    client_flush()
    assert [e[0] for e in rec.events] == ["success", "success"]


def test_a_layer_answering_by_itself_and_recording_typed_fields() -> None:
    from llmrelay.types import ModelResponse

    def answer(ctx: CallContext) -> Any:
        ctx.model_id = "dep-1"
        ctx.attempts = [{"model_id": "dep-1"}]
        return ModelResponse.from_dict(chat_reply("from the layer"))

    rec = Recorder()
    seen: list[str] = []
    client = Client(callbacks=[rec]).with_layers(Tag("short", seen, answer))
    r = client.completion(model="gpt-4o-mini", messages=MSGS, **ARGS)
    assert r.choices[0].message.content == "from the layer"
    assert r._hidden_params["model_id"] == "dep-1"
    client_flush()
    (kind, kwargs, _), = rec.events
    assert kind == "success" and kwargs["attempts"] == [{"model_id": "dep-1"}]
    assert kwargs["model_id"] == "dep-1"
    assert not hasattr(CallContext(), "extra") and not hasattr(CallContext(), "client")


def test_prepare_reports_bad_arguments_once_and_run_reports_failures_once() -> None:
    rec = Recorder()
    client = Client(callbacks=[rec])
    with pytest.raises(llmrelay.BadRequestError):
        client.prepare("completion", "gpt-4o", {}, messages=[])
    ctx = client.prepare("completion", "gpt-4o", {"mock_response": "x"}, messages=MSGS)

    class Broken:
        def handle(self, ctx: CallContext, call_next: Any) -> Any:
            raise llmrelay.ServiceUnavailableError("layer down")

        async def ahandle(self, ctx: CallContext, call_next: Any) -> Any:
            raise AssertionError

    with pytest.raises(llmrelay.ServiceUnavailableError):
        client.with_layers(Broken()).run(ctx)
    client_flush()
    assert [e[0] for e in rec.events] == ["failure", "failure"]


def test_router_uses_its_clients_transport_and_settings() -> None:
    rec = Recorder()
    transport = MockTransport(lambda req: Reply.json(chat_reply("routed")))
    router = llmrelay.Router(model_list=[
        {"model_name": "g", "litellm_params": {"model": "openai/gpt-4o-mini", **ARGS}}],
        client=Client(callbacks=[rec], transport=transport))
    r = router.completion(model="g", messages=MSGS)
    assert r.choices[0].message.content == "routed"
    assert router.client.settings.transport is transport
    client_flush()
    (kind, kwargs, _), = rec.events
    assert kind == "success" and kwargs["litellm_params"]["metadata"]["model_group"] == "g"
    assert len(kwargs["attempts"]) == 1


def test_module_settings_start_from_the_client_defaults() -> None:
    import dataclasses

    import llmrelay as module

    defaults = Settings()
    for f in dataclasses.fields(Settings):
        if f.name in ("transport", "retry_initial_delay"):  # not a module setting / set by conftest
            continue
        if f.name in ("callbacks", "input_callback", "success_callback", "failure_callback"):
            assert getattr(module, f.name) == [], f.name
            continue
        assert getattr(module, f.name) == getattr(defaults, f.name), f.name


def _sse_body(words: list[str], newline: bytes, trailing: bool) -> bytes:
    events = []
    for i, word in enumerate(words):
        last = i == len(words) - 1
        chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
                 "choices": [{"index": 0, "delta": {"content": word},
                              "finish_reason": "stop" if last else None}]}
        events.append(b"data: " + json.dumps(chunk).encode() + newline + newline)
    body = b"".join(events) + b"data: [DONE]"
    return body + newline + newline if trailing else body


@pytest.mark.parametrize("newline", [b"\n", b"\r\n"])
@pytest.mark.parametrize("trailing", [True, False])
def test_sse_lines_split_across_any_chunk_boundary(newline: bytes, trailing: bool) -> None:
    words = ["Two", " events", " per", " read", " or", " one", " byte", " each"]
    body = _sse_body(words, newline, trailing)
    for size in (1, 2, 5, 64, None):  # None: the whole body in one piece
        client = Client(transport=MockTransport(lambda req: Reply(200, {}, body),
                                                chunk_size=size))
        text = "".join(c.choices[0].delta.content or "" for c in client.completion(
            model="gpt-4o-mini", messages=MSGS, stream=True, api_key="sk-x"))
        assert text == "".join(words), size

        async def arun(client: Client) -> str:
            stream = await client.acompletion(model="gpt-4o-mini", messages=MSGS,
                                              stream=True, api_key="sk-x")
            return "".join([c.choices[0].delta.content or "" async for c in stream])

        assert asyncio.run(arun(client)) == "".join(words), size
