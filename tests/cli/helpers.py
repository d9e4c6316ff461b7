"""The CLI tests' user files (a user's layers, models and data functions) and a runner of
``python -m gradkit`` in a subprocess, as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

USER_LAYERS = textwrap.dedent('''
    import numpy as np

    class Scale:
        """y = x * w with a learnable w; ``wrong`` doubles dL/dw."""

        def __init__(self, wrong=False, n=16):
            self.params = {"w": np.linspace(0.5, 1.5, n)}
            self.grads = {"w": np.zeros(n)}
            self.wrong = wrong

        def forward(self, x):
            self.x = x
            return x * self.params["w"]

        def backward(self, dy):
            grad = (dy * self.x).sum(axis=0) * (2.0 if self.wrong else 1.0)
            self.grads["w"] = grad.astype(self.params["w"].dtype)
            return dy * self.params["w"]

    class ShapeBug(Scale):
        """A backward that forgets the batch axis in dL/dw."""

        def backward(self, dy):
            self.grads["w"] = np.ones((3, 3)) @ (dy * self.x)
            return dy * self.params["w"]

    def good(n=16):
        return Scale(n=n)

    def good32():
        layer = Scale()
        layer.params["w"] = layer.params["w"].astype(np.float32)
        layer.grads["w"] = layer.grads["w"].astype(np.float32)
        return layer

    def bad():
        return Scale(wrong=True)

    def shape_bug():
        return ShapeBug()

    def boom():
        raise RuntimeError("needs a GPU")

    def not_a_layer():
        return 42

    def model(sizes=(16, 8, 4), seed=1):
        from reference_nets import zoo
        return zoo.mlp(sizes, seed=seed)

    def attribute_model():
        from reference_nets import Dense, Tanh

        class TwoLayers:                   # layers as attributes, no .layers list
            def __init__(self):
                self.fc1, self.act, self.fc2 = Dense(16, 8, seed=1), Tanh(), Dense(8, 4)

            def forward(self, x):
                return self.fc2.forward(self.act.forward(self.fc1.forward(x)))

            def backward(self, dy):
                return self.fc1.backward(self.act.backward(self.fc2.backward(dy)))
        return TwoLayers()

    def data():
        rng = np.random.default_rng(0)
        X = rng.standard_normal((64, 16))
        return X, (X[:, 0] > 0).astype(int)

    def regression():
        X, _ = data()
        return X, X[:, :1] * 2.0 - X[:, 1:2]

    def data_with_val():
        X, y = data()
        return X[:48], y[:48], X[48:], y[48:]

    def data_bad_rows():
        X, y = data()
        return X, y[:-1]

    def data_not_a_pair():
        return data()[0]

    def data_boom():
        raise OSError("the data server is down")
''')


def line_of(source, text=USER_LAYERS):
    """The 1-based number of the first line of ``text`` that contains ``source``."""
    return next(n for n, line in enumerate(text.splitlines(), 1) if source in line)


ROOT = Path(__file__).resolve().parents[2]


def gradkit(*args, cwd=None, **kwargs):
    """Run ``python -m gradkit ARGS`` with this interpreter and this checkout's packages
    first on the path; return the CompletedProcess (text stdout and stderr)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    kwargs.setdefault("capture_output", True)
    return subprocess.run([sys.executable, "-m", "gradkit", *map(str, args)], text=True,
                          cwd=cwd, env=env, timeout=300, check=False, **kwargs)
