"""Runner pieces: request checks, images table, argosay, path mapping, mount plans, fakes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.runners import argosay
from engine.runners._pathmap import PathMap
from engine.runners._sandbox import MountEntry, OverlayLayout, read_mounts
from engine.runners._status import exit_code_of
from engine.runners.base import StepHandle, StepOutcome, StepRequest
from engine.runners.fake import FakeOutcome, FakeRunner, InstantRunner, by_key
from engine.runners.images import repository_of, resolve_argv

ARGOSAY = [sys.executable, str(Path(argosay.__file__))]


# --- requests and handles -------------------------------------------------------------------


def test_request_normalises_and_validates_container_paths(tmp_path: Path) -> None:
    step = StepRequest("k", ["true"], {}, tmp_path, working_dir="/a/./b/", output_paths=["/tmp//o"])
    assert step.working_dir == "/a/b" and step.output_paths == ("/tmp/o",)
    with pytest.raises(ValueError, match="must be an absolute container path"):
        StepRequest("k", ["true"], {}, tmp_path, output_paths=["relative/out"])
    with pytest.raises(ValueError, match="argv is empty"):
        StepRequest("k", [], {}, tmp_path)


def test_handle_json_round_trip(tmp_path: Path) -> None:
    handle = StepHandle("run/node/1", 4242, tmp_path, 1700000000.25)
    assert StepHandle.from_json(handle.to_json()) == handle


@pytest.mark.parametrize(
    ("returncode", "code"), [(0, 0), (3, 3), (-9, 137), (-15, 143), (None, None)]
)
def test_signal_deaths_become_container_exit_codes(
    returncode: int | None, code: int | None
) -> None:
    assert exit_code_of(returncode) == code


# --- images ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "command", "args", "argv"),
    [
        ("alpine:3.18", ["sh", "-c"], ["echo hi"], ["sh", "-c", "echo hi"]),
        ("alpine:3.18", None, None, ["sh"]),
        ("docker.io/library/busybox", None, ["echo", "x"], ["echo", "x"]),
        ("ubuntu", None, [], ["sh"]),
        ("debian:bookworm-slim", None, None, ["sh"]),
        ("python:3.11-slim", None, None, ["python3"]),
        ("python:3.11", None, ["-c", "print(1)"], ["-c", "print(1)"]),
        ("argoproj/argosay:v2", None, None, ARGOSAY),
        ("argoproj/argosay:v2", None, ["echo", "hi"], [*ARGOSAY, "echo", "hi"]),
        ("argoproj/argosay:v1", ["/argosay"], ["echo", "hi"], [*ARGOSAY, "echo", "hi"]),
        ("argoproj/argosay:v2", ["sh", "-c"], ["exit 1"], ["sh", "-c", "exit 1"]),
        ("my/unknown:1", ["run"], None, ["run"]),
    ],
)
def test_resolve_argv_follows_docker_entrypoint_rules(
    image: str, command: list[str] | None, args: list[str] | None, argv: list[str]
) -> None:
    assert resolve_argv(image, command, args) == argv


def test_resolve_argv_explains_unknown_images() -> None:
    with pytest.raises(
        ValueError,
        match=r"image ghcr.io/acme/train:2 has no known entrypoint; give the template a `command`",
    ):
        resolve_argv("ghcr.io/acme/train:2", None, ["--epochs", "3"])
    with pytest.raises(ValueError, match="no image and no `command`"):
        resolve_argv(None, None, None)


@pytest.mark.parametrize(
    ("image", "repository"),
    [
        ("python", "python"),
        ("localhost:5000/team/img:tag", "team/img"),
        ("quay.io/argoproj/argosay:v2@sha256:abc", "argoproj/argosay"),
        ("library/alpine", "alpine"),
    ],
)
def test_repository_of(image: str, repository: str) -> None:
    assert repository_of(image) == repository


# --- argosay --------------------------------------------------------------------------------


def _argosay(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ARGOSAY, *args], capture_output=True, text=True, cwd=tmp_path, timeout=30, check=False
    )


def test_argosay_echo_variants(tmp_path: Path) -> None:
    assert _argosay(tmp_path).stderr == "hello argo\n"
    assert _argosay(tmp_path, "echo").stderr == "hello argo\n"
    said = _argosay(tmp_path, "echo", "hi there")
    assert (said.returncode, said.stdout, said.stderr) == (
        0,
        "",
        "hi there\n",
    )  # Go println writes stderr
    target = tmp_path / "deep" / "out.txt"
    assert _argosay(tmp_path, "echo", "value", str(target)).returncode == 0
    assert target.read_text() == "value"
    assert _argosay(tmp_path, "echo", "a", "b", "c").returncode == 2


def test_argosay_cat_exit_sleep_assert(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("content\n")
    assert _argosay(tmp_path, "cat", "f", "f").stdout == "content\ncontent\n"
    missing = _argosay(tmp_path, "cat", "nope")
    assert missing.returncode == 2 and "panic: open nope" in missing.stderr
    assert _argosay(tmp_path, "exit").returncode == 0
    assert _argosay(tmp_path, "exit", "7").returncode == 7
    assert argosay.main(["exit", "0"]) == 0
    assert argosay.main(["exit", "x"]) == 2
    assert argosay.main(["sleep", "10ms"]) == 0
    assert argosay.main(["sleep"]) == 2
    assert argosay.main(["assert_contains", str(tmp_path / "f"), "tent"]) == 0
    assert argosay.main(["assert_contains", str(tmp_path / "f"), "absent"]) == 2
    assert argosay.main(["garbage"]) == 2


@pytest.mark.parametrize(
    ("text", "seconds"), [("1s", 1.0), ("1.5m", 90.0), ("300ms", 0.3), ("1h2m", 3720.0), ("0", 0.0)]
)
def test_argosay_go_durations(text: str, seconds: float) -> None:
    assert argosay.parse_duration(text) == pytest.approx(seconds)


def test_argosay_rejects_bad_durations() -> None:
    with pytest.raises(argosay.ArgosayError, match="invalid duration"):
        argosay.parse_duration("10")


# --- pathmap --------------------------------------------------------------------------------


def test_pathmap_rewrites_whole_paths_and_lone_parent_dirs() -> None:
    paths = PathMap(
        Path("/w/root"),
        ["/tmp/out.txt", "/data/outdir/r.json", "/usr/local/out"],
        keep=["/opt/venv"],
    )
    assert paths.rewrite("echo > /tmp/out.txt") == "echo > /w/root/tmp/out.txt"
    assert paths.rewrite("--out=/tmp/out.txt") == "--out=/w/root/tmp/out.txt"
    assert (
        paths.rewrite("mkdir -p /data/outdir && cd /data/")
        == "mkdir -p /w/root/data/outdir && cd /w/root/data/"
    )
    assert paths.rewrite("/usr/bin/python /data/other") == "/usr/bin/python /data/other"
    assert paths.rewrite("/x/tmp/out.txt /tmp/out.txt.bak") == "/x/tmp/out.txt /tmp/out.txt.bak"
    assert paths.rewrite("$HOME") == "$HOME"
    assert paths.host("/tmp/out.txt") == Path("/w/root/tmp/out.txt")


def test_pathmap_keeps_passthrough_trees() -> None:
    paths = PathMap(Path("/w/root"), ["/tmp"], keep=["/tmp/venv"])
    assert paths.rewrite("/tmp/venv/bin/python /tmp/x") == "/tmp/venv/bin/python /w/root/tmp/x"


# --- overlay plan ---------------------------------------------------------------------------

MOUNTINFO = """\
22 27 0:21 / /proc rw,relatime - proc proc rw
24 27 0:6 / /dev rw,relatime - devtmpfs devtmpfs rw
25 24 0:23 / /dev/shm rw,relatime - tmpfs tmpfs rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
28 27 0:25 / /mnt/tools ro,nosuid - tmpfs tools ro
30 27 0:27 / /tmp rw - tmpfs tmpfs rw
31 27 8:1 / /srv/my\\040data rw - ext4 /dev/sdb rw
32 27 0:29 / /sys rw - sysfs sysfs rw
33 32 0:30 / /sys/fs/cgroup rw - tmpfs tmpfs rw
"""


def test_read_mounts_orders_parents_first_and_unescapes() -> None:
    mounts = read_mounts(MOUNTINFO)
    points = [m.mount_point for m in mounts]
    assert "/" not in points and "/srv/my data" in points
    assert points.index("/sys") < points.index("/sys/fs/cgroup")
    assert next(m for m in mounts if m.mount_point == "/mnt/tools").read_only


def test_overlay_plan_classifies_mounts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.path.isdir", lambda path: True)
    layout = OverlayLayout(tmp_path, read_mounts(MOUNTINFO), passthrough=["/tmp/venv", "/usr"])
    kinds = {a.target: (a.kind, a.read_only) for a in layout.actions}
    assert kinds == {
        "/proc": ("rbind", False),
        "/dev": ("rbind", False),
        "/dev/shm": ("private", False),
        "/mnt/tools": ("bind", True),
        "/srv/my data": ("overlay", False),
        "/sys": ("rbind", False),  # /sys/fs/cgroup comes with it
        "/tmp/venv": ("bind", True),  # host /tmp itself is replaced by a private one
    }
    assert layout.writable_host_dir("/tmp/x") == tmp_path / "upper" / "tmp" / "x"
    sub_upper = layout.writable_host_dir("/srv/my data/in")
    assert sub_upper is not None and sub_upper.parts[-2:] == ("upper", "in")
    assert sub_upper.is_relative_to(tmp_path / "mounts")
    assert layout.writable_host_dir("/dev/shm/a") == tmp_path / "shm" / "a"
    assert layout.writable_host_dir("/proc/x") is None


def test_mount_entries_are_plain_values() -> None:
    assert MountEntry("/a", "ext4", False) == MountEntry("/a", "ext4", False)


# --- fakes ----------------------------------------------------------------------------------


def test_fake_runner_scripts_outcomes_by_key(tmp_path: Path) -> None:
    script = by_key(
        {
            "run/train/*": FakeOutcome(exit_code=1, stderr="boom", running_polls=2),
            "run/load/*": FakeOutcome(
                stdout="rows=3\n", outputs={"/tmp/o.txt": b"3", "/tmp/d": {"a/b": "x"}}
            ),
        }
    )
    runner = FakeRunner(script)
    load = runner.launch(
        StepRequest(
            "run/load/0", ["x"], {}, tmp_path / "l", output_paths=["/tmp/o.txt", "/tmp/d", "/m"]
        )
    )
    train = runner.launch(StepRequest("run/train/0", ["x"], {}, tmp_path / "t"))
    loaded = runner.poll(load)
    assert (
        loaded is not None
        and loaded.exit_code == 0
        and loaded.stdout_path.read_text() == "rows=3\n"
    )
    assert (
        loaded.outputs["/tmp/o.txt"] is not None
        and loaded.outputs["/tmp/o.txt"].read_bytes() == b"3"
    )
    directory = loaded.outputs["/tmp/d"]
    assert directory is not None and (directory / "a" / "b").read_text() == "x"
    assert loaded.outputs["/m"] is None
    assert runner.poll(train) is None and runner.poll(train) is None
    trained = runner.poll(train)
    assert (
        trained is not None and trained.exit_code == 1 and trained.stderr_path.read_text() == "boom"
    )
    assert [r.key for r in runner.launched] == ["run/load/0", "run/train/0"]


def test_fake_runner_cancel(tmp_path: Path) -> None:
    runner = FakeRunner(lambda request: FakeOutcome(running_polls=100))
    handle = runner.launch(StepRequest("k", ["x"], {}, tmp_path))
    assert runner.poll(handle) is None
    runner.cancel(handle, "stop")
    status = runner.poll(handle)
    assert (
        status is not None and status.outcome is StepOutcome.CANCELLED and status.message == "stop"
    )
    assert runner.cancelled == {"k": "stop"}


def test_instant_runner_finishes_everything_at_once(tmp_path: Path) -> None:
    runner = InstantRunner()
    plain = runner.poll(runner.launch(StepRequest("a", ["x"], {}, tmp_path)))
    assert (plain.outcome, plain.exit_code, dict(plain.outputs)) == (StepOutcome.EXITED, 0, {})
    with_outputs = runner.poll(
        runner.launch(StepRequest("b", ["x"], {}, tmp_path, output_paths=["/o"]))
    )
    assert dict(with_outputs.outputs) == {"/o": None}
    assert not list(tmp_path.iterdir())  # no files written


# --- cgroup discovery -----------------------------------------------------------------------


def test_find_places_on_cgroup_v1() -> None:
    from engine.runners._cgroups import find_places

    proc_cgroup = "4:memory:/session/abc\n2:cpu,cpuacct:/\n0::/\n"
    mountinfo = (
        "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
        "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
        "41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"
    )
    places = find_places(proc_cgroup, mountinfo)
    assert places["memory"].version == 1
    assert places["memory"].parent == Path("/sys/fs/cgroup/memory/session/abc")
    assert places["cpu"].parent == Path("/sys/fs/cgroup/cpu,cpuacct")


def test_find_places_on_cgroup_v2(tmp_path: Path) -> None:
    from engine.runners._cgroups import find_places

    own = tmp_path / "user.slice" / "app"
    own.mkdir(parents=True)
    (own / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    mountinfo = f"30 1 0:26 / {tmp_path} rw - cgroup2 cgroup2 rw\n"
    places = find_places("0::/user.slice/app\n", mountinfo)
    assert {name: (p.version, p.parent) for name, p in places.items()} == {
        "memory": (2, own),
        "cpu": (2, own),
    }


def test_find_places_in_a_container_with_a_nested_mount_root(tmp_path: Path) -> None:
    from engine.runners._cgroups import find_places

    (tmp_path / "cgroup.controllers").write_text("memory\n")
    mountinfo = f"30 1 0:26 /docker/abc {tmp_path} rw - cgroup2 cgroup2 rw\n"
    assert find_places("0::/docker/abc\n", mountinfo)["memory"].parent == tmp_path


def test_every_runner_satisfies_the_protocol() -> None:
    from engine.runners.base import Runner
    from engine.runners.local import LocalRunner, LocalRunnerSettings

    local = LocalRunner(LocalRunnerSettings(isolation="pathmap"))
    try:
        runners: list[Runner] = [local, FakeRunner(), InstantRunner()]
        assert all(isinstance(r, Runner) for r in runners)
    finally:
        local.close()


def test_tenant_plan_shows_only_runtime_trees_and_hides_state(tmp_path: Path) -> None:
    code = tmp_path / "code"  # stands for the engine's source tree, with a home inside it
    (code / ".home").mkdir(parents=True)
    layout = OverlayLayout(
        tmp_path,
        read_mounts(MOUNTINFO),
        passthrough=["/usr/lib/python3", str(code)],
        runtime=["/usr", "/etc"],
        hidden=[str(code / ".home"), "/etc/kubepipe", "/etc/kubepipe/db", "/var/lib/kp"],
        top_level=[("usr", True), ("etc", True), ("work", True), ("srv", True), ("tmp", True),
                   ("proc", True), (".dockerenv", False)],
    )
    kinds = {a.target: a.kind for a in layout.actions}
    assert kinds["/dev"] == "dev" and "/proc" not in kinds  # own /dev; /proc mounted at spawn
    assert kinds[str(code)] == "bind"  # the engine's code, read-only at its own path
    assert kinds[str(code / ".home")] == "mask"  # state inside a bound tree: an empty tmpfs
    assert "/usr/lib/python3" not in kinds  # already shown by the /usr runtime tree
    assert "/srv/my data" not in kinds and "/mnt/tools" not in kinds  # under masked trees
    assert layout.masked == [("/work", True), ("/srv", True), ("/.dockerenv", False)]
    entries = {path: kind for path, kind in layout.skeleton()}
    assert entries[tmp_path / "upper" / "work"] == "opaque"
    assert entries[tmp_path / "upper" / ".dockerenv"] == "whiteout"
    assert entries[tmp_path / "upper" / "etc" / "kubepipe"] == "whiteout"  # /etc/kubepipe/db with it
    assert tmp_path / "upper" / "etc" / "kubepipe" / "db" not in entries
    bind_target = tmp_path / "upper" / str(code).lstrip("/")
    assert entries[bind_target] == "dir"  # the bind's mount point, in the private /tmp


def test_a_resolv_conf_linking_into_a_hidden_tree_is_copied_into_the_view(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stub = tmp_path / "stub-resolv.conf"
    stub.write_text("nameserver 127.0.0.53\n")
    layout = OverlayLayout(tmp_path / "w", read_mounts(MOUNTINFO), runtime=["/usr", "/etc"],
                           top_level=[("etc", True), ("run", True)])
    real_islink, real_realpath = os.path.islink, os.path.realpath
    monkeypatch.setattr("os.path.islink", lambda p: p == "/etc/resolv.conf" or real_islink(p))
    monkeypatch.setattr(
        "os.path.realpath",
        lambda p, **k: "/run/systemd/resolve/stub-resolv.conf" if p == "/etc/resolv.conf"
        else real_realpath(p, **k),
    )
    monkeypatch.setattr("shutil.copyfile", lambda src, dst: Path(dst).write_text(stub.read_text()))
    layout.resolver()
    assert (tmp_path / "w" / "upper" / "etc" / "resolv.conf").read_text() == "nameserver 127.0.0.53\n"
