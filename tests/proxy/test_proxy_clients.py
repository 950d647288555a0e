"""Each proxy app builds its own llmrelay Client from its config and never writes the
``llmrelay`` module's settings: two apps in one process share nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml

import llmrelay
from llmrelay.integrations.custom_logger import CustomLogger
from llmrelay.proxy.app import create_app
from llmrelay.proxy.config import load_config

HI = [{"role": "user", "content": "hello"}]


class Recorder(CustomLogger):
    def __init__(self) -> None:
        super().__init__()
        self.models: list[str] = []
        self.prompts: list[Any] = []
        self.pre_calls = 0

    def log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                          end_time: Any) -> None:
        self.models.append(kwargs["litellm_params"]["metadata"]["model_group"])
        self.prompts.append(kwargs["messages"][0]["content"])

    async def async_log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                                      end_time: Any) -> None:
        self.log_success_event(kwargs, response_obj, start_time, end_time)

    async def async_pre_call_hook(self, user_api_key_dict: Any, cache: Any,
                                  data: dict[str, Any], call_type: str) -> Any:
        self.pre_calls += 1
        return data


@asynccontextmanager
async def app_with(tmp: Path, config: dict[str, Any], logger: CustomLogger
                   ) -> AsyncIterator[httpx.AsyncClient]:
    config = {**config, "general_settings": {"database_url": f"sqlite:///{tmp / 'p.db'}"}}
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "config.yaml").write_text(yaml.safe_dump(config))
    cfg = load_config(str(tmp / "config.yaml"))
    cfg.callbacks = [logger]  # a logger object, as a Python caller may configure it
    app = create_app(cfg)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://proxy",
                                     timeout=30) as http:
            yield http


async def test_two_proxy_apps_in_one_process_are_independent(tmp_path: Path) -> None:
    a, b = Recorder(), Recorder()
    priced = {"model_name": "house", "litellm_params": {"model": "mock/house-model"},
              "model_info": {"input_cost_per_token": 1.0, "output_cost_per_token": 1.0}}
    plain = {"model_name": "house", "litellm_params": {"model": "mock/house-model"}}
    cfg_a = {"model_list": [priced],
             "litellm_settings": {"turn_off_message_logging": True, "cache": True,
                                  "num_retries": 0}}
    cfg_b = {"model_list": [plain], "litellm_settings": {"num_retries": 1}}
    async with app_with(tmp_path / "a", cfg_a, a) as http_a, \
            app_with(tmp_path / "b", cfg_b, b) as http_b:
        ra = await http_a.post("/v1/chat/completions", json={"model": "house", "messages": HI})
        rb = await http_b.post("/v1/chat/completions", json={"model": "house", "messages": HI})
        rb2 = await http_b.post("/v1/chat/completions", json={"model": "house", "messages": HI})
        assert ra.status_code == rb.status_code == rb2.status_code == 200, (ra.text, rb.text)
        assert float(ra.headers["x-llmrelay-response-cost"]) > 1.0  # app a's own prices
        assert rb.headers["x-llmrelay-response-cost"] == "unknown"  # b has none
        assert rb2.headers.get("x-llmrelay-response-cost") == "unknown"
        assert await llmrelay.aflush(5)
    assert a.models == ["house"] and len(b.models) == 2
    assert a.pre_calls == 1 and b.pre_calls == 2
    assert a.prompts == ["redacted-by-llmrelay"] and b.prompts == ["hello", "hello"]
    # nothing leaked into the module settings or the process-wide price table
    assert llmrelay.callbacks == [] and llmrelay.cache is None
    assert llmrelay.turn_off_message_logging is False and llmrelay.num_retries is None
    assert llmrelay.cost.lookup("mock/house-model") is None
