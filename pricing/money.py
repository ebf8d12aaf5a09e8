"""How money leaves the process: USD amounts are Decimals everywhere inside, and become
strings only where they are written out (JSON, CSV), always by this one function."""

from __future__ import annotations

from decimal import Decimal


def decimal_string(value: Decimal) -> str:
    """'0.0123', '12', never exponent notation (JSON numbers would lose cents)."""
    return f"{value.normalize():f}" if value else "0"
