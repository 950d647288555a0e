"""Redaction canary: a secret prompt (and a secret reply) through every wire API and every
call type, streamed and not, with ``turn_off_message_logging`` for the call and for one
logger; everything a callback receives is searched for the secrets.

The redacting logger's ``complete_input_dict`` is the provider's own request built from a
redacted call, so a wire cannot leak a field no list of body keys knows about. A plain
logger beside it must see the secret prompt (so the search can fail)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import llmrelay
from fakes.anthropic_server import FakeAnthropic
from fakes.bedrock_server import FakeBedrock
from fakes.cohere_server import FakeCohere
from fakes.gemini_server import FakeGemini
from fakes.ollama_server import FakeOllama
from fakes.openai_server import FakeOpenAI
from fakes.vertex_server import FakeVertex, service_account_key
from llmrelay.integrations.custom_logger import CustomLogger
from llmrelay.providers.bedrock import auth as bedrock_auth
from llmrelay.providers.vertex_ai import auth as vertex_auth

PROMPT_SECRET = "canary-prompt-7f3a9"
REPLY_SECRET = "canary-reply-2b8e1"
AK, SK = "AKIDLLMRELAYTEST", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

# wire -> models per call type (None: the wire has no such call; the refusal is searched too)
WIRES: dict[str, dict[str, str | None]] = {
    "openai": {"completion": "openai/gpt-4o-mini",
               "text_completion": "openai/gpt-3.5-turbo-instruct",
               "embedding": "openai/text-embedding-3-small"},
    "azure": {"completion": "azure/gpt-4o-mini", "text_completion": "azure/gpt-35-turbo-instruct",
              "embedding": "azure/text-embedding-3-small"},
    "anthropic": {"completion": "anthropic/claude-3-5-sonnet-20241022",
                  "text_completion": "anthropic/claude-3-5-sonnet-20241022",
                  "embedding": "anthropic/claude-3-5-sonnet-20241022"},
    "gemini": {"completion": "gemini/gemini-2.0-flash", "text_completion": "gemini/gemini-2.0-flash",
               "embedding": "gemini/text-embedding-004"},
    "ollama": {"completion": "ollama/llama3.2", "text_completion": "ollama/llama3.2",
               "embedding": "ollama/nomic-embed-text"},
    "bedrock": {"completion": "bedrock/anthropic.claude-3-5-sonnet-20241022-v2:0",
                "text_completion": "bedrock/anthropic.claude-3-5-sonnet-20241022-v2:0",
                "embedding": "bedrock/cohere.embed-english-v3"},
    "vertex_gemini": {"completion": "vertex_ai/gemini-2.5-flash",
                      "text_completion": "vertex_ai/gemini-2.5-flash",
                      "embedding": "vertex_ai/gemini-embedding-001"},
    "vertex_claude": {"completion": "vertex_ai/claude-sonnet-4@20250514",
                      "text_completion": None, "embedding": None},
    "cohere": {"completion": "cohere/command-r-08-2024",
               "text_completion": "cohere/command-r-08-2024",
               "embedding": "cohere/embed-english-v3.0"},
    "mock": {"completion": "mock/canary", "text_completion": "mock/canary",
             "embedding": "mock/canary"},
}


class Servers:
    def __init__(self, tmp: Path) -> None:
        self.openai = FakeOpenAI()
        self.anthropic = FakeAnthropic()
        self.gemini = FakeGemini()
        self.ollama = FakeOllama()
        self.bedrock = FakeBedrock()
        self.vertex = FakeVertex()
        self.cohere = FakeCohere()
        self.all = [self.openai, self.anthropic, self.gemini, self.ollama, self.bedrock,
                    self.vertex, self.cohere]
        for srv in self.all:
            srv.__enter__()
        self.account, public = service_account_key(self.vertex.token_uri)
        self.vertex.add_service_account(self.account["client_email"], public)

    def close(self) -> None:
        for srv in self.all:
            srv.__exit__(None, None, None)

    def prepare(self) -> None:
        for srv in (self.openai, self.anthropic, self.gemini, self.ollama, self.bedrock,
                    self.vertex, self.cohere):
            srv.reset()
        self.anthropic.configure_defaults()
        self.vertex.claude.configure_defaults()
        self.bedrock.credentials = {AK: (SK, None)}
        self.bedrock.api_keys = set()
        self.cohere.require_api_key = "co-test-key-0123456789"
        for srv in (self.openai, self.anthropic, self.gemini, self.ollama, self.bedrock,
                    self.vertex, self.vertex.claude, self.cohere):
            srv.default_content = f"the answer is {REPLY_SECRET}"

    def args(self, wire: str) -> dict[str, Any]:
        key = "sk-test-0123456789abcdef"
        return {
            "openai": {"api_base": self.openai.url, "api_key": key},
            "azure": {"api_base": self.openai.base, "api_key": key},
            "anthropic": {"api_base": self.anthropic.base, "api_key": key},
            "gemini": {"api_base": self.gemini.url, "api_key": key},
            "ollama": {"api_base": self.ollama.url},
            "bedrock": {"aws_access_key_id": AK, "aws_secret_access_key": SK,
                        "aws_region_name": "us-east-1",
                        "aws_bedrock_runtime_endpoint": self.bedrock.url},
            "vertex_gemini": self.vertex_args(), "vertex_claude": self.vertex_args(),
            "cohere": {"api_base": self.cohere.url, "api_key": "co-test-key-0123456789"},
            "mock": {"mock_response": f"the answer is {REPLY_SECRET}"},
        }[wire]

    def vertex_args(self) -> dict[str, Any]:
        return {"vertex_credentials": json.dumps(self.account),
                "vertex_location": "us-central1", "api_base": self.vertex.base}


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    s = Servers(tmp_path_factory.mktemp("canary"))
    yield s
    s.close()


@pytest.fixture
def env(servers: Servers, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Servers:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_BEARER_TOKEN_BEDROCK",
                "GOOGLE_APPLICATION_CREDENTIALS", "VERTEXAI_PROJECT", "VERTEXAI_LOCATION",
                "GOOGLE_CLOUD_PROJECT", "VERTEXAI_CREDENTIALS", "VERTEX_AI_CREDENTIALS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    bedrock_auth.reset()
    vertex_auth.reset()
    servers.prepare()
    return servers


class Everything(CustomLogger):
    """Keeps every argument of every hook it gets."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.got: list[tuple[str, tuple[Any, ...]]] = []

    def _add(self, hook: str, *args: Any) -> None:
        self.got.append((hook, args))

    def log_pre_api_call(self, model: Any, messages: Any, kwargs: Any) -> None:
        self._add("pre", model, messages, kwargs)

    def log_post_api_call(self, kwargs: Any, response_obj: Any, start: Any, end: Any) -> None:
        self._add("post", kwargs, response_obj)

    def log_stream_event(self, kwargs: Any, response_obj: Any, start: Any, end: Any) -> None:
        self._add("stream", kwargs, response_obj)

    async def async_log_stream_event(self, kwargs: Any, response_obj: Any, start: Any,
                                     end: Any) -> None:
        self._add("stream", kwargs, response_obj)

    def log_success_event(self, kwargs: Any, response_obj: Any, start: Any, end: Any) -> None:
        self._add("success", kwargs, response_obj)

    def log_failure_event(self, kwargs: Any, response_obj: Any, start: Any, end: Any) -> None:
        self._add("failure", kwargs, response_obj)

    async def async_log_success_event(self, kwargs: Any, response_obj: Any, start: Any,
                                      end: Any) -> None:
        self._add("success", kwargs, response_obj)

    async def async_log_failure_event(self, kwargs: Any, response_obj: Any, start: Any,
                                      end: Any) -> None:
        self._add("failure", kwargs, response_obj)


def texts(obj: Any, seen: set[int] | None = None, depth: int = 0) -> Iterator[str]:
    """Every string reachable from ``obj`` (dict keys and values, items, attributes,
    exception messages), however deep."""
    seen = set() if seen is None else seen
    if depth > 40 or id(obj) in seen:
        return
    if isinstance(obj, str):
        yield obj
        return
    if isinstance(obj, (bytes, bytearray)):
        yield bytes(obj).decode("utf-8", "replace")
        return
    if obj is None or isinstance(obj, (int, float, bool, dt.datetime, dt.timedelta)):
        return
    seen.add(id(obj))
    if isinstance(obj, dict):
        for k, v in list(obj.items()):  # items(): lazily built keys included
            yield from texts(k, seen, depth + 1)
            yield from texts(v, seen, depth + 1)
        return
    if isinstance(obj, (list, tuple, set, frozenset)):
        for v in list(obj):
            yield from texts(v, seen, depth + 1)
        return
    if isinstance(obj, BaseException):
        yield str(obj)
        yield from texts(obj.args, seen, depth + 1)
    attrs = getattr(obj, "__dict__", None)
    if isinstance(attrs, dict):
        yield from texts(attrs, seen, depth + 1)
    elif not isinstance(obj, BaseException):
        yield repr(obj)


def run_call(call_type: str, model: str, stream: bool, is_async: bool, args: dict[str, Any]
             ) -> None:
    secret = f"tell nobody: {PROMPT_SECRET}"
    fn = {"completion": "completion", "text_completion": "text_completion",
          "embedding": "embedding"}[call_type]
    kwargs: dict[str, Any] = dict(args)
    if call_type == "completion":
        kwargs["messages"] = [{"role": "system", "content": f"system {PROMPT_SECRET}"},
                              {"role": "user", "content": secret}]
    elif call_type == "text_completion":
        kwargs["prompt"] = secret
    else:
        kwargs["input"] = [secret, f"second {PROMPT_SECRET}"]
    if stream:
        kwargs["stream"] = True

    async def arun() -> None:
        r = await getattr(llmrelay, "a" + fn)(model=model, **kwargs)
        if stream:
            async for _ in r:
                pass

    try:
        if is_async:
            asyncio.run(arun())
        else:
            r = getattr(llmrelay, fn)(model=model, **kwargs)
            if stream:
                for _ in r:
                    pass
    except llmrelay.LLMRelayError:
        pass  # a call type the wire lacks: its failure event is searched like the rest


CASES = [(wire, call_type, stream)
         for wire in WIRES for call_type in ("completion", "text_completion", "embedding")
         for stream in ((False, True) if call_type != "embedding" else (False,))]


@pytest.mark.parametrize(("wire", "call_type", "stream"), CASES,
                         ids=[f"{w}-{c}-{'stream' if s else 'whole'}" for w, c, s in CASES])
def test_no_secret_reaches_a_redacting_logger(env: Servers, wire: str, call_type: str,
                                              stream: bool) -> None:
    model = WIRES[wire][call_type] or WIRES[wire]["completion"]
    assert model is not None
    redacting = Everything(turn_off_message_logging=True)
    plain = Everything()
    seen_inputs: list[Any] = []
    llmrelay.callbacks = [redacting, plain]
    llmrelay.input_callback = [lambda kwargs: seen_inputs.append(kwargs)]
    for is_async in (False, True):
        run_call(call_type, model, stream, is_async, env.args(wire))
    assert llmrelay.flush(10)
    hooks = {h for h, _ in redacting.got}
    assert "pre" in hooks or "failure" in hooks, redacting.got
    leaked = [(hook, t) for hook, args in redacting.got for t in texts(args)
              if PROMPT_SECRET in t or REPLY_SECRET in t]
    assert leaked == [], leaked[:3]
    # the search can fail: the logger that does not redact sees the prompt
    assert any(PROMPT_SECRET in t for _, args in plain.got for t in texts(args))


@pytest.mark.parametrize(("wire", "call_type", "stream"), CASES,
                         ids=[f"{w}-{c}-{'stream' if s else 'whole'}" for w, c, s in CASES])
def test_no_secret_reaches_any_callback_when_the_call_redacts(
        env: Servers, wire: str, call_type: str, stream: bool) -> None:
    model = WIRES[wire][call_type] or WIRES[wire]["completion"]
    assert model is not None
    rec = Everything()
    seen: list[Any] = []
    llmrelay.callbacks = [rec]
    llmrelay.input_callback = [lambda kwargs: seen.append(("input", kwargs))]
    llmrelay.success_callback = [lambda *a: seen.append(("success", a))]
    llmrelay.failure_callback = [lambda *a: seen.append(("failure", a))]
    llmrelay.turn_off_message_logging = True
    for is_async in (False, True):
        run_call(call_type, model, stream, is_async, env.args(wire))
    assert llmrelay.flush(10)
    everything = [*rec.got, *seen]
    assert everything
    leaked = [t for item in everything for t in texts(item)
              if PROMPT_SECRET in t or REPLY_SECRET in t]
    assert leaked == [], leaked[:3]
