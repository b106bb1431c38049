"""Every public loss has what a loss needs: a float64 reference, value and
gradient cases, an error test, a benchmark case and a README row. A new loss
that misses one fails here, naming what is missing."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

import mlx_fused_losses as mfl
import row_distance_reference as dref
import row_softmax_reference as rref
from mlx_fused_losses.bench.cases import CASES as BENCH_CASES
from pointwise_cases import CASES as POINTWISE_CASES
from reference import POINTWISE
from test_properties import CONTRASTIVE, DISTANCE_LOSSES, ROW_LOSSES

TESTS = Path(__file__).parent
README = (TESTS.parent / "README.md").read_text()
NOT_LOSSES = {"patch_mlx", "unpatch_mlx", "patched_mlx", "is_patched", "PATCHABLE"}
LOSSES = [n for n in mfl.__all__ if n not in NOT_LOSSES]

# The row-softmax references are functions of row_softmax_reference, by name.
ROW_REFERENCES = {
    "cross_entropy": rref.cross_entropy,
    "nll_loss": rref.nll_loss,
    "kl_div_loss": rref.kl_div,
    "softmax_focal_loss": rref.softmax_focal,
    "info_nce_loss": rref.info_nce,
    "nt_xent_loss": rref.nt_xent,
    "clip_loss": rref.clip,
}
# The row-distance references, by public name (row_distance_reference.REFERENCES).
DISTANCE_REFERENCES = dict(dref.REFERENCES)
ERROR_TESTS = ("pointwise/test_pointwise_errors.py", "row_softmax/test_row_softmax_audit.py",
               "row_distance/test_row_distance_errors.py", "test_reliability.py")


def test_the_list_of_losses_is_the_package_api():
    assert len(LOSSES) >= 28
    assert all(inspect.isfunction(getattr(mfl, n)) for n in LOSSES)


@pytest.mark.parametrize("name", LOSSES)
def test_loss_has_a_float64_reference(name):
    assert name in POINTWISE or name in ROW_REFERENCES or name in DISTANCE_REFERENCES, (
        f"{name}: no float64 reference")


@pytest.mark.parametrize("name", LOSSES)
def test_loss_has_value_and_gradient_cases(name):
    pointwise = {c.fn for c in POINTWISE_CASES.values()}
    assert name in pointwise or name in ROW_LOSSES or name in CONTRASTIVE or name in DISTANCE_LOSSES, (
        f"{name}: no value/gradient cases (pointwise_cases.CASES or test_properties)")


@pytest.mark.parametrize("name", LOSSES)
def test_loss_has_an_error_test(name):
    text = "".join((TESTS / f).read_text() for f in ERROR_TESTS)
    assert f'"{name}"' in text or f"mfl.{name}" in text, f"{name}: no error test"


@pytest.mark.parametrize("name", LOSSES)
def test_loss_has_a_bench_case(name):
    assert name in {c.name for c in BENCH_CASES}, f"{name}: no case in bench/cases.py"


@pytest.mark.parametrize("name", LOSSES)
def test_loss_has_a_readme_row(name):
    assert f"| `{name}(" in README, f"{name}: no row in the README's API tables"


def test_patchable_names_have_readme_rows_naming_mlx():
    for name in mfl.PATCHABLE:
        row = next(line for line in README.splitlines() if line.startswith(f"| `{name}("))
        assert f"`mlx.nn.losses.{name}`" in row
