"""backend.core.formats: numbers written as the dashboard writes them (JavaScript's Math.round and
toFixed), where Python's round() and format() would go to the even neighbour."""

from __future__ import annotations

import pytest

from backend.core.formats import fixed, js_round, percent


@pytest.mark.parametrize(("fraction", "shown"), [
    (0.125, 13),  # 12.5 exactly: round() gives 12
    (0.135, 14),  # 13.5 once multiplied (round() agrees: 14 is even)
    (0.145, 14),  # 14.499999999999998
    (0.285, 28),  # 28.499999999999996
    (0.985, 99),  # 98.5 exactly: round() gives 98
    (0.005, 1),  # 0.5 once multiplied: round() gives 0
    (0.5, 50), (0.0, 0), (1.0, 100), (0.12499999999999999, 12),
])
def test_a_percentage_rounds_half_up_as_math_round_does(fraction: float, shown: int) -> None:
    assert percent(fraction) == shown


def test_js_round_goes_to_plus_infinity_on_halves() -> None:
    assert [js_round(x) for x in (12.5, 13.5, -2.5, -2.51, 0.49999999999999994, 2.4999999999999996)] == \
        [13, 14, -2, -3, 0, 2]


@pytest.mark.parametrize(("value", "digits", "shown"), [
    (0.0625, 3, "0.063"),  # an exact tie: format() gives 0.062
    (0.125, 2, "0.13"),  # format() gives 0.12
    (27.215, 2, "27.21"),  # 27.2149999... in binary: no tie
    (2.5, 0, "3"), (-0.0, 2, "0.00"), (-0.005, 2, "-0.01"), (1.0, 3, "1.000"),
    (float("nan"), 3, "NaN"), (float("inf"), 2, "Infinity"), (float("-inf"), 2, "-Infinity"),
    (1e21, 2, "1e+21"), (1.5e300, 3, "1.5e+300"), (123456789012345678.0, 2, "123456789012345680.00"),
])
def test_fixed_is_javascripts_to_fixed(value: float, digits: int, shown: str) -> None:
    assert fixed(value, digits) == shown
