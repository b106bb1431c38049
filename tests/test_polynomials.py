"""The fitted polynomials of the CPU float math (their coefficients as the headers
have them) meet the error bounds the headers state: tools/polynomials.py."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import polynomials  # noqa: E402


@pytest.mark.parametrize("poly", polynomials.POLYNOMIALS, ids=lambda p: p.anchor.split()[1])
def test_polynomial_meets_its_stated_bound(poly):
    coefficients = poly.coefficients()
    assert len(coefficients) >= 6  # the whole Horner form was read
    assert poly.max_relative_error() <= poly.bound


def test_a_changed_coefficient_is_caught():
    poly = polynomials.POLYNOMIALS[0]
    perturbed = polynomials.Polynomial(
        poly.name, poly.header, poly.anchor, poly.bound, poly.grid, poly.approx, poly.exact)
    # One coefficient off by 1e-6 relative breaks the bound.
    original = perturbed.coefficients

    def off():
        c = original()
        c[-2] *= 1 + 1e-6
        return c

    object.__setattr__(perturbed, "coefficients", off)
    assert perturbed.max_relative_error() > poly.bound
