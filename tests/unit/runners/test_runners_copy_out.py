"""`copy_out` over arbitrary trees of files, directories and links: nothing outside is ever read.

A stand-in for a step's root is filled with a random tree whose links point anywhere (the host
secret, `..` chains, siblings, absolute paths inside the root); whatever the tree, the copy holds
no byte of the secret, and an output that is a link, or lies under one, is refused.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.runners._files import OutputRefused, _split, copy_out

SECRET = b"the host's secret"
NAMES = st.sampled_from(["a", "b", "c", "out", "d"])


def _targets(secret: Path) -> st.SearchStrategy[str]:
    return st.sampled_from(
        [str(secret), "../" * 30 + str(secret).lstrip("/"), "..", "../..", "a", "d/a", "/tmp/out"]
        + [str(secret.parent), "."]
    )


def _tree(secret: Path, depth: int = 2) -> st.SearchStrategy[dict[str, object]]:
    leaf = st.one_of(
        st.just(b"data"),
        _targets(secret).map(lambda target: ("link", target)),
    )
    if depth == 0:
        return st.dictionaries(NAMES, leaf, max_size=3)
    return st.dictionaries(NAMES, st.one_of(leaf, _tree(secret, depth - 1)), max_size=3)


def _build(folder: Path, tree: dict[str, object]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, node in tree.items():
        if isinstance(node, bytes):
            (folder / name).write_bytes(node)
        elif isinstance(node, tuple):
            (folder / name).symlink_to(node[1])
        else:
            assert isinstance(node, dict)
            _build(folder / name, node)


def _links_on_the_way(root: Path, container_path: str) -> bool:
    current = root
    for part in container_path.strip("/").split("/"):
        current = current / part
        if current.is_symlink():
            return True
        if not current.exists():
            return False
    return False


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_nothing_outside_the_step_is_ever_copied(data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch)
        secret = base / "host" / "shadow"
        secret.parent.mkdir()
        secret.write_bytes(SECRET)
        root = base / "root"
        _build(root / "tmp", data.draw(_tree(secret), label="tree"))
        container_path = data.draw(st.sampled_from(["/tmp/out", "/tmp/d", "/tmp/d/a"]))
        dest = base / "outputs" / "x"
        refused = _links_on_the_way(root, container_path)
        try:
            copied = copy_out(str(root) + container_path, container_path, dest)
        except OutputRefused as error:
            assert refused, error
            assert container_path in str(error)
            return
        assert not refused
        if copied is None:
            return
        for folder, _dirs, files in os.walk(dest):
            for name in files:
                path = Path(folder) / name
                if not path.is_symlink():
                    assert path.read_bytes() != SECRET, path


@pytest.mark.parametrize(
    ("host", "container", "expected"),
    [
        ("/proc/self/fd/7/tmp/out", "/tmp/out", ("/proc/self/fd/7", ["tmp", "out"])),
        ("/w/root/tmp/out", "/tmp//out/", ("/w/root", ["tmp", "out"])),
        ("/w/mounts/3/upper/out", "/data/out", ("/w/mounts/3/upper", ["out"])),
        ("/data/out", "/data/out", ("/", ["data", "out"])),
    ],
)
def test_the_trusted_base_is_the_host_path_less_the_containers_tail(
    host: str, container: str, expected: tuple[str, list[str]]
) -> None:
    assert _split(host, container) == expected
