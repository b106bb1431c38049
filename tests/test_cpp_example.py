"""The C++ package: examples/cpp built with CMake against
`python -m mlx_fused_losses --cmake-dir`, run, and checked against the same
training loop written here with the Python API."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import mlx.core as mx
import pytest

import mlx_fused_losses as mfl

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "cpp"

# The constants of examples/cpp/main.cpp.
SAMPLES, FEATURES, STEPS, PRINT_EVERY = 512, 4, 200, 25
LEARNING_RATES = {"huber": 0.1, "bce": 1.0}


# ------------------------------------------------------- the loop in Python
def make_data():
    x = mx.sin(mx.arange(SAMPLES * FEATURES, dtype=mx.float32) * 0.37 + 0.1)
    x = x.reshape(SAMPLES, FEATURES)
    i = mx.arange(SAMPLES, dtype=mx.float32)
    clean = x @ mx.array([1.5, -2.0, 0.5, 3.0]) + 0.7
    outliers = mx.where(i % 50.0 == 0.0, 8.0, 0.0)
    targets = clean + 0.1 * mx.cos(1.7 * i) + outliers
    labels = (clean + 0.5 * mx.cos(2.3 * i) > 0.0).astype(mx.float32)
    return x, targets, labels


LOSSES = {
    "huber": lambda out, y: mfl.huber_loss(out, y, delta=1.0, reduction="mean"),
    "bce": lambda logits, y: mfl.binary_cross_entropy(
        logits, y, with_logits=True, reduction="mean"
    ),
}


def train(name, x, targets):
    """SGD on x @ w + b from zeros; returns (losses printed, final loss)."""
    loss, lr = LOSSES[name], LEARNING_RATES[name]

    def objective(w, b):
        return loss(x @ w + b, targets)

    value_and_grad = mx.value_and_grad(objective, argnums=(0, 1))
    w, b = mx.zeros((FEATURES,), dtype=mx.float32), mx.array(0.0)
    printed = []
    for step in range(STEPS):
        value, (grad_w, grad_b) = value_and_grad(w, b)
        w, b = w - lr * grad_w, b - lr * grad_b
        mx.eval(value, w, b)
        if step % PRINT_EVERY == 0:
            printed.append(value.item())
    return printed, objective(w, b).item()


# ----------------------------------------------- building and running the app
def cmake_or_skip():
    cmake = shutil.which("cmake")
    if cmake is None:
        pytest.skip("cmake is not installed (needs >= 3.27: pip install cmake)")
    out = subprocess.run([cmake, "--version"], capture_output=True, text=True).stdout
    version = re.search(r"(\d+)\.(\d+)", out)
    if version is None or tuple(map(int, version.groups())) < (3, 27):
        found = out.splitlines()[0] if out else "no version"
        pytest.skip(f"cmake >= 3.27 needed, {cmake} is {found!r} (pip install cmake)")
    return cmake


def cxx_or_skip():
    for candidate in (os.environ.get("CXX"), "c++", "g++", "clang++"):
        if candidate and shutil.which(candidate):
            return shutil.which(candidate)
    pytest.skip("no C++ compiler found (set CXX or install g++/clang++)")


def cmake_dir():
    out = subprocess.run(
        [sys.executable, "-m", "mlx_fused_losses", "--cmake-dir"],
        capture_output=True, text=True, check=True,
    ).stdout
    return Path(out.strip())


def run(cmd, **kwargs):
    result = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{cmd} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def example_output(tmp_path_factory):
    """stdout of the example app, built from scratch into a temporary directory."""
    cmake, cxx = cmake_or_skip(), cxx_or_skip()
    build = tmp_path_factory.mktemp("cpp-example")
    configure = [cmake, "-S", str(EXAMPLE), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release",
                 f"-DCMAKE_CXX_COMPILER={cxx}", f"-DCMAKE_PREFIX_PATH={cmake_dir()}"]
    if shutil.which("ninja"):
        configure += ["-G", "Ninja"]
    if shutil.which("ccache"):
        configure += ["-DCMAKE_CXX_COMPILER_LAUNCHER=ccache"]
    run(configure, timeout=120)
    run([cmake, "--build", str(build)], timeout=300)
    # The app finds libmlx_fused_losses and libmlx through its RPATH alone.
    env = {k: v for k, v in os.environ.items()
           if k not in ("LD_LIBRARY_PATH", "DYLD_LIBRARY_PATH")}
    return run([str(build / "train")], env=env, timeout=120)


def parse(output):
    printed = {"huber": [], "bce": []}
    for name, step, loss in re.findall(r"^(huber|bce)\s+step\s+(\d+)\s+loss\s+(\S+)$",
                                       output, re.M):
        printed[name].append((int(step), float(loss)))
    final = re.search(r"^final huber loss: (\S+) final bce loss: (\S+)$", output, re.M)
    assert final, f"no final line in the output:\n{output}"
    return printed, {"huber": float(final[1]), "bce": float(final[2])}


# ----------------------------------------------------------------- the tests
def test_cmake_dir_holds_the_package():
    prefix = cmake_dir()
    config = prefix / "share" / "cmake" / "MLXFusedLosses" / "MLXFusedLossesConfig.cmake"
    assert config.is_file()
    assert (config.parent / "MLXFusedLossesConfigVersion.cmake").is_file()
    assert (prefix / "include" / "mlx_fused_losses" / "losses.h").is_file()
    assert any(prefix.glob("libmlx_fused_losses.*"))
    # Relocatable: the only absolute path a config may hold is, in a development
    # tree, the MLX it was built against (no site-packages/mlx next to it there).
    text = config.read_text()
    assert "@" not in text.replace("@rpath", ""), "unsubstituted @VAR@ in the config"
    absolute = re.findall(r'"(/[^"]*)"', text)
    if prefix == ROOT / "python" / "mlx_fused_losses":
        mlx_prefix = Path(mx.__file__).parent.resolve()
        assert [Path(path).resolve() for path in absolute] == [mlx_prefix]
    else:
        assert absolute == []


def test_cpp_example_runs_and_losses_decrease(example_output):
    printed, final = parse(example_output)
    for name in ("huber", "bce"):
        steps = [step for step, _ in printed[name]]
        assert steps == list(range(0, STEPS, PRINT_EVERY)), name
        losses = [loss for _, loss in printed[name]]
        assert losses[-1] < losses[0], (name, losses)
        assert final[name] < 0.5 * losses[0], (name, final[name], losses[0])


def test_cpp_example_matches_python(example_output):
    printed, final = parse(example_output)
    x, targets, labels = make_data()
    for name, y in (("huber", targets), ("bce", labels)):
        py_printed, py_final = train(name, x, y)
        # Same libmlx, same kernels, same graph: equal up to float32 rounding.
        assert final[name] == pytest.approx(py_final, rel=1e-6), name
        assert [loss for _, loss in printed[name]] == pytest.approx(py_printed, abs=2e-6), name
