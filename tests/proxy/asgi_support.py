"""The proxy app in-process (no subprocess, no port): for tests that send many small
requests. The app runs its real start-up and shut-down (key store, spend writer); requests
go through httpx's ASGI transport, or the official openai SDK on top of it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml

from llmrelay.proxy.app import create_app
from llmrelay.proxy.config import load_config

MASTER = "sk-master-0123456789abcdef"


class InProcess:
    """A started app and an httpx client on it; :meth:`openai` gives an SDK client."""

    def __init__(self, app: Any, http: httpx.AsyncClient, master_key: str | None) -> None:
        self.app = app
        self.http = http
        self.master_key = master_key

    def headers(self, key: str | None = None) -> dict[str, str]:
        key = key or self.master_key
        return {"Authorization": f"Bearer {key}"} if key else {}

    def openai(self, key: str | None = None) -> Any:
        import openai

        return openai.AsyncOpenAI(base_url="http://proxy/v1", api_key=key or self.master_key
                                  or "none", max_retries=0, http_client=self.http)

    async def post(self, path: str, body: Any, key: str | None = None) -> httpx.Response:
        return await self.http.post(path, json=body, headers=self.headers(key))

    async def new_key(self, **fields: Any) -> str:
        r = await self.post("/key/generate", fields)
        assert r.status_code == 200, r.text
        return str(r.json()["key"])


@asynccontextmanager
async def in_process(tmp: Path, config: dict[str, Any], *, master_key: str | None = MASTER
                     ) -> AsyncIterator[InProcess]:
    """Start the proxy app for ``config`` (written to ``tmp``) and yield a client on it."""
    config = dict(config)
    general = config.setdefault("general_settings", {})
    general.setdefault("database_url", f"sqlite:///{tmp / 'proxy.db'}")
    if master_key:
        general.setdefault("master_key", master_key)
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    app = create_app(load_config(str(path)))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://proxy",
                                     timeout=30) as http:
            yield InProcess(app, http, master_key)


def upstream(fake: Any, name: str = "gpt-4o-mini", **params: Any) -> dict[str, Any]:
    return {"model_name": name, "litellm_params": {
        "model": f"openai/{name}", "api_base": fake.url, "api_key": "sk-upstream-key",
        **params}}


MOCK = {"model_name": "mock", "litellm_params": {"model": "mock/mock"}}
QUIET = {"litellm_settings": {"num_retries": 0},
         "router_settings": {"num_retries": 0, "allowed_fails": 1000, "cooldown_time": 0}}
