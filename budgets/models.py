"""Budgets, destinations and alerts (see the budgets issue)."""

from __future__ import annotations
