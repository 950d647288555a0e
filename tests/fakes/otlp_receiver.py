"""A local OTLP/HTTP receiver: decodes the protobuf export requests the SDK's exporters send.

    with OTLPReceiver() as rx:
        os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = rx.endpoint
        ...
        [span] = rx.spans()          # dicts: name, kind, attributes, trace_id, parent_span_id
        rx.metric_points("gen_ai.client.token.usage")

Uses the ``opentelemetry-proto`` classes that come with the OTLP exporter package.
"""

from __future__ import annotations

import gzip
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from .webhook_server import Received, Scripted, WebhookServer

__all__ = ["OTLPReceiver"]


def _value(v: AnyValue) -> Any:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [_value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in v.kvlist_value.values}
    return getattr(v, kind) if kind else None


def _attrs(kvs: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in kvs}


class OTLPReceiver(WebhookServer):
    """Answers ``/v1/traces`` and ``/v1/metrics`` like a collector and keeps the requests."""

    def __init__(self) -> None:
        super().__init__()
        self.traces: list[ExportTraceServiceRequest] = []
        self.metrics: list[ExportMetricsServiceRequest] = []

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def handle(self, rec: Received) -> Scripted:
        body = rec.body
        if rec.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        if rec.path == "/v1/traces":
            with self._cond:
                self.traces.append(ExportTraceServiceRequest.FromString(body))
            reply = ExportTraceServiceResponse().SerializeToString()
        elif rec.path == "/v1/metrics":
            with self._cond:
                self.metrics.append(ExportMetricsServiceRequest.FromString(body))
            reply = ExportMetricsServiceResponse().SerializeToString()
        else:
            return Scripted(404, b"not found", content_type="text/plain")
        return Scripted(200, reply, content_type="application/x-protobuf")

    def spans(self) -> list[dict[str, Any]]:
        out = []
        with self._cond:
            requests = list(self.traces)
        for req in requests:
            for rs in req.resource_spans:
                resource = _attrs(rs.resource.attributes)
                for ss in rs.scope_spans:
                    for sp in ss.spans:
                        out.append({
                            "name": sp.name, "kind": sp.kind, "attributes": _attrs(sp.attributes),
                            "trace_id": sp.trace_id.hex(), "span_id": sp.span_id.hex(),
                            "parent_span_id": sp.parent_span_id.hex(),
                            "start": sp.start_time_unix_nano, "end": sp.end_time_unix_nano,
                            "status_code": sp.status.code, "scope": ss.scope.name,
                            "resource": resource})
        return out

    def metric_points(self, name: str) -> list[dict[str, Any]]:
        """Histogram points of metric ``name``: attributes, count, sum, explicit_bounds."""
        out = []
        with self._cond:
            requests = list(self.metrics)
        for req in requests:
            for rm in req.resource_metrics:
                for sm in rm.scope_metrics:
                    for m in sm.metrics:
                        if m.name != name or m.WhichOneof("data") != "histogram":
                            continue
                        for p in m.histogram.data_points:
                            out.append({"attributes": _attrs(p.attributes), "count": p.count,
                                        "sum": p.sum, "explicit_bounds": list(p.explicit_bounds),
                                        "unit": m.unit})
        return out
