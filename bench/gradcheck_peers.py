"""Speed of gradcheck against PyTorch's and JAX's gradient checkers on the same network and data.

Network: a 784-64-10 tanh MLP (reference_nets), batch 64, float64, softmax cross-entropy.
Rows (all in one process, on the same number of threads, best of ``--repeat`` runs):

- ``check_model(mode="full")`` (every parameter element, layer by layer and end to end) vs
  ``torch.autograd.gradcheck`` slow mode (full numerical Jacobian of every parameter);
- ``check_model(mode="auto")`` (the default) vs ``torch.autograd.gradcheck(fast_mode=True)``
  and ``jax.test_util.check_grads(order=1)``;
- then whether each checker, with its default tolerances, notices a hand-written backward
  whose first-layer weight gradient is 0.1 % too large;
- and how often one default check calls each layer's forward and backward (the first layer's
  64x784 @ 784x64 products dominate its cost).

Run: ``.venv/bin/python bench/gradcheck_peers.py [--threads 1] [--repeat 3] [--only full]
[--full-repeat 1]`` (``--only auto``: the default-mode rows, the bug and the call counts;
``--only full``: the exhaustive rows alone)
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="threads for every library")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    parser.add_argument("--full-repeat", type=int, default=1,
                        help="best of this many runs for the exhaustive rows")
    parser.add_argument("--only", choices=("auto", "full"),
                        help="only the default-mode rows (with the bug and the call counts) "
                             "or only the exhaustive rows")
    return parser.parse_args()


ARGS = _parse()
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(ARGS.threads)
os.environ["XLA_FLAGS"] = (f"--xla_cpu_multi_thread_eigen={'true' if ARGS.threads > 1 else 'false'}"
                           f" intra_op_parallelism_threads={ARGS.threads}")

import numpy as np  # noqa: E402  (thread settings must precede the imports)

from gradcheck import check_model  # noqa: E402
from reference_nets import Dense, Sequential  # noqa: E402
from reference_nets.losses import SoftmaxCrossEntropy  # noqa: E402
from reference_nets.zoo import mlp  # noqa: E402


def interleaved_best(runs: dict, repeat: int) -> dict:
    """``{name: (best seconds, last result)}``, timing the callables in turn ``repeat`` times
    (interleaving spreads load bursts from other processes over every checker alike)."""
    best = {name: (float("inf"), None) for name in runs}
    for _ in range(repeat):
        for name, fn in runs.items():
            start = time.perf_counter()
            result = fn()
            elapsed = time.perf_counter() - start
            best[name] = (min(best[name][0], elapsed), result)
    return best


def problem(seed: int = 0):
    """The reference model, a batch and labels (float64)."""
    rng = np.random.default_rng(seed)
    model = mlp((784, 64, 10), activation="tanh", init="xavier", seed=seed)
    return model, rng.normal(size=(64, 784)), rng.integers(0, 10, 64)


BUG = 1e-3   # relative error of the deliberately wrong first-layer weight gradient


class OffDense(Dense):
    """A Dense layer whose weight gradient is ``1 + BUG`` times too large."""

    def backward(self, dy):
        dx = super().backward(dy)
        self.grads["W"] *= 1 + BUG
        return dx


def with_bug(model) -> Sequential:
    """The model with its first layer replaced by an :class:`OffDense` of the same weights."""
    first = model.layers[0]
    off = OffDense(first.n_in, first.n_out)
    for key, value in first.params.items():
        off.params[key][...] = value
    return Sequential([off, *model.layers[1:]])


def torch_checker(model, x, y, bug: float = 0.0):
    """``run(fast) -> bool``: torch.autograd.gradcheck on the same network, data and weights
    (the first matmul's weight gradient scaled by ``1 + bug``)."""
    import torch

    torch.set_num_threads(ARGS.threads)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    params = tuple(torch.from_numpy(model.layers[i].params[k].copy()).requires_grad_()
                   for i in (0, 2) for k in ("W", "b"))

    class MatMul(torch.autograd.Function):
        @staticmethod
        def forward(ctx, a, w):
            ctx.save_for_backward(a, w)
            return a @ w

        @staticmethod
        def backward(ctx, g):
            a, w = ctx.saved_tensors
            return g @ w.T, (a.T @ g) * (1 + bug)

    matmul = MatMul.apply if bug else torch.matmul   # a hand-written backward only for the bug

    def f(W1, b1, W2, b2):
        hidden = torch.tanh(matmul(xt, W1) + b1)
        return torch.nn.functional.cross_entropy(hidden @ W2 + b2, yt)

    return lambda fast: torch.autograd.gradcheck(f, params, fast_mode=fast,
                                                 raise_exception=False)


def jax_checker(model, x, y, bug: float = 0.0):
    """``run() -> bool``: jax.test_util.check_grads (order 1, forward and reverse mode) on the
    same problem (the first matmul's weight cotangent scaled by ``1 + bug``)."""
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    from jax.test_util import check_grads

    xj, onehot = jnp.asarray(x), jax.nn.one_hot(jnp.asarray(y), 10, dtype=jnp.float64)
    params = tuple(jnp.asarray(model.layers[i].params[k]) for i in (0, 2) for k in ("W", "b"))

    def matmul(w):
        return xj @ w

    if bug:   # a hand-written VJP (reverse mode only: forward mode cannot use it)
        matmul = jax.custom_vjp(matmul)
        matmul.defvjp(lambda w: (xj @ w, None), lambda _, g: ((xj.T @ g) * (1 + bug),))

    def f(W1, b1, W2, b2):
        logits = jnp.tanh(matmul(W1) + b1) @ W2 + b2
        return -jnp.mean(jnp.sum(onehot * jax.nn.log_softmax(logits), axis=1))

    def run():
        try:
            check_grads(f, params, order=1, modes=("rev",) if bug else ("fwd", "rev"))
        except AssertionError:
            return False
        return True

    return run


def layer_calls(model, loss, x, y) -> list[str]:
    """``"<i>:<Class> forward F, backward B"`` per layer for one default ``check_model``."""
    counts = [[0, 0] for _ in model.layers]

    def counting(method, count, j):
        def call(*args, **kwargs):
            count[j] += 1
            return method(*args, **kwargs)
        return call

    for layer, count in zip(model.layers, counts, strict=True):
        layer.forward = counting(layer.forward, count, 0)
        layer.backward = counting(layer.backward, count, 1)
    try:
        check_model(model, loss, x, y)
    finally:
        for layer in model.layers:
            del layer.forward, layer.backward
    return [f"{i}:{type(layer).__name__} forward {f}, backward {b}"
            for i, (layer, (f, b)) in enumerate(zip(model.layers, counts, strict=True))]


def main() -> int:
    model, x, y = problem()
    loss = SoftmaxCrossEntropy()
    torch_run = torch_checker(model, x, y)
    ours = 'gradcheck.check_model(mode="{}")'
    fast = {} if ARGS.only == "full" else interleaved_best({
        ours.format("auto"): lambda: check_model(model, loss, x, y).passed,
        "torch.autograd.gradcheck(fast_mode=True)": lambda: torch_run(True),
        "jax.test_util.check_grads(order=1)": jax_checker(model, x, y),
    }, ARGS.repeat)
    slow = {} if ARGS.only == "auto" else interleaved_best({
        ours.format("full"): lambda: check_model(model, loss, x, y, mode="full").passed,
        "torch.autograd.gradcheck (slow mode)": lambda: torch_run(False),
    }, ARGS.full_repeat)
    print(f"784-64-10 tanh MLP, batch 64, float64, {ARGS.threads} thread(s), best of "
          f"{ARGS.repeat} interleaved runs (exhaustive rows: {ARGS.full_repeat})")
    print(f"{'checker':<44} {'seconds':>9} {'passed':>7} {'peer / ours':>12}")
    for table in (fast, slow):
        mine = next((v[0] for k, v in table.items() if k.startswith("gradcheck")), None)
        for name, (seconds, ok) in table.items():
            ratio = "" if name.startswith("gradcheck") else f"{seconds / mine:.1f}"
            print(f"{name:<44} {seconds:9.4f} {ok!s:>7} {ratio:>12}")
    if ARGS.only != "full":
        caught = {
            ours.format("auto"): not check_model(with_bug(model), loss, x, y).passed,
            "torch.autograd.gradcheck(fast_mode=True)": not torch_checker(model, x, y, BUG)(True),
            "jax.test_util.check_grads(order=1)": not jax_checker(model, x, y, BUG)(),
        }
        print(f"\ndefault settings, dW1 off by {BUG:.1%}:")
        for name, found in caught.items():
            print(f"{name:<44} {'caught' if found else 'missed':>9}")
        print("\nlayer calls in one default check_model:")
        print("\n".join(layer_calls(model, loss, x, y)))
    return 0

if __name__ == "__main__":
    sys.exit(main())
