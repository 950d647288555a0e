"""A fake Vertex AI (and Google OAuth2 token endpoint) speaking the real wire formats.

Built on :class:`~fakes.gemini_server.FakeGemini`; Claude replies come from a
:class:`~fakes.anthropic_server.FakeAnthropic` used as a library (never started). Routes::

    POST /token                                    JWT-bearer grant -> access token
    POST /v1/projects/<p>/locations/<l>/publishers/google/models/<m>:generateContent
                                                   (:streamGenerateContent?alt=sse, :predict)
    POST /v1/projects/<p>/locations/<l>/publishers/anthropic/models/<m>:rawPredict
                                                   (:streamRawPredict: Anthropic's SSE)

The token endpoint checks the service account's signed JWT (RS256, verified with the
public key registered through :meth:`FakeVertex.add_service_account`, audience Google's
token URI, scope cloud-platform) and issues an opaque token valid ``token_lifetime`` seconds.
Model routes accept only an issued, unexpired token (else Google's 401 UNAUTHENTICATED),
check the project and location, and for Claude require ``anthropic_version:
vertex-2023-10-16`` and no ``model`` in the body.
"""

from __future__ import annotations

import base64
import dataclasses
import json as _json
import re
import time
import uuid
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from fakes.anthropic_server import FakeAnthropic
from fakes.gemini_server import FakeGemini, error_body
from fakes.openai_server import Recorded, Reply, fake_embedding, split_words

__all__ = ["FakeVertex", "service_account_key"]

_ROUTE = re.compile(r"^/v1/projects/([^/]+)/locations/([^/]+)/publishers/(google|anthropic)/"
                    r"models/([^/:]+):([A-Za-z]+)$")
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"  # what Google's docs prescribe


def service_account_key(token_uri: str, email: str = "relay@test-project.iam.gserviceaccount.com",
                        project: str = "test-project") -> tuple[dict[str, Any], bytes]:
    """(service-account JSON, public key PEM) for a freshly generated RSA key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    info = {"type": "service_account", "project_id": project,
            "private_key_id": uuid.uuid4().hex, "private_key": private, "client_email": email,
            "client_id": "1234567890", "token_uri": token_uri}
    return info, public


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _google_error(status: int, message: str) -> web.Response:
    return web.json_response(error_body(status, message), status=status)


class FakeVertex(FakeGemini):
    """Fake Vertex AI + token endpoint; see the module docstring. Attributes:
    ``project``, ``locations`` (accepted), ``token_lifetime``, ``tokens_issued``, and the
    Gemini/Claude reply settings (``default_content``, ``usage``; ``claude`` is the
    FakeAnthropic whose ``default_content``/``default_usage`` answer Claude requests)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.project = "test-project"
        self.locations = {"us-central1", "europe-west1", "global", "us-east5"}
        self.token_lifetime = 3600
        self.tokens_issued = 0
        self._accounts: dict[str, bytes] = {}
        self._tokens: dict[str, float] = {}
        self.claude = FakeAnthropic()

    @property
    def token_uri(self) -> str:
        return self.base + "/token"

    def add_service_account(self, email: str, public_pem: bytes) -> None:
        self._accounts[email] = public_pem

    def issue_token(self) -> str:
        token = "ya29.fake-" + uuid.uuid4().hex
        self._tokens[token] = time.time() + self.token_lifetime
        return token

    # ---- OAuth2 -------------------------------------------------------------------------
    def _token(self, rec: Recorded) -> web.Response:
        form = {k: v[0] for k, v in parse_qs(rec.raw.decode()).items()}
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        try:
            head, claims, sig = form["assertion"].split(".")
            header, payload = _json.loads(_b64(head)), _json.loads(_b64(claims))
            public = serialization.load_pem_public_key(self._accounts[payload["iss"]])
            assert isinstance(public, rsa.RSAPublicKey) and header["alg"] == "RS256"
            public.verify(_b64(sig), f"{head}.{claims}".encode(), padding.PKCS1v15(),
                          hashes.SHA256())
        except Exception as exc:
            return web.json_response({"error": "invalid_grant",
                                      "error_description": f"Invalid JWT Signature ({exc!r})"},
                                     status=400)
        now = time.time()
        if payload.get("aud") not in (self.token_uri, GOOGLE_TOKEN_AUDIENCE) or SCOPE not in str(payload.get("scope")) \
                or not payload.get("iat", 0) - 300 <= now <= payload.get("exp", 0):
            return web.json_response({"error": "invalid_grant",
                                      "error_description": "bad audience, scope or time"},
                                     status=400)
        self.tokens_issued += 1
        return web.json_response({"access_token": self.issue_token(),
                                  "expires_in": self.token_lifetime, "token_type": "Bearer"})

    def _bearer_ok(self, rec: Recorded) -> bool:
        auth = rec.headers.get("authorization", "")
        expiry = self._tokens.get(auth[7:]) if auth.startswith("Bearer ") else None
        return expiry is not None and expiry > time.time()

    # ---- routing ------------------------------------------------------------------------
    async def _scripted(self, request: web.BaseRequest, rec: Recorded,
                        reply: Reply) -> web.StreamResponse:
        if rec.path == "/token":  # scripted replies are for the model routes
            with self._lock:
                self._queue.appendleft(reply)
            return self._token(rec)
        return await super()._scripted(request, rec, reply)

    async def _default(self, request: web.BaseRequest, rec: Recorded, parse_error: bool,
                       status: int, extra_headers: dict[str, str]) -> web.StreamResponse:
        if rec.path == "/token":
            return self._token(rec)
        m = _ROUTE.match(rec.path)
        if m is None:
            return _google_error(404, f"no route {rec.path}")
        if not self._bearer_ok(rec):
            return _google_error(401, "Request had invalid authentication credentials. "
                                      "Expected OAuth 2 access token, login cookie or other "
                                      "valid authentication credential.")
        project, location, publisher, model, method = m.groups()
        if project != self.project:
            return _google_error(403, f"Permission denied on resource project {project}.")
        if location not in self.locations:
            return _google_error(400, f"Location {location} is not supported.")
        if publisher == "anthropic":
            return await self._claude(request, rec, model, method)
        if method == "predict":
            return self._predict(rec.body or {})
        gemini = dataclasses.replace(rec, path=f"/v1/models/{model}:{method}",
                                     headers={**rec.headers, "x-goog-api-key": "vertex"})
        return await super()._default(request, gemini, parse_error, status, extra_headers)

    async def _claude(self, request: web.BaseRequest, rec: Recorded, model: str,
                      method: str) -> web.StreamResponse:
        body = dict(rec.body or {})
        if method not in ("rawPredict", "streamRawPredict"):
            return _google_error(400, f"unsupported method {method} for Claude")
        if body.get("anthropic_version") != "vertex-2023-10-16":
            return web.json_response({"type": "error", "error": {
                "type": "invalid_request_error",
                "message": "anthropic_version: Field required"}}, status=400)
        if "model" in body:
            return web.json_response({"type": "error", "error": {
                "type": "invalid_request_error",
                "message": "model: Extra inputs are not permitted"}}, status=400)
        if (method == "streamRawPredict") != (body.get("stream") is True):
            return _google_error(400, "stream must be set exactly for streamRawPredict")
        body.pop("anthropic_version")
        body["model"] = model
        claude = dataclasses.replace(rec, path="/v1/messages", body=body, headers={
            **rec.headers, "x-api-key": "vertex", "anthropic-version": "2023-06-01"})
        return await self.claude._default(request, claude, False, 200, {})

    def _predict(self, body: dict[str, Any]) -> web.Response:
        instances = body.get("instances")
        if not isinstance(instances, list) or not instances:
            return _google_error(400, "instances is required")
        dim = int((body.get("parameters") or {}).get("outputDimensionality")
                  or self.embedding_dim)
        preds = [{"embeddings": {"values": fake_embedding(i["content"], dim), "statistics": {
            "token_count": len(split_words(i["content"])), "truncated": False}}}
            for i in instances]
        return web.json_response({"predictions": preds,
                                  "metadata": {"billableCharacterCount": 10}})
