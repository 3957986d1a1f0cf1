"""`kubepipe token` and `kubepipe server`/`up` through the engine's CLI (entry points)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cli import main as kubepipe
from server.cli import is_loopback
from server.store import ServerStore, token_digest


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KUBEPIPE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("KUBEPIPE_DB_URL", raising=False)
    return tmp_path / "home"


def test_token_create_prints_the_token_alone_last_and_stores_only_its_hash(home: Path) -> None:
    result = CliRunner().invoke(
        kubepipe, ["token", "create", "--namespace", "team-a", "--role", "editor"]
    )
    assert result.exit_code == 0, result.output
    token = result.stdout.strip().splitlines()[-1]
    assert token.startswith("kp_") and " " not in token
    store = ServerStore(f"sqlite:///{home / 'kubepipe.db'}")
    try:
        grant = store.grant_for(token)
        assert grant is not None and grant.namespace == "team-a" and grant.role.value == "editor"
        raw = (home / "kubepipe.db").read_bytes()
        assert token.encode() not in raw and token_digest(token).encode() in raw
    finally:
        store.close()
    listed = CliRunner().invoke(kubepipe, ["token", "list"])
    assert "team-a" in listed.stdout and token not in listed.stdout
    token_id = listed.stdout.splitlines()[1].split()[0]
    assert CliRunner().invoke(kubepipe, ["token", "revoke", token_id]).exit_code == 0
    assert CliRunner().invoke(kubepipe, ["token", "revoke", token_id]).exit_code == 1


def test_token_create_rejects_an_unknown_role(home: Path) -> None:
    result = CliRunner().invoke(
        kubepipe, ["token", "create", "--namespace", "a", "--role", "admin"]
    )
    assert result.exit_code == 2 and "admin" in result.output


@pytest.mark.parametrize("command", ["server", "up"])
def test_a_public_address_without_auth_is_refused(home: Path, command: str) -> None:
    result = CliRunner().invoke(kubepipe, [command, "--host", "0.0.0.0", "--port", "1"])
    assert result.exit_code == 2
    assert "refusing to serve 0.0.0.0 without auth" in result.output


def test_loopback_addresses() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.2")
    assert not is_loopback("example.com")


def test_the_commands_are_listed_by_kubepipe_help(home: Path) -> None:
    result = CliRunner().invoke(kubepipe, ["--help"])
    for name in ("server", "token", "up"):
        assert f"  {name} " in result.stdout


def test_token_create_rejects_a_namespace_that_is_not_a_dns_label(home: Path) -> None:
    result = CliRunner().invoke(
        kubepipe, ["token", "create", "--namespace", "Team_A", "--role", "editor"]
    )
    assert result.exit_code == 2 and "is not a namespace name" in result.output
