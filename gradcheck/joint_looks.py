"""Stage 2 of ``mode="auto"`` (:mod:`gradcheck.plan`): the joint directions that settle a
point's tensors together, and what a failed one leaves in doubt."""

from __future__ import annotations

from dataclasses import replace

from gradcheck.joint_direction import check_jointly, measured_jointly, plan_joint
from gradcheck.judge import Verdict, passed
from gradcheck.point import Point
from gradcheck.selection import random_directions_of, rng_for
from gradcheck.settings import Settings

__all__ = ["FRESH_ATTEMPTS", "jointly_settled", "unexplained"]

FRESH_ATTEMPTS = 3   # fresh joint directions drawn until one qualifies (reaches the level)


def jointly_settled(point: Point, pending: list[str], s: Settings, drawn=None, *,
                    fresh: int = 0) -> tuple[dict[str, list[Verdict]], set[str]]:
    """Stage 2: the verdicts of the tensors of ``pending`` that ``s.looks`` joint
    directions, each drawn afresh after the first (which takes ``drawn``), all settle (the
    first look's verdicts; with ``fresh``, attempt ``fresh`` of one look along directions
    of its own, whatever its verdicts), and the tensors of a joint direction that failed:
    evidence of an error among them, which their own directions alone must not overrule
    (in float32 a stale cache's own directions passed errors of 15 % that its joint
    direction showed; :func:`unexplained` takes them up)."""
    settled_names, first = None, None
    for look in range(s.looks):
        key = f"joint again {fresh}" if fresh else "joint" if look == 0 else f"joint {look}"
        directions = drawn if key == "joint" else _fresh_directions(point, pending, s, key)
        joint, by = measured_jointly(
            point, lambda t, d=directions, k=key: plan_joint(point, pending, t, d, k), s)
        if joint is None:
            return {}, set()
        verdicts, settled = check_jointly(point, joint, by)
        if fresh:
            return {n: verdicts for n in joint.names}, set()
        if not settled:
            failed = any(v.status == "fail" for v in verdicts)
            return {}, set(joint.names) if failed else set()
        first = first or verdicts
        settled_names = set(joint.names) if settled_names is None else (
            settled_names & set(joint.names))
    return {n: first for n in pending if n in (settled_names or ())}, set()


def unexplained(point: Point, doubted: list[str], s: Settings, results: dict,
                backed) -> dict[str, list[Verdict]]:
    """The tensors ``doubted`` of a joint direction that failed where none of them failed
    on its own (``results``): each passing one backed by its elements (``backed(name,
    verdicts)``, every element where the moves allow); when still none fails, a fresh
    joint direction over them that fails too gives each its verdicts (two independent
    directions saw an error that no tensor's own check could place)."""
    found = {n: backed(n, results[n]) for n in doubted if passed(results[n])}
    if any(v[0].status == "fail" for v in found.values()):
        return found
    for attempt in range(FRESH_ATTEMPTS):   # the first fresh direction that qualifies
        again, _ = jointly_settled(point, doubted, replace(s, looks=1), fresh=attempt + 1)
        if again:
            return {**found, **{n: v for n, v in again.items() if v[0].status == "fail"}}
    return found


def _fresh_directions(point: Point, names: list[str], s: Settings, key: str) -> dict:
    """A unit direction per tensor of ``names`` from the generator of ``key`` (a look's own;
    its redraws of directions nearly orthogonal to a gradient come from ``key`` too)."""
    rng = rng_for(s.seed, point.label, key, "directions")
    sizes = [point.live(n).size for n in names]
    return dict(zip(names, random_directions_of(rng, sizes), strict=True))
