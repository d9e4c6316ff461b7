"""Time per epoch of the digits MLP (64-64-10, ReLU, batch 32, SGD momentum) against peers.

Runs in one process, same data split, architecture, batch size, learning rate,
momentum and epochs for every implementation:

* reference_nets (numpy, float64)
* scikit-learn ``MLPClassifier`` (solver="sgd", float64; tol disabled so it runs every epoch)
* PyTorch CPU loop (float64 like the others, and float32 for reference), with
  ``torch.set_num_threads`` equal to numpy's BLAS thread count.

Each implementation is warmed up once, then trained ``--repeats`` times from scratch;
the table shows the best seconds per epoch, the ratio to reference_nets and the
final test accuracy. Usage::

    .venv/bin/python bench/train_digits.py [--epochs 20] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_info

from reference_nets import train
from reference_nets.data import load_digits
from reference_nets.losses import SoftmaxCrossEntropy
from reference_nets.optim import SGD
from reference_nets.zoo import mlp

BATCH, HIDDEN, MOMENTUM = 32, 64, 0.9


def blas_threads() -> tuple[int, str]:
    """Threads and name of the BLAS numpy uses (threadpoolctl)."""
    blas = [info for info in threadpool_info() if info["user_api"] == "blas"]
    if not blas:
        return 1, "unknown"
    return blas[0]["num_threads"], f"{blas[0]['internal_api']} {blas[0].get('version', '')}"


def run_reference(split, epochs: int, lr: float, seed: int) -> tuple[float, float]:
    """Seconds of training and test accuracy of reference_nets."""
    model = mlp((64, HIDDEN, 10), seed=seed)
    start = time.perf_counter()
    train(model, SoftmaxCrossEntropy(), SGD(lr, momentum=MOMENTUM), split.X_train,
          split.y_train, epochs=epochs, batch_size=BATCH, seed=seed, progress=False)
    seconds = time.perf_counter() - start
    model.eval()
    return seconds, float(np.mean(model.forward(split.X_test).argmax(1) == split.y_test))


def run_sklearn(split, epochs: int, lr: float, seed: int) -> tuple[float, float]:
    """Seconds of training and test accuracy of scikit-learn's MLPClassifier."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(hidden_layer_sizes=(HIDDEN,), activation="relu", solver="sgd",
                        alpha=0.0, batch_size=BATCH, learning_rate_init=lr, momentum=MOMENTUM,
                        nesterovs_momentum=False, max_iter=epochs, tol=0.0,
                        n_iter_no_change=epochs + 1, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        clf.fit(split.X_train, split.y_train)
        seconds = time.perf_counter() - start
    if clf.n_iter_ != epochs:
        raise RuntimeError(f"MLPClassifier stopped after {clf.n_iter_} of {epochs} epochs")
    return seconds, float(clf.score(split.X_test, split.y_test))


def run_torch(split, epochs: int, lr: float, seed: int, dtype_name: str) -> tuple[float, float]:
    """Seconds of training and test accuracy of a plain PyTorch CPU loop."""
    import torch

    dtype = getattr(torch, dtype_name)
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(64, HIDDEN), torch.nn.ReLU(),
                                torch.nn.Linear(HIDDEN, 10)).to(dtype)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=MOMENTUM)
    X = torch.tensor(split.X_train, dtype=dtype)
    y = torch.tensor(split.y_train)
    generator = torch.Generator().manual_seed(seed)
    loss_fn = torch.nn.CrossEntropyLoss()
    start = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(len(X), generator=generator)
        for first in range(0, len(X), BATCH):
            idx = order[first:first + BATCH]
            opt.zero_grad()
            loss_fn(model(X[idx]), y[idx]).backward()
            opt.step()
    seconds = time.perf_counter() - start
    with torch.no_grad():
        pred = model(torch.tensor(split.X_test, dtype=dtype)).argmax(1).numpy()
    return seconds, float(np.mean(pred == split.y_test))


def measure(name, fn, args, epochs: int, repeats: int) -> dict:
    """Warm up once (1 epoch), then keep the fastest of ``repeats`` full runs."""
    fn(args[0], 1, *args[1:])
    runs = [fn(args[0], epochs, *args[1:]) for _ in range(repeats)]
    seconds = min(s for s, _ in runs)
    return {"implementation": name, "s_per_epoch": seconds / epochs,
            "test_accuracy": runs[-1][1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import torch

    threads, blas = blas_threads()
    torch.set_num_threads(threads)
    split = load_digits(seed=args.seed)
    print(f"digits: {len(split.X_train)} train / {len(split.X_test)} test, MLP 64-{HIDDEN}-10 "
          f"ReLU, batch {BATCH}, SGD lr={args.lr} momentum={MOMENTUM}, {args.epochs} epochs, "
          f"best of {args.repeats}")
    print(f"threads: numpy BLAS ({blas}) {threads}, torch {torch.get_num_threads()}; "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}; "
          f"torch {torch.__version__}, numpy {np.__version__}")
    common = (split, args.lr, args.seed)
    rows = [
        measure("reference_nets (float64)", run_reference, common, args.epochs, args.repeats),
        measure("scikit-learn MLPClassifier (float64)", run_sklearn, common, args.epochs,
                args.repeats),
        measure("torch CPU loop (float64)", run_torch, (*common, "float64"), args.epochs,
                args.repeats),
        measure("torch CPU loop (float32)", run_torch, (*common, "float32"), args.epochs,
                args.repeats),
    ]
    table = pd.DataFrame(rows)
    table["ms_per_epoch"] = table.pop("s_per_epoch") * 1e3
    table["time_vs_reference_nets"] = table["ms_per_epoch"] / table["ms_per_epoch"].iloc[0]
    print(table[["implementation", "ms_per_epoch", "time_vs_reference_nets", "test_accuracy"]]
          .to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
