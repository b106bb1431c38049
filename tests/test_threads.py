"""The CPU kernels give bit-identical results whatever the number of threads
(MLX_FUSED_LOSSES_NUM_THREADS): work is handed out in slices on demand, and
every slice writes per-task results that are combined in a fixed order."""

import os
import subprocess
import sys

import numpy as np
import pytest

# Above the kernels' one-thread threshold (2^17 elements), with odd sizes so
# the slices are uneven.
SCRIPT = r"""
import sys
import mlx.core as mx
import numpy as np
import mlx_fused_losses as mfl

mx.set_default_device(mx.cpu)
rng = np.random.default_rng(7)
x = mx.array(rng.standard_normal(1_000_003).astype(np.float32))
y = mx.array(rng.standard_normal(1_000_003).astype(np.float32))
logits = mx.array(rng.standard_normal((333, 1001)).astype(np.float32))
labels = mx.array(rng.integers(0, 1001, 333))
out = {}
out["mse_mean"] = mfl.mse_loss(x, y)
out["log_cosh_sum"] = mfl.log_cosh_loss(x, y, reduction="sum")
out["bce_none"] = mfl.binary_cross_entropy(x, (y > 0).astype(mx.float32), reduction="none")
out["huber_grad"] = mx.grad(lambda a: mfl.huber_loss(a, y, reduction="mean"))(x)
out["ce_mean"] = mfl.cross_entropy(logits, labels, reduction="mean")
out["ce_grad"] = mx.grad(lambda a: mfl.cross_entropy(a, labels, reduction="sum"))(logits)
mx.eval(out)
np.savez(sys.argv[1], **{k: np.array(v) for k, v in out.items()})
"""


def _run(tmp_path, threads):
    path = tmp_path / f"threads_{threads}.npz"
    env = dict(os.environ, MLX_FUSED_LOSSES_NUM_THREADS=str(threads))
    subprocess.run([sys.executable, "-c", SCRIPT, str(path)], env=env, check=True, timeout=300)
    return np.load(path)


@pytest.mark.parametrize("threads", [2, 3, 5])
def test_results_do_not_depend_on_the_thread_count(tmp_path, threads):
    one = _run(tmp_path, 1)
    many = _run(tmp_path, threads)
    for name in one.files:
        np.testing.assert_array_equal(many[name], one[name], err_msg=name)
