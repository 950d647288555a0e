"""The proxy's images, moderations, audio and rerank endpoints, driven with the official
``openai`` SDK (and httpx for Cohere's rerank shape) against fake upstreams speaking
OpenAI's and Cohere's wire formats: each answer in the vendor's shape, priced, spent
against the key, limited like chat, and its one callback event seen."""

from __future__ import annotations

import io
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from proxy_harness import MASTER_KEY, Proxy, start_proxy, wait_events

from fakes.cohere_server import FakeCohere
from fakes.openai_server import FakeOpenAI
from fakes.openai_surfaces import FAKE_AUDIO, parse_multipart

COHERE_KEY = "co-media-key-0123456789"
EVENTS = '''
import json, os
from llmrelay.integrations.custom_logger import CustomLogger

class Recorder(CustomLogger):
    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        with open(os.environ["PROXY_EVENTS"], "a") as f:
            f.write(json.dumps({"call_type": kwargs.get("call_type"),
                                "model": kwargs.get("model"),
                                "cost": kwargs.get("response_cost"),
                                "stream": kwargs.get("stream")}) + "\\n")

recorder = Recorder()
'''


@pytest.fixture(scope="module")
def upstreams() -> Iterator[tuple[FakeOpenAI, FakeCohere]]:
    with FakeOpenAI() as oa, FakeCohere() as co:
        co.require_api_key = COHERE_KEY
        yield oa, co


@pytest.fixture(scope="module")
def proxy(module_tmp: Path, upstreams: tuple[FakeOpenAI, FakeCohere]) -> Iterator[Proxy]:
    oa, co = upstreams
    openai_args = {"api_base": oa.url, "api_key": "sk-upstream-0123456789"}
    config = {
        "model_list": [
            {"model_name": "dall-e-3", "litellm_params": {"model": "openai/dall-e-3",
                                                          **openai_args}},
            {"model_name": "gpt-image-1", "litellm_params": {"model": "openai/gpt-image-1",
                                                             **openai_args}},
            {"model_name": "omni-moderation-latest", "litellm_params": {
                "model": "openai/omni-moderation-latest", **openai_args}},
            {"model_name": "whisper-1", "litellm_params": {"model": "openai/whisper-1",
                                                           **openai_args}},
            {"model_name": "tts-1", "litellm_params": {"model": "openai/tts-1", **openai_args}},
            {"model_name": "rerank", "litellm_params": {
                "model": "cohere/rerank-v3.5", "api_base": co.url, "api_key": COHERE_KEY}},
            {"model_name": "rerank-self-hosted", "litellm_params": {
                "model": "openai_like/bge-reranker", **openai_args}},
            {"model_name": "mock-images", "litellm_params": {"model": "mock/dall-e-2"}},
        ],
        "litellm_settings": {"callbacks": "events.recorder", "num_retries": 0},
    }
    p = start_proxy(module_tmp, config, master_key=MASTER_KEY, files={"events.py": EVENTS},
                    env={"PROXY_EVENTS": str(module_tmp / "events.jsonl"),
                         "PYTHONPATH": str(module_tmp)})
    yield p
    p.stop()


def _events(proxy: Proxy, call_type: str, n: int = 1) -> list[dict[str, Any]]:
    found = wait_events(proxy.tmp / "events.jsonl", lambda e: e["call_type"] == call_type, n)
    assert len(found) >= n, found
    return found


def _wav(seconds: float) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x00" * int(8000 * seconds))
    return buf.getvalue()


def test_images_generate_priced_per_image(proxy: Proxy, upstreams: Any) -> None:
    oa, _ = upstreams
    client = proxy.client()
    raw = client.images.with_raw_response.generate(
        model="dall-e-3", prompt="a sea otter", size="1024x1792", quality="hd")
    images = raw.parse()
    assert images.data[0].url.startswith("https://images.fake/")
    assert images.data[0].revised_prompt == "A detailed picture: a sea otter"
    assert float(raw.headers["x-llmrelay-response-cost"]) == pytest.approx(0.12)
    assert oa.last.path == "/v1/images/generations"
    assert oa.last.body == {"model": "dall-e-3", "prompt": "a sea otter",
                            "size": "1024x1792", "quality": "hd"}
    token_billed = client.images.generate(model="gpt-image-1", prompt="a cat", n=2)
    assert token_billed.data[0].b64_json and token_billed.usage.output_tokens == 544
    assert [e["cost"] for e in _events(proxy, "aimage_generation", 2)][:1] == [
        pytest.approx(0.12)]


def test_images_refuse_what_openai_refuses(proxy: Proxy) -> None:
    import openai

    client = proxy.client()
    with pytest.raises(openai.BadRequestError) as err:
        client.images.generate(model="dall-e-3", prompt="x", n=11)
    assert err.value.body["param"] == "n"
    with pytest.raises(openai.BadRequestError):
        client.images.generate(model="dall-e-3", prompt="")


def test_moderations_default_model_and_verdicts(proxy: Proxy) -> None:
    client = proxy.client()
    verdict = client.moderations.create(input=["I hate you", "hello"])
    assert [r.flagged for r in verdict.results] == [True, False]
    assert verdict.results[0].categories.harassment is True
    assert _events(proxy, "amoderation")[0]["cost"] == 0.0


def test_transcriptions_multipart_upload(proxy: Proxy, upstreams: Any) -> None:
    oa, _ = upstreams
    client = proxy.client()
    audio = _wav(2.0)
    raw = client.audio.transcriptions.with_raw_response.create(
        model="whisper-1", file=("talk.wav", audio, "audio/wav"), language="en",
        temperature=0.2, response_format="verbose_json", timestamp_granularities=["word"])
    text = raw.parse()
    assert text.text == f"Transcript of talk.wav ({len(audio)} bytes)."
    form = parse_multipart(oa.last.headers["content-type"], oa.last.raw)
    assert form is not None and form["file"]["data"] == audio
    assert form["language"] == "en" and form["temperature"] == "0.2"
    assert form["timestamp_granularities"] == ["word"]
    assert form["response_format"] == "verbose_json"
    seconds = round(len(audio) / 16000, 2)  # the fake's duration
    assert float(raw.headers["x-llmrelay-response-cost"]) == pytest.approx(seconds * 0.0001)
    plain = client.audio.transcriptions.create(model="whisper-1", file=("a.mp3", b"123"),
                                               response_format="text")
    assert plain.strip() == "Transcript of a.mp3 (3 bytes)."


def test_transcription_body_problems_are_400s(proxy: Proxy) -> None:
    r = proxy.http.post("/v1/audio/transcriptions", headers=proxy.headers(),
                        json={"model": "whisper-1"})
    assert r.status_code == 400 and "multipart" in r.json()["error"]["message"]
    r = proxy.http.post("/v1/audio/transcriptions", headers=proxy.headers(),
                        files={"model": (None, "whisper-1")})
    assert r.status_code == 400 and r.json()["error"]["param"] == "file"
    r = proxy.http.post("/v1/audio/transcriptions", headers=proxy.headers(),
                        data={"model": "whisper-1", "temperature": "hot"},
                        files={"file": ("a.wav", b"x")})
    assert r.status_code == 400 and r.json()["error"]["param"] == "temperature"


def test_speech_streams_the_upstream_bytes(proxy: Proxy) -> None:
    client = proxy.client()
    text = "The quick brown fox jumped over the lazy dog."
    with client.audio.speech.with_streaming_response.create(
            model="tts-1", voice="alloy", input=text) as response:
        assert response.headers["content-type"] == "audio/mpeg"
        data = b"".join(response.iter_bytes())
    assert data == FAKE_AUDIO
    ev = _events(proxy, "aspeech")[0]
    assert ev["cost"] == pytest.approx(len(text) * 15e-6) and ev["stream"] is True
    rows = proxy.spend_logs(1, model="tts-1")
    assert rows and rows[0]["cost"] == pytest.approx(len(text) * 15e-6)


def test_rerank_cohere_shape_on_both_paths(proxy: Proxy) -> None:
    docs = ["the cat sat", "dogs bark loudly", "a cat and a dog"]
    for path in ("/v1/rerank", "/rerank"):
        r = proxy.http.post(path, headers=proxy.headers(), json={
            "model": "rerank", "query": "cat dog", "documents": docs, "top_n": 2})
        assert r.status_code == 200, r.text
        body = r.json()
        assert [x["index"] for x in body["results"]] == [2, 0]
        assert body["results"][0]["document"] == {"text": "a cat and a dog"}
        assert body["meta"]["billed_units"]["search_units"] == 1
        assert float(r.headers["x-llmrelay-response-cost"]) == pytest.approx(0.002)
    self_hosted = proxy.http.post("/v1/rerank", headers=proxy.headers(), json={
        "model": "rerank-self-hosted", "query": "cat", "documents": docs,
        "return_documents": False})
    assert self_hosted.status_code == 200, self_hosted.text
    assert "document" not in self_hosted.json()["results"][0]
    bad = proxy.http.post("/v1/rerank", headers=proxy.headers(), json={
        "model": "rerank", "query": "cat", "documents": []})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "documents"


def test_virtual_key_spend_and_model_access(proxy: Proxy) -> None:
    import openai

    key = proxy.create_key(models=["mock-images"], max_budget=1.0)["key"]
    client = proxy.client(key)
    client.images.generate(model="mock-images", prompt="a dog", size="512x512")
    rows = proxy.spend_logs(1, api_key=key)
    assert rows and rows[0]["cost"] == pytest.approx(0.018)
    with pytest.raises(openai.APIStatusError) as err:
        client.moderations.create(model="omni-moderation-latest", input="x")
    assert err.value.status_code in (401, 403)
