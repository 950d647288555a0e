"""Images, audio, moderation and rerank through the SDK: the wire request each provider
gets (OpenAI, Azure, OpenAI-compatible servers, Cohere, the mock), the reply's shape, its
price, and the callback contract (exactly one terminal event per call, sync and async,
streams included, with the cost), the Router's methods and the cache."""

from __future__ import annotations

import asyncio
import io
import wave
from collections.abc import Iterator
from typing import Any

import pytest

import llmrelay
from fakes.cohere_server import FakeCohere
from fakes.openai_server import FakeOpenAI, Reply
from fakes.openai_surfaces import FAKE_AUDIO, parse_multipart
from llmrelay.integrations.custom_logger import CustomLogger

KEY = "sk-test-0123456789abcdef"


@pytest.fixture(scope="module")
def oa() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as srv:
        yield srv


@pytest.fixture
def fake(oa: FakeOpenAI) -> FakeOpenAI:
    oa.reset()
    return oa


class Events(CustomLogger):
    def __init__(self) -> None:
        super().__init__()
        self.got: list[tuple[str, dict[str, Any], Any]] = []

    def log_success_event(self, kwargs: Any, response_obj: Any, start: Any, end: Any) -> None:
        self.got.append(("success", kwargs, response_obj))

    def log_failure_event(self, kwargs: Any, response_obj: Any, start: Any, end: Any) -> None:
        self.got.append(("failure", kwargs, response_obj))

    async def async_log_success_event(self, kwargs: Any, response_obj: Any, start: Any,
                                      end: Any) -> None:
        self.got.append(("success", kwargs, response_obj))

    async def async_log_failure_event(self, kwargs: Any, response_obj: Any, start: Any,
                                      end: Any) -> None:
        self.got.append(("failure", kwargs, response_obj))


@pytest.fixture
def events() -> Iterator[Events]:
    ev = Events()
    llmrelay.callbacks = [ev]
    yield ev
    llmrelay.callbacks = []


def wav(seconds: float) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x00" * int(8000 * seconds))
    return buf.getvalue()


# ---- the wire ----------------------------------------------------------------------------
def test_image_generation_openai_wire_and_price(fake: FakeOpenAI) -> None:
    r = llmrelay.image_generation("an otter", model="openai/dall-e-3", n=1, size="1792x1024",
                                  quality="hd", style="natural", api_base=fake.url,
                                  api_key=KEY)
    assert fake.last.path == "/v1/images/generations"
    assert fake.last.headers["authorization"] == f"Bearer {KEY}"
    assert fake.last.body == {"model": "dall-e-3", "prompt": "an otter", "n": 1,
                              "size": "1792x1024", "quality": "hd", "style": "natural"}
    assert isinstance(r, llmrelay.ImageResponse) and r.data[0].url
    assert r["data"][0]["revised_prompt"].endswith("an otter")
    assert r._hidden_params["response_cost"] == pytest.approx(0.12)
    assert llmrelay.completion_cost(r, model="dall-e-3", size="1792x1024",
                                    quality="hd") == pytest.approx(0.12)


def test_image_generation_token_billed_and_unsupported_params(fake: FakeOpenAI) -> None:
    r = llmrelay.image_generation("a cat", model="openai/gpt-image-1", api_base=fake.url,
                                  api_key=KEY)
    assert r.data[0].b64_json and r.usage.input_tokens == 12
    assert r._hidden_params["response_cost"] == pytest.approx(12 * 5e-6 + 272 * 4e-5)
    with pytest.raises(llmrelay.UnsupportedParamsError) as err:
        llmrelay.image_generation("a cat", model="openai/dall-e-2", temperature=0.3,
                                  api_base=fake.url, api_key=KEY)
    assert err.value.param == "temperature"
    assert fake.request_count == 1


def test_azure_images_and_audio_urls(fake: FakeOpenAI) -> None:
    args = {"api_base": fake.base, "api_key": "azure-key", "api_version": "2024-10-21"}
    llmrelay.image_generation("x", model="azure/my-dalle", **args)
    assert fake.last.path == "/openai/deployments/my-dalle/images/generations"
    assert fake.last.query == {"api-version": "2024-10-21"}
    assert fake.last.headers["api-key"] == "azure-key"
    llmrelay.transcription("azure/whisper", ("a.wav", wav(0.5)), **args)
    assert fake.last.path == "/openai/deployments/whisper/audio/transcriptions"
    llmrelay.speech("azure/tts", "hi", voice="alloy", **args)
    assert fake.last.path == "/openai/deployments/tts/audio/speech"


def test_transcription_multipart_formats_and_price(fake: FakeOpenAI, tmp_path: Any) -> None:
    audio = wav(3.0)
    path = tmp_path / "speech.wav"
    path.write_bytes(audio)
    r = llmrelay.transcription("openai/whisper-1", str(path), language="de", prompt="Hallo",
                               timestamp_granularities=["word", "segment"],
                               response_format="verbose_json", api_base=fake.url, api_key=KEY)
    form = parse_multipart(fake.last.headers["content-type"], fake.last.raw)
    assert form is not None
    assert form["file"]["filename"] == "speech.wav" and form["file"]["data"] == audio
    assert form["file"]["content_type"] == "audio/wav"
    assert form["model"] == "whisper-1" and form["prompt"] == "Hallo"
    assert form["timestamp_granularities"] == ["word", "segment"]
    assert isinstance(r, llmrelay.TranscriptionResponse) and r.language == "de"
    assert r.words and r._hidden_params["response_cost"] == pytest.approx(r.duration * 1e-4)
    with open(path, "rb") as f:
        text = llmrelay.transcription("openai/whisper-1", f, response_format="srt",
                                      api_base=fake.url, api_key=KEY)
    assert text.text.startswith("1\n00:00:00,000")
    tokens = llmrelay.transcription("openai/gpt-4o-transcribe", audio, api_base=fake.url,
                                    api_key=KEY)
    assert tokens._hidden_params["response_cost"] == pytest.approx(40 * 6e-6 + 12 * 1e-5)


def test_transcription_bad_file_is_a_bad_request(fake: FakeOpenAI, events: Events) -> None:
    with pytest.raises(llmrelay.BadRequestError) as err:
        llmrelay.transcription("openai/whisper-1", 12345, api_base=fake.url, api_key=KEY)
    assert err.value.param == "file"
    assert llmrelay.flush(5)
    assert [e[0] for e in events.got] == ["failure"]
    assert fake.request_count == 0


def test_speech_whole_and_streamed(fake: FakeOpenAI, tmp_path: Any) -> None:
    text = "Hello there, general"
    r = llmrelay.speech("openai/tts-1-hd", text, voice="nova", response_format="mp3",
                        speed=1.25, api_base=fake.url, api_key=KEY)
    assert fake.last.body == {"model": "tts-1-hd", "input": text, "voice": "nova",
                              "response_format": "mp3", "speed": 1.25}
    assert r.content == FAKE_AUDIO and r.headers["content-type"] == "audio/mpeg"
    out = tmp_path / "out.mp3"
    r.stream_to_file(out)
    assert out.read_bytes() == FAKE_AUDIO
    assert r._hidden_params["response_cost"] == pytest.approx(len(text) * 3e-5)
    stream = llmrelay.speech("openai/tts-1", text, voice="nova", stream=True,
                             api_base=fake.url, api_key=KEY)
    assert b"".join(stream) == FAKE_AUDIO
    assert stream._hidden_params["response_cost"] == pytest.approx(len(text) * 1.5e-5)


def test_moderation_openai_and_upstream_errors(fake: FakeOpenAI) -> None:
    r = llmrelay.moderation(["I hate you", "nice"], model="openai/omni-moderation-latest",
                            api_base=fake.url, api_key=KEY)
    assert fake.last.body == {"model": "omni-moderation-latest",
                              "input": ["I hate you", "nice"]}
    assert [x.flagged for x in r.results] == [True, False]
    assert r.results[0].category_scores["harassment"] == 0.97
    fake.enqueue(Reply.error(429, "slow down", type="rate_limit_error"))
    with pytest.raises(llmrelay.RateLimitError):
        llmrelay.moderation("x", model="openai/omni-moderation-latest", api_base=fake.url,
                            api_key=KEY, num_retries=0)


def test_rerank_cohere_and_compatible_servers(fake: FakeOpenAI) -> None:
    docs = ["cats purr", {"text": "dogs bark"}, "cats and dogs"]
    with FakeCohere() as co:
        r = llmrelay.rerank("cohere/rerank-v3.5", "cats dogs", docs, top_n=2,
                            api_base=co.url, api_key="co-key")
        assert co.last.path == "/v2/rerank"
        assert co.last.body == {"model": "rerank-v3.5", "query": "cats dogs",
                                "documents": ["cats purr", "dogs bark", "cats and dogs"],
                                "top_n": 2}
    assert isinstance(r, llmrelay.RerankResponse)
    assert r.results[0]["document"] == {"text": "cats and dogs"}
    assert r._hidden_params["response_cost"] == pytest.approx(0.002)
    jina = llmrelay.rerank("jina_ai/jina-reranker-v2", "cats", docs, return_documents=True,
                           api_base=fake.url, api_key=KEY)
    assert fake.last.path == "/v1/rerank" and fake.last.body["return_documents"] is True
    assert jina.results[0]["index"] == 0 and jina.meta["tokens"]["input_tokens"] > 0
    with pytest.raises(llmrelay.BadRequestError, match="no rerank API"):
        llmrelay.rerank("openai/gpt-4o", "q", ["a"], api_base=fake.url, api_key=KEY)


# ---- the mock ----------------------------------------------------------------------------
def test_mock_serves_every_surface_without_network() -> None:
    img = llmrelay.image_generation("a fox", model="mock/dall-e-3", n=3,
                                    response_format="b64_json")
    assert len(img.data) == 3 and img.data[0].b64_json.startswith("iVBOR")
    text = llmrelay.transcription("mock/whisper-1", ("a.wav", wav(2.5)))
    assert text.text == "This is a mock transcription of a.wav." and text.usage.seconds == 3
    speech = llmrelay.speech("mock/tts-1", "x" * 30, voice="alloy")
    with wave.open(io.BytesIO(speech.content)) as w:
        assert w.getnframes() == 8000 * 2
    mod = llmrelay.moderation("anything", model="mock/omni", mock_response="flagged")
    assert mod.results[0].flagged is True
    ranked = llmrelay.rerank("mock/rerank", "red apple", ["green pear", "red apple pie"])
    assert [x["index"] for x in ranked.results] == [1, 0]
    given = llmrelay.image_generation("y", model="openai/dall-e-2",
                                      mock_response={"data": [{"url": "https://x/1.png"}]})
    assert given.data[0].url == "https://x/1.png"


# ---- callbacks ---------------------------------------------------------------------------
CALLS = {
    "image_generation": lambda m, **k: ("image_generation", (), {"prompt": "p", "model": m, **k}),
    "transcription": lambda m, **k: ("transcription", (m, ("a.wav", b"123")), k),
    "speech": lambda m, **k: ("speech", (m, "words", "alloy"), k),
    "moderation": lambda m, **k: ("moderation", ("text",), {"model": m, **k}),
    "rerank": lambda m, **k: ("rerank", (m, "q", ["a", "b"]), k),
}
MODELS = {"image_generation": "dall-e-2", "transcription": "whisper-1", "speech": "tts-1",
          "moderation": "omni-moderation-latest", "rerank": "rerank-v3.5"}


@pytest.mark.parametrize("call_type", sorted(CALLS))
@pytest.mark.parametrize("is_async", [False, True])
def test_one_terminal_event_per_call_with_cost(fake: FakeOpenAI, events: Events,
                                               call_type: str, is_async: bool) -> None:
    provider = "cohere" if call_type == "rerank" else "openai"
    model = f"{provider}/{MODELS[call_type]}"
    with FakeCohere() as co:
        base = co.url if provider == "cohere" else fake.url
        name, args, kw = CALLS[call_type](model, api_base=base, api_key=KEY)
        fn = getattr(llmrelay, ("a" if is_async else "") + name)
        result = asyncio.run(fn(*args, **kw)) if is_async else fn(*args, **kw)
    assert llmrelay.flush(5)
    assert len(events.got) == 1, events.got
    kind, kwargs, obj = events.got[0]
    assert kind == "success" and obj is not None
    assert kwargs["call_type"] == ("a" if is_async else "") + call_type
    assert kwargs["response_cost"] == result._hidden_params["response_cost"]
    expected_free = call_type == "moderation"
    assert (kwargs["response_cost"] == 0.0) if expected_free else kwargs["response_cost"] > 0
    slo = kwargs["standard_logging_object"]
    assert slo["call_type"] == kwargs["call_type"] and slo["response_cost"] is not None


@pytest.mark.parametrize("is_async", [False, True])
def test_a_streamed_speech_has_one_event_even_when_abandoned(fake: FakeOpenAI, events: Events,
                                                             is_async: bool) -> None:
    args = {"api_base": fake.url, "api_key": KEY, "stream": True}

    async def afirst() -> Any:
        s = await llmrelay.aspeech("openai/tts-1", "hello", voice="alloy", **args)
        async for _ in s:
            break
        await s.aclose()

    if is_async:
        asyncio.run(afirst())
    else:
        s = llmrelay.speech("openai/tts-1", "hello", voice="alloy", **args)
        next(iter(s))
        s.close()
    whole = llmrelay.speech("openai/tts-1", "hello", voice="alloy", **args)
    assert b"".join(whole) == FAKE_AUDIO
    assert llmrelay.flush(5)
    got = sorted(events.got, key=lambda e: e[1]["stream_status"])  # sync/async apart
    assert [(e[0], e[1]["stream_status"]) for e in got] == [
        ("success", "abandoned"), ("success", "complete")]
    assert got[1][1]["response_cost"] == pytest.approx(5 * 1.5e-5)
    assert len(got[1][2].content) == len(FAKE_AUDIO)


def test_failures_emit_one_failure_event(fake: FakeOpenAI, events: Events) -> None:
    fake.enqueue(Reply.error(400, "bad size", param="size"))
    with pytest.raises(llmrelay.BadRequestError):
        llmrelay.image_generation("x", model="openai/dall-e-3", size="1x1",
                                  api_base=fake.url, api_key=KEY)
    with pytest.raises(llmrelay.BadRequestError):
        llmrelay.rerank("mock/r", "q", None)
    assert llmrelay.flush(5)
    assert [e[0] for e in events.got] == ["failure", "failure"]


# ---- router and cache --------------------------------------------------------------------
def test_router_routes_and_falls_back_for_images(fake: FakeOpenAI, events: Events) -> None:
    router = llmrelay.Router(model_list=[
        {"model_name": "img", "litellm_params": {"model": "openai/dall-e-3",
                                                 "api_base": fake.url, "api_key": KEY}},
        {"model_name": "img-backup", "litellm_params": {"model": "mock/dall-e-2"}},
    ], fallbacks=[{"img": ["img-backup"]}], num_retries=0)
    fake.enqueue(Reply.error(500, "boom", type="server_error"))
    r = router.image_generation(prompt="a dog", model="img")
    assert r.data[0].url.startswith("https://mock.llmrelay.invalid/")
    assert asyncio.run(router.aimage_generation(prompt="a dog", model="img")).data[0].url
    r2 = asyncio.run(router.amoderation(model="img-backup", input="hi"))
    assert r2.results[0].flagged is False
    ranked = router.rerank(model="img-backup", query="a", documents=["a", "b"])
    assert ranked.results[0]["index"] == 0
    assert llmrelay.flush(5)
    by_type = {e[1]["call_type"]: e[1] for e in events.got}  # sync and async deliver apart
    assert sorted(by_type) == ["aimage_generation", "amoderation", "image_generation",
                               "rerank"] and len(events.got) == 4
    attempts = by_type["image_generation"]["attempts"]
    assert [a["model_group"] for a in attempts] == ["img", "img-backup"]
    assert by_type["image_generation"]["response_cost"] == pytest.approx(0.02)


def test_cache_serves_moderation_and_rerank_not_images() -> None:
    llmrelay.cache = llmrelay.Cache(type="local")
    try:
        first = llmrelay.rerank("mock/r", "red", ["red", "blue"])
        second = llmrelay.rerank("mock/r", "red", ["red", "blue"])
        assert second._hidden_params["cache_hit"] is True and second.results == first.results
        assert second._hidden_params["response_cost"] == 0.0
        llmrelay.moderation("x", model="mock/m")
        assert llmrelay.moderation("x", model="mock/m")._hidden_params["cache_hit"] is True
        llmrelay.image_generation("x", model="mock/dall-e-2")
        again = llmrelay.image_generation("x", model="mock/dall-e-2")
        assert not again._hidden_params.get("cache_hit")
    finally:
        llmrelay.cache = None
