"""A local stand-in for Langfuse's ingestion endpoint (``POST /api/public/ingestion``).

Checks basic auth against the keys it was given (401 otherwise), validates each event's
envelope (``id``, ``type``, ``timestamp``, ``body``) and answers 207 with per-event
successes and errors, like the real service. Events whose id was already accepted are
acknowledged again but not stored twice (Langfuse deduplicates on the event id).

    with LangfuseServer("pk-lf-1", "sk-lf-1") as lf:
        ...
        lf.events("generation-create")
"""

from __future__ import annotations

import base64
import json
from typing import Any

from .webhook_server import Received, Scripted, WebhookServer

__all__ = ["LangfuseServer"]

KNOWN_TYPES = frozenset({"trace-create", "generation-create", "generation-update",
                         "span-create", "span-update", "event-create", "score-create",
                         "observation-create", "observation-update", "sdk-log"})


class LangfuseServer(WebhookServer):
    def __init__(self, public_key: str, secret_key: str) -> None:
        super().__init__()
        self.public_key = public_key
        self.secret_key = secret_key
        self.accepted: list[dict[str, Any]] = []
        self.seen_ids: set[str] = set()
        self.reject_types: set[str] = set()  # answer these event types with per-event 400s

    @property
    def host(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def handle(self, rec: Received) -> Scripted:
        scripted = super().handle(rec)
        if scripted is not self.default:
            return scripted  # a failure the test asked for
        if rec.method != "POST" or rec.path != "/api/public/ingestion":
            return Scripted(404, b'{"message":"not found"}')
        expected = base64.b64encode(f"{self.public_key}:{self.secret_key}".encode()).decode()
        if rec.headers.get("authorization") != f"Basic {expected}":
            return Scripted(401, b'{"message":"invalid credentials"}')
        try:
            batch = json.loads(rec.body)["batch"]
        except (ValueError, KeyError, TypeError):
            return Scripted(400, b'{"message":"invalid request body"}')
        successes, errors = [], []
        with self._cond:
            for event in batch:
                eid = event.get("id") if isinstance(event, dict) else None
                ok = (eid and event.get("type") in KNOWN_TYPES and event.get("timestamp")
                      and isinstance(event.get("body"), dict))
                if not ok or event["type"] in self.reject_types:
                    errors.append({"id": eid, "status": 400, "message": "invalid event"})
                    continue
                if eid not in self.seen_ids:
                    self.seen_ids.add(eid)
                    self.accepted.append(event)
                successes.append({"id": eid, "status": 201})
        body = json.dumps({"successes": successes, "errors": errors}).encode()
        return Scripted(207, body)

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        with self._cond:
            return [e for e in self.accepted if kind is None or e["type"] == kind]
