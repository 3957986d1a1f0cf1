"""`kubepipe recurring ...` and `kubepipe scheduler` end to end: the commands, bad input (exit 2,
nothing stored), a CronWorkflow example whose runs see their scheduled time, and the real loop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from e2e_support import EXAMPLES

from engine.settings import Settings

HELLO = str(EXAMPLES / "hello-world.yaml")
CRON_EXAMPLE = EXAMPLES / "recurring" / "cron-scheduled-time.yaml"


def _json(result) -> object:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_recurring_commands_round_trip(cli) -> None:
    start = "2030-01-01T00:00:00+01:00"
    created = cli(
        "recurring", "create", "hourly", HELLO, "--cron", "15 * * * *", "--tz", "Europe/Berlin",
        "--start", start, "--max-concurrency", "2", "--no-catchup", "-p", "word=hey",
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    assert "recurring run hourly" in created.stdout and "enabled" in created.stdout
    (item,) = _json(cli("recurring", "list", "-o", "json"))
    assert item["name"] == "hourly" and item["enabled"] is True
    assert item["schedule"] == "cron 15 * * * * (Europe/Berlin)"
    assert item["nextFireTime"] == "2030-01-01T00:15:00+01:00"
    got = _json(cli("recurring", "get", "hourly", "-o", "json"))
    assert got["parameters"] == {"word": "hey"} and got["maxConcurrency"] == 2
    assert got["catchup"] is False and got["runs"] == []
    assert (
        "Schedule:     cron 15 * * * * (Europe/Berlin)" in cli("recurring", "get", "hourly").stdout
    )

    lines = cli("recurring", "next", "hourly", "-n", "5").stdout.splitlines()
    assert lines == [f"2030-01-01T0{h}:15:00+01:00" for h in range(5)]

    assert cli("recurring", "disable", "hourly").exit_code == 0
    assert _json(cli("recurring", "get", "hourly", "-o", "json"))["enabled"] is False
    assert cli("recurring", "next", "hourly", "-n", "1").stdout.strip() == lines[0]
    assert cli("recurring", "enable", "hourly").exit_code == 0
    assert cli("recurring", "create", "hourly", HELLO, "--every", "1h").exit_code == 1  # taken
    assert cli("recurring", "delete", "hourly").exit_code == 0
    assert _json(cli("recurring", "list", "-o", "json")) == []
    missing = cli("recurring", "get", "hourly")
    assert missing.exit_code == 1 and "no recurring run named 'hourly'" in missing.output


def test_next_prints_periodic_times_in_the_zone(cli) -> None:
    cli(
        "recurring", "create", "p", HELLO, "--every", "1h30m", "--tz", "America/New_York",
        "--start", "2030-03-10T00:00:00",
    )  # fmt: skip
    lines = cli("recurring", "next", "p", "-n", "3").stdout.split()
    # 00:00 EST start; clocks jump at 02:00, so 03:00 EST is 04:00 EDT.
    assert lines == [
        "2030-03-10T00:00:00-05:00",
        "2030-03-10T01:30:00-05:00",
        "2030-03-10T04:00:00-04:00",
    ]


BAD = {
    "bad-cron": (
        ["--cron", "61 * * * *"],
        r"--cron: cron expression '61 \* \* \* \*': field 1 \(minute\)",
    ),
    "cron-fields": (["--cron", "* * *"], r"--cron: cron expression '\* \* \*' has 3 fields"),
    "bad-zone": (
        ["--cron", "0 * * * *", "--tz", "Moon/Base"],
        r"--tz: unknown time zone 'Moon/Base'",
    ),
    "end-before-start": (
        ["--every", "1h", "--start", "2030-02-01T00:00:00Z", "--end", "2030-01-01T00:00:00Z"],
        r"--end: .* is not after the start",
    ),
    "zero-interval": (["--every", "0"], r"--every: '0' is not a positive interval"),
    "negative-interval": (["--every", "-5m"], r"--every: '-5m' is not a duration"),
    "bad-start": (
        ["--every", "1h", "--start", "tomorrow"],
        r"--start: 'tomorrow' is not an ISO-8601",
    ),
    "both-triggers": (["--every", "1h", "--cron", "0 * * * *"], r"--cron/--every: give either"),
    "no-trigger": ([], r"--cron/--every: .* has no schedule"),
    "bad-param": (["--every", "1h", "-p", "novalue"], r"-p 'novalue': use -p NAME=VALUE"),
    "bad-concurrency": (
        ["--every", "1h", "--max-concurrency", "0"],
        r"--max-concurrency: 0 is below 1",
    ),
    # The overflow (a 500 through the API, a traceback here): one range-checked parser.
    "huge-interval": (
        ["--every", "99999999999999999999d"],
        r"--every: '99999999999999999999d' is out of range: an interval is 1s to 36500d",
    ),
    "infinite-interval": (["--every", "1e999"], r"--every: '1e999' is out of range"),
    "nan-interval": (["--every", "nan"], r"--every: 'nan' is out of range"),
    "start-out-of-range": (
        ["--every", "1h", "--start", "0001-01-01T00:00:00+14:00"],
        r"--start: .* is outside the times a schedule can use",
    ),
    "empty-namespace": (
        ["--every", "1h", "--namespace", " "],
        r"--namespace: ' ' is not a namespace name",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_names_the_flag_exits_2_and_stores_nothing(cli, case: str) -> None:
    flags, message = BAD[case]
    result = cli("recurring", "create", "bad", HELLO, *flags)
    assert result.exit_code == 2, result.output
    assert message is not None
    import re

    assert re.search(message, result.output), result.output
    assert "nothing was stored" in result.output
    assert _json(cli("recurring", "list", "-o", "json")) == []


def test_unknown_file_and_bad_name_exit_2(cli, tmp_path: Path) -> None:
    result = cli("recurring", "create", "x", str(tmp_path / "nope.yaml"), "--every", "1h")
    assert result.exit_code == 2 and "FILE: " in result.output and "does not exist" in result.output
    result = cli("recurring", "create", "Bad_Name", HELLO, "--every", "1h")
    assert result.exit_code == 2 and "NAME: 'Bad_Name' is not a valid" in result.output
    bad_yaml = tmp_path / "broken.yaml"
    bad_yaml.write_text("apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nspec: {}\n")
    result = cli("recurring", "create", "x", str(bad_yaml), "--every", "1h")
    assert result.exit_code == 2 and "does not validate; nothing was stored" in result.output
    assert _json(cli("recurring", "list", "-o", "json")) == []


def test_names_are_unique_per_namespace(cli, tmp_path: Path) -> None:
    """One name in two namespaces is two recurring runs; every command that takes a NAME looks
    in --namespace (default: default) and nowhere else."""
    assert cli("recurring", "create", "hourly", HELLO, "--every", "1h").exit_code == 0
    made = cli("recurring", "create", "hourly", HELLO, "--every", "2h", "--namespace", "team-a")
    assert made.exit_code == 0 and "in namespace team-a" in made.stdout, made.output
    taken = cli("recurring", "create", "hourly", HELLO, "--every", "3h", "--namespace", "team-a")
    assert taken.exit_code == 1 and "namespace 'team-a' already has" in taken.output
    rows = _json(cli("recurring", "list", "-o", "json"))
    assert [(r["namespace"], r["name"], r["schedule"]) for r in rows] == [
        ("default", "hourly", "every 1h"),
        ("team-a", "hourly", "every 2h"),
    ]
    only_a = _json(cli("recurring", "list", "--namespace", "team-a", "-o", "json"))
    assert [r["namespace"] for r in only_a] == ["team-a"]
    got = _json(cli("recurring", "get", "hourly", "--namespace", "team-a", "-o", "json"))
    assert got["schedule"] == "every 2h" and got["namespace"] == "team-a"
    assert _json(cli("recurring", "get", "hourly", "-o", "json"))["schedule"] == "every 1h"
    missing = cli("recurring", "get", "hourly", "--namespace", "team-b")
    assert missing.exit_code == 1 and "namespace 'team-b' has no recurring run" in missing.output
    assert cli("recurring", "disable", "hourly", "--namespace", "team-a").exit_code == 0
    states = {r["namespace"]: r["enabled"] for r in _json(cli("recurring", "list", "-o", "json"))}
    assert states == {"default": True, "team-a": False}
    assert cli("recurring", "delete", "hourly", "--namespace", "team-a").exit_code == 0
    assert [r["namespace"] for r in _json(cli("recurring", "list", "-o", "json"))] == ["default"]

    # The file's own metadata.namespace places it; a --namespace that contradicts it is refused.
    placed = tmp_path / "placed.yaml"
    text = Path(HELLO).read_text()
    placed.write_text(text.replace("metadata:\n", "metadata:\n  namespace: team-c\n", 1))
    assert cli("recurring", "create", "p", str(placed), "--every", "1h").exit_code == 0
    assert _json(cli("recurring", "get", "p", "--namespace", "team-c", "-o", "json"))["name"] == "p"
    clash = cli("recurring", "create", "q", str(placed), "--every", "1h", "--namespace", "team-d")
    assert clash.exit_code == 2 and "--namespace: " in clash.output and "team-c" in clash.output


def test_cron_workflow_example_runs_see_their_scheduled_time(cli, home: Path) -> None:
    """The CronWorkflow example is a recurring run; its run, executed by `kubepipe engine`,
    prints its scheduled slot ({{workflow.scheduledTime}}), not when it ran."""
    from engine.metadata.store import MetadataStore
    from scheduler import SCHEDULED_TIME_PLACEHOLDER
    from scheduler.clock import FakeClock
    from scheduler.service import Scheduler
    from scheduler.settings import SchedulerSettings
    from scheduler.store import RecurringStore

    assert SCHEDULED_TIME_PLACEHOLDER in CRON_EXAMPLE.read_text()
    created = cli("recurring", "create", "nightly-report", str(CRON_EXAMPLE))
    assert created.exit_code == 0, created.output
    got = _json(cli("recurring", "get", "nightly-report", "-o", "json"))
    assert got["schedule"] == "cron 30 2 * * * (Europe/Berlin)"
    assert got["concurrencyPolicy"] == "Forbid" and got["startingDeadlineSeconds"] == 3600
    assert got["successfulJobsHistoryLimit"] == 3 and got["failedJobsHistoryLimit"] == 1
    assert got["catchup"] is False  # Argo's rule: only the latest missed time
    due = datetime.fromisoformat(got["nextFireTime"])
    assert (due.hour, due.minute) == (2, 30) or (due.hour, due.minute) == (3, 0)

    url = Settings().database_url
    store, metadata = RecurringStore(url), MetadataStore(url)
    clock = FakeClock(due.timestamp() + 5)  # five seconds after the slot
    settings = SchedulerSettings(wake_interval=1e9, housekeeping_interval=1e9)
    Scheduler(store, metadata, clock=clock, settings=settings).run_once(clock.now())
    store.close()
    metadata.close()

    worker = cli("engine", "--until-idle")
    assert worker.exit_code == 0, worker.output
    (run,) = _json(cli("list", "-o", "json"))
    assert run["name"] == f"nightly-report-{int(due.timestamp())}" and run["phase"] == "Succeeded"
    detail = _json(cli("get", run["id"], "-o", "json"))
    slot = due.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert detail["nodes"][0]["outputs"]["result"] == f"nightly report for {slot}"
    fires = _json(cli("recurring", "get", "nightly-report", "-o", "json"))["runs"]
    assert [(f["state"], f["runId"]) for f in fires] == [("Created", run["id"])]


def test_scheduler_once_backfills_from_a_past_start(cli) -> None:
    start = (datetime.now(timezone.utc) - timedelta(minutes=150)).replace(microsecond=0)
    cli("recurring", "create", "back", HELLO, "--every", "1h", "--start", start.isoformat())
    result = cli("scheduler", "--once")
    assert result.exit_code == 0, result.output
    names = sorted(r["name"] for r in _json(cli("list", "-o", "json")))
    expected = sorted(f"back-{int(start.timestamp()) + k * 3600}" for k in range(3))
    assert names == expected
    assert cli("scheduler", "--once").exit_code == 0  # nothing new is due: no twins
    assert len(_json(cli("list", "-o", "json"))) == 3


def test_scheduler_loop_wakes_on_a_new_schedule_and_stops_on_sigterm(home: Path) -> None:
    env = {**os.environ, "KUBEPIPE_HOME": str(home), "KUBEPIPE_SCHEDULER_WAKE_INTERVAL": "0.2"}
    env.pop("KUBEPIPE_DB_URL", None)
    kubepipe = [sys.executable, "-m", "engine"]
    loop = subprocess.Popen([*kubepipe, "scheduler"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)  # the loop is asleep with nothing to do
        made = subprocess.run(
            [*kubepipe, "recurring", "create", "fast", HELLO, "--every", "1s"],
            env=env,
            capture_output=True,
            text=True,
        )
        assert made.returncode == 0, made.stderr
        deadline = time.time() + 20
        names: list[str] = []
        while time.time() < deadline and len(names) < 3:
            time.sleep(0.3)
            listed = subprocess.run(
                [*kubepipe, "list", "-o", "json"], env=env, capture_output=True, text=True
            )
            names = [r["name"] for r in json.loads(listed.stdout or "[]")]
        assert len(names) >= 3 and len(set(names)) == len(names)
    finally:
        loop.send_signal(signal.SIGTERM)
        _, err = loop.communicate(timeout=20)
    assert loop.returncode == 0, err
    assert "started run" in err


def test_next_uses_the_schedule_zone_for_utc_offsets(cli) -> None:
    cli(
        "recurring",
        "create",
        "tokyo",
        HELLO,
        "--cron",
        "0 9 * * *",
        "--tz",
        "Asia/Tokyo",
        "--disabled",
    )
    (line,) = cli("recurring", "next", "tokyo", "-n", "1").stdout.split()
    when = datetime.fromisoformat(line)
    assert when.utcoffset() == timedelta(hours=9) and when.hour == 9
    assert when.astimezone(ZoneInfo("Asia/Tokyo")) > datetime.now(timezone.utc)


DSL_STAMPED = """
import dsl

@dsl.component
def stamp(when: str, job: str) -> str:
    return f"{when}|{job}"

@dsl.pipeline(name="stamped")
def stamped() -> str:
    return stamp(
        when=dsl.PIPELINE_JOB_SCHEDULED_TIME_UTC_PLACEHOLDER, job=dsl.PIPELINE_JOB_NAME_PLACEHOLDER
    ).output
"""


def test_a_dsl_pipeline_on_a_schedule_sees_its_scheduled_time(cli, tmp_path: Path) -> None:
    """KFP's PIPELINE_JOB_SCHEDULED_TIME_UTC_PLACEHOLDER is the run's due time, not its start."""
    pipeline = tmp_path / "stamped.py"
    pipeline.write_text(DSL_STAMPED)
    start = (datetime.now(timezone.utc) - timedelta(minutes=30)).replace(microsecond=0)
    created = cli(
        "recurring",
        "create",
        "stamped",
        str(pipeline),
        "--every",
        "1h",
        "--start",
        start.isoformat(),
    )
    assert created.exit_code == 0, created.output
    assert cli("scheduler", "--once").exit_code == 0
    assert cli("engine", "--until-idle").exit_code == 0
    (run,) = _json(cli("list", "-o", "json"))
    due = start  # the one time due since the start, run late: it still sees its slot
    assert run["name"] == f"stamped-{int(due.timestamp())}" and run["phase"] == "Succeeded"
    detail = _json(cli("get", run["id"], "-o", "json"))
    slot = due.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert detail["outputs"]["Output"] == f"{slot}|{run['name']}"
