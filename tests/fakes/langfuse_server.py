"""A local stand-in for Langfuse's ingestion endpoints.

* ``POST /api/public/otel/v1/traces`` (Langfuse v4): OTLP/JSON. The body is checked against
  the OTLP protobuf schema (unknown fields or wrong value types are a 400, like a real OTLP
  receiver), ids must be lowercase hex of the right length. Spans are kept decoded
  (:meth:`LangfuseServer.spans`); a span id seen before replaces nothing (deduplicated).
  ``reject_observation_types`` answers matching spans with an OTLP ``partialSuccess``.
* ``POST /api/public/ingestion`` (legacy): validates each event's envelope (``id``,
  ``type``, ``timestamp``, ``body``) and answers 207 with per-event successes and errors;
  events whose id was already accepted are acknowledged again but not stored twice.

Both check basic auth against the keys given (401 otherwise).

    with LangfuseServer("pk-lf-1", "sk-lf-1") as lf:
        ...
        lf.spans()                     # OTel API
        lf.events("generation-create")  # ingestion API
"""

from __future__ import annotations

import base64
import copy
import json
import re
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from .webhook_server import Received, Scripted, WebhookServer

__all__ = ["LangfuseServer"]

KNOWN_TYPES = frozenset({"trace-create", "generation-create", "generation-update",
                         "span-create", "span-update", "event-create", "score-create",
                         "observation-create", "observation-update", "sdk-log"})
OTEL_PATH = "/api/public/otel/v1/traces"
INGESTION_PATH = "/api/public/ingestion"
_HEX = {16: re.compile(r"[0-9a-f]{32}"), 8: re.compile(r"[0-9a-f]{16}")}


def _value(v: dict[str, Any]) -> Any:
    if "arrayValue" in v:
        return [_value(x) for x in v["arrayValue"].get("values", [])]
    if "intValue" in v:
        return int(v["intValue"])
    for key in ("stringValue", "doubleValue", "boolValue"):
        if key in v:
            return v[key]
    raise ValueError(f"unsupported attribute value {v}")


def _check_ids(body: dict[str, Any]) -> dict[str, Any]:
    """Validate hex ids, then return a copy with base64 ids for the protobuf JSON parser
    (OTLP/JSON uses hex where proto3 JSON uses base64)."""
    out = copy.deepcopy(body)
    for rs in out.get("resourceSpans", []):
        for ss in rs.get("scopeSpans", []):
            for sp in ss.get("spans", []):
                for key, n in (("traceId", 16), ("spanId", 8), ("parentSpanId", 8)):
                    if key not in sp:
                        continue
                    if not _HEX[n].fullmatch(sp[key]) or not sp[key].strip("0"):
                        raise ValueError(f"bad {key} {sp[key]!r}")
                    sp[key] = base64.b64encode(bytes.fromhex(sp[key])).decode()
    return out


class LangfuseServer(WebhookServer):
    def __init__(self, public_key: str, secret_key: str) -> None:
        super().__init__()
        self.public_key = public_key
        self.secret_key = secret_key
        self.accepted: list[dict[str, Any]] = []
        self.seen_ids: set[str] = set()
        self.reject_types: set[str] = set()  # ingestion API: per-event 400s for these types
        self.reject_observation_types: set[str] = set()  # OTel API: rejected spans
        self._spans: dict[tuple[str, str], dict[str, Any]] = {}

    @property
    def host(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def handle(self, rec: Received) -> Scripted:
        scripted = super().handle(rec)
        if scripted is not self.default:
            return scripted  # a failure the test asked for
        if rec.method != "POST" or rec.path not in (OTEL_PATH, INGESTION_PATH):
            return Scripted(404, b'{"message":"not found"}')
        expected = base64.b64encode(f"{self.public_key}:{self.secret_key}".encode()).decode()
        if rec.headers.get("authorization") != f"Basic {expected}":
            return Scripted(401, b'{"message":"invalid credentials"}')
        if rec.path == OTEL_PATH:
            return self._otel(rec)
        return self._ingestion(rec)

    # ---- OTel API (v4) -------------------------------------------------------------------
    def _otel(self, rec: Received) -> Scripted:
        if not rec.headers.get("content-type", "").startswith("application/json"):
            return Scripted(415, b'{"message":"expected application/json"}')
        try:
            body = json.loads(rec.body)
            json_format.ParseDict(_check_ids(body), ExportTraceServiceRequest())
        except (ValueError, json_format.ParseError) as exc:
            return Scripted(400, json.dumps({"message": str(exc)}).encode())
        rejected = 0
        with self._cond:
            for rs in body.get("resourceSpans", []):
                resource = {a["key"]: _value(a["value"])
                            for a in rs.get("resource", {}).get("attributes", [])}
                for ss in rs.get("scopeSpans", []):
                    for sp in ss.get("spans", []):
                        attrs = {a["key"]: _value(a["value"]) for a in sp.get("attributes", [])}
                        if attrs.get("langfuse.observation.type") in \
                                self.reject_observation_types:
                            rejected += 1
                            continue
                        span = {**sp, "attributes": attrs, "resource": resource,
                                "scope": ss.get("scope", {})}
                        self._spans.setdefault((sp["traceId"], sp["spanId"]), span)
        reply: dict[str, Any] = {}
        if rejected:
            reply["partialSuccess"] = {"rejectedSpans": str(rejected),
                                       "errorMessage": "observation type refused"}
        return Scripted(200, json.dumps(reply).encode())

    def spans(self) -> list[dict[str, Any]]:
        """Accepted spans, decoded (``attributes`` as a dict), in arrival order."""
        with self._cond:
            return list(self._spans.values())

    # ---- legacy ingestion API ------------------------------------------------------------
    def _ingestion(self, rec: Received) -> Scripted:
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
