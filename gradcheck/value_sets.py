"""The value sets of one tensor: its elements (grouped where exact) and random directions.

Each builder returns a :class:`gradcheck.measure.ValueSet` with the analytic value of every
value for each objective (local, and end-to-end when the point judges it).
"""

from __future__ import annotations

import numpy as np

from gradcheck.engine import Move, Part
from gradcheck.finite_diff import direction_step, stencil, step_floor, step_sizes
from gradcheck.grouping import detect_structure, group_elements, region_sums
from gradcheck.measure import ValueSet
from gradcheck.point import Point, moved_round_off
from gradcheck.selection import element_label, random_directions
from gradcheck.step_growth import growth_limit

__all__ = ["STRUCTURE_MIN_ELEMENTS", "direction_values", "element_values", "objectives_of"]

STRUCTURE_MIN_ELEMENTS = 64   # below this, probing for structure costs more than it saves


def objectives_of(point: Point, name: str) -> list[np.ndarray]:
    """The analytic gradients of tensor ``name``: local, and end-to-end when judged."""
    grads = [point.analytic[name]]
    if point.has_e2e([name]):
        grads.append(point.e2e[name])
    return grads


def element_values(point: Point, name: str, elements: np.ndarray, method: str, eps: float,
                   rng: np.random.Generator, max_moves: int | None = None
                   ) -> tuple[ValueSet, list[np.ndarray]] | None:
    """Elements ``elements`` (sorted flat indices) of tensor ``name``, one value each; None
    when they take more than ``max_moves`` moves (groups), before any move is built."""
    t = point.index(name)
    live = point.tensors[t].live
    flat_values = np.asarray(live).reshape(-1)
    floor = step_floor(live, eps, point.output_scale)
    structure = []
    if len(elements) >= STRUCTURE_MIN_ELEMENTS and not stencil(method).complex:
        structure = detect_structure(point.tensors[t], point.evaluate, point.y0,
                                     step_sizes(live, eps, floor), rng)
    steps = step_sizes(flat_values[elements], eps, floor)
    groups = group_elements(elements, live.shape, structure)
    if max_moves is not None and len(groups) > max_moves:
        return None
    columns = tuple(np.searchsorted(elements, g) for g in groups)
    moves = tuple(Move((Part(t, g, steps[c]),), size=len(g))
                  for g, c in zip(groups, columns, strict=True))
    values = ValueSet(moves, columns, tuple((g, live.shape, structure) for g in groups), steps,
                      lambda i: element_label(elements[i], live.shape),
                      _noise_share(point, elements, live.shape, structure),
                      growth_limit=growth_limit(flat_values[elements], live, steps))
    return values, [np.asarray(g, float).reshape(-1)[elements] for g in objectives_of(point, name)]


def _noise_share(point: Point, elements: np.ndarray, shape: tuple, structure):
    """Each element's share of ``sum|G * y0|`` over the output region it changes (None
    without structure: every element may change the whole output)."""
    if not structure:
        return None
    magnitude = np.abs(point.G * np.real(point.y0))
    total = float(magnitude.sum())
    if total == 0:
        return None
    return region_sums(magnitude, elements, shape, structure) / total


def direction_values(point: Point, name: str, n: int, eps: float, rng: np.random.Generator,
                     subset: np.ndarray | None = None, tag: str = "direction"
                     ) -> tuple[ValueSet, list[np.ndarray]]:
    """``n`` random unit directions over tensor ``name`` (or over its elements ``subset``)."""
    t = point.index(name)
    live = point.tensors[t].live
    size = live.size if subset is None else len(subset)
    directions = random_directions(rng, n, size)
    h = direction_step(live, eps, point.output_scale)
    moves = tuple(Move((Part(t, subset, directions[d], h),), size=0)
                  for d in range(n))
    moved = live.reshape(-1) if subset is None else live.reshape(-1)[subset]
    flats = [np.asarray(g, float).reshape(-1) for g in objectives_of(point, name)]
    flats = flats if subset is None else [f[subset] for f in flats]
    values = ValueSet(moves, tuple(np.array([d]) for d in range(n)), (None,) * n,
                      np.full(n, h), lambda i: f"{tag} {i}",
                      rounding=lambda: tuple(moved_round_off(moved, f) for f in flats))
    return values, [directions @ f for f in flats]
