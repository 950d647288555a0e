"""A fake Replicate server speaking its predictions API over real HTTP.

Built on :class:`~fakes.openai_server.FakeOpenAI` (thread, recording, scripted replies),
with Replicate's routes::

    POST /v1/models/<owner>/<name>/predictions        create ({"input": {...}, "stream"?})
    POST /v1/predictions                               create ({"version", "input"})
    POST /v1/deployments/<owner>/<name>/predictions    create
    GET  /v1/predictions/<id>                          the prediction now
    GET  /v1/streams/<id>                              server-sent output/done events

Like the real service it wants ``Authorization: Bearer <token>`` (401 ``{"detail"}``
otherwise, when ``token`` is set), answers an unknown model with 404, and makes each
prediction ``starting``, then ``processing`` for ``polls`` looks, then ``succeeded`` with
``output`` = the words of ``default_content`` (``fail`` set: ``failed`` with that error).
``Prefer: wait`` with ``instant = True`` answers the create request with the finished
prediction.
"""

from __future__ import annotations

import itertools
from typing import Any

from aiohttp import web

from fakes.openai_server import FakeOpenAI, Recorded, split_words

__all__ = ["FakeReplicate"]


class FakeReplicate(FakeOpenAI):
    """Fake Replicate on ``127.0.0.1:<random port>``; see the module docstring."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.models = ["meta/llama-2-7b", "meta/meta-llama-3-8b-instruct", "acme/tuned"]
        self.token: str | None = "r8_test"
        self.default_content = "Hello from Replicate"
        self.polls = 2
        self.instant = False
        self.fail: str | None = None
        self.predictions: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)

    def reset(self) -> None:
        """Forget requests, scripted replies and predictions (ids count from 1 again)."""
        super().reset()
        self.predictions = {}
        self._ids = itertools.count(1)

    @property
    def url(self) -> str:
        """The ``api_base`` to give llmrelay."""
        return self.base + "/v1"

    def _authorized(self, rec: Recorded) -> bool:
        return self.token is None or rec.headers.get("authorization") == f"Bearer {self.token}"

    def _model_of(self, path: str, body: dict[str, Any]) -> str | None:
        parts = path.strip("/").split("/")  # v1, models|deployments, owner, name, predictions
        if len(parts) == 5 and parts[1] in ("models", "deployments"):
            return f"{parts[2]}/{parts[3]}"
        if path == "/v1/predictions":
            return "acme/tuned" if body.get("version") else None
        return None

    def _view(self, pid: str) -> dict[str, Any]:
        p = self.predictions[pid]
        out = {"id": pid, "model": p["model"], "input": p["input"], "status": p["status"],
               "output": p["output"], "error": p["error"],
               "urls": {"get": f"{self.url}/predictions/{pid}",
                        "cancel": f"{self.url}/predictions/{pid}/cancel"}}
        if p["stream"]:
            out["urls"]["stream"] = f"{self.base}/v1/streams/{pid}"
        return out

    def _advance(self, pid: str) -> None:
        p = self.predictions[pid]
        if p["status"] == "starting":
            p["status"] = "processing"
        elif p["status"] == "processing":
            p["left"] -= 1
        if p["status"] == "processing" and p["left"] <= 0:
            self._finish(p)

    def _finish(self, p: dict[str, Any]) -> None:
        if self.fail:
            p["status"], p["error"] = "failed", self.fail
        else:
            p["status"], p["output"] = "succeeded", split_words(self._text(p))

    def _text(self, p: dict[str, Any]) -> str:
        content = self.default_content
        return content(p["input"]) if callable(content) else str(content)

    async def _default(self, request: web.BaseRequest, rec: Recorded, parse_error: bool,
                       status: int, extra_headers: dict[str, str]) -> web.StreamResponse:
        if not self._authorized(rec):
            return web.json_response({"title": "Unauthenticated", "status": 401,
                                      "detail": "You did not pass a valid authentication "
                                                "token"}, status=401)
        path, method = rec.path.rstrip("/"), rec.method.upper()
        if method == "GET" and path.startswith("/v1/predictions/"):
            pid = path.rsplit("/", 1)[1]
            if pid not in self.predictions:
                return web.json_response({"detail": "Not found."}, status=404)
            self._advance(pid)
            return web.json_response(self._view(pid))
        if method == "GET" and path.startswith("/v1/streams/"):
            return await self._stream(request, path.rsplit("/", 1)[1])
        if method != "POST" or not path.endswith("predictions"):
            return web.json_response({"detail": "Not found."}, status=404)
        body = rec.body or {}
        model = self._model_of(path, body)
        if model is None or model not in self.models:
            return web.json_response({"detail": "The requested resource could not be "
                                                "found."}, status=404)
        if not isinstance(body.get("input"), dict) or not body["input"].get("prompt"):
            return web.json_response({"detail": "input: prompt is required"}, status=422)
        pid = f"pred{next(self._ids)}"
        self.predictions[pid] = {"model": model, "input": body["input"], "status": "starting",
                                 "output": None, "error": None, "left": self.polls,
                                 "stream": bool(body.get("stream"))}
        if self.instant and rec.headers.get("prefer") == "wait":
            self._finish(self.predictions[pid])
        return web.json_response(self._view(pid), status=201)

    async def _stream(self, request: web.BaseRequest, pid: str) -> web.StreamResponse:
        p = self.predictions.get(pid)
        if p is None:
            return web.json_response({"detail": "Not found."}, status=404)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        if self.fail:
            await resp.write(f"event: error\ndata: {self.fail}\n\n".encode())
        else:
            for piece in split_words(self._text(p)):
                await resp.write(f"event: output\nid: 1\ndata: {piece}\n\n".encode())
            await resp.write(b"event: done\ndata: {}\n\n")
        await resp.write_eof()
        return resp
