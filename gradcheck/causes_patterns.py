"""The array patterns of a wrong gradient, most specific first (:data:`PATTERNS`).

Each test takes a :class:`~gradcheck.causes_case.Case` and returns a
:class:`~gradcheck.causes_case.Cause` or None. They are alternative explanations of the same
difference, so the analysis keeps the first that fits.
"""

from __future__ import annotations

import numpy as np

from gradcheck.causes_case import Case, Cause, axis_name, edge_hint, factor, fits, num, spread

__all__ = ["PATTERNS"]

_TERMS = 3                  # overwrite: the lost part of an element is up to 3 dy values
_SEARCH_LIMIT = 4_000_000   # candidate sums searched at most


def non_finite(case: Case) -> Cause | None:
    """analytic is NaN or infinite somewhere (the numeric gradient is finite)."""
    where = ~np.isfinite(case.analytic)
    if not where.any():
        return None
    first = tuple(int(i[0]) for i in np.nonzero(where))
    return Cause("non_finite", f"analytic is NaN or infinite at {int(where.sum())} of "
                               f"{where.size} elements (first at {first}) where numeric is "
                               "finite: backward divides by zero or takes a log or sqrt of 0 "
                               "that the forward guards")


def _scale_phrases(n: int | None, size: int) -> list[tuple[float, str, str]]:
    """``(factor, label, explanation)`` of the constants worth naming (``n``: batch size,
    ``size``: the tensor's number of elements)."""
    named = [(-1.0, "sign", "the sign is flipped (a subtraction reversed or a minus lost)"),
             (2.0, "scale", "twice the truth: a term counted twice, or the factor 2 of a "
                            "square that the forward halves"),
             (0.5, "scale", "half the truth: a factor 2 is missing (d(x**2)/dx = 2x), or "
                            "one of two equal terms")]
    means = {n: "the batch size", size: "the number of elements"} if n != size else \
        {n: "the batch size"}
    for m, what in means.items():
        if m and m > 2:
            named[:0] = [(float(m), "mean_scale", f"{m} is {what}: a 1/{m} is missing (a sum "
                                                  "where the forward takes a mean)"),
                         (1.0 / m, "mean_scale", f"1/{m}: divided by {what} once too often "
                                                 "(a mean where the forward sums, or the "
                                                 "mean's 1/N applied twice)")]
    return named


def whole_scale(case: Case) -> Cause | None:
    """analytic = c x numeric on every element (c = 0, the batch size, 2, -1, ...)."""
    a, n, tol = case.analytic, case.numeric, case.tol
    n_sig = int(case.sig.sum())
    if n_sig < 2:
        return None
    if fits(a, 0.0, tol):
        return Cause("zero", f"analytic is 0 on all {a.size} elements while numeric reaches "
                             f"{np.abs(n).max():.3g}: backward never writes this gradient "
                             "(or writes zeros)")
    c = factor(a, n, tol)
    if c is None:
        return None
    head = (f"analytic = {num(c)} x numeric on all {n_sig} nonzero elements "
            f"(spread {spread(case, c, case.sig):.1e})")
    for value, label, phrase in _scale_phrases(case.evidence.batch_size, a.size):
        if fits(a, value * n, tol):
            return Cause(label, f"{head}; {phrase}")
    if n_sig < 4:
        return None
    return Cause("sign" if c < 0 else "scale",
                 f"{head}; a wrong constant factor in backward{' and a flipped sign' * (c < 0)}"
                 " (a scale, temperature or normaliser that differs from the forward's)")


def _rearrangements(n: np.ndarray):
    """``(description, array)``: the numeric values moved to other places, same shape."""
    shape, nd = n.shape, n.ndim
    if nd == 2 and shape[0] == shape[1]:
        yield "transposed (analytic = numeric.T: a product in the wrong order, " \
              "e.g. dy.T @ x instead of x.T @ dy)", n.T
    for i in range(nd):
        for j in range(i + 1, nd):
            if nd > 2 and shape[i] == shape[j]:
                yield f"with axes {i} and {j} swapped", np.swapaxes(n, i, j)
    if nd >= 3:
        yield "flipped along its last two axes (a kernel rotated by 180 degrees: " \
              "convolution where the forward cross-correlates)", n[..., ::-1, ::-1]
    for ax in range(nd):
        yield f"reversed along axis {ax} (a flipped kernel or index order)", np.flip(n, ax)
        for s in (1, -1):
            yield f"shifted by {s} along axis {ax} (an off-by-one index)", np.roll(n, s, ax)
    if nd >= 2:
        yield "reshaped in the other order (order='F' vs 'C')", n.ravel("F").reshape(shape)
        yield "reshaped in the other order ('C' vs order='F')", n.reshape(shape, order="F")
        for p in sorted({int(np.prod(shape[:i])) for i in range(1, nd)}
                        | {int(np.prod(shape[i:])) for i in range(1, nd)}):
            yield (f"as a ({n.size // p}, {p}) matrix reshaped to {shape} without the "
                   "transpose back"), n.reshape(p, -1).T.reshape(shape)


def layout(case: Case) -> Cause | None:
    """analytic = the numeric values transposed, flipped, shifted or reshaped."""
    if case.numeric.size < 2:
        return None
    for text, moved in _rearrangements(case.numeric):
        if fits(case.analytic, moved, case.tol):
            return Cause("layout", f"analytic equals numeric {text}, on all {moved.size} "
                                   "elements: the right values in the wrong places")
    return None


def _member(values: np.ndarray, table: np.ndarray, tol: np.ndarray) -> np.ndarray:
    """Which ``values`` lie within ``tol`` of an entry of the sorted 1-D ``table``."""
    i = np.clip(np.searchsorted(table, values), 1, len(table) - 1)
    nearest = np.minimum(np.abs(values - table[i - 1]), np.abs(values - table[i]))
    return nearest <= tol


def _sums(rest: np.ndarray, table: np.ndarray, tol: np.ndarray) -> np.ndarray:
    """Which ``rest`` values are a sum of up to ``_TERMS`` entries of ``table`` (within
    ``tol``), searched level by level while the candidates stay under ``_SEARCH_LIMIT``."""
    found = _member(rest, table, tol)
    level = rest[:, None]
    for _ in range(_TERMS - 1):
        if found.all() or level.size * table.size > _SEARCH_LIMIT:
            break
        level = (level[..., None] - table).reshape(len(rest), -1)
        found |= _member(level, table, tol[:, None]).any(axis=1)
    return found


def overwrite(case: Case) -> Cause | None:
    """Where an index repeats, analytic keeps one upstream value and numeric sums them all."""
    up = case.evidence.upstream
    if up is None or np.size(up) < 2 or case.bad.sum() < 3:
        return None
    table = np.unique(np.asarray(up, float))
    a, n, t = (v[case.bad] for v in (case.analytic, case.numeric, case.tol))
    zero = np.abs(a) <= t
    if zero.all() or not np.all(_member(a, table, t) | zero) or not _sums(n - a, table, t).all():
        return None
    return Cause("overwrite", f"on all {a.size} failing elements analytic is one upstream value "
                              "dy[j] (or 0) and numeric adds further dy values to it: where an "
                              "index or window repeats, the gradient is overwritten, not "
                              "accumulated (dW[idx] = dy, or dW[idx] += dy with repeated idx: "
                              "use np.add.at; overlapping windows: add into dx, do not assign)")


def one_slice(case: Case) -> Cause | None:
    """All failing elements lie in one slice (row, column, sample, channel, element)."""
    shape, where = case.numeric.shape, np.nonzero(case.bad)
    axes = [ax for ax in range(len(shape))
            if shape[ax] >= 2 and np.all(where[ax] == where[ax][0])]
    if not axes:
        return None
    index = tuple(int(where[ax][0]) if ax in axes else slice(None) for ax in range(len(shape)))
    inside = np.zeros(shape, bool)
    inside[index] = True
    if int((case.sig & ~inside).sum()) < 2:
        return None
    ax = axes[-1]
    k = index[ax]
    named = ("one element" if len(axes) == len(shape) > 1
             else f"{axis_name(case.evidence.tensor, len(shape), ax)} {k}")
    c = factor(case.analytic[index], case.numeric[index], case.tol[index])
    there = "" if c is None else f"; there analytic = {num(c)} x numeric"
    label = ", ".join(str(i) if isinstance(i, int) else ":" for i in index)
    return Cause("one_slice", f"only {case.evidence.tensor}[{label}] ({named}) is wrong: "
                              f"{int(case.bad.sum())} failing elements, all in it, and the "
                              f"{int((~inside).sum())} outside pass{there}"
                              f"{edge_hint(k, shape[ax], c == 0)}")


def slice_scale(case: Case) -> Cause | None:
    """analytic / numeric is constant within each slice along one axis, not across them."""
    a, n, shape = case.analytic, case.numeric, case.numeric.shape
    for ax in range(n.ndim if n.ndim >= 2 else 0):
        others = tuple(i for i in range(n.ndim) if i != ax)
        counts = case.sig.sum(axis=others)
        den = (n * n).sum(axis=others)
        c = np.divide((a * n).sum(axis=others), den, out=np.ones(shape[ax]), where=den > 0)
        if (counts >= 2).sum() < 2 or np.ptp(c[counts >= 2]) <= 1e-3 * np.abs(c).max():
            continue
        if fits(a, np.expand_dims(c, others) * n, case.tol):
            name = axis_name(case.evidence.tensor, n.ndim, ax)
            shown = ", ".join(num(v) for v in c[:6]) + (", ..." if c.size > 6 else "")
            return Cause("slice_scale", f"analytic / numeric is constant within each {name} "
                                        f"(axis {ax}) but differs between them: {shown}; a "
                                        f"per-{name} factor is missing or wrong (a scale such "
                                        "as gamma or 1/std, or one broadcast along the wrong "
                                        "axis)")
    return None


def _extra_term(case: Case, other) -> float | None:
    """``c`` when analytic - numeric = c x ``other`` (same shape) on every element."""
    if other is None or np.shape(other) != case.numeric.shape:
        return None
    return factor(case.analytic - case.numeric, np.asarray(other, float), case.tol)


def dy_term(case: Case) -> Cause | None:
    """analytic - numeric = c x dy: an identity (skip) term missing, doubled or misweighted."""
    c = _extra_term(case, case.evidence.upstream)
    if c is None:
        return None
    what = ("the identity/skip term dy is missing (y = f(x) + x needs dx = f'(x) dy + dy)"
            if abs(c + 1) < 1e-3 else "an identity/skip term dy is counted twice (or added "
            "where the forward has none)" if abs(c - 1) < 1e-3 else
            "a skip path has the wrong weight")
    return Cause("dy_term", f"analytic - numeric = {num(c)} x dy on all {case.numeric.size} "
                            f"elements: {what}")


def value_term(case: Case) -> Cause | None:
    """analytic - numeric = c x the tensor itself: a weight-decay term of the wrong sign or size."""
    c = _extra_term(case, case.evidence.value)
    if c is None:
        return None
    t = case.evidence.tensor
    return Cause("value_term", f"analytic - numeric = {num(c)} x {t} on all {case.numeric.size} "
                               f"elements: backward adds a weight-decay term {num(c)} {t} that "
                               "the forward does not have (or with the wrong sign or scale: "
                               "lambda vs 2 lambda, + vs -)")


def small_bias(case: Case) -> Cause | None:
    """A small relative error of one sign on every failing element, not one constant factor."""
    bad, sig = case.bad, case.sig
    if bad.sum() < 3 or np.any(bad & ~sig) or bad.sum() < 0.5 * sig.sum():
        return None
    dev = case.analytic[sig] / case.numeric[sig] - 1
    failing = case.analytic[bad] / case.numeric[bad] - 1
    if np.abs(dev).max() > 0.05 or not (np.all(failing > 0) or np.all(failing < 0)):
        return None
    lo, hi = np.abs(failing).min() * 100, np.abs(failing).max() * 100
    return Cause("small_bias", f"analytic is {lo:.2g}-{hi:.2g} % "
                               f"{'larger' if failing[0] > 0 else 'smaller'} in magnitude than "
                               f"numeric on all {int(bad.sum())} failing elements (one sign, not "
                               "one constant): a slightly different formula from the forward's "
                               "(an approximation, or an epsilon placed differently, e.g. "
                               "sqrt(var) + eps instead of sqrt(var + eps))")


PATTERNS = (non_finite, layout, whole_scale, overwrite, one_slice, slice_scale, dy_term, value_term,
            small_bias)
