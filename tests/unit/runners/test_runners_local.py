"""LocalRunner's pod contract, in both isolation modes: argv, env, files in and out, isolation."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from _runners_support import MODES, PY, make_runner, request, run_to_end, stdout_of

from engine.runners.base import StepHandle, StepOutcome, StepSecurity
from engine.runners.images import resolve_argv
from engine.runners.local import LocalRunner


@pytest.fixture(params=MODES)
def runner(request: pytest.FixtureRequest) -> Iterator[LocalRunner]:
    yield from make_runner(request.param)


def test_argv_runs_without_a_shell(runner: LocalRunner, tmp_path: Path) -> None:
    args = ["a b", "$HOME", "*", "'quoted'", "x;echo no"]
    status = run_to_end(
        runner,
        request(
            tmp_path / "s", [PY, "-c", "import sys, json; print(json.dumps(sys.argv[1:]))", *args]
        ),
    )
    assert status.outcome is StepOutcome.EXITED and status.exit_code == 0, status
    assert json.loads(stdout_of(status)) == args


def test_env_is_base_plus_request_and_does_not_leak(
    runner: LocalRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBEPIPE_SECRET_OF_THE_ENGINE", "leak")
    code = "import os, json; print(json.dumps(dict(os.environ)))"
    status = run_to_end(
        runner, request(tmp_path / "s", [PY, "-c", code], env={"GREETING": "hi there"})
    )
    env = json.loads(stdout_of(status))
    assert env["GREETING"] == "hi there"
    assert "KUBEPIPE_SECRET_OF_THE_ENGINE" not in env
    assert {"PATH", "HOME", "LANG"} <= set(env)
    assert env["HOME"] != os.environ.get("HOME")


def test_python_and_python3_resolve_via_path(runner: LocalRunner, tmp_path: Path) -> None:
    argv = ["sh", "-c", "python -c 'print(1)' && python3 -c 'print(2)'"]
    status = run_to_end(runner, request(tmp_path / "s", argv))
    assert status.exit_code == 0, status.stderr_path.read_text()
    assert stdout_of(status).split() == ["1", "2"]


def test_input_file_and_directory_are_placed_at_container_paths(
    runner: LocalRunner, tmp_path: Path
) -> None:
    data = tmp_path / "data.txt"
    data.write_text("some input\n")
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "leaf.txt").write_text("leaf\n")
    argv = ["sh", "-c", "cat /tmp/in/data.txt /mnt/tree/sub/leaf.txt"]
    inputs = {"/tmp/in/data.txt": data, "/mnt/tree": tree}
    status = run_to_end(runner, request(tmp_path / "s", argv, inputs=inputs))
    assert status.exit_code == 0, status.stderr_path.read_text()
    assert stdout_of(status) == "some input\nleaf\n"


def test_outputs_files_directories_and_missing(runner: LocalRunner, tmp_path: Path) -> None:
    script = (
        "echo result > /tmp/out.txt; mkdir -p /tmp/outdir/deep;"
        " echo a > /tmp/outdir/a; echo b > /tmp/outdir/deep/b"
    )
    outputs = ["/tmp/out.txt", "/tmp/outdir", "/tmp/never-written.txt"]
    status = run_to_end(runner, request(tmp_path / "s", ["sh", "-c", script], outputs=outputs))
    assert status.exit_code == 0, status.stderr_path.read_text()
    out, outdir, missing = (status.outputs[p] for p in outputs)
    assert out is not None and out.read_text() == "result\n"
    assert out.parent == tmp_path / "s" / "outputs"
    assert outdir is not None and outdir.is_dir()
    assert (outdir / "a").read_text() == "a\n" and (outdir / "deep" / "b").read_text() == "b\n"
    assert missing is None


def test_relative_writes_land_in_the_working_dir(runner: LocalRunner, tmp_path: Path) -> None:
    status = run_to_end(
        runner,
        request(
            tmp_path / "s",
            ["sh", "-c", "pwd > where; echo x > rel.txt"],
            working_dir="/work/app",
            outputs=["/work/app/rel.txt"],
        ),
    )
    assert status.exit_code == 0, status.stderr_path.read_text()
    assert status.outputs["/work/app/rel.txt"] is not None
    assert not Path("/work/app/rel.txt").exists()


def test_parallel_steps_writing_the_same_path_do_not_clash(
    runner: LocalRunner, tmp_path: Path
) -> None:
    host_before = Path("/tmp/out.txt").read_bytes() if Path("/tmp/out.txt").exists() else None
    handles: list[tuple[StepHandle, str]] = []
    for name in ("left", "right"):
        script = f"echo {name} > /tmp/out.txt; sleep 0.2; cat /tmp/out.txt"
        step = request(
            tmp_path / name, ["sh", "-c", script], key=f"run/{name}/0", outputs=["/tmp/out.txt"]
        )
        handles.append((runner.launch(step), name))
    for handle, name in handles:
        status = None
        end = time.monotonic() + 10
        while status is None and time.monotonic() < end:
            runner.wait(0.5)
            status = runner.poll(handle)
        assert status is not None and status.exit_code == 0
        assert stdout_of(status) == f"{name}\n"  # never saw the other step's write
        collected = status.outputs["/tmp/out.txt"]
        assert collected is not None and collected.read_text() == f"{name}\n"
    host_after = Path("/tmp/out.txt").read_bytes() if Path("/tmp/out.txt").exists() else None
    assert host_after == host_before


def test_undeclared_tmp_writes_stay_private(runner: LocalRunner, tmp_path: Path) -> None:
    marker = f"/tmp/kubepipe-undeclared-{os.getpid()}.txt"
    status = run_to_end(runner, request(tmp_path / "s", ["sh", "-c", f"echo x > {marker}"]))
    assert status.exit_code == 0, status.stderr_path.read_text()
    assert not Path(marker).exists()


def test_missing_executable_is_a_launch_failure(runner: LocalRunner, tmp_path: Path) -> None:
    status = run_to_end(
        runner, request(tmp_path / "s", ["kubepipe-no-such-program", "x"], outputs=["/tmp/o"])
    )
    assert status.outcome is StepOutcome.LAUNCH_FAILED
    assert status.message == (
        "executable 'kubepipe-no-such-program' not found (images are not pulled locally; "
        "the step's command must exist on this machine)"
    )
    assert status.outputs == {"/tmp/o": None}


def test_nonzero_exit_code_is_reported(runner: LocalRunner, tmp_path: Path) -> None:
    status = run_to_end(runner, request(tmp_path / "s", ["sh", "-c", "echo oops >&2; exit 3"]))
    assert (status.outcome, status.exit_code) == (StepOutcome.EXITED, 3)
    assert status.message == "exited with code 3"
    assert status.stderr_path.read_text() == "oops\n"
    assert status.finished_at >= status.started_at


def test_argosay_image_runs_through_the_shim(runner: LocalRunner, tmp_path: Path) -> None:
    argv = resolve_argv("argoproj/argosay:v2", None, ["echo", "real-value", "/tmp/out.txt"])
    status = run_to_end(runner, request(tmp_path / "s", argv, outputs=["/tmp/out.txt"]))
    assert status.exit_code == 0, status.stderr_path.read_text()
    out = status.outputs["/tmp/out.txt"]
    assert out is not None and out.read_text() == "real-value"


def test_wait_returns_promptly_when_a_step_exits(runner: LocalRunner, tmp_path: Path) -> None:
    runner.launch(
        request(tmp_path / "warm", ["true"])
    )  # the first launch may probe; keep it out of timing
    handle = runner.launch(request(tmp_path / "s", ["sleep", "0.1"]))
    begun = time.monotonic()
    while runner.poll(handle) is None:
        runner.wait(5.0)
        assert time.monotonic() - begun < 0.5
    assert time.monotonic() - begun < 0.5


def test_poll_is_idempotent_and_handle_round_trips(runner: LocalRunner, tmp_path: Path) -> None:
    step = request(tmp_path / "s", ["sh", "-c", "echo 1 > /tmp/o"], outputs=["/tmp/o"])
    handle = runner.launch(step)
    assert StepHandle.from_json(handle.to_json()) == handle
    first = run_to_end_from(runner, handle)
    assert runner.poll(handle) is first


def run_to_end_from(runner: LocalRunner, handle: StepHandle) -> object:
    end = time.monotonic() + 10
    while time.monotonic() < end:
        status = runner.poll(handle)
        if status is not None:
            return status
        runner.wait(0.5)
    raise AssertionError("step did not finish")


def test_overlay_hides_host_tmp_and_isolates_undeclared_paths(tmp_path: Path) -> None:
    for runner in make_runner("overlay"):
        host_file = Path(f"/tmp/kubepipe-host-only-{os.getpid()}")
        host_file.write_text("host")
        etc_file = f"/etc/kubepipe-step-{os.getpid()}"
        try:
            script = (
                f"test ! -e {host_file} && echo x > {etc_file} && echo y > /dev/shm/s && ls -A /tmp"
            )
            as_root = StepSecurity(run_as_user=0)  # /etc is root's, in the view as on the host
            status = run_to_end(
                runner,
                request(
                    tmp_path / "s",
                    ["sh", "-c", script],
                    outputs=[etc_file, "/dev/shm/s"],
                    security=as_root,
                ),
            )
            assert status.exit_code == 0, status.stderr_path.read_text()
            assert not Path(etc_file).exists()
            assert status.outputs[etc_file] is not None and status.outputs["/dev/shm/s"] is not None
            assert "kubepipe-host-only" not in stdout_of(status)
        finally:
            host_file.unlink()


def test_auto_mode_probes_once_and_falls_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.runners._launch import Launcher
    from engine.runners.local import LocalRunnerSettings

    calls: list[Path] = []

    def refuse(self: Launcher, scratch: Path) -> str:
        calls.append(scratch)
        return "overlay isolation needs root (mount namespaces and overlayfs)"

    monkeypatch.setattr(Launcher, "probe_overlay", refuse)
    with LocalRunner(LocalRunnerSettings()) as runner:
        assert runner.isolation == "auto"
        for name in ("a", "b"):
            status = run_to_end(
                runner,
                request(tmp_path / name, ["sh", "-c", "echo x > /tmp/o"], outputs=["/tmp/o"]),
            )
            assert status.exit_code == 0 and status.outputs["/tmp/o"] is not None
        assert runner.isolation == "pathmap" and "needs root" in runner.isolation_reason
        assert len(calls) == 1


def test_auto_mode_picks_overlay_where_it_works(tmp_path: Path) -> None:
    from _runners_support import overlay_unavailable

    from engine.runners.local import LocalRunnerSettings

    reason = overlay_unavailable()
    with LocalRunner(LocalRunnerSettings()) as runner:
        run_to_end(runner, request(tmp_path / "s", ["true"]))
        assert runner.isolation == ("pathmap" if reason else "overlay")
    assert not (tmp_path / "s" / ".overlay-probe").exists()


def test_workdir_with_option_separators(runner: LocalRunner, tmp_path: Path) -> None:
    # ':' and ',' separate overlayfs options; pathmap pastes host paths into shell strings, so a
    # space is tested for overlay only (the pathmap docstring says so).
    name = "run:2024-01-01T00:00:00,a" + (" b" if runner.isolation == "overlay" else "")
    status = run_to_end(
        runner, request(tmp_path / name, ["sh", "-c", "echo hi > /tmp/o"], outputs=["/tmp/o"])
    )
    assert status.exit_code == 0, (status.message, status.stderr_path.read_text())
    collected = status.outputs["/tmp/o"]
    assert collected is not None and collected.read_text() == "hi\n"


@pytest.mark.parametrize("mode", MODES)
def test_passthrough_trees_stay_visible_under_private_tmp(mode: str, tmp_path: Path) -> None:
    tools = tmp_path / "tools"  # under the host's /tmp, which steps do not otherwise see
    tools.mkdir()
    (tools / "hello.sh").write_text("#!/bin/sh\necho hello from tools\n")
    (tools / "hello.sh").chmod(0o755)
    for runner in make_runner(mode, passthrough_paths=(str(tools),)):
        status = run_to_end(runner, request(tmp_path / "s", [str(tools / "hello.sh")]))
        assert status.exit_code == 0, status.message
        assert stdout_of(status) == "hello from tools\n"
