"""Who a step runs as, decided from the operator's policy and the step's securityContext."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.runners._identity import SandboxPolicy, StepRefused, resolve_identity
from engine.runners.base import StepSecurity

SHARED = SandboxPolicy(allow_root=False, host_paths=())
CLI = SandboxPolicy()


@given(st.text(min_size=1, max_size=63))
def test_every_namespace_gets_a_stable_unprivileged_uid(namespace: str) -> None:
    uid = SHARED.namespace_uid(namespace)
    assert uid == SandboxPolicy().namespace_uid(namespace)
    assert SHARED.uid_base <= uid < SHARED.uid_base + SHARED.uid_span


def test_a_configured_step_uid_serves_every_namespace() -> None:
    policy = SandboxPolicy(step_uid=4242)
    assert {policy.namespace_uid(n) for n in ("a", "b")} == {4242}
    with pytest.raises(ValueError, match="unprivileged"):
        SandboxPolicy(step_uid=0)


def test_a_step_naming_no_ids_runs_as_its_namespace_uid() -> None:
    host = SHARED.namespace_uid("team-a")
    for user_namespaces in (True, False):
        plain = resolve_identity(SHARED, StepSecurity(namespace="team-a"), user_namespaces)
        assert (plain.uid, plain.gid, plain.inner_uid, plain.capabilities) == (host, host, None, ())
    asked = resolve_identity(SHARED, StepSecurity(namespace="team-a", run_as_group=5), True)
    assert (asked.uid, asked.inner_uid, asked.inner_gid) == (host, 0, 5)


def test_the_cli_grants_host_ids_the_shared_server_maps_them() -> None:
    asked = StepSecurity(run_as_user=0, run_as_group=0, supplemental_groups=(10,))
    granted = resolve_identity(CLI, asked, user_namespaces=True)
    assert (granted.uid, granted.gid, granted.groups, granted.inner_uid) == (0, 0, (10,), None)
    mapped = resolve_identity(SHARED, StepSecurity(run_as_user=0), user_namespaces=True)
    assert mapped.uid != 0 and mapped.inner_uid == 0


def test_run_as_non_root_refuses_the_image_default_of_root() -> None:
    with pytest.raises(StepRefused, match="runAsNonRoot"):
        resolve_identity(
            SHARED, StepSecurity(run_as_non_root=True, run_as_group=3), user_namespaces=True
        )
    ok = resolve_identity(
        SHARED, StepSecurity(run_as_non_root=True, run_as_user=1000), user_namespaces=True
    )
    assert ok.inner_uid == 1000


def test_drop_argv_keeps_only_the_granted_capabilities() -> None:
    identity = resolve_identity(
        CLI, StepSecurity(run_as_user=5, capabilities_add=("cap_net_raw",)), False
    )
    argv = identity.drop_argv("/usr/bin/setpriv")
    assert "--bounding-set=-all,+net_raw" in argv and "--ambient-caps=-all,+net_raw" in argv
    assert "--no-new-privs" in argv and argv[-1] == "--"
    nested = resolve_identity(SHARED, StepSecurity(run_as_user=0), True).drop_argv(
        "setpriv", "unshare"
    )
    assert nested[nested.index("unshare") :] == [
        "unshare", "--user", "--map-user=0", "--map-group=0", "--",
        "setpriv", "--inh-caps=-all", "--bounding-set=-all", "--",
    ]


@pytest.mark.parametrize(
    ("root", "path", "allowed"),
    [("/data", "/data", True), ("/data", "/data/x/../y", True), ("/data", "/data2", False),
     ("/data", "/data/../etc", False), ("/", "/anything", True)],
)
def test_host_path_allow_list_is_by_whole_components(root: str, path: str, allowed: bool) -> None:
    assert SandboxPolicy(host_paths=(root,)).host_path_allowed(path) is allowed
    assert SandboxPolicy(host_paths=None).host_path_allowed(path)
    assert not SandboxPolicy(host_paths=()).host_path_allowed(path)


def test_entry_points_build_the_policy_from_settings(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from engine.runners.setup import isolation_warning, local_runner_settings
    from engine.settings import Settings

    settings = Settings(home=tmp_path / "home", db_url=f"sqlite:///{tmp_path}/db/k.db")
    cli = local_runner_settings(settings).sandbox
    shared = local_runner_settings(settings, shared=True).sandbox
    assert cli.allow_root and cli.host_paths is None
    assert not shared.allow_root and shared.host_paths == ()
    assert set(shared.hidden_paths) == {
        str(tmp_path / "home"), str(tmp_path / "db"), str(tmp_path / "home" / "artifacts")
    }
    granted = Settings(home=tmp_path, allow_root_steps=True, allowed_host_paths=["/data"])
    opened = local_runner_settings(granted, shared=True).sandbox
    assert opened.allow_root and opened.host_paths == ("/data",)
    pathmap = local_runner_settings(Settings(home=tmp_path, isolation="pathmap"), shared=True)
    warning = isolation_warning(pathmap)
    assert warning is not None and "isolation=pathmap" in warning and "weaker" in warning
