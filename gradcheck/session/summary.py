"""Terminal summary text of the gradient checks of a session."""

from __future__ import annotations

from gradcheck.session.results import CheckRecord, RaisedTest, totals

N_SLOWEST = 5


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def totals_line(records: list[CheckRecord]) -> str:
    """The session's counts in one line (also the session page's first line)."""
    if not records:
        return "no gradient checks ran"
    counts = totals(records)
    return (
        f"{_plural(counts['checks'], 'check')}, {counts['tensors']} tensors checked, "
        f"{_plural(counts['failed_checks'], 'failed check')} "
        f"({_plural(counts['failed_tensors'], 'failed tensor')}), "
        f"{_plural(counts['nondifferentiable'], 'nondifferentiable point')}, "
        f"{_plural(counts['vacuous_tensors'], 'vacuous tensor')}"
    )


def check_line(record: CheckRecord) -> str:
    """One line for one check: verdict, time, tensors, kinks, name."""
    verdict = "PASS" if record.passed else "FAIL"
    extra = f", {record.n_kinks} nondifferentiable" if record.n_kinks else ""
    extra += f", {record.n_vacuous_tensors} vacuous" if record.n_vacuous_tensors else ""
    return (
        f"{verdict} {record.seconds:8.3f}s  {_plural(record.n_tensors, 'tensor')}{extra}"
        f"  {record.name}"
    )


def raised_lines(raised: list[RaisedTest]) -> list[str]:
    """The gradient tests that failed other than by a failed check, one line each."""
    if not raised:
        return []
    head = f"{_plural(len(raised), 'gradient test')} raised outside a check:"
    return [head, *(f"  {t.name} ({t.when}): {t.exception} at {t.location}" for t in raised)]


def summary_lines(
    records: list[CheckRecord],
    raised: list[RaisedTest] = (),
    verbose: int = 0,
    tail: list[str] = (),
) -> list[str]:
    """The lines of the ``gradcheck`` terminal summary section.

    Parameters
    ----------
    records : list of CheckRecord
        Every check of the session.
    raised : list of RaisedTest
        The gradient tests that raised outside a check.
    verbose : int
        pytest's verbosity; from 1 on, one line per check (sorted by name).
    tail : list of str
        Lines to end with (the files written, or why they were not).

    Returns
    -------
    list of str
        Totals, the slowest checks, (verbose) every check, the tests that raised, ``tail``.
    """
    lines = [totals_line(records)]
    if records:
        slowest = sorted(records, key=lambda r: r.seconds, reverse=True)[:N_SLOWEST]
        lines.append(f"slowest {len(slowest)}:")
        lines += [f"  {r.seconds:8.3f}s  {r.name}" for r in slowest]
    if records and verbose > 0:
        lines.append("every check:")
        lines += ["  " + check_line(r) for r in sorted(records, key=lambda r: r.name)]
    return lines + raised_lines(list(raised)) + list(tail)
