"""Captured OTLP payloads (tests/fixtures/otlp/) and small builders for hand-made requests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

FIXTURES = Path(__file__).parent / "fixtures" / "otlp"


def scenario(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def exports(name: str) -> list[tuple[str, bytes, str]]:
    """(path, body, content type) of every request the scenario's program sent, in order."""
    return [(e["path"], (FIXTURES / e["file"]).read_bytes(), e["content_type"]) for e in scenario(name)["exports"]]


def traces_request(name: str) -> trace_service_pb2.ExportTraceServiceRequest:
    request = trace_service_pb2.ExportTraceServiceRequest()
    for path, body, _ in exports(name):
        if path.endswith("/traces"):
            part = trace_service_pb2.ExportTraceServiceRequest()
            part.ParseFromString(body)
            request.resource_spans.extend(part.resource_spans)
    return request


def split_spans(request: trace_service_pb2.ExportTraceServiceRequest, parts: int) -> list[bytes]:
    """The request's spans dealt round-robin into `parts` requests, each keeping its resource and scope."""
    out = [trace_service_pb2.ExportTraceServiceRequest() for _ in range(parts)]
    n = 0
    for rs in request.resource_spans:
        for ss in rs.scope_spans:
            for span in ss.spans:
                target = out[n % parts].resource_spans.add()
                target.resource.CopyFrom(rs.resource)
                scope = target.scope_spans.add()
                scope.scope.CopyFrom(ss.scope)
                scope.spans.add().CopyFrom(span)
                n += 1
    return [r.SerializeToString() for r in out]
