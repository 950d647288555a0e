"""OTLP/JSON encoding of finished spans, without the OpenTelemetry SDK.

The JSON form of an OTLP/HTTP ``ExportTraceServiceRequest`` (as the OTLP specification
defines it): trace and span ids in lowercase hex, enums as integers, 64-bit integers as
strings, attribute values as ``{"stringValue": ...}`` / ``{"intValue": "..."}`` /
``{"doubleValue": ...}`` / ``{"boolValue": ...}`` / ``{"arrayValue": {"values": [...]}}``.
Used by the Langfuse logger, whose v4 ingestion endpoint accepts OTLP/JSON.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

__all__ = ["SPAN_KIND_CLIENT", "STATUS_ERROR", "any_value", "attributes", "export_request",
           "hex_id", "unix_nanos"]

SPAN_KIND_CLIENT = 3
STATUS_ERROR = 2
_HEX = re.compile(r"[0-9a-f]+")


def hex_id(seed: Any, nbytes: int) -> str:
    """A trace (16 bytes) or span (8 bytes) id in hex for ``seed``.

    A seed that already is such an id (or a UUID, for trace ids) is used as it is, so ids
    the caller chose stay recognisable; anything else is hashed (SHA-256, first bytes),
    so the same seed always gives the same id.
    """
    text = str(seed).strip().lower()
    if nbytes == 16 and len(text) == 36 and text.count("-") == 4:
        text = text.replace("-", "")
    if len(text) == nbytes * 2 and _HEX.fullmatch(text) and text.strip("0"):
        return text
    return hashlib.sha256(str(seed).encode("utf-8")).digest()[:nbytes].hex()


def unix_nanos(epoch: Any) -> str | None:
    """Seconds since the epoch (a float) as the string of nanoseconds OTLP/JSON wants."""
    if not isinstance(epoch, (int, float)) or isinstance(epoch, bool):
        return None
    return str(round(epoch * 1e9))


def any_value(value: Any) -> dict[str, Any]:
    """One attribute value; dicts and mixed lists are sent as JSON text."""
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return {"arrayValue": {"values": [{"stringValue": v} for v in value]}}
    return {"stringValue": json.dumps(value, default=str, ensure_ascii=False)}


def attributes(attrs: dict[str, Any]) -> list[dict[str, Any]]:
    """``{key: value}`` as a list of OTLP key/value pairs; ``None`` values are left out."""
    return [{"key": k, "value": any_value(v)} for k, v in attrs.items() if v is not None]


def export_request(spans: list[dict[str, Any]], resource: dict[str, Any], scope: str,
                   version: str) -> dict[str, Any]:
    """The request body for ``spans`` of one resource and one instrumentation scope."""
    return {"resourceSpans": [{
        "resource": {"attributes": attributes(resource)},
        "scopeSpans": [{"scope": {"name": scope, "version": version}, "spans": spans}],
    }]}
