"""Demo data: `seed_demo` (`make demo`) sends a week of sample multi-agent traffic to a "Demo"
project through the real OTLP endpoint. It owns no models; nothing in the app imports it."""

from __future__ import annotations

from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "demo"
    verbose_name = "Demo data"
