"""Default ``check_model`` against ``torch.autograd.gradcheck(fast_mode=True)`` over model sizes.

Tanh MLPs from about 700 to 50,000 parameters (reference_nets, float64, batch 64, softmax
cross-entropy). For each size the checkers run on the same weights and data, interleaved,
``--repeat`` times each, on one thread; the table gives the medians and torch / ours. Each
round runs ours before each torch checker (ours, torch, ours, torch with ``x``), so that every
run follows the other library's: a run right after one of its own library finds its code
and data warm in the caches and gains 5-10 % at the small sizes.

Two torch columns: ``torch fast`` checks the weights and biases (the inputs of ``f`` that
require grad, as in the issue's measurement); ``torch fast, x too`` also gives ``x``
``requires_grad``, so that torch checks the same tensors as ``check_model``, whose default
check includes the model's input gradient (the ``dx`` of the first layer).

The last column, numpy / torch gemm, is the time of the network's first product
``x @ W1`` in numpy over torch's (median of 200, same thread count): the share of the ratio
that is the two BLAS libraries' (numpy's OpenBLAS against torch's MKL), not the checkers'.

Run: ``.venv/bin/python bench/gradcheck_sweep.py [--repeat 15] [--threads 1]
[--no-second-point] [--sizes 16-32-8 10-10-10-10] [--seeds 3] [--separately]``: ``--sizes``
replaces the sweep's sizes, ``--seeds`` checks each size with that many weight and data seeds
(a row each), ``--separately`` times all runs of one checker before the other's instead of
interleaving them (each then runs with its own code and data warm in the caches).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="threads for every library")
    parser.add_argument("--repeat", type=int, default=15, help="interleaved runs per checker")
    parser.add_argument("--no-second-point", action="store_true",
                        help="check_model(second_point=False): the given point only")
    parser.add_argument("--sizes", nargs="+", help="layer sizes instead of the sweep's, e.g. "
                        "16-32-8 10-10-10-10")
    parser.add_argument("--seeds", type=int, default=1, help="weight and data seeds per size")
    parser.add_argument("--separately", action="store_true",
                        help="all runs of one checker, then the other's (not interleaved)")
    return parser.parse_args()


ARGS = _parse()
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(ARGS.threads)

import numpy as np  # noqa: E402  (thread settings must precede the imports)
from torch_mlp import torch_mlp  # noqa: E402  (bench/, the script's folder)

from gradcheck import check_model  # noqa: E402
from reference_nets.losses import SoftmaxCrossEntropy  # noqa: E402
from reference_nets.zoo import mlp  # noqa: E402

SIZES = [(10, 32, 10), (32, 64, 10), (64, 128, 10), (128, 160, 64, 10), (784, 64, 10)]
BATCH = 64


def torch_fast(model, x, y, with_input: bool = False):
    """``run() -> bool``: torch fast-mode gradcheck of the same network, weights and data
    (``with_input``: of ``x``'s gradient too)."""
    import torch

    torch.set_num_threads(ARGS.threads)
    f, params = torch_mlp(model, x, y, "tanh", with_input)
    return lambda: torch.autograd.gradcheck(f, params, fast_mode=True, raise_exception=False)


def _timed(fn, name: str) -> float:
    start = time.perf_counter()
    ok = fn()
    seconds = time.perf_counter() - start
    if not ok:
        raise SystemExit(f"{name} failed a correct model")
    return seconds


def medians(runs: dict, repeat: int, separately: bool = False) -> dict:
    """``{name: median seconds}`` over ``repeat`` rounds of the callables, interleaved: the
    first (ours) before each of the others in turn, so that each round holds it once per
    other callable (or each callable's calls in one block, ``separately``)."""
    if separately:
        return {name: statistics.median(_timed(fn, name) for _ in range(repeat))
                for name, fn in runs.items()}
    times = {name: [] for name in runs}
    first, *others = runs
    for _ in range(repeat):
        for name in others:
            times[first].append(_timed(runs[first], first))
            times[name].append(_timed(runs[name], name))
    return {name: statistics.median(t) for name, t in times.items()}


def gemm_ratio(x: np.ndarray, w: np.ndarray) -> float:
    """numpy's time for ``x @ w`` over torch's on the same arrays (medians of 200)."""
    import torch

    xt, wt = torch.from_numpy(x), torch.from_numpy(w)
    m = medians({"numpy": lambda: (x @ w) is not None,
                 "torch": lambda: (xt @ wt) is not None}, 200)
    return m["numpy"] / m["torch"]


def main() -> int:
    loss = SoftmaxCrossEntropy()
    how = "runs, each checker's in one block" if ARGS.separately else "interleaved rounds"
    print(f"tanh MLPs, float64, batch {BATCH}, {ARGS.threads} thread(s), medians of "
          f"{ARGS.repeat} {how}")
    print(f"{'sizes':<20} {'params':>7} {'ours ms':>9} {'torch fast ms':>14} {'torch / ours':>13}"
          f" {'torch fast, x too ms':>21} {'torch / ours':>13} {'numpy / torch gemm':>19}")
    sizes_list = [tuple(map(int, s.split("-"))) for s in ARGS.sizes] if ARGS.sizes else SIZES
    for sizes, seed in ((s, k) for s in sizes_list for k in range(ARGS.seeds)):
        rng = np.random.default_rng(seed)
        model = mlp(sizes, activation="tanh", init="xavier", seed=seed)
        x, y = rng.normal(size=(BATCH, sizes[0])), rng.integers(0, sizes[-1], BATCH)
        n = sum(p.size for layer in model.layers for p in layer.params.values())
        m = medians({"ours": lambda m=model, x=x, y=y: check_model(
                         m, loss, x, y, second_point=not ARGS.no_second_point).passed,
                     "torch": torch_fast(model, x, y),
                     "torch_x": torch_fast(model, x, y, with_input=True)},
                    ARGS.repeat, ARGS.separately)
        label = "-".join(map(str, sizes)) + (f" seed {seed}" if ARGS.seeds > 1 else "")
        print(f"{label:<20} {n:>7} {1e3 * m['ours']:>9.2f} "
              f"{1e3 * m['torch']:>14.2f} {m['torch'] / m['ours']:>13.2f} "
              f"{1e3 * m['torch_x']:>21.2f} {m['torch_x'] / m['ours']:>13.2f} "
              f"{gemm_ratio(x, model.layers[0].params['W']):>19.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
