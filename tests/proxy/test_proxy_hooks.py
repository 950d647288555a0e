"""Every proxy-only hook's effect, seen from an openai SDK client: pre-call (rewrite,
refuse, raise with and without a status), moderation (cancels the upstream call),
post-call success (mutate, replace, headers -- the reference doc's example from
examples/custom_callbacks.py), failure, per-chunk streaming and the stream iterator; and
the library hooks firing with the key's identity."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from proxy_harness import MASTER_KEY, ROOT, Proxy, start_proxy, upstream_model, wait_events

from fakes.openai_server import Reply

HOOKS = '''
import asyncio, json, os
from starlette.exceptions import HTTPException
from llmrelay.integrations.custom_logger import CustomLogger
from llmrelay import ModelResponse

PATH = os.environ["PROXY_EVENTS"]


def note(**kw):
    with open(PATH, "a") as f:
        f.write(json.dumps(kw, default=str) + "\\n")


def last_text(data):
    msgs = data.get("messages") or []
    if msgs:
        return msgs[-1].get("content") or ""
    return str(data.get("prompt") or data.get("input") or "")


class Policy(CustomLogger):
    async def async_pre_call_hook(self, user_api_key_dict, cache, data, call_type):
        text = last_text(data)
        note(hook="pre_call", call_type=call_type, text=text,
             key_alias=user_api_key_dict.key_alias, user_id=user_api_key_dict.user_id,
             team_id=user_api_key_dict.team_id, token=user_api_key_dict.token,
             max_budget=user_api_key_dict.max_budget, rpm=user_api_key_dict.rpm_limit,
             models=user_api_key_dict.models, metadata=user_api_key_dict.metadata,
             role=user_api_key_dict.user_role, via_get=user_api_key_dict.get("key_alias"),
             cached=cache.get_cache("seen:" + text))
        cache.set_cache("seen:" + text, True)
        if "REFUSE" in text:
            return "refused by policy"
        if "FORBID" in text:
            raise HTTPException(status_code=403, detail="forbidden by hook")
        if "CRASH" in text:
            raise RuntimeError("hook crashed")
        if "REWRITE" in text:
            new = dict(data)
            new["messages"] = [{"role": "user", "content": "rewritten by hook"}]
            new["max_tokens"] = 7
            return new
        return None


class Second(CustomLogger):
    async def async_pre_call_hook(self, user_api_key_dict, cache, data, call_type):
        note(hook="pre_call_2", text=last_text(data))  # runs after Policy: sees its rewrite

    async def async_moderation_hook(self, data, user_api_key_dict, call_type):
        if "MODERATE" in last_text(data):
            # Say no only once the upstream has the request (the test signals it with a
            # file), so the cancellation is of a call in flight, however loaded the machine.
            marker = os.path.join(os.path.dirname(PATH), "upstream_started")
            for _ in range(3000):
                if os.path.exists(marker):
                    break
                await asyncio.sleep(0.01)
            raise HTTPException(status_code=400, detail="blocked by moderation")

    async def async_post_call_success_hook(self, data, user_api_key_dict, response):
        text = last_text(data)
        if "MUTATE" in text:
            response.choices[0].message.content = "mutated by hook"
        if "REPLACE" in text:
            return ModelResponse(model="replaced", choices=[
                {"index": 0, "message": {"role": "assistant", "content": "replaced by hook"},
                 "finish_reason": "stop"}])
        response._hidden_params["additional_headers"]["x-second-hook"] = "yes"
        return None

    async def async_post_call_failure_hook(self, request_data, original_exception,
                                           user_api_key_dict):
        note(hook="failure", error=type(original_exception).__name__,
             status=getattr(original_exception, "status_code", None),
             text=last_text(request_data), key_alias=user_api_key_dict.key_alias)
        if "SWAP" in last_text(request_data):
            return HTTPException(status_code=409, detail="swapped by failure hook")

    async def async_post_call_streaming_hook(self, user_api_key_dict, response):
        choices = getattr(response, "choices", None)
        if choices and choices[0].delta.content:
            choices[0].delta.content = choices[0].delta.content.upper()
            return response
        return None


class Wrapper(CustomLogger):
    async def async_post_call_streaming_iterator_hook(self, user_api_key_dict, response,
                                                      request_data):
        n = 0
        async for chunk in response:
            n += 1
            yield chunk
        note(hook="iterator", chunks=n, text=last_text(request_data))

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        md = kwargs["litellm_params"]["metadata"]
        note(hook="library_success", call_id=kwargs["litellm_call_id"],
             alias=md.get("user_api_key_alias"), handled_by=md.get("handled_by"))

    async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):
        note(hook="library_failure", call_id=kwargs["litellm_call_id"],
             error=type(kwargs.get("exception")).__name__)


policy, second, wrapper = Policy(), Second(), Wrapper()
'''


@pytest.fixture(scope="module")
def proxy(module_tmp: Path, fake_server: Any) -> Iterator[Proxy]:
    shutil.copy(ROOT / "examples" / "custom_callbacks.py", module_tmp / "custom_callbacks.py")
    config = {
        "model_list": [upstream_model(fake_server),
                       upstream_model(fake_server, "text-embedding-3-small")],
        "litellm_settings": {"callbacks": [
            "hooks_mod.policy", "hooks_mod.second", "hooks_mod.wrapper",
            "custom_callbacks.proxy_handler_instance"]},
        "router_settings": {"num_retries": 0, "cooldown_time": 0},
    }
    p = start_proxy(module_tmp, config, master_key=MASTER_KEY, files={"hooks_mod.py": HOOKS},
                    env={"PROXY_EVENTS": str(module_tmp / "events.jsonl")})
    yield p
    p.stop()


@pytest.fixture
def fake(fresh_fake: Any) -> Any:
    return fresh_fake


@pytest.fixture(scope="module")
def user_key(proxy: Proxy) -> dict[str, Any]:
    return proxy.create_key(key_alias="hooked", user_id="u-h", team_id="t-h", rpm_limit=1000,
                            max_budget=50.0, metadata={"tier": "gold"})


def events(proxy: Proxy, pred: Any, n: int = 1) -> list[dict[str, Any]]:
    return wait_events(proxy.tmp / "events.jsonl", pred, n)


def ask(proxy: Proxy, text: str, key: str | None = None, **kw: Any) -> Any:
    return proxy.client(key).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": text}], **kw)


def test_pre_call_hook_sees_key_identity(proxy: Proxy, fake: Any,
                                         user_key: dict[str, Any]) -> None:
    ask(proxy, "who am I", user_key["key"])
    ev = events(proxy, lambda e: e.get("hook") == "pre_call" and e["text"] == "who am I")[0]
    assert ev["call_type"] == "completion"
    assert (ev["key_alias"], ev["user_id"], ev["team_id"]) == ("hooked", "u-h", "t-h")
    assert ev["token"] == user_key["token"] and ev["via_get"] == "hooked"
    assert (ev["max_budget"], ev["rpm"], ev["metadata"]) == (50.0, 1000, {"tier": "gold"})
    assert ev["role"] == "internal_user" and ev["cached"] is None
    ask(proxy, "who am I", user_key["key"])  # the hook cache persists between requests
    later = events(proxy, lambda e: e.get("hook") == "pre_call" and e["text"] == "who am I", 2)
    assert later[1]["cached"] is True


def test_pre_call_hook_rewrites_request_in_list_order(proxy: Proxy, fake: Any) -> None:
    ask(proxy, "please REWRITE")
    assert fake.last.body["messages"] == [{"role": "user", "content": "rewritten by hook"}]
    assert fake.last.body["max_tokens"] == 7
    assert events(proxy, lambda e: e.get("hook") == "pre_call_2"
                  and e["text"] == "rewritten by hook")


def test_pre_call_hook_string_refuses_with_400(proxy: Proxy, fake: Any) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        ask(proxy, "REFUSE this")
    assert info.value.body["message"] == "refused by policy"
    assert fake.request_count == 0
    ev = events(proxy, lambda e: e.get("hook") == "failure" and e["text"] == "REFUSE this")
    assert ev[0]["status"] == 400


def test_pre_call_hook_http_exception_sets_status(proxy: Proxy, fake: Any) -> None:
    with pytest.raises(openai.PermissionDeniedError) as info:
        ask(proxy, "FORBID this")
    assert info.value.status_code == 403
    assert info.value.body["message"] == "forbidden by hook"
    assert fake.request_count == 0


def test_pre_call_hook_plain_exception_is_500(proxy: Proxy, fake: Any) -> None:
    with pytest.raises(openai.InternalServerError) as info:
        ask(proxy, "CRASH now")
    assert info.value.status_code == 500
    assert "hook crashed" in info.value.body["message"]
    assert "Traceback" not in info.value.response.text
    assert fake.request_count == 0


def test_moderation_hook_cancels_upstream(proxy: Proxy, fake: Any) -> None:
    fake.default_delay = 30.0  # the upstream is still busy when moderation says no
    marker = proxy.tmp / "upstream_started"

    def signal_upstream_started() -> None:
        try:
            fake.wait_for_requests(1, timeout=30)
        except TimeoutError:
            return
        marker.touch()

    watcher = threading.Thread(target=signal_upstream_started)
    watcher.start()
    try:
        with pytest.raises(openai.BadRequestError) as info:
            ask(proxy, "MODERATE me")
    finally:
        watcher.join(35)
    assert info.value.body["message"] == "blocked by moderation"
    call_id = info.value.response.headers["x-llmrelay-call-id"]
    assert marker.exists()  # the call had started, in parallel with moderation
    failed = events(proxy, lambda e: e.get("hook") == "library_failure"
                    and e["call_id"] == call_id)
    assert failed[0]["error"] == "CancelledError"
    assert events(proxy, lambda e: e.get("hook") == "failure" and e["text"] == "MODERATE me")


def test_moderation_passes_when_clean(proxy: Proxy, fake: Any) -> None:
    assert ask(proxy, "clean text").parse().choices[0].message.content == "Hello from fake"


def test_post_call_success_hook_headers_mutate_replace(proxy: Proxy, fake: Any) -> None:
    raw = ask(proxy, "plain")
    # the reference documentation's example (examples/custom_callbacks.py) and a second one
    assert raw.headers["x-litellm-custom-header"] == "my-value"
    assert raw.headers["x-second-hook"] == "yes"
    assert raw.headers["x-llmrelay-call-id"]
    assert ask(proxy, "MUTATE it").parse().choices[0].message.content == "mutated by hook"
    replaced = ask(proxy, "REPLACE it").parse()
    assert replaced.choices[0].message.content == "replaced by hook"
    assert replaced.model == "replaced"


def test_failure_hook_sees_upstream_errors(proxy: Proxy, fake: Any,
                                           user_key: dict[str, Any]) -> None:
    fake.enqueue(Reply.error(429, "slow down", type="rate_limit_error",
                             headers={"Retry-After": "0"}))
    with pytest.raises(openai.RateLimitError):
        ask(proxy, "upstream will fail", user_key["key"])
    ev = events(proxy, lambda e: e.get("hook") == "failure"
                and e["text"] == "upstream will fail")[0]
    assert ev["error"] == "RateLimitError" and ev["status"] == 429
    assert ev["key_alias"] == "hooked"


def test_failure_hook_can_replace_the_error(proxy: Proxy, fake: Any) -> None:
    with pytest.raises(openai.ConflictError) as info:
        ask(proxy, "REFUSE and SWAP")
    assert info.value.body["message"] == "swapped by failure hook"


def test_streaming_hooks(proxy: Proxy, fake: Any) -> None:
    fake.default_content = "hello from the stream"
    stream = proxy.client().chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "stream it"}], stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "HELLO FROM THE STREAM"  # async_post_call_streaming_hook, per chunk
    ev = events(proxy, lambda e: e.get("hook") == "iterator" and e["text"] == "stream it")
    assert ev[0]["chunks"] >= 6  # the iterator hook saw every chunk (usage chunk included)


def test_example_handler_policies(proxy: Proxy, fake: Any) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        ask(proxy, "   ")
    assert info.value.body["message"] == "empty prompts are not allowed"
    with pytest.raises(openai.BadRequestError) as info:
        ask(proxy, "tell me about the forbidden-topic")
    assert info.value.body["message"] == "request blocked by moderation"


def test_library_hooks_fire_with_identity(proxy: Proxy, fake: Any,
                                          user_key: dict[str, Any]) -> None:
    raw = ask(proxy, "library", user_key["key"])
    call_id = raw.headers["x-llmrelay-call-id"]
    ev = events(proxy, lambda e: e.get("hook") == "library_success"
                and e["call_id"] == call_id)
    assert len(ev) == 1
    assert ev[0]["alias"] == "hooked"
    assert ev[0]["handled_by"] == "custom_callbacks"  # metadata added by a pre-call hook


def test_embeddings_go_through_hooks(proxy: Proxy, fake: Any) -> None:
    r = proxy.client().embeddings.create(model="text-embedding-3-small", input="embed me")
    assert len(r.data) == 1
    assert events(proxy, lambda e: e.get("hook") == "pre_call" and e["text"] == "embed me"
                  and e["call_type"] == "embeddings")
