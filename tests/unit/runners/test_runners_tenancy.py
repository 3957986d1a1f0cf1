"""A step cannot reach its host or another tenant: each escape is tried from inside a step.

These are the reproductions of issue 12 on the runner itself (overlay isolation, the one meant to
contain a tenant): before the sandbox, every step ran as uid 0 with full capabilities, saw every
host process in /proc, read the engine's home through `/proc/<pid>/root`, and read any host file.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from _runners_support import make_runner, request, run_to_end, stdout_of

from engine.runners._identity import SandboxPolicy
from engine.runners.base import StepOutcome, StepSecurity, StepVolume, VolumeKind
from engine.runners.local import LocalRunner

SHARED = SandboxPolicy(allow_root=False, host_paths=())
ENGINE_ROOT = Path(__file__).resolve().parents[3]


def _runner(policy: SandboxPolicy) -> Iterator[LocalRunner]:
    yield from make_runner("overlay", sandbox=policy, prepare_ahead=0)


@pytest.fixture
def shared() -> Iterator[LocalRunner]:
    """A runner as `kubepipe up --auth` builds it: no root, no host paths."""
    yield from _runner(SHARED)


def _sh(runner: LocalRunner, workdir: Path, script: str, **kwargs: object) -> tuple[int, str]:
    status = run_to_end(runner, request(workdir, ["sh", "-c", script], **kwargs))  # type: ignore[arg-type]
    assert status.outcome in (StepOutcome.EXITED,), status.message
    return status.exit_code or 0, stdout_of(status)


@pytest.fixture
def host_secret() -> Iterator[Path]:
    """A world-readable file where tenants keep data: outside the runtime trees, under /var."""
    folder = Path("/var/lib") / f"kubepipe-tenant-test-{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True)
    secret = folder / "team-b.txt"
    secret.write_text("team-b secret\n")
    secret.chmod(0o644)
    try:
        yield secret
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _host_ids(out: str) -> tuple[str, str]:
    """The step's uid and gid as the host sees them: through its user namespace's maps if it
    runs in one (`/proc/self/uid_map` lines read "inside outside count"), else its own."""
    lines = out.splitlines()
    uid_map, gid_map = lines[2].split(), lines[3].split()
    uid = uid_map[1] if uid_map[:1] == [lines[0]] and uid_map[1:2] != ["0"] else lines[0]
    gid = gid_map[1] if gid_map[:1] == [lines[1]] and gid_map[1:2] != ["0"] else lines[1]
    return uid, gid


def test_a_step_runs_unprivileged_as_its_namespace(shared: LocalRunner, tmp_path: Path) -> None:
    script = (
        "id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map; "
        "grep -E '^(CapEff|CapBnd|NoNewPrivs)' /proc/self/status"
    )
    security = StepSecurity(namespace="team-a")
    code, out = _sh(shared, tmp_path / "s", script, security=security)
    uid = SHARED.namespace_uid("team-a")
    assert code == 0
    assert _host_ids(out) == (str(uid), str(uid)) and uid != 0
    assert out.split()[:2] == [str(uid), str(uid)]  # no user namespace unless ids are asked for
    assert "CapEff:\t0000000000000000" in out and "CapBnd:\t0000000000000000" in out
    assert "NoNewPrivs:\t1" in out
    assert SHARED.namespace_uid("team-b") != uid


def test_without_user_namespaces_a_step_runs_as_its_namespace_uid(
    shared: LocalRunner, tmp_path: Path
) -> None:
    shared._launcher._user_namespaces = False
    code, out = _sh(shared, tmp_path / "s", "id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map")
    uid = str(SHARED.namespace_uid("default"))
    assert code == 0 and out.split()[:2] == [uid, uid]


def test_a_step_sees_only_its_own_processes(shared: LocalRunner, tmp_path: Path) -> None:
    engine = os.getpid()
    script = (
        f"ls /proc | grep -cE '^[0-9]+$'; test -e /proc/{engine} && echo SEES-ENGINE; "
        f"cat /proc/{engine}/environ 2>/dev/null && echo READ-ENVIRON; "
        f"ls /proc/{engine}/root/ 2>/dev/null && echo ROOT-VISIBLE; kill -0 {engine} 2>/dev/null "
        "&& echo CAN-SIGNAL; cat /proc/1/environ >/dev/null 2>&1 && echo READ-SHIM; echo done"
    )
    code, out = _sh(shared, tmp_path / "s", script)
    assert code == 0 and "done" in out, out
    for leak in ("SEES-ENGINE", "READ-ENVIRON", "ROOT-VISIBLE", "CAN-SIGNAL", "READ-SHIM"):
        assert leak not in out
    assert int(out.split()[0]) <= 6  # the shim, the step, and what the step itself started


def test_a_step_cannot_see_other_tenants_files_or_the_engine_home(
    tmp_path: Path, host_secret: Path
) -> None:
    home = Path("/opt") / f"kubepipe-home-{uuid.uuid4().hex[:8]}"  # a runtime tree shows /opt
    (home / "artifacts" / "run-b").mkdir(parents=True)
    (home / "kubepipe.db").write_text("metadata")
    (home / "artifacts" / "run-b" / "model.bin").write_text("weights")
    try:
        policy = SandboxPolicy(allow_root=False, host_paths=(), hidden_paths=(str(home),))
        for runner in _runner(policy):
            script = (
                f"cat {host_secret} 2>/dev/null && echo READ-SECRET; "
                f"ls {host_secret.parent} 2>/dev/null | grep -q . && echo LISTED; "
                f"cat {home}/kubepipe.db 2>/dev/null && echo READ-DB; "
                f"cat {home}/artifacts/run-b/model.bin 2>/dev/null && echo READ-ARTIFACT; "
                f"ls {home} 2>/dev/null && echo HOME-VISIBLE; "
                f"echo pwned > {home}/pwned 2>/dev/null && echo WROTE-HOME; "
                "ls -A /home 2>/dev/null | grep -q . && echo HOST-DIRS; "
                f"ls -A {ENGINE_ROOT.parent}; "
                "ls /dev | grep -qE '^(vd|sd|nvme|loop)' && echo HOST-DEVICES; echo done"
            )
            code, out = _sh(runner, tmp_path / "s", script)
            assert code == 0 and "done" in out, out
            # the engine's code is bound in (the step imports it); its neighbours are not
            siblings = out[: out.index("done")].split()
            assert siblings == [ENGINE_ROOT.name], out
            for leak in (
                "READ-SECRET",
                "LISTED",
                "READ-DB",
                "READ-ARTIFACT",
                "HOME-VISIBLE",
                "WROTE-HOME",
                "HOST-DIRS",
                "HOST-DEVICES",
            ):
                assert leak not in out, out
            assert not (home / "pwned").exists()
    finally:
        shutil.rmtree(home, ignore_errors=True)


def test_runtime_trees_still_work_and_writes_stay_private(
    shared: LocalRunner, tmp_path: Path
) -> None:
    script = (
        "python3 -c 'import json, sqlite3; print(json.dumps([1]))' && "
        "mkdir -p /tmp/out && echo ok > /tmp/out/x && cat /tmp/out/x && "
        "echo no > /usr/kubepipe-test 2>/dev/null || echo usr-read-only"
    )
    code, out = _sh(shared, tmp_path / "s", script, outputs=["/tmp/out"])
    assert code == 0 and out.split() == ["[1]", "ok", "usr-read-only"], out
    assert not Path("/usr/kubepipe-test").exists()


@pytest.mark.parametrize(
    ("security", "field"),
    [
        (StepSecurity(run_as_user=0), "securityContext.runAsUser"),
        (StepSecurity(privileged=True), "securityContext.privileged"),
        (StepSecurity(run_as_group=0), "securityContext.runAsGroup"),
        (StepSecurity(supplemental_groups=(0,)), "securityContext.supplementalGroups"),
        (StepSecurity(capabilities_add=("SYS_ADMIN",)), "securityContext.capabilities.add"),
        (StepSecurity(capabilities_add=("NOT_A_CAP",)), "securityContext.capabilities.add"),
    ],
)
def test_a_shared_runner_refuses_what_would_escape(
    shared: LocalRunner, tmp_path: Path, security: StepSecurity, field: str
) -> None:
    """Without user namespaces (forced off here) root in any form is refused, naming the field;
    with them a runAsUser/runAsGroup is honoured inside one (see the next test)."""
    shared._launcher._user_namespaces = False
    status = run_to_end(shared, request(tmp_path / "s", ["true"], security=security))
    assert status.outcome is StepOutcome.LAUNCH_FAILED
    assert field in status.message


def test_root_and_capabilities_when_the_operator_allows_them(tmp_path: Path) -> None:
    for runner in _runner(SandboxPolicy(allow_root=True)):
        root = StepSecurity(run_as_user=0, capabilities_add=("NET_RAW",))
        code, out = _sh(runner, tmp_path / "root", "id -u; grep CapEff /proc/self/status", security=root)
        assert code == 0 and out.split()[0] == "0"
        assert int(out.split()[-1], 16) == 1 << 13  # CAP_NET_RAW alone: no_new_privs root
        user = StepSecurity(run_as_user=4321, run_as_group=4322, supplemental_groups=(4323,),
                            capabilities_add=("NET_BIND_SERVICE",))
        code, out = _sh(runner, tmp_path / "user", "id -u; id -g; id -G; grep CapEff /proc/self/status",
                        security=user)
        assert out.split()[:4] == ["4321", "4322", "4322", "4323"]
        assert int(out.split()[-1], 16) == 1 << 10  # CAP_NET_BIND_SERVICE, kept as ambient


def test_host_path_volumes_follow_the_allow_list(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "in.txt").write_text("shared input\n")
    allowed = SandboxPolicy(allow_root=False, host_paths=(str(tmp_path),))
    for runner in _runner(allowed):
        volume = StepVolume("data", VolumeKind.HOST_PATH, "/mnt/data", data, read_only=True)
        code, out = _sh(
            runner,
            tmp_path / "ro",
            "cat /mnt/data/in.txt; echo x > /mnt/data/new 2>/dev/null || echo read-only",
            volumes=[volume],
        )
        assert out.split("\n")[:2] == ["shared input", "read-only"] and code == 0
        assert not (data / "new").exists()
        data.chmod(0o777)
        writable = StepVolume("data", VolumeKind.HOST_PATH, "/mnt/data", data)
        code, out = _sh(runner, tmp_path / "rw", "echo made > /mnt/data/new", volumes=[writable])
        assert code == 0 and (data / "new").read_text() == "made\n"
    for runner in _runner(SHARED):
        volume = StepVolume("data", VolumeKind.HOST_PATH, "/mnt/data", data)
        status = run_to_end(runner, request(tmp_path / "refused", ["true"], volumes=[volume]))
        assert status.outcome is StepOutcome.LAUNCH_FAILED
        assert "hostPath" in status.message and "--allow-host-path" in status.message


def test_an_empty_dir_is_writable_by_the_step(shared: LocalRunner, tmp_path: Path) -> None:
    scratch = tmp_path / "pod" / "volumes" / "scratch"
    volume = StepVolume("scratch", VolumeKind.EMPTY_DIR, "/cache", scratch)
    code, out = _sh(shared, tmp_path / "s", "echo kept > /cache/f && cat /cache/f", volumes=[volume])
    assert code == 0 and out.strip() == "kept"
    assert (scratch / "f").read_text() == "kept\n"


def test_two_namespaces_cannot_read_each_others_private_files(tmp_path: Path) -> None:
    shared_dir = tmp_path / "exchange"
    shared_dir.mkdir(mode=0o777)
    shared_dir.chmod(0o777)
    policy = SandboxPolicy(allow_root=False, host_paths=(str(tmp_path),))
    volume = StepVolume("x", VolumeKind.HOST_PATH, "/x", shared_dir)
    for runner in _runner(policy):
        code, _ = _sh(
            runner,
            tmp_path / "b",
            "umask 077; echo b-only > /x/b.txt",
            security=StepSecurity(namespace="team-b"),
            volumes=[volume],
        )
        assert code == 0
        code, out = _sh(
            runner,
            tmp_path / "a",
            "cat /x/b.txt 2>/dev/null || echo denied",
            security=StepSecurity(namespace="team-a"),
            volumes=[volume],
        )
        assert out.strip() == "denied"


def test_a_shared_runner_honours_run_as_user_inside_a_user_namespace(
    shared: LocalRunner, tmp_path: Path
) -> None:
    """Root asked for on a shared server: root in a user namespace, an unprivileged uid outside."""
    if not shared._launcher.user_namespaces():
        pytest.skip("this kernel does not let an unprivileged uid make a user namespace")
    security = StepSecurity(namespace="team-a", run_as_user=0)
    script = (
        "id -u; grep -E '^CapEff' /proc/self/status; cat /proc/self/uid_map; "
        "echo x > /etc/kubepipe-x 2>/dev/null || echo etc-denied; touch /tmp/mine; "
        "stat -c %u /tmp/mine"
    )
    status = run_to_end(shared, request(tmp_path / "s", ["sh", "-c", script], outputs=["/tmp/mine"],
                                        security=security))
    out = stdout_of(status).split()
    host = SHARED.namespace_uid("team-a")
    assert status.exit_code == 0, status.stderr_path.read_text()
    assert out[0] == "0" and out[1:3] == ["CapEff:", "0000000000000000"]
    assert out[3:6] == ["0", str(host), "1"]  # uid 0 inside is the namespace's uid outside
    assert "etc-denied" in out and out[-1] == "0"
    mine = status.outputs["/tmp/mine"]
    assert mine is not None
    upper = tmp_path / "s" / "upper" / "tmp" / "mine"
    assert upper.stat().st_uid == host  # what it wrote belongs to an unprivileged host uid


def test_a_host_path_that_links_out_of_the_allow_list_is_refused(tmp_path: Path) -> None:
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    (allowed / "etc").symlink_to("/etc")
    policy = SandboxPolicy(allow_root=False, host_paths=(str(allowed),))
    for runner in _runner(policy):
        volume = StepVolume("v", VolumeKind.HOST_PATH, "/mnt/v", allowed / "etc")
        status = run_to_end(runner, request(tmp_path / "s", ["ls", "/mnt/v"], volumes=[volume]))
        assert status.outcome is StepOutcome.LAUNCH_FAILED
        assert "(which is /etc)" in status.message and "not in this server's allowed" in status.message


def test_an_output_the_step_could_not_read_is_not_collected(
    shared: LocalRunner, tmp_path: Path
) -> None:
    """The runner is root and reads through the step's view, where /opt shows: it reads as the
    step, so a root-only host file declared as an output is not collected (nor served)."""
    folder = Path("/opt") / f"kubepipe-secret-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    secret = folder / "key"
    secret.write_text("root only\n")
    secret.chmod(0o600)
    (folder / "public").write_text("anyone\n")
    try:
        status = run_to_end(
            shared,
            request(tmp_path / "s", ["sh", "-c", "echo mine > /tmp/mine"],
                    outputs=[str(secret), "/tmp/mine", str(folder)]),
        )
        assert status.exit_code == 0
        assert status.outputs[str(secret)] is None
        assert any("Permission denied" in note for note in status.notes), status.notes
        tree = status.outputs[str(folder)]  # the folder, less what the step could not read
        assert tree is not None and sorted(p.name for p in tree.iterdir()) == ["public"]
        assert any("left out 1 entries" in note and "/key" in note for note in status.notes)
        mine = status.outputs["/tmp/mine"]
        assert mine is not None and mine.read_text() == "mine\n"
        assert not any(
            p.is_file() and p.read_bytes() == b"root only\n" for p in (tmp_path / "s").rglob("*")
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_outputs_written_into_volumes_are_collected(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o777)
    data.chmod(0o777)
    policy = SandboxPolicy(allow_root=False, host_paths=(str(tmp_path),))
    for runner in _runner(policy):
        volumes = [
            StepVolume("data", VolumeKind.HOST_PATH, "/mnt/data", data),
            StepVolume("work", VolumeKind.EMPTY_DIR, "/work", tmp_path / "pod" / "volumes" / "work"),
        ]
        status = run_to_end(
            runner,
            request(tmp_path / "s", ["sh", "-c", "echo a > /mnt/data/a; echo b > /work/b"],
                    outputs=["/mnt/data/a", "/work/b"], volumes=volumes),
        )
        assert status.exit_code == 0, status.stderr_path.read_text()
        a, b = status.outputs["/mnt/data/a"], status.outputs["/work/b"]
        assert a is not None and a.read_text() == "a\n", status.notes
        assert b is not None and b.read_text() == "b\n", status.notes
