"""How the lab writes a number in its lines, as the dashboard does (frontend/static/js/common.js):
a whole percentage with JavaScript's ``Math.round`` (halves up: 12.5% prints 13%, where Python's
``round()`` gives the even 12) and a fixed number of decimals with ``Number.toFixed`` (the exact
binary value, ties away from zero). The trainer's epoch lines use these; the script client keeps
a copy of its own (it imports nothing of the backend), held to these by tests/client/.

Pure Python: the worker imports it too.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Context, Decimal


def js_round(value: float) -> int:
    """JavaScript's Math.round: the nearest integer, halves toward +infinity."""
    whole = math.floor(value)
    return whole + 1 if value - whole >= 0.5 else whole  # value - whole is exact for every float


def percent(fraction: float) -> int:
    """A fraction as the dashboard's whole percentage: ``Math.round(fraction * 100)``."""
    return js_round(fraction * 100)


def fixed(value: float, digits: int) -> str:
    """JavaScript's ``value.toFixed(digits)``: the exact binary value rounded, ties away from zero
    (``NaN``, ``Infinity`` and numbers from 1e21 on as JavaScript writes them)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if abs(value) >= 1e21:
        return repr(value)  # JavaScript's String(value): the same shortest digits, "1e+21"
    exact = Decimal(value + 0.0)  # + 0.0: -0 is written 0
    return str(exact.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP, context=Context(prec=digits + 30)))
