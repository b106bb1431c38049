"""Speed of the fused cross-entropy on the CPU against stock MLX and PyTorch.

    PYTHONPATH=python python bench/row_softmax_speed.py [--rows 8192] [--vocab 32000] [--repeat 5]

Times the forward pass and value_and_grad of the mean loss (median of
`--repeat` runs after one warm-up) for: the fused loss, mlx.nn.losses.cross_entropy,
mx.fast.cross_entropy, mx.compile of the stock loss, and (if installed)
torch.nn.functional.cross_entropy. Not a test: numbers depend on the machine.
"""

import argparse
import statistics
import time

import mlx.core as mx
import mlx.nn.losses as nn_losses
import numpy as np

import mlx_fused_losses as fl


def timed(fn, repeat):
    fn()  # warm-up (allocations, compilation)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=8192)
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    args = ap.parse_args()
    mx.set_default_device(mx.cpu)

    dtype = getattr(mx, args.dtype)
    x = mx.random.normal((args.rows, args.vocab), key=mx.random.key(0)).astype(dtype)
    y = mx.random.randint(0, args.vocab, (args.rows,), key=mx.random.key(1))
    mx.eval(x, y)

    losses = {
        "fused": lambda a: fl.cross_entropy(a, y, reduction="mean"),
        "mlx.nn.losses": lambda a: nn_losses.cross_entropy(a, y, reduction="mean"),
        "mx.fast": lambda a: mx.mean(mx.fast.cross_entropy(a, y)),
        "compiled stock": mx.compile(lambda a: nn_losses.cross_entropy(a, y, reduction="mean")),
    }
    print(f"{args.rows} x {args.vocab} {args.dtype} logits, CPU, median of {args.repeat}")
    print(f"{'':16s} {'forward':>10s} {'value_and_grad':>15s}")
    results = {}
    for name, f in losses.items():
        vg = mx.value_and_grad(f)
        fwd = timed(lambda: mx.eval(f(x)), args.repeat)
        both = timed(lambda: mx.eval(vg(x)), args.repeat)
        results[name] = (fwd, both)
        print(f"{name:16s} {fwd * 1e3:8.1f} ms {both * 1e3:12.1f} ms")
        mx.clear_cache()

    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        tdtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[args.dtype]
        tx = torch.from_numpy(np.array(x.astype(mx.float32))).to(tdtype)
        ty = torch.from_numpy(np.array(y).astype(np.int64))

        def torch_fwd():
            with torch.no_grad():
                torch.nn.functional.cross_entropy(tx, ty)

        def torch_both():
            a = tx.detach().requires_grad_(True)
            torch.nn.functional.cross_entropy(a, ty).backward()

        fwd, both = timed(torch_fwd, args.repeat), timed(torch_both, args.repeat)
        results["torch"] = (fwd, both)
        print(f"{'torch ' + torch.__version__:16s} {fwd * 1e3:8.1f} ms {both * 1e3:12.1f} ms"
              f"   ({torch.get_num_threads()} threads)")

    f_fwd, f_both = results["fused"]
    for name, (fwd, both) in results.items():
        if name != "fused":
            print(f"fused speed-up vs {name}: forward {fwd / f_fwd:.1f}x, value_and_grad {both / f_both:.1f}x")


if __name__ == "__main__":
    main()
