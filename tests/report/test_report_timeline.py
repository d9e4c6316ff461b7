"""Gradient checks during training in the report, and the public figures (diagnostics.plots)
that the report itself embeds."""

from __future__ import annotations

import re
from html import unescape

import pytest
from matplotlib.figure import Figure

from diagnostics import GradcheckHook, Monitor, plots, write_report
from diagnostics.report.figures import to_data_uri
from tests.diagnostics import toy_nets as t


@pytest.fixture(scope="module")
def stale_run():
    """A Monitor and a GradcheckHook on a net whose dL/dx goes wrong after a few steps."""
    X, y = t.blobs(256, 8, 3)
    hook = GradcheckHook(t.CrossEntropy(), every_epochs=None, every_steps=3, after_steps=0)
    monitor = Monitor()
    t.fit(t.late_break_net(), t.CrossEntropy(), t.SGD(0.1), X, y, epochs=2, batch_size=32,
          hooks=[hook, monitor])
    return monitor, hook


@pytest.fixture(scope="module")
def page(stale_run, tmp_path_factory):
    monitor, hook = stale_run
    path = write_report(tmp_path_factory.mktemp("timeline") / "r.html",
                        monitor={"stale": monitor}, gradcheck_hook={"stale": hook})
    return path.read_text(encoding="utf-8")


def images(html):
    """``{alt: src}`` of the page's images."""
    return {alt: src for src, alt in re.findall(r'<img src="([^"]+)" width="\d+" alt="([^"]+)"',
                                                html)}


def test_timeline_section_findings_and_cost_in_the_page(stale_run, page):
    _, hook = stale_run
    html = page
    assert 'id="gradcheck-timeline"' in html
    rows = re.findall(r'<tr class="sev-critical">(.*?)</tr>', html, re.S)
    # the layer's own finding (0:Dense's end-to-end finding names it as the likely cause)
    stale = [r for r in rows if "<code>2:ClippedBackwardDense</code>" in r]
    assert len(stale) == 1
    assert any("<code>0:Dense</code>" in r and "(2:ClippedBackwardDense, listed first)" in r
               for r in rows)   # the symptom's finding points at the cause
    assert "stale in training" in stale[0] and "wrong gradients" in stale[0]
    timeline = hook.timeline
    steps = timeline.loc[(timeline["layer"] == "2:ClippedBackwardDense")
                         & (timeline["status"] == "fail"), "step"]
    assert f"failed first at step {steps.iloc[0]} " in stale[0]
    assert '<a href="#gradcheck-timeline">' in stale[0]
    assert "gradient check stale in training: failed" in html
    share = hook.seconds / hook.training_seconds
    steps = [p.step for p in hook.checkpoints]
    assert (f"<dt>stale in training</dt><dd>{len(steps)} check points (steps 0-{steps[-1]}), "
            f"{hook.seconds:.2f} s = {share:.1%} of the run&#39;s time</dd>") in html


def test_report_embeds_exactly_the_public_figures(stale_run, page):
    monitor, hook = stale_run
    embedded = images(page)
    public = {"Gradient norms per layer": plots.gradient_norms({"stale": monitor}),
              "Update-to-weight ratio": plots.update_ratios({"stale": monitor}),
              "Dead and saturated units": plots.units({"stale": monitor}),
              "Loss and accuracy": plots.loss({"stale": monitor}),
              "Gradient checks during training": plots.gradcheck_timeline({"stale": hook})}
    for title, fig in public.items():
        assert isinstance(fig, Figure)
        assert unescape(embedded[title]) == to_data_uri(fig).src, title


def test_gradcheck_figures_and_missing_data(stale_run):
    monitor, hook = stale_run
    fig = plots.gradcheck_errors(hook.checkpoints[-1].report, name="trained")
    assert fig.axes[0].get_title() == "trained: gradient error"
    labels = [tick.get_text() for tick in plots.gradcheck_timeline(hook).axes[0].get_yticklabels()]
    assert labels == sorted(set(hook.timeline["layer"]), key=lambda n: int(n.split(":")[0]))
    with pytest.raises(ValueError, match="no run recorded gradient norms"):
        plots.gradient_norms(Monitor())
    with pytest.raises(ValueError, match="no check point yet"):
        plots.gradcheck_timeline(GradcheckHook(t.CrossEntropy()))
    with pytest.raises(TypeError, match="gradcheck_hook must be a GradcheckHook"):
        write_report("unused.html", gradcheck_hook=monitor)


def test_a_vacuous_check_is_never_shown_as_a_plain_pass(tmp_path):
    from .synthetic_runs import fake_gradcheck, layer_names

    proved, vacuous = fake_gradcheck(layer_names(2)), fake_gradcheck(layer_names(2))
    vacuous.table.loc[0, "status"] = "vacuous"
    html = write_report(tmp_path / "r.html", gradcheck={"proved": proved, "dead": vacuous})
    chips = re.findall(r'<li class="chip (\w+)"><span class="dot"></span>([^<]*)</li>',
                       html.read_text(encoding="utf-8"))
    assert chips == [("healthy", "gradient check proved: passed"),
                     ("warning", "gradient check dead: vacuous")]
    badges = re.findall(r'<h2>Gradient check: (\w+)\s*<span class="badge (\w+)">(\w+)</span>',
                        html.read_text(encoding="utf-8"))
    assert badges == [("proved", "healthy", "passed"), ("dead", "warning", "vacuous")]


def test_vacuous_cells_of_the_heatmap_are_grey_and_failures_outlined():
    from matplotlib.colors import to_rgba
    from matplotlib.patches import Rectangle

    from .synthetic_runs import fake_gradcheck, layer_names

    check = fake_gradcheck(layer_names(3), failing=[("2:Dense", "W")])
    check.table.loc[check.table["layer"] == "0:Dense", "status"] = "vacuous"
    ax = plots.gradcheck_errors(check).axes[0]
    boxes = [p for p in ax.patches if isinstance(p, Rectangle)]
    grey = [(int(p.get_y()), int(p.get_x())) for p in boxes if p.get_fill()
            and p.get_facecolor() == to_rgba("0.78")]
    red = [(int(p.get_y()), int(p.get_x())) for p in boxes if not p.get_fill()]
    n_tensors = check.table["tensor"].nunique()
    assert sorted(grey) == [(0, c) for c in range(n_tensors)]   # row 0:Dense, every tensor
    assert red == [(2, 1)]                                      # 2:Dense, W (input, W, b)
