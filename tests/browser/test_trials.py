"""A Katib experiment run in the dashboard (headless Chromium against `kubepipe up`): the run page
shows the experiment's trials table with the best trial's row highlighted (the API's
`best_trial`), sorts it by objective, and draws inline SVG plots (objective over trial index with
the running best, and against each parameter) with one point per trial; a logUniform parameter's
plot spaces its x axis by decades; also in a narrow window. Asserts on the DOM; screenshots go to
the test's tmp dir."""

from __future__ import annotations

import itertools
import json
import math
import urllib.request
from pathlib import Path
from typing import Any

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TRIALS = 4


LINEAR_LR = 'feasibleSpace: {min: "0.01", max: "0.5"}'
# Three decades, so the axis shows exactly the ticks 0.001, 0.01, 0.1 and 1.
LOG_LR = 'feasibleSpace: {min: "0.001", max: "1", distribution: logUniform}'


def _start_experiment(server: str, log_lr: bool = False) -> str:
    """Queue examples/katib-experiment.yaml (fewer trials, and lr searched logUniform when
    `log_lr`) through the API; the worker runs it."""
    text = (EXAMPLES / "katib-experiment.yaml").read_text()
    assert "maxTrialCount: 6" in text and text.count(LINEAR_LR) == 1
    text = text.replace("maxTrialCount: 6", f"maxTrialCount: {TRIALS}")
    if log_lr:
        text = text.replace(LINEAR_LR, LOG_LR)
    body = json.dumps({"pipeline_yaml": text})
    request = urllib.request.Request(
        server + "/api/v1/runs",
        data=body.encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request) as response:
        return str(json.load(response)["id"])


def _get(server: str, path: str) -> Any:
    with urllib.request.urlopen(server + path) as response:
        return json.load(response)


def _wait_for_trials(page: Any) -> None:
    page.wait_for_selector('#run-phase .phase[data-phase="Succeeded"]', timeout=60_000)
    page.wait_for_function(
        f"document.querySelectorAll('#trials tbody tr[data-state=\"Succeeded\"]').length === {TRIALS}"
        " && document.querySelectorAll('#trials tr.best').length === 1",
        timeout=30_000,
    )


def test_trials_table_best_row_and_plots(server: str, page: Any, tmp_path: Path) -> None:
    run_id = _start_experiment(server)
    page.goto(f"{server}/#/runs/{run_id}")
    _wait_for_trials(page)
    run = _get(server, f"/api/v1/runs/{run_id}")
    experiment = next(n for n in run["nodes"] if n["templateName"] == "experiment")
    trials = _get(server, f"/api/v1/runs/{run_id}/nodes/{experiment['id']}/trials")
    best = trials["best_trial"]
    assert best == run["outputs"]["entryParameters"]["best-trial"]

    section = page.locator(f'#trials section[data-experiment="{experiment["id"]}"]')
    assert "quadratic-tpe" in section.locator("h2").inner_text()
    headers = section.locator("thead th").all_inner_texts()
    assert [h.strip(" ▲▼") for h in headers] == ["#", "TRIAL", "LOSS", "LR", "LAYERS", "STATE"]
    assert section.locator("tr.best").get_attribute("data-trial") == best
    assert best in page.inner_text(".best-line")
    highlight = section.locator("tr.best").evaluate("r => getComputedStyle(r).backgroundColor")
    plain = section.locator("tbody tr:not(.best)").first.evaluate(
        "r => getComputedStyle(r).backgroundColor"
    )
    assert highlight != plain

    # sortable by objective: ascending puts the (minimised) best first, descending last
    section.locator('button[data-sort="objective"]').click()
    names = section.locator("tbody tr").evaluate_all("rs => rs.map(r => r.dataset.trial)")
    assert names[0] == best and len(names) == TRIALS
    section.locator('button[data-sort="objective"]').click()
    losses = section.locator("tbody td.objective").all_inner_texts()
    assert [float(x) for x in losses] == sorted((float(x) for x in losses), reverse=True)
    assert section.locator("tbody tr").last.get_attribute("data-trial") == best

    # the plots: objective by trial index (with the running best) and against lr and layers
    plots = section.locator("svg.plot")
    assert plots.count() == 3
    for i in range(3):
        points = plots.nth(i).locator("circle.point")
        assert points.count() == TRIALS
        assert plots.nth(i).locator("circle.point.best").get_attribute("data-trial") == best
    assert section.locator("svg.plot path.running-best").count() == 1
    captions = section.locator("figcaption").all_inner_texts()
    assert any("against lr" in c for c in captions) and any("against layers" in c for c in captions)

    # a trial's name opens its node (logs) in the side panel
    section.locator(f'tr[data-trial="{best}"] a').click()
    page.wait_for_function(f"document.querySelector('#node-title')?.textContent.includes('{best}')")
    section.scroll_into_view_if_needed()
    page.screenshot(path=str(tmp_path / "trials.png"), full_page=True)


def test_a_log_uniform_parameter_plots_on_a_log_axis(
    server: str, page: Any, tmp_path: Path
) -> None:
    run_id = _start_experiment(server, log_lr=True)
    page.goto(f"{server}/#/runs/{run_id}")
    _wait_for_trials(page)
    run = _get(server, f"/api/v1/runs/{run_id}")
    experiment = next(n for n in run["nodes"] if n["templateName"] == "experiment")
    trials = _get(server, f"/api/v1/runs/{run_id}/nodes/{experiment['id']}/trials")
    lr = {t["name"]: float(t["parameters"]["lr"]) for t in trials["trials"]}

    section = page.locator(f'#trials section[data-experiment="{experiment["id"]}"]')
    plot = section.locator('svg.plot[data-x-scale="log"]')
    assert plot.count() == 1
    assert plot.locator("text.axis-label").first.text_content() == "lr (log)"
    # the other plots keep their linear axes and plain labels
    assert section.locator('svg.plot[data-x-scale="linear"]').count() == 2
    layers = section.locator("svg.plot").nth(2)
    assert layers.locator("text.axis-label").first.text_content() == "layers"

    # x ticks (below the plot area; y ticks are end-anchored) are the powers of ten in range
    x_ticks = plot.locator('text.tick[text-anchor="middle"]').evaluate_all(
        "ts => ts.map(t => [t.textContent, Number(t.getAttribute('x'))])"
    )
    assert [label for label, _ in x_ticks] == ["0.001", "0.01", "0.1", "1"]
    positions = [at for _, at in x_ticks]
    decade = positions[1] - positions[0]
    assert decade > 0
    for left, right in itertools.pairwise(positions):
        assert math.isclose(right - left, decade, abs_tol=1e-6)

    # each point sits log10(lr) decades right of the 0.001 tick, so 10x lr is one decade further
    points = plot.locator("circle.point").evaluate_all(
        "cs => cs.map(c => [c.dataset.trial, Number(c.getAttribute('cx'))])"
    )
    assert len(points) == TRIALS
    for name, cx in points:
        expected = positions[0] + (math.log10(lr[name]) + 3) * decade
        assert math.isclose(cx, expected, abs_tol=1e-6), (name, lr[name], cx, expected)
    section.scroll_into_view_if_needed()
    page.screenshot(path=str(tmp_path / "trials-log.png"), full_page=True)


def test_trials_in_a_narrow_window(server: str, browser: Any, tmp_path: Path) -> None:
    run_id = _start_experiment(server)
    context = browser.new_context(viewport={"width": 420, "height": 800})
    tab = context.new_page()
    tab.set_default_timeout(20_000)
    try:
        tab.goto(f"{server}/#/runs/{run_id}")
        _wait_for_trials(tab)
        width = tab.evaluate("document.documentElement.scrollWidth")
        assert width <= 440, width
        box = tab.locator("#trials svg.plot").first.bounding_box()
        assert box is not None and 250 <= box["width"] <= 400, box
        tab.locator("#trials").scroll_into_view_if_needed()
        tab.screenshot(path=str(tmp_path / "trials-narrow.png"), full_page=True)
    finally:
        context.close()
