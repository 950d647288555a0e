"""A fake IBM watsonx.ai speaking the real wire format over real HTTP, with the IBM Cloud
IAM token endpoint beside it.

Built on :class:`~fakes.openai_server.FakeOpenAI`. Routes::

    POST /identity/token                 form grant_type=urn:ibm:params:oauth:grant-type:apikey
                                         &apikey=K -> {"access_token", "expires_in", ...}
    POST /ml/v1/text/chat?version=V      {"id", "model_id", "created", "choices", "usage"}
    POST /ml/v1/text/chat_stream?version=V   SSE: "id: n", "event: message", "data: {chunk}"
    POST /ml/v1/deployments/<id>/text/chat[_stream]?version=V
    POST /ml/v1/text/embeddings?version=V   {"results": [{"embedding"}], "input_token_count"}

Like watsonx it wants ``Authorization: Bearer <token>`` with a token this server issued for
``api_key`` (401 otherwise), the ``version`` query, and ``project_id`` or ``space_id``
outside deployments; it refuses unknown top-level fields. Errors are
``{"errors": [{"code", "message"}], "trace", "status_code"}``. ``token_requests`` counts
exchanges; ``token_lifetime`` sets ``expires_in``.
"""

from __future__ import annotations

import json as _json
import time
import uuid
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web

from fakes.openai_server import FakeOpenAI, Recorded, Reply, fake_embedding, split_words

__all__ = ["FakeWatsonx", "watsonx_error_reply"]

GRANT = "urn:ibm:params:oauth:grant-type:apikey"
_CHAT_FIELDS = frozenset({"model_id", "project_id", "space_id", "messages", "temperature",
                          "top_p", "max_tokens", "n", "stop", "seed", "presence_penalty",
                          "frequency_penalty", "logit_bias", "logprobs", "top_logprobs",
                          "tools", "tool_choice", "response_format", "time_limit",
                          "tool_choice_option"})


def watsonx_error_reply(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"errors": [{"code": code, "message": message}],
                              "trace": uuid.uuid4().hex, "status_code": status}, status=status)


class FakeWatsonx(FakeOpenAI):
    """Attributes: ``api_key`` (the IBM Cloud key the token endpoint accepts),
    ``default_content``, ``token_requests``, ``token_lifetime`` (seconds)."""

    def __init__(self, api_key: str = "ibm-test-key", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.api_key = api_key
        self.default_content = "Hello from watsonx"
        self.token_requests = 0
        self.token_lifetime = 3600
        self._issued: set[str] = set()

    @property
    def url(self) -> str:
        return self.base

    @property
    def iam_url(self) -> str:
        return self.base + "/identity/token"

    async def _default(self, request: web.BaseRequest, rec: Recorded, parse_error: bool,
                       status: int, extra_headers: dict[str, str]) -> web.StreamResponse:
        if rec.path == "/identity/token":
            return self._token(rec)
        auth = rec.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self._issued:
            return watsonx_error_reply(401, "authentication_token_not_valid",
                                       "Failed to authenticate the request due to invalid "
                                       "token")
        if not rec.query.get("version"):
            return watsonx_error_reply(400, "missing_query_parameter",
                                       "Missing query parameter 'version'")
        if parse_error or rec.body is None:
            return watsonx_error_reply(400, "json_validation_error", "Invalid JSON body")
        body = rec.body
        deployment = rec.path.startswith("/ml/v1/deployments/")
        if not deployment and not (body.get("project_id") or body.get("space_id")):
            return watsonx_error_reply(400, "json_validation_error",
                                       "Either 'space_id' or 'project_id' has to be provided")
        if rec.path == "/ml/v1/text/embeddings":
            return self._embed(body)
        if rec.path.endswith("/text/chat") or rec.path.endswith("/text/chat_stream"):
            unknown = set(body) - _CHAT_FIELDS
            if unknown:
                return watsonx_error_reply(400, "json_validation_error",
                                           f"Json field '{sorted(unknown)[0]}' is not allowed")
            if not body.get("messages"):
                return watsonx_error_reply(400, "json_validation_error",
                                           "Json field 'messages' is required")
            return await self._chat(request, body, rec.path.endswith("_stream"))
        return watsonx_error_reply(404, "not_found", f"no route {rec.path}")

    def _token(self, rec: Recorded) -> web.Response:
        form = {k: v[0] for k, v in parse_qs(rec.raw.decode()).items()}
        with self._lock:
            self.token_requests += 1
        if form.get("grant_type") != GRANT:
            return web.json_response({"errorCode": "BXNIM0415E",
                                      "errorMessage": "Provided grant type is invalid"},
                                     status=400)
        if form.get("apikey") != self.api_key:
            return web.json_response({"errorCode": "BXNIM0415E",
                                      "errorMessage": "Provided API key could not be found."},
                                     status=400)
        token = "wx-token-" + uuid.uuid4().hex
        self._issued.add(token)
        now = int(time.time())
        return web.json_response({"access_token": token, "refresh_token": "not_supported",
                                  "token_type": "Bearer", "expires_in": self.token_lifetime,
                                  "expiration": now + self.token_lifetime, "scope": "ibm"})

    def _embed(self, body: dict[str, Any]) -> web.Response:
        inputs = body.get("inputs")
        if not isinstance(inputs, list) or not inputs:
            return watsonx_error_reply(400, "json_validation_error",
                                       "Json field 'inputs' is required")
        tokens = sum(len(split_words(t)) for t in inputs)
        return web.json_response({
            "model_id": body.get("model_id"), "created_at": "2026-01-01T00:00:00.000Z",
            "results": [{"embedding": fake_embedding(t, self.embedding_dim)} for t in inputs],
            "input_token_count": tokens})

    async def _chat(self, request: web.BaseRequest, body: dict[str, Any],
                    stream: bool) -> web.StreamResponse:
        words = split_words(self.default_content)
        limit = body.get("max_tokens")
        finish = "stop"
        if isinstance(limit, int) and limit < len(words):
            words, finish = words[:limit], "length"
        prompt = sum(len(split_words(str(m.get("content") or ""))) for m in body["messages"])
        usage = {"prompt_tokens": prompt, "completion_tokens": len(words),
                 "total_tokens": prompt + len(words)}
        rid = "chatcmpl-" + uuid.uuid4().hex[:16]
        model = body.get("model_id") or "deployed-model"
        head = {"id": rid, "model_id": model, "model": model, "created": int(time.time()),
                "model_version": "1.0.0", "created_at": "2026-01-01T00:00:00.000Z"}
        if not stream:
            return web.json_response({**head, "choices": [{
                "index": 0, "message": {"role": "assistant", "content": "".join(words)},
                "finish_reason": finish}], "usage": usage})
        events = [{**head, "choices": [{"index": 0, "delta": {"role": "assistant"}}]}]
        events += [{**head, "choices": [{"index": 0, "delta": {"content": w}}]}
                   for w in words]
        events.append({**head, "choices": [{"index": 0, "delta": {},
                                            "finish_reason": finish}], "usage": usage})
        lines = [f"id: {i + 1}\nevent: message\ndata: {_json.dumps(e)}"
                 for i, e in enumerate(events)]
        return await self._stream_raw(request, Reply(stream_lines=lines, done=False))
