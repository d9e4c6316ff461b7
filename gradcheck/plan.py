"""Which values each tensor of a point gets, as a visible sequence of stages.

``mode="auto"`` (:func:`check_point`):

1. tensors of up to ``AUTO_FULL_LIMIT`` elements: every element (skipped at a second point,
   which checks directions only);
2. the other tensors together, along one joint random direction (:mod:`.joint_direction`;
   at a one-sided second point by central differences where one evaluation's round-off
   would leave it too coarse: :func:`gradcheck.joint_direction.measured_jointly`), which
   settles them when its tolerance would show an error of the resolution in any one of
   them (:func:`gradcheck.joint_direction.check_jointly`; a float32 second point takes three
   independent joint directions, :data:`gradcheck.settings.SECOND_POINT_LOOKS`). When it
   fails and no tensor of it fails in stages 3 and 4, each backs its pass by its elements
   (as in stage 3), and when none fails still, a fresh joint direction over them that fails
   too fails them (:func:`gradcheck.joint_looks.unexplained`): a failed joint direction is
   evidence that own directions cannot overrule;
3. each tensor the joint direction did not settle: along its own random direction (and a
   second one when the first passed with a tolerance, beyond the user's ``atol`` and
   ``rtol``, above the resolution's share of its value, or above ``COARSE``'s where that is
   finer, too coarse to mean it; then every element, grouped where exact, when that one is
   coarser than ``COARSE`` as well: elements read back from their own output slices carry
   only those slices' round-off, which resolves float32 errors of 1 % where a direction
   over a large output cannot; ``CONFIRM_ELEMENTS`` random ones when every element would
   take more than ``CONFIRM_MOVES`` moves, or when the direction was finer than
   ``COARSE``);
4. each tensor whose direction does not pass: locate the wrong element, by checking every
   element (grouped where exact) up to ``AUTO_LOCATE_LIMIT`` elements, by bisection over
   random directions on halves of the candidates above (``2 log2(size)`` evaluations; each
   half is screened by its first estimate, and the element found is then checked in full:
   when it passes, the tensor keeps the verdict of its direction).

The other modes give every tensor its :func:`gradcheck.selection.select` values.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from gradcheck.additivity import unless_flat_partials_add_up
from gradcheck.finite_diff import stencil
from gradcheck.joint_looks import jointly_settled, unexplained
from gradcheck.judge import COARSE, Rule, Verdict, passed, resolved
from gradcheck.measure import check_values
from gradcheck.point import Point
from gradcheck.selection import (
    AUTO_FULL_LIMIT,
    AUTO_LOCATE_LIMIT,
    Selection,
    element_label,
    rng_for,
    select,
)
from gradcheck.settings import Settings
from gradcheck.value_sets import STRUCTURE_MIN_ELEMENTS, direction_values, element_values

__all__ = ["BLIND_MOVES", "CONFIRM_ELEMENTS", "CONFIRM_MOVES", "DOUBT_SHARE", "check_point",
           "full_numeric"]

CONFIRM_ELEMENTS = STRUCTURE_MIN_ELEMENTS   # elements that back a direction too coarse
CONFIRM_MOVES = 256   # ... unless every element fits in this many moves (groups)
DOUBT_SHARE = 0.1     # a coarse pass whose error reaches this share of its tolerance
BLIND_MOVES = 4096    # as many behind directions that saw nothing (vacuous), a doubted
#                       coarse pass (DOUBT_SHARE) or a joint failure none explains, at any
#                       size (a float32 512 x 512 weight's take 512 moves, about 0.3 s)
COMPLEX_RTOL = 1e-12   # the complex step's floor (it has no cancellation error)


def check_point(point: Point, names: list[str], s: Settings, progress=None, *,
                elements_first: bool = True, locate: bool = True,
                details: dict | None = None, drawn=None) -> dict[str, list[Verdict]]:
    """Verdicts (local, and end-to-end where judged) of each tensor in ``names``.

    ``elements_first=False`` skips stage 1 (a second point checks directions only);
    ``locate=False`` skips stage 4 (a screen whose failures are located elsewhere).
    ``details``, when given, receives ``name -> (numeric, tolerance)`` (tensor-shaped, local
    objective) for every tensor whose every element was checked. ``drawn`` holds directions
    to reuse in the joint direction (see :func:`gradcheck.joint_direction.plan_joint`).
    """
    details = {} if details is None else details
    if s.mode != "auto":
        return {n: _own(point, n, select(s.mode, _size(point, n), _rng(s, point, n)), s,
                        progress, details) for n in names}
    results = {}
    if elements_first:   # stage 1
        for n in names:
            if _size(point, n) <= AUTO_FULL_LIMIT:
                results[n] = _own(point, n, select("auto", _size(point, n), _rng(s, point, n)),
                                  s, progress, details)
    settled, doubted = jointly_settled(point, [n for n in names if n not in results], s,
                                        drawn)   # stage 2
    results.update(settled)
    for n in [n for n in names if n not in results]:   # stages 3 and 4
        results[n] = _directed(point, n, s, progress, details, locate, elements_first)
    if doubted and not any(results[n][0].status == "fail" for n in doubted):
        def backed(name, verdicts):
            return _backed(point, name, s, progress, details, verdicts, blind=True)
        results.update(unexplained(point, sorted(doubted, key=names.index), s, results,
                                   backed))
    return results


def _directed(point: Point, name: str, s: Settings, progress, details: dict, locate: bool,
              all_elements: bool) -> list[Verdict]:
    """Stages 3 and 4 for one tensor: its own direction, another when the first passes too
    coarsely to show an error of the resolution (beyond the user's tolerances), up to
    ``s.looks`` of them in all (the first that fails taken), then its
    elements backing a pass still that coarse (every element when the pass is coarser than
    ``COARSE`` and ``all_elements``, else ``CONFIRM_ELEMENTS`` of them), or locating the
    wrong element of a failure (unless not ``locate``)."""
    atol, rtol = s.tolerances
    fine = min(COARSE[s.dtype], s.resolution)

    def meant(verdicts, share=fine) -> bool:
        return resolved(verdicts, s.dtype, share, atol, rtol)

    verdicts, looks = _own(point, name, Selection(np.arange(0), 1), s, progress), 1
    while passed(verdicts) and (looks < s.looks or (looks == 1 and not meant(verdicts))):
        again = _own(point, name, Selection(np.arange(0), 1), s, progress, rng=rng_for(
            s.seed, point.label, name, "again" if looks == 1 else f"look {looks}"))
        verdicts = again if not (meant(verdicts) and passed(again)) else verdicts
        looks += 1
    if meant(verdicts) or not locate:
        return verdicts
    if passed(verdicts):
        return _backed(point, name, s, progress, details, verdicts,
                       all_elements=all_elements and not meant(verdicts, None),
                       blind=_blind(verdicts[0]))
    return _locate(point, name, s, progress, details, verdicts)


def _blind(v: Verdict) -> bool:
    """A direction that saw nothing (vacuous) or passed with an error of at least
    ``DOUBT_SHARE`` of its tolerance: its tensor's elements decide (a float32 weight with one
    element 150 times too large passed its directions at 0.23-0.25 of their tolerance,
    correct ones at most 0.02)."""
    return v.status == "vacuous" or 0 < DOUBT_SHARE * v.tolerance <= v.max_abs_err


def _backed(point: Point, name: str, s: Settings, progress, details: dict,
            directions: list[Verdict], all_elements: bool = True,
            blind: bool = False) -> list[Verdict]:
    """Verdicts of a tensor whose ``directions`` passed too coarsely to mean it, backed by
    its elements on the local objective (each read back from its own output region, whose
    round-off is far finer than a direction's): every element when they take at most
    ``CONFIRM_MOVES`` moves up to ``AUTO_LOCATE_LIMIT`` elements, or ``BLIND_MOVES`` at any
    size when the directions were ``blind`` (grouped where exact; a sample of 64 passed one
    doubled element of 16,384 in float32, and one 150 times too large of 262,144 behind
    vacuous directions), else ``CONFIRM_ELEMENTS`` random ones, located when they fail;
    those alone without ``all_elements`` (a second point, which checks directions, and a
    direction finer than ``COARSE`` that only misses the resolution: errors of the whole
    tensor show in any of its elements). The end-to-end verdict stays the direction's."""
    local, size = replace(point, downstream=None), _size(point, name)
    every = None if not all_elements or (size > AUTO_LOCATE_LIMIT and not blind) else \
        element_values(local, name, np.arange(size), s.method, s.step, _rng(s, point, name),
                       BLIND_MOVES if blind else CONFIRM_MOVES)
    if every is not None:
        found = _element_verdicts(local, name, *every, s, progress, details)
        return _combine(found, directions[:1]) + directions[1:]
    rng = rng_for(s.seed, point.label, name, "confirm")
    sample = Selection(np.sort(rng.choice(size, min(CONFIRM_ELEMENTS, size), replace=False)))
    found = _own(local, name, sample, s, progress)
    if passed(found):
        return _combine(found, directions[:1]) + directions[1:]
    return _locate(point, name, s, progress, details, found + directions[1:])


def _size(point: Point, name: str) -> int:
    return point.live(name).size


def _rng(s: Settings, point: Point, name: str) -> np.random.Generator:
    return rng_for(s.seed, point.label, name)


def _rules(point: Point, s: Settings, n: int) -> list[Rule]:
    """The tolerance rule of each objective. The complex step subtracts nothing: no
    cancellation of the objective to allow for, only the rtol floor."""
    atol, rtol = s.tolerances
    if stencil(s.method).complex:
        return [Rule(atol, max(rtol, COMPLEX_RTOL), 0.0, s.floor)][:n]
    return [Rule(atol, rtol, point.noise, s.floor), Rule(atol, rtol, point.e2e_noise, s.floor)
            ][:n]


def _own(point: Point, name: str, sel: Selection, s: Settings, progress,
         details: dict | None = None, rng: np.random.Generator | None = None
         ) -> list[Verdict]:
    """One tensor's elements and directions (its own direction comes from its own rng, or
    ``rng``); ``details[name]`` gets the full numeric arrays when every element is checked."""
    rng = _rng(s, point, name) if rng is None else rng
    verdicts = None
    if sel.n_directions:
        values, analytic = direction_values(point, name, sel.n_directions, s.step, rng)
        verdicts = check_values(point, values, analytic, _rules(point, s, len(analytic)),
                                s.method)
    if len(sel.elements):
        values, analytic = element_values(point, name, sel.elements, s.method, s.step, rng)
        every = len(sel.elements) == _size(point, name)
        found = _element_verdicts(point, name, values, analytic, s, progress,
                                  details if every else None)
        verdicts = found if verdicts is None else _combine(found, verdicts)
    return verdicts


def _element_verdicts(point: Point, name: str, values, analytic, s: Settings, progress,
                      details: dict | None) -> list[Verdict]:
    """:func:`check_values` of element values; ``details[name]``, when given, receives the
    tensor-shaped ``(numeric, tolerance)`` of the local objective (every element checked)."""
    keep = [] if details is not None else None
    rules = _rules(point, s, len(analytic))
    found = check_values(point, values, analytic, rules, s.method, progress, keep=keep)
    if keep:
        shape = point.live(name).shape
        details[name] = tuple(a.reshape(shape) for a in keep[0][:2])
        found = unless_flat_partials_add_up(point, name, found, keep, rules, s.method, s.step,
                                            rng_for(s.seed, point.label, name, "additivity"))
    return found


def _combine(elements: list[Verdict], directions: list[Verdict]) -> list[Verdict]:
    """The element verdicts, unless a direction fails where every element passes."""
    return [d if d.status == "fail" and e.status != "fail" else e
            for e, d in zip(elements, directions, strict=True)]


def _locate(point: Point, name: str, s: Settings, progress, details: dict,
            first: list[Verdict]) -> list[Verdict]:
    """Stage 4: verdicts that name the wrong element of a tensor whose direction (verdicts
    ``first``, from stage 3) did not pass."""
    size = _size(point, name)
    # elements are located on the local objective alone (an end-to-end value per element
    # would cost a loss evaluation each); the end-to-end verdict stays the direction's
    local = replace(point, downstream=None)
    if size <= AUTO_LOCATE_LIMIT:
        elements = _own(local, name, Selection(np.arange(size)), s, progress, details)
        return _combine(elements, first[:1]) + first[1:]
    rng = _rng(s, point, name)
    candidates = np.arange(size)
    while len(candidates) > 1:   # keep the half whose direction is unsettled (a quick screen)
        half = candidates[:len(candidates) // 2]
        values, analytic = direction_values(local, name, 1, s.step, rng, half, "bisection")
        found = check_values(local, values, analytic, _rules(local, s, 1), s.method,
                             refine=False)
        candidates = candidates[len(candidates) // 2:] if passed(found) else half
    element = _own(local, name, Selection(candidates), s, None)
    if passed(element):   # no single element explains it: keep the direction's verdict
        return first
    label = element_label(candidates[0], point.live(name).shape)
    return [_located(element[0], label), *first[1:]]


def _located(v: Verdict, label: str) -> Verdict:
    return replace(v, worst_label=f"{label} (located by bisection)")


def full_numeric(point: Point, name: str, s: Settings) -> tuple[np.ndarray, np.ndarray] | None:
    """``(numeric, tolerance)`` of every element of tensor ``name`` on the local objective
    (grouped where exact), or None above ``AUTO_LOCATE_LIMIT`` elements."""
    if _size(point, name) > AUTO_LOCATE_LIMIT:
        return None
    details = {}
    _own(replace(point, downstream=None), name, Selection(np.arange(_size(point, name))), s,
         None, details)
    return details[name]
