"""The dashboard in headless Chromium against `kubepipe up`: upload a pipeline through the page,
start a run, watch every node of the graph turn Succeeded, open a step's logs and metrics, see
an invalid upload's messages, create a recurring run from its live next-fire-times preview, and
use the runs list in a narrow window. Asserts on the DOM; screenshots go to each test's tmp dir."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

BAD = """apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: bad-}
spec:
  entrypoint: nowhere
  templates:
  - name: only
    container: {image: busybox, command: [echo, hi]}
"""


def _compiled_train(tmp_path: Path) -> Path:
    out = tmp_path / "train.yaml"
    subprocess.run(
        [sys.executable, "-m", "engine", "compile", str(EXAMPLES / "dsl_train.py"), "-o", str(out)],
        check=True,
        capture_output=True,
    )
    return out


def test_upload_run_watch_green_logs_and_metrics(server: str, page: Any, tmp_path: Path) -> None:
    train = _compiled_train(tmp_path)
    page.goto(server + "/#/pipelines")
    page.set_input_files("#upload-file", str(train))
    page.fill("#upload-name", "train")
    page.click("#upload-submit")
    page.wait_for_url("**/#/pipelines/*")
    page.wait_for_selector('#pipeline-graph g.node[data-label="evaluate"]')
    assert page.locator("#pipeline-graph g.node").count() == 3
    page.fill('#run-params input[data-param="rows"]', "12")
    page.click("#start-run")
    page.wait_for_url("**/#/runs/*")
    for label in ("make-dataset", "train", "evaluate"):
        page.wait_for_selector(
            f'#run-graph g.node[data-label="{label}"][data-phase="Succeeded"]', timeout=45_000
        )
    page.wait_for_selector('#run-phase .phase[data-phase="Succeeded"]')
    page.screenshot(path=str(tmp_path / "run-green.png"), full_page=True)
    page.click('#run-graph g.node[data-label="evaluate"]')
    page.wait_for_selector("#metrics")
    metrics = page.inner_text("#metrics")
    assert "mse" in metrics and "framework_seen" in metrics
    assert page.locator("#node-artifacts a", has_text="metrics").count() == 1
    page.click('#run-graph g.node[data-label="make-dataset"]')
    page.wait_for_function(
        "document.querySelector('#node-title') && "
        "document.querySelector('#node-title').textContent.includes('make-dataset')"
    )
    page.wait_for_function("!document.querySelector('#node-logs').textContent.includes('loading')")
    run_id = page.url.rsplit("/", 1)[-1]
    with urllib.request.urlopen(f"{server}/api/v1/runs/{run_id}") as response:
        run = json.load(response)
    assert run["phase"] == "Succeeded" and run["parameters"]["rows"] == "12"
    assert run["outputs"]["entryParameters"]["rows"] == "12"


def test_an_invalid_upload_shows_the_validation_messages(
    server: str, page: Any, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    page.goto(server + "/#/pipelines")
    page.set_input_files("#upload-file", str(bad))
    page.click("#upload-submit")
    page.wait_for_selector("#upload-errors .problem")
    text = page.inner_text("#upload-errors")
    assert "line 5" in text and "nowhere" in text and "spec.entrypoint" in text
    assert page.url.endswith("#/pipelines")


def test_recurring_run_with_live_next_fire_times(server: str, page: Any) -> None:
    page.goto(server + "/#/pipelines")
    page.set_input_files("#upload-file", str(EXAMPLES / "hello-world.yaml"))
    page.fill("#upload-name", "hello")
    page.click("#upload-submit")
    page.wait_for_url("**/#/pipelines/*")
    page.goto(server + "/#/recurring")
    page.wait_for_selector("#recurring-form")
    page.fill("#recurring-name", "every-five")
    page.select_option("#recurring-pipeline", label="hello")
    page.fill("#schedule-input", "*/5 * * * *")
    page.wait_for_selector("#next-times ol li:nth-child(5)")
    assert page.locator("#next-times ol li").count() == 5
    page.fill("#schedule-input", "61 * * * *")
    page.wait_for_selector("#next-times .error-box")
    assert "minute" in page.inner_text("#next-times")
    page.fill("#schedule-input", "*/5 * * * *")
    page.click("#recurring-submit")
    row = page.wait_for_selector('#recurring tr[data-recurring="every-five"]')
    assert "enabled" in row.inner_text()
    row.query_selector("button.secondary").click()
    page.wait_for_function(
        "document.querySelector('#recurring tr[data-recurring=\"every-five\"]')"
        ".textContent.includes('disabled')"
    )


def test_runs_list_in_a_narrow_window(server: str, browser: Any, tmp_path: Path) -> None:
    context = browser.new_context(viewport={"width": 420, "height": 800})
    tab = context.new_page()
    try:
        tab.goto(server + "/#/runs")
        tab.wait_for_selector("#runs tbody tr")
        assert tab.locator("nav a", has_text="Pipelines").is_visible()
        width = tab.evaluate("document.documentElement.scrollWidth")
        assert width <= 440, width
        tab.screenshot(path=str(tmp_path / "narrow.png"), full_page=True)
    finally:
        context.close()
