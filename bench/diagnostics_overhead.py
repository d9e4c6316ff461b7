"""Training-time overhead of ``diagnostics.Monitor`` on three models, against a
hand-written numpy logger of the same norms.

Models (SGD lr 0.01, momentum 0.9, softmax cross-entropy):

* ``digits MLP``: ``reference_nets.zoo.mlp((64, 64, 10))`` on the digits training split,
  batch 32;
* ``MLP 784-512-512-10``: ``zoo.mlp((784, 512, 512, 10))`` on 1,024 Gaussian inputs of
  784 features with 10 random labels (seed 0), batch 64;
* ``CNN``: ``zoo.cnn()`` (Conv2D 3x3 8 channels, ReLU, MaxPool, Dense) on the digits
  images (1 x 8 x 8), batch 32.

Configurations, interleaved per model, each run from the same fresh model, ``repeats``
times after one warm-up round:

* no hooks (the baseline), and no hooks again (its ratios show the noise);
* ``Monitor()``: the default budget schedule (``budget=0.05``);
* ``Monitor(every=1)``: every step in full (weight norms and update norms reported by the
  optimizer, see ``diagnostics.optimizer_updates``; the distances from initialisation
  every 8th step, ``distance_every=8``);
* ``Monitor(every=1), own optimizer``: the same with the SGD wrapped in a class that
  offers no update reports, as a user's own optimizer: the updates measured from copies;
* ``Monitor(every=10, grad_norms_every_step=True)``: the middle mode;
* ``NumpyLogger``: per step and parameter tensor the gradient norm, weight norm and
  update/weight ratio, and every 8th step the distance from initialisation (as the
  Monitor records it, ``distance_every=8``), written by hand in numpy with the fewest
  operations (one gradient inner product, two parameter inner products, a third every
  8th step, and one copy per tensor): the floor of any numpy recorder of these metrics
  that measures the updates itself;
* ``NumpyLogger (optimizer reports)``: the same, with the weight norms, the inner products
  with the initial parameters and the update norms reported by the optimizer
  (``report_next_update``/``update_report``, as ``Monitor`` uses them): one gradient inner
  product per tensor in the hook, no copy, the floor of a recorder given the reports.

BLAS is limited to one thread (threadpoolctl) and the process CPU time is measured (the
steadier measure on a shared machine). The table shows per model and configuration
microseconds per step, the ratios of the best and the median CPU times to the
baseline's, the median of the per-round ratios (each round runs every configuration once,
so a burst of load on the machine hits a round's baseline and hooks alike) and, for
``Monitor()``, the median share of steps recorded. End-to-end ratios move by several
percent with the load of a shared machine; the ``hook share`` column does not: in one
more run of each configuration, apart from the timed rounds, every hook method call is
timed (``perf_counter`` around it) and summed, over the training run's wall time: the
overhead itself, measured where it is spent (including the squared update norms the
optimizer takes inside ``step`` for the hooks that ask for them). The rounds whose CPU
times give the ratios run the hooks as they are, with a plain optimizer: the timers' own
cost (a microsecond or so per call, about 1 % of a 200 us step) stays out of the ratios.
Goals: ``Monitor()`` <= 1.05x on each model; ``every=1`` <= 1.15x on the two larger
models. Usage::

    .venv/bin/python bench/diagnostics_overhead.py [--repeats 1.0] [--models mlp cnn]

``--repeats`` scales the repeats of every model (default 1: 15, 4 and 7); ``--models``
runs some of them (``digits``, ``mlp``, ``cnn``; default all three).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from diagnostics import Monitor
from diagnostics.schedule import DISTANCE_EVERY
from reference_nets import train
from reference_nets.data import load_digits
from reference_nets.losses import SoftmaxCrossEntropy
from reference_nets.optim import SGD
from reference_nets.zoo import cnn, mlp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # OwnOptimizer lives in tests/
from tests.diagnostics.toy_nets import OwnOptimizer


class NumpyLogger:
    """Per step and parameter tensor: ||g||, ||p|| and ||p - q|| / ||p|| (q: the parameters
    before the step), from g.g, p.p, p.q and q.q, and on the multiples of DISTANCE_EVERY
    ||p - p0|| from p.p0 and p0.p0 (NaN on the other steps); with ``reports=True`` the
    optimizer reports p.p, ||p - q||^2 and on those steps p.p0 (``report_next_update``
    with the references p0) and q is not kept."""

    def __init__(self, reports=False):
        self.reports = reports

    def on_train_begin(self, model, optimizer):
        self.optimizer = optimizer
        self.ids = [id(p) for p in model.params.values()]  # the keys of the reports
        self.params = [p.reshape(-1) for p in model.params.values()]
        self.grads = [g.reshape(-1) for g in model.grads.values()]
        self.prev = None if self.reports else [p.copy() for p in self.params]
        self.init = [p.copy() for p in self.params]
        self.references = {key: p0.reshape(p.shape) for key, p0, p in zip(
            self.ids, self.init, model.params.values(), strict=True)}
        self.init_sq = np.array([p @ p for p in self.init])
        self.prev_sq = self.init_sq.copy()
        self.sums = np.empty((len(self.params), 4))
        self.rows = []

    def on_backward_end(self, step, model, loss_value):
        for k, g in enumerate(self.grads):
            self.sums[k, 0] = g @ g
        if self.reports:
            distance = step % DISTANCE_EVERY == 0
            self.optimizer.report_next_update(self.references if distance else None)

    def on_step_end(self, step, model):
        sums = self.sums
        if self.reports:
            report = self.optimizer.update_report()
            for k, key in enumerate(self.ids):
                sums[k, 1:] = report[key].param_sq, report[key].update_sq, report[key].reference_dot
            update = np.sqrt(sums[:, 2])
        else:
            distance = step % DISTANCE_EVERY == 0
            for k, (p, q, p0) in enumerate(zip(self.params, self.prev, self.init, strict=True)):
                sums[k, 1:] = p @ p, p @ q, p @ p0 if distance else np.nan
                np.copyto(q, p)
            update = np.sqrt(np.maximum(sums[:, 1] - 2 * sums[:, 2] + self.prev_sq, 0.0))
            self.prev_sq = sums[:, 1].copy()
        grad_sq, param_sq, _, init_dot = sums.T
        dist = np.sqrt(np.maximum(param_sq - 2 * init_dot + self.init_sq, 0.0))
        self.rows.append(np.stack([np.sqrt(grad_sq), np.sqrt(param_sq), dist,
                                   update / np.sqrt(param_sq)]))


HOOK_METHODS = ("on_train_begin", "on_batch_begin", "on_backward_end", "on_step_end",
                "on_epoch_end", "on_train_end")


class Timed:
    """A hook's methods, each call timed (``perf_counter``) and summed into ``seconds``."""

    def __init__(self, hook):
        self.hook, self.seconds = hook, 0.0
        for name in HOOK_METHODS:
            if hasattr(hook, name):
                setattr(self, name, self._timed(getattr(hook, name)))

    def _timed(self, method):
        def call(*args):
            start = time.perf_counter()
            try:
                return method(*args)
            finally:
                self.seconds += time.perf_counter() - start
        return call


#: The configuration whose optimizer offers no update reports (a user's own optimizer).
OWN_OPTIMIZER = "Monitor(every=1), own optimizer (no reports)"
CONFIGS = {
    "no hooks": lambda: (),
    "no hooks (noise)": lambda: (),
    "Monitor() (budget 5%)": lambda: (Monitor(),),
    "Monitor(every=1)": lambda: (Monitor(every=1),),
    OWN_OPTIMIZER: lambda: (Monitor(every=1),),
    "Monitor(every=10, grad_norms_every_step=True)":
        lambda: (Monitor(every=10, grad_norms_every_step=True),),
    "NumpyLogger (same norms, every step)": lambda: (NumpyLogger(),),
    "NumpyLogger (optimizer reports)": lambda: (NumpyLogger(reports=True),),
}


#: Short names (``--models``) of the benchmarks of :func:`models`, in order.
MODEL_KEYS = ("digits", "mlp", "cnn")


def models():
    """``{name: (make_model, X, y, batch, epochs, repeats)}`` of the three benchmarks."""
    digits = load_digits()
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(1024, 784)), rng.integers(0, 10, 1024)
    return {
        "digits MLP 64-64-10": (lambda: mlp((64, 64, 10), seed=0), digits.X_train,
                                digits.y_train, 32, 20, 15),
        "MLP 784-512-512-10": (lambda: mlp((784, 512, 512, 10), seed=0), X, y, 64, 12, 4),
        "CNN (zoo.cnn)": (lambda: cnn(seed=0), digits.X_train.reshape(-1, 1, 8, 8),
                          digits.y_train, 32, 10, 7),
    }


class TimedSGD(SGD):
    """SGD whose update reports are timed into ``seconds``: the inner products it takes
    when a hook asks for them (``report_next_update``) are that hook's cost, spent inside
    ``step``."""

    seconds = 0.0

    def _report_update(self, *args):
        start = time.perf_counter()
        try:
            return super()._report_update(*args)
        finally:
            self.seconds += time.perf_counter() - start


def run(case, hooks, epochs, own_optimizer=False, timed=False) -> tuple[float, float]:
    """CPU seconds of one training run of a fresh model of ``case`` with ``hooks`` (SGD
    wrapped in :class:`OwnOptimizer` if ``own_optimizer``), and with ``timed`` the share
    of its wall time spent inside the hooks' methods and the update reports they asked
    for (NaN without: the hooks and the optimizer then run as they are, untimed)."""
    make, X, y, batch, *_ = case
    model = make()
    hooks = [Timed(h) for h in hooks] if timed else list(hooks)
    optimizer = (TimedSGD if timed else SGD)(0.01, momentum=0.9)
    start, wall = time.process_time(), time.perf_counter()
    train(model, SoftmaxCrossEntropy(), OwnOptimizer(optimizer) if own_optimizer else optimizer,
          X, y, epochs=epochs, batch_size=batch, hooks=hooks, progress=False)
    wall = time.perf_counter() - wall
    if not timed:
        return time.process_time() - start, float("nan")
    return time.process_time() - start, (sum(t.seconds for t in hooks)
                                         + optimizer.seconds) / wall


def measure(case, repeats) -> tuple[dict, dict, float]:
    """CPU seconds per configuration (interleaved rounds, untimed hooks), the hook share of
    each (one timed run apart), and the median share of steps that ``Monitor()``
    recorded."""
    times = {name: [] for name in CONFIGS}
    hook_share, recorded = {}, []
    for name, make in CONFIGS.items():
        run(case, make(), 1, name == OWN_OPTIMIZER)
        hook_share[name] = run(case, make(), case[4], name == OWN_OPTIMIZER, timed=True)[1]
    for _ in range(repeats):
        for name, make in CONFIGS.items():
            hooks = make()
            times[name].append(run(case, hooks, case[4], name == OWN_OPTIMIZER)[0])
            if name.startswith("Monitor()"):
                monitor = hooks[0]
                recorded.append(len(monitor.recorded_steps) / monitor.meta["n_steps"])
    return ({name: np.array(t) for name, t in times.items()}, hook_share,
            float(np.median(recorded)))


def main(argv=None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=float, default=1.0,
                        help="scale of every model's repeats (default 1)")
    parser.add_argument("--models", nargs="+", choices=MODEL_KEYS, default=MODEL_KEYS,
                        help="benchmarks to run (default all)")
    args = parser.parse_args(argv)
    rows = []
    chosen = [case for key, case in zip(MODEL_KEYS, models().items(), strict=True)
              if key in args.models]
    with threadpool_limits(limits=1, user_api="blas"):
        for model, case in chosen:
            repeats = max(2, round(case[5] * args.repeats))
            times, hook_share, share = measure(case, repeats)
            steps = case[4] * -(-len(case[1]) // case[3])
            base = times["no hooks"]
            rows += [{"model": model, "configuration": name,
                      "us/step": 1e6 * t.min() / steps, "ratio (best)": t.min() / base.min(),
                      "ratio (median)": np.median(t) / np.median(base),
                      "ratio (median of rounds)": float(np.median(t / base)),
                      "hook share": f"{hook_share[name]:.1%}",
                      "recorded": f"{share:.1%}" if name.startswith("Monitor()") else ""}
                     for name, t in times.items()]
            print(f"{model}: {steps} steps, {repeats} interleaved repeats", flush=True)
    table = pd.DataFrame(rows)
    print("1 BLAS thread, process CPU time")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return table


if __name__ == "__main__":
    main()
