"""Peak memory of the fused cross-entropy's training step (the issue's bar)."""

import gc

import mlx.core as mx
import numpy as np

import mlx_fused_losses as fl
import row_softmax_reference as ref


def test_value_and_grad_needs_only_the_gradient():
    # 8192 x 32000 float32 logits (1 GiB): value_and_grad of the mean loss may
    # add at most 1.3x the logits' size: the gradient itself and O(rows).
    rows, vocab = 8192, 32000
    # (cheap, varied logits in [0, 10): mx.random.normal would take ~15 s here)
    pattern = (mx.arange(rows)[:, None] * 7919 + mx.arange(vocab)[None]) % 1009
    logits = pattern.astype(mx.float32) * 0.01
    targets = (mx.arange(rows) * 31) % vocab
    mx.eval(logits, targets)
    del pattern
    gc.collect()
    mx.clear_cache()
    mx.reset_peak_memory()
    base = mx.get_active_memory()
    loss, grad = mx.value_and_grad(lambda x: fl.cross_entropy(x, targets, reduction="mean"))(logits)
    mx.eval(loss, grad)
    extra = mx.get_peak_memory() - base
    assert grad.nbytes == logits.nbytes
    assert extra <= 1.3 * logits.nbytes, extra / logits.nbytes

    # ... and they are the real loss and gradient
    sample = [0, 4097, 8191]
    x = np.array(logits[mx.array(sample)]).astype(np.float64)
    y = np.array(targets[mx.array(sample)])
    per_row = fl.cross_entropy(logits, targets)
    np.testing.assert_allclose(np.array(per_row)[sample], ref.cross_entropy(x, y), rtol=1e-6)
    np.testing.assert_allclose(loss.item(), mx.mean(per_row).item(), rtol=1e-6)
    want = np.exp(ref.log_softmax(x))
    want[np.arange(3), y] -= 1
    np.testing.assert_allclose(np.array(grad[mx.array(sample)]), want / rows, rtol=1e-5, atol=1e-12)
    del grad, logits
    mx.clear_cache()


def test_strided_class_axis_with_every_option_needs_only_the_gradient():
    # The same bar with the class axis strided (a transposed view, read in
    # place) and label smoothing, class weights and ignore_index switched on.
    rows, vocab = 8192, 32000
    logits = ((mx.arange(vocab)[:, None] * 7919 + mx.arange(rows)[None]) % 1009).astype(mx.float32) * 0.01
    targets = (mx.arange(rows) * 31) % vocab
    class_weights = 0.5 + (mx.arange(vocab) % 3).astype(mx.float32)
    mx.eval(logits, targets, class_weights)
    gc.collect()
    mx.clear_cache()
    view = logits.T  # (rows, vocab) with a strided class axis
    mx.reset_peak_memory()
    base = mx.get_active_memory()
    loss, grad = mx.value_and_grad(lambda x: fl.cross_entropy(
        x, targets, label_smoothing=0.1, class_weights=class_weights, ignore_index=31,
        reduction="mean"))(view)
    mx.eval(loss, grad)
    extra = mx.get_peak_memory() - base
    assert extra <= 1.3 * logits.nbytes, extra / logits.nbytes

    sample = [0, 1, 4097, 8191]  # row 1's target is the ignored class 31
    x = np.array(view[mx.array(sample)]).astype(np.float64)
    y = np.array(targets)[sample]
    cw = np.array(class_weights).astype(np.float64)
    want = ref.cross_entropy(x, y, label_smoothing=0.1, class_weights=cw, ignore_index=31)
    per_row = fl.cross_entropy(view, targets, label_smoothing=0.1, class_weights=class_weights,
                               ignore_index=31)
    np.testing.assert_allclose(np.array(per_row)[sample], want, rtol=1e-5)
    assert np.all(np.array(grad[mx.array(sample)])[1] == 0)
    del grad, logits, view
    mx.clear_cache()
