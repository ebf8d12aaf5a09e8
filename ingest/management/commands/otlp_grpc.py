from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from config import gc_tuning
from ingest import grpc_server


class Command(BaseCommand):
    help = "Serve OTLP/gRPC (TraceService and LogsService), default 127.0.0.1:4317."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=4317)
        parser.add_argument("--workers", type=int, default=8)

    def handle(self, *args: Any, **options: Any) -> None:
        server, port = grpc_server.build_server(f"{options['host']}:{options['port']}", workers=options["workers"])
        server.start()
        gc_tuning.tune()
        self.stdout.write(f"OTLP/gRPC listening on {options['host']}:{port}")
        self.stdout.flush()
        try:
            server.wait_for_termination()
        except KeyboardInterrupt:
            server.stop(grace=5).wait()
