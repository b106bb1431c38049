"""The fitted polynomials of the CPU float math, read from the headers and held
to the error bounds their comments state (tests/test_polynomials.py).

    python tools/polynomials.py      # each polynomial's measured maximum error

Each polynomial is evaluated in float64 with its float32 coefficients (so the
measured error is the fit's and the coefficients' rounding, not float32's
arithmetic) against numpy's float64 functions on a dense grid of its interval.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Polynomial:
    name: str
    header: str  # relative to the repository
    anchor: str  # the statement that evaluates it, as it starts in the header
    bound: float  # the relative error the header's comment states
    grid: Callable[[], np.ndarray]  # where the polynomial is used
    approx: Callable[[np.ndarray, Callable[[np.ndarray], np.ndarray]], np.ndarray]
    exact: Callable[[np.ndarray], np.ndarray]

    def coefficients(self) -> List[float]:
        """Highest degree first, as the Horner form in the header lists them."""
        text = (ROOT / self.header).read_text()
        start = text.index(self.anchor)
        statement = text[start:text.index(";", start)]
        # Horner's form: each coefficient after the first follows its sign.
        return [float("".join(sign.split()) + value)
                for sign, value in re.findall(r"([-+]\s*)?(\d+\.\d+(?:e[-+]?\d+)?)f", statement)]

    def max_relative_error(self) -> float:
        c = self.coefficients()
        x = self.grid()

        def horner(v: np.ndarray) -> np.ndarray:
            out = np.full_like(v, c[0])
            for k in c[1:]:
                out = out * v + k
            return out

        got = self.approx(x, horner)
        exact = self.exact(x)
        return float(np.max(np.abs(got - exact) / np.abs(exact)))


POLYNOMIALS = [
    Polynomial(
        "log1p(t) = t + t^2 Q(t), t in [0, 1] (softplus)", "kernels/common/math.h",
        "float q = (((", 9.1e-10,
        lambda: np.linspace(0.0, 1.0, 200_001)[1:],
        lambda t, q: t + t * t * q(t), np.log1p),
    Polynomial(
        "log(cosh a) = a^2 R(a^2), a < 0.9 (log-cosh)", "kernels/pointwise/losses.h",
        "float r = (((", 7.4e-9,
        lambda: np.linspace(0.0, 0.9, 200_001)[1:],
        # (log1p(2 sinh^2(a/2)): log(cosh(a)) in float64 loses digits as a -> 0)
        lambda a, r: a * a * r(a * a), lambda a: np.log1p(2.0 * np.sinh(0.5 * a) ** 2)),
    Polynomial(
        "log1p(u) = u P(u), u = exp(-2a) <= exp(-1.8) (log-cosh)",
        "kernels/pointwise/losses.h", "float p = ((((", 3.5e-9,
        lambda: np.linspace(0.0, np.exp(-1.8), 200_001)[1:],
        lambda u, p: u * p(u), np.log1p),
]


def main() -> None:
    for poly in POLYNOMIALS:
        c = poly.coefficients()
        print(f"{poly.name}: degree {len(c) - 1}, max relative error "
              f"{poly.max_relative_error():.3g} (stated {poly.bound:.2g})")


if __name__ == "__main__":
    main()
