"""The labelled bug zoo of the likely-cause analysis, and the evidence each bug produces.

:data:`BUGS` lists classic backprop bugs (one subclass each of a correct layer of
:mod:`bug_zoo_layers`), the tensor that fails and the cause label the analysis should give
(None: no simple pattern, no cause expected). :data:`CORRECT` lists correct layers, which
must never get a cause. :func:`evidence` builds the :class:`gradcheck.causes.Evidence` of a
tensor the way the checker will: full finite differences of ``<G, layer.forward(x)>``, the
verdict's tolerance, the statuses of the layer's other tensors, the context reruns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gradcheck import TOLERANCES, check_layer, numerical_gradient
from gradcheck.causes import Evidence, rerun_evidence
from tests.gradcheck import bug_zoo_layers as z

STEP = 2.0**-17   # relative finite-difference step (central differences, float64)


class BiasMean(z.Dense):
    """db = dy.mean(axis=0): a mean where the forward sums over the batch."""

    def backward(self, dy):
        dx = super().backward(dy)
        self.grads["b"][...] = dy.mean(axis=0)
        return dx


class TransposedWeight(z.Dense):
    """dW = dy.T @ x instead of x.T @ dy."""

    def weight_grad(self, dy):
        return dy.T @ self.x


class NegatedWeight(z.Dense):
    """dW = -x.T @ dy (the sign of a subtraction reversed)."""

    def weight_grad(self, dy):
        return -(self.x.T @ dy)


class DoubledInput(z.Dense):
    """dx counted twice."""

    def input_grad(self, dy):
        return 2 * (dy @ self.params["W"].T)


class WeightDecay(z.Dense):
    """dW += 0.01 W: a weight decay in backward that the forward does not have."""

    def weight_grad(self, dy):
        return self.x.T @ dy + 0.01 * self.params["W"]


class LastRowDropped(z.Dense):
    """dW filled by a loop over input features that stops one short (range(F - 1))."""

    def weight_grad(self, dy):
        g = np.zeros_like(self.params["W"])
        for i in range(len(g) - 1):
            g[i] = self.x[:, i] @ dy
        return g


class SummedOuter(z.Dense):
    """dW = outer(x.sum(0), dy.sum(0)): the batch summed before the product (right for n = 1)."""

    def weight_grad(self, dy):
        return np.outer(self.x.sum(axis=0), dy.sum(axis=0))


class Accumulating(z.Dense):
    """grads["W"] += ...: accumulates across calls (seen after an earlier backward)."""

    def backward(self, dy):
        self.grads["W"] += self.weight_grad(dy)
        self.grads["b"][...] = dy.sum(axis=0)
        return self.input_grad(dy)


class StaleInput(z.Dense):
    """Caches x on the first forward only (seen after a forward at another point)."""

    x = None

    def forward(self, x):
        if self.x is None:
            self.x = x
        return x @ self.params["W"] + self.params["b"]


class UntransposedInput(z.Dense):
    """dx = dy @ W instead of dy @ W.T (square W, so the shapes hide it)."""

    def input_grad(self, dy):
        return dy @ self.params["W"]


class SignOfUpstream(z.Dense):
    """dx = sign(dy) @ W.T: uses only the sign of dy."""

    def input_grad(self, dy):
        return np.sign(dy) @ self.params["W"].T


class MissingSkip(z.Residual):
    """dx forgets the identity term of y = x W + b + x."""

    def input_grad(self, dy):
        return dy @ self.params["W"].T


class DoubledSkip(z.Residual):
    """dx adds the identity term twice."""

    def input_grad(self, dy):
        return dy @ self.params["W"].T + 2 * dy


class FlippedKernel(z.Conv2D):
    """dW rotated by 180 degrees (convolution instead of cross-correlation)."""

    def kernel_grad(self, dy):
        return super().kernel_grad(dy)[..., ::-1, ::-1]


class UntransposedKernel(z.Conv2D):
    """The (C k k, O) im2col gradient reshaped to (O, C, k, k) without the transpose."""

    def kernel_grad(self, dy):
        o, c, k, _ = self.params["W"].shape
        cols = self.windows.transpose(1, 4, 5, 0, 2, 3).reshape(c * k * k, -1)
        return (cols @ dy.transpose(0, 2, 3, 1).reshape(-1, o)).reshape(o, c, k, k)


class ConvBiasMean(z.Conv2D):
    """db = dy summed over positions but averaged over the batch."""

    def bias_grad(self, dy):
        return dy.sum(axis=(2, 3)).mean(axis=0)


class LastChannelSkipped(z.Conv2D):
    """dx loops over input channels range(C - 1)."""

    def channels(self, c):
        return range(c - 1)


class FlippedInputKernel(z.Conv2D):
    """dx uses the kernel rotated by 180 degrees."""

    def input_grad(self, dy):
        kept = self.params["W"]
        self.params["W"] = kept[..., ::-1, ::-1]
        try:
            return super().input_grad(dy)
        finally:
            self.params["W"] = kept


class OverwritingPool(z.MaxPool2D):
    """dx[window] = mask * dy: overlapping windows overwrite each other."""

    def route(self, window, mask, dy):
        window[...] = mask * dy[..., None, None]


class FirstElementPool(z.MaxPool2D):
    """Routes dy to each window's first element instead of its maximum."""

    def mask(self, i, j):
        m = np.zeros_like(super().mask(i, j))
        m[..., 0, 0] = True
        return m


class UnscaledAvgPool(z.AvgPool2D):
    """dx = dy spread over the window without the 1/k^2."""

    def divisor(self):
        return 1


class ConstantStats(z.BatchNorm):
    """dx = dy gamma / std: the batch mean and variance treated as constants."""

    def batch_grad(self, g):
        return g / self.std


class MissingVarianceTerm(z.BatchNorm):
    """dx without the variance term xhat * mean(g xhat)."""

    def batch_grad(self, g):
        return (g - g.mean(axis=0)) / self.std


class NoGammaInDx(z.BatchNorm):
    """dx forgets the factor gamma."""

    def scaled(self, dy):
        return dy


class NoEpsInBackward(z.BatchNorm):
    """dgamma uses (x - mean) / sqrt(var): the forward's eps left out."""

    def normalised(self):
        return (self.x - self.mean) / np.sqrt(self.var)


class UnscaledDropout(z.Dropout):
    """dx = dy * keep: the 1/(1-p) of inverted dropout missing in backward."""

    def backward(self, dy):
        return dy * (self.mask > 0) if self.training else dy


class UnscaledScores(z.Attention):
    """The 1/sqrt(d) of the scores left out of backward."""

    def score_scale(self):
        return 1.0


class DiagonalSoftmax(z.Attention):
    """Softmax backward without its cross terms: dS = P (1 - P) dP."""

    def softmax_grad(self, dp):
        return self.p * (1 - self.p) * dp


class UntransposedWeights(z.Attention):
    """dV = P @ dy instead of P.T @ dy."""

    def value_grad(self, dy):
        return self.p @ dy


class UntransposedKeys(z.Attention):
    """dK = dS @ Q instead of dS.T @ Q."""

    def key_grad(self, ds):
        return ds @ self.q


class TanhGradLinear(z.RNNCell):
    """tanh' taken as 1 - h instead of 1 - h**2."""

    def tanh_grad(self):
        return 1 - self.h


class RecurrentNewState(z.RNNCell):
    """dWh = h.T @ dz: the new state where the previous one belongs."""

    def recurrent_grad(self, dz):
        return self.h.T @ dz


class RecurrentTransposed(z.RNNCell):
    """dWh = dz.T @ h0."""

    def recurrent_grad(self, dz):
        return dz.T @ self.h0


class UpdateGateSign(z.GRUCell):
    """dz = dy (n - h0): h = (1 - z) n + z h0 differentiated with the sign reversed."""

    def update_grad(self, dy):
        return dy * (self.n - self.h0)


class ResetGateNoState(z.GRUCell):
    """dr = d(r h0) without the factor h0."""

    def reset_grad(self, d_rh0):
        return d_rh0


class AssignedEmbedding(z.Embedding):
    """dW[ids] = dy: repeated ids keep only their last row."""

    def scatter(self, dW, dy):
        dW[self.ids] = dy


class FancyAddEmbedding(z.Embedding):
    """dW[ids] += dy: fancy-index += does not accumulate repeated ids."""

    def scatter(self, dW, dy):
        dW[self.ids] += dy


class ShiftedEmbedding(z.Embedding):
    """np.add.at(dW, ids - 1, dy): an off-by-one id."""

    def scatter(self, dW, dy):
        np.add.at(dW, self.ids - 1, dy)


class MSENoMean(z.MSE):
    """2 (pred - t) without dividing by the number of elements."""

    def grad(self):
        return 2 * self.diff


class MSENoTwo(z.MSE):
    """(pred - t) / size: the 2 of the square missing."""

    def grad(self):
        return self.diff / self.diff.size


class CrossEntropySum(z.CrossEntropy):
    """p - onehot without the 1/n of the batch mean."""

    def grad(self):
        return self.prob - np.eye(self.prob.shape[1])[self.labels]


class CrossEntropySign(z.CrossEntropy):
    """(onehot - p) / n: the sign reversed."""

    def grad(self):
        return -super().grad()


class CrossEntropyNextLabel(z.CrossEntropy):
    """p - onehot(label + 1): the one-hot built from the next class."""

    def grad(self):
        c = self.prob.shape[1]
        return (self.prob - np.eye(c)[(self.labels + 1) % c]) / len(self.prob)


class BCEDoubleSigmoid(z.BCEWithLogits):
    """(sigmoid(x) - t) times sigmoid'(x) again: the chain rule through the sigmoid twice."""

    def grad(self):
        s = z._sigmoid(self.x)
        return super().grad() * s * (1 - s)


def used(make: Callable) -> Callable:
    """``make`` followed by a forward and a backward at another batch (a layer used before)."""
    def build():
        layer = make()
        layer.backward(np.ones_like(layer.forward(np.full((5, 4), 0.5))))
        return layer
    return build


@dataclass(frozen=True)
class Bug:
    """A zoo entry: layer factory, input shape, the failing tensor, the expected cause."""

    make: Callable
    shape: tuple
    tensor: str
    expected: str | None

    def inputs(self, seed: int = 0) -> np.ndarray:
        return np.random.default_rng(11 + seed).normal(size=self.shape)


DENSE, CONV, POOL = (5, 4), (3, 2, 5, 5), (3, 2, 7, 7)
NORM, SEQ, CELL, IDS, LOGITS = (6, 5), (3, 4, 3), (5, 3), (4, 5), (4, 3)

BUGS = {
    "dense/bias mean": Bug(BiasMean, DENSE, "b", "mean_scale"),
    "dense/transposed dW": Bug(TransposedWeight, DENSE, "W", "layout"),
    "dense/negated dW": Bug(NegatedWeight, DENSE, "W", "sign"),
    "dense/doubled dx": Bug(DoubledInput, DENSE, "input", "scale"),
    "dense/weight decay": Bug(WeightDecay, DENSE, "W", "value_term"),
    "dense/last row dropped": Bug(LastRowDropped, DENSE, "W", "one_slice"),
    "dense/batch summed first": Bug(SummedOuter, DENSE, "W", "batch_leak"),
    "dense/accumulating": Bug(used(Accumulating), DENSE, "W", "accumulation"),
    "dense/stale input": Bug(used(StaleInput), DENSE, "W", "ignores_forward"),
    "dense/sign of dy": Bug(SignOfUpstream, DENSE, "input", "nonlinear"),
    "dense/untransposed W in dx": Bug(UntransposedInput, DENSE, "input", None),
    "residual/missing skip": Bug(MissingSkip, DENSE, "input", "dy_term"),
    "residual/doubled skip": Bug(DoubledSkip, DENSE, "input", "dy_term"),
    "conv/flipped kernel": Bug(FlippedKernel, CONV, "W", "layout"),
    "conv/untransposed im2col": Bug(UntransposedKernel, CONV, "W", "layout"),
    "conv/bias batch mean": Bug(ConvBiasMean, CONV, "b", "mean_scale"),
    "conv/last channel skipped": Bug(LastChannelSkipped, CONV, "input", "one_slice"),
    "conv/flipped kernel in dx": Bug(FlippedInputKernel, CONV, "input", None),
    "pool/overwriting windows": Bug(OverwritingPool, POOL, "input", "overwrite"),
    "pool/avg without 1/k^2": Bug(UnscaledAvgPool, (*CONV[:2], 4, 4), "input", "scale"),
    "pool/first element": Bug(FirstElementPool, POOL, "input", "ignores_forward"),
    "norm/constant stats": Bug(ConstantStats, NORM, "input", "training_only"),
    "norm/no gamma in dx": Bug(NoGammaInDx, NORM, "input", "slice_scale"),
    "norm/no variance term": Bug(MissingVarianceTerm, NORM, "input", "training_only"),
    "norm/no eps in dgamma": Bug(NoEpsInBackward, NORM, "gamma", "small_bias"),
    "dropout/no 1/(1-p)": Bug(UnscaledDropout, NORM, "input", "training_only"),
    "attention/no 1/sqrt(d)": Bug(UnscaledScores, SEQ, "Wq", "scale"),
    "attention/diagonal softmax": Bug(DiagonalSoftmax, SEQ, "Wk", "path"),
    "attention/untransposed weights": Bug(UntransposedWeights, SEQ, "Wv", "path"),
    "attention/untransposed keys": Bug(UntransposedKeys, SEQ, "Wk", "path"),
    "rnn/tanh' as 1 - h": Bug(TanhGradLinear, CELL, "Wx", None),
    "rnn/new state in dWh": Bug(RecurrentNewState, CELL, "Wh", None),
    "rnn/transposed dWh": Bug(RecurrentTransposed, CELL, "Wh", "layout"),
    "gru/update gate sign": Bug(UpdateGateSign, CELL, "Wz", "sign"),
    "gru/reset gate without h0": Bug(ResetGateNoState, CELL, "Wr", "path"),
    "embedding/assigned rows": Bug(AssignedEmbedding, IDS, "W", "overwrite"),
    "embedding/fancy +=": Bug(FancyAddEmbedding, IDS, "W", "overwrite"),
    "embedding/off-by-one id": Bug(ShiftedEmbedding, IDS, "W", "layout"),
    "loss/mse without mean": Bug(MSENoMean, LOGITS, "input", "mean_scale"),
    "loss/mse without 2": Bug(MSENoTwo, LOGITS, "input", "scale"),
    "loss/cross-entropy sum": Bug(CrossEntropySum, LOGITS, "input", "mean_scale"),
    "loss/cross-entropy sign": Bug(CrossEntropySign, LOGITS, "input", "sign"),
    "loss/cross-entropy next label": Bug(CrossEntropyNextLabel, LOGITS, "input", None),
    "loss/bce sigmoid twice": Bug(BCEDoubleSigmoid, LOGITS, "input", None),
}

CORRECT = {
    "dense": (z.Dense, DENSE), "residual": (z.Residual, DENSE), "conv": (z.Conv2D, CONV),
    "maxpool overlapping": (z.MaxPool2D, POOL), "avgpool": (z.AvgPool2D, (3, 2, 4, 4)),
    "batchnorm": (z.BatchNorm, NORM), "dropout": (z.Dropout, NORM),
    "attention": (z.Attention, SEQ), "rnn": (z.RNNCell, CELL), "gru": (z.GRUCell, CELL),
    "embedding": (z.Embedding, IDS), "mse": (z.MSE, LOGITS),
    "cross-entropy": (z.CrossEntropy, LOGITS), "bce": (z.BCEWithLogits, LOGITS),
}


def numeric_gradient(layer, x, G, tensor: str) -> np.ndarray:
    """Central differences of ``<G, layer.forward(x)>`` in ``tensor`` (restored after)."""
    if tensor == "input":
        return numerical_gradient(lambda v: float(np.vdot(G, layer.forward(v))), x, eps=STEP)
    kept = layer.params[tensor]

    def objective(v):
        layer.params[tensor] = v
        return float(np.vdot(G, layer.forward(x.copy())))

    try:
        return numerical_gradient(objective, kept, eps=STEP)
    finally:
        layer.params[tensor] = kept


def tolerance(numeric: np.ndarray, values: np.ndarray, magnitude: float) -> np.ndarray:
    """The verdict's rule: ``atol + rtol max|numeric| + 8 eps_mach F / h`` (float64 defaults,
    ``F`` the objective's magnitude, ``h`` the smallest step of each element)."""
    row = TOLERANCES["float64"]
    noise = 8 * np.finfo(float).eps * magnitude / (STEP * np.maximum(1.0, np.abs(values)))
    return row["atol"] + row["rtol"] * np.abs(numeric).max() + noise


def evidence(make: Callable, x: np.ndarray, tensor: str, reruns: bool = True,
             seed: int = 0) -> Evidence:
    """The :class:`Evidence` of ``tensor`` of the layer ``make()`` at ``x``, and every tensor's
    status (``G`` standard normal, drawn from ``seed``)."""
    layer = make()
    y = layer.forward(x.copy())
    G = np.random.default_rng(seed).standard_normal(np.shape(y))
    magnitude = float(np.sum(np.abs(G * y)))
    dx = layer.backward(G.copy())
    analytic = {"input": np.array(dx, float), **{k: v.copy() for k, v in layer.grads.items()}}
    values = {"input": x, **layer.params}
    arrays = {}
    for t in analytic:
        numeric = numeric_gradient(layer, x, G, t)
        tol = tolerance(numeric, values[t], magnitude)
        arrays[t] = (numeric, tol, bool(np.all(np.abs(analytic[t] - numeric) <= tol)))
    numeric, tol, _ = arrays[tensor]
    return Evidence(
        layer=type(layer).__name__, tensor=tensor, analytic=analytic[tensor], numeric=numeric,
        tolerance=tol, value=values[tensor].copy(), upstream=G, batch_size=len(x),
        statuses={t: "pass" if ok else "fail" for t, (_, _, ok) in arrays.items()},
        reruns=rerun_evidence(layer, x, check_layer, tensor) if reruns else {})
