"""Stage 2 of ``mode="auto"`` (:mod:`gradcheck.plan`): the joint directions that settle a
point's tensors together, and what a failed one leaves in doubt."""

from __future__ import annotations

from gradcheck.joint_direction import check_jointly, measured_jointly, plan_joint
from gradcheck.judge import Verdict
from gradcheck.point import Point
from gradcheck.selection import random_directions_of, rng_for
from gradcheck.settings import Settings

__all__ = ["jointly_settled"]


def jointly_settled(point: Point, pending: list[str], s: Settings,
                    drawn) -> tuple[dict[str, list[Verdict]], set[str]]:
    """Stage 2: the verdicts of the tensors of ``pending`` that ``s.looks`` joint
    directions, each drawn afresh after the first (which takes ``drawn``), all settle (the
    first look's verdicts), and the tensors of a joint direction that failed: evidence of
    an error among them, which their own directions alone must not overrule (in float32 a
    stale cache's own directions passed errors of 15 % that its joint direction showed):
    when none of them fails on its own, each backs its pass by its elements."""
    settled_names, first = None, None
    for look in range(s.looks):
        directions = drawn if look == 0 else _fresh_directions(point, pending, s, look)
        joint, by = measured_jointly(
            point, lambda t, d=directions: plan_joint(point, pending, t, d), s)
        if joint is None:
            return {}, set()
        verdicts, settled = check_jointly(point, joint, by)
        if not settled:
            failed = any(v.status == "fail" for v in verdicts)
            return {}, set(joint.names) if failed else set()
        first = first or verdicts
        settled_names = set(joint.names) & (settled_names or set(joint.names))
    return {n: first for n in pending if n in settled_names}, set()


def _fresh_directions(point: Point, names: list[str], s: Settings, look: int) -> dict:
    """A unit direction per tensor of ``names`` for joint look ``look`` (its own generator)."""
    rng = rng_for(s.seed, point.label, "joint", f"look {look}")
    sizes = [point.live(n).size for n in names]
    return dict(zip(names, random_directions_of(rng, sizes), strict=True))
