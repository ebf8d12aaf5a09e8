"""OTLP/gRPC: TraceService and LogsService on the same normalizer and storage as OTLP/HTTP."""

from __future__ import annotations

import logging
from concurrent import futures
from typing import Any

import grpc
from django.db import close_old_connections
from django.db.utils import InterfaceError, OperationalError
from google.protobuf.duration_pb2 import Duration
from google.rpc.error_details_pb2 import RetryInfo
from opentelemetry.proto.collector.logs.v1 import (
    logs_service_pb2,
    logs_service_pb2_grpc,
)
from opentelemetry.proto.collector.trace.v1 import (
    trace_service_pb2,
    trace_service_pb2_grpc,
)

from ingest import otlp, services
from tenancy import auth, ratelimit
from tenancy.models import ApiKey

log = logging.getLogger(__name__)
MAX_MESSAGE_BYTES = 20 * 1024 * 1024


def _api_key(context: grpc.ServicerContext) -> ApiKey:
    metadata = {k.lower(): v for k, v in context.invocation_metadata()}
    header = str(metadata.get("authorization", ""))
    raw = header[7:].strip() if header.lower().startswith("bearer ") else str(metadata.get("x-api-key", "")).strip()
    api_key = auth.api_key_for_raw_key(raw)
    if api_key is None:
        context.abort(
            grpc.StatusCode.UNAUTHENTICATED,
            "missing or revoked API key: send authorization: Bearer <project key>",
        )
    if (wait := ratelimit.hit(api_key)) is not None:  # type: ignore[arg-type]  # abort() raised if None
        # OTel exporters retry RESOURCE_EXHAUSTED after the RetryInfo delay, like HTTP's Retry-After.
        retry_info = RetryInfo(retry_delay=Duration(seconds=wait)).SerializeToString()
        context.set_trailing_metadata([("google.rpc.retryinfo-bin", retry_info)])
        context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, f"{ratelimit.limit_message()}; retry in {wait} s")
    return api_key  # type: ignore[return-value]  # abort() raises


def _call(context: grpc.ServicerContext, work: Any) -> Any:
    """Run one export (key lookup included) with fresh DB connections; a database outage is
    UNAVAILABLE, which exporters retry."""
    close_old_connections()
    try:
        return work()
    except (OperationalError, InterfaceError) as exc:
        log.warning("database unavailable during gRPC intake: %s", exc)
        context.abort(grpc.StatusCode.UNAVAILABLE, "database unavailable, retry later")
    finally:
        close_old_connections()


class TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def Export(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work() -> Any:
            rejected = services.ingest_decoded(_api_key(context), otlp.traces_from_proto(request))
            response = trace_service_pb2.ExportTraceServiceResponse()
            if rejected:
                response.partial_success.rejected_spans = len(rejected)
                response.partial_success.error_message = otlp.rejection_message(rejected)
            return response

        return _call(context, work)


class LogsService(logs_service_pb2_grpc.LogsServiceServicer):
    def Export(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work() -> Any:
            decoded = otlp.logs_from_proto(request)
            services.ingest_log_events(_api_key(context), decoded.events)
            response = logs_service_pb2.ExportLogsServiceResponse()
            if decoded.rejected:
                response.partial_success.rejected_log_records = len(decoded.rejected)
                response.partial_success.error_message = otlp.rejection_message(decoded.rejected, noun="log record")
            return response

        return _call(context, work)


def build_server(address: str, *, workers: int = 8) -> tuple[grpc.Server, int]:
    """A started-ready server bound to `address`; returns it with the bound port."""
    options = [("grpc.max_receive_message_length", MAX_MESSAGE_BYTES)]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers), options=options)
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(TraceService(), server)  # type: ignore[no-untyped-call]
    logs_service_pb2_grpc.add_LogsServiceServicer_to_server(LogsService(), server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port(address)
    return server, port
