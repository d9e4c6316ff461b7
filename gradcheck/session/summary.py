"""Terminal summary text of the gradient checks of a session."""

from __future__ import annotations

from pathlib import Path

from gradcheck.session.results import CheckRecord, totals

N_SLOWEST = 5


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def check_line(record: CheckRecord) -> str:
    """One line for one check: verdict, time, tensors, kinks, name."""
    verdict = "PASS" if record.passed else "FAIL"
    extra = f", {record.n_kinks} nondifferentiable" if record.n_kinks else ""
    extra += f", {record.n_vacuous_tensors} vacuous" if record.n_vacuous_tensors else ""
    return (
        f"{verdict} {record.seconds:8.3f}s  {_plural(record.n_tensors, 'tensor')}{extra}"
        f"  {record.name}"
    )


def report_lines(records: list[CheckRecord], report: Path | None) -> list[str]:
    """Where the session report went (nothing is written when no check ran)."""
    if report is None:
        return []
    if not records:
        return [f"{report} not written (the report needs at least one check)"]
    return [f"gradcheck report: {report}", f"gradcheck data:   {report.with_suffix('.json')}"]


def summary_lines(
    records: list[CheckRecord], verbose: int = 0, report: Path | None = None
) -> list[str]:
    """The lines of the ``gradcheck`` terminal summary section.

    Parameters
    ----------
    records : list of CheckRecord
        Every check of the session.
    verbose : int
        pytest's verbosity; from 1 on, one line per check (sorted by name).
    report : pathlib.Path, optional
        The ``--gradcheck-report`` path, if any.

    Returns
    -------
    list of str
        Totals, the slowest checks, (verbose) every check, then the report paths.
    """
    if not records:
        return ["no gradient checks ran", *report_lines(records, report)]
    counts = totals(records)
    lines = [
        f"{_plural(counts['checks'], 'check')}, {counts['tensors']} tensors checked, "
        f"{_plural(counts['failed_checks'], 'failed check')} "
        f"({_plural(counts['failed_tensors'], 'failed tensor')}), "
        f"{_plural(counts['nondifferentiable'], 'nondifferentiable point')}, "
        f"{_plural(counts['vacuous_tensors'], 'vacuous tensor')}"
    ]
    slowest = sorted(records, key=lambda r: r.seconds, reverse=True)[:N_SLOWEST]
    lines.append(f"slowest {len(slowest)}:")
    lines += [f"  {r.seconds:8.3f}s  {r.name}" for r in slowest]
    if verbose > 0:
        lines.append("every check:")
        lines += ["  " + check_line(r) for r in sorted(records, key=lambda r: r.name)]
    return lines + report_lines(records, report)
