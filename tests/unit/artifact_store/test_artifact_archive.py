"""tar.gz packing and safe unpacking (artifact_store.archive)."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import tempfile
from pathlib import Path
from typing import Union

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from artifact_store import ArchiveError, is_tar_gz, pack_path, unpack_to

Tree = dict[str, Union[bytes, "Tree"]]

names = st.text(alphabet="abcXYZ019_-. é", min_size=1, max_size=8).filter(
    lambda s: s not in (".", "..")
)
trees: st.SearchStrategy[Tree] = st.dictionaries(
    names,
    st.recursive(
        st.binary(max_size=300),
        lambda children: st.dictionaries(names, children, max_size=4),
        max_leaves=12,
    ),
    max_size=5,
)


def write_tree(root: Path, tree: Tree) -> None:
    root.mkdir()
    for name, node in tree.items():
        if isinstance(node, bytes):
            (root / name).write_bytes(node)
        else:
            write_tree(root / name, node)


def read_tree(root: Path) -> Tree:
    return {
        child.name: child.read_bytes() if child.is_file() else read_tree(child)
        for child in root.iterdir()
    }


def make_tgz(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    path.write_bytes(buffer.getvalue())
    return path


def member(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    return info


# -- round trips ----------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(trees)
def test_any_directory_tree_round_trips(tree: Tree) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch)
        write_tree(base / "outputs", tree)
        pack_path(base / "outputs", base / "a.tgz")
        assert is_tar_gz(base / "a.tgz")
        unpack_to(base / "a.tgz", base / "in" / "data")
        assert read_tree(base / "in" / "data") == tree
        pack_path(base / "outputs", base / "b.tgz")
        assert (base / "a.tgz").read_bytes() == (base / "b.tgz").read_bytes()


def test_a_single_file_round_trips_to_the_destination_path(tmp_path: Path) -> None:
    (tmp_path / "model.bin").write_bytes(b"\x00weights")
    (tmp_path / "model.bin").chmod(0o750)
    pack_path(tmp_path / "model.bin", tmp_path / "model.tgz")
    unpack_to(tmp_path / "model.tgz", tmp_path / "inputs" / "weights")
    restored = tmp_path / "inputs" / "weights"
    assert restored.read_bytes() == b"\x00weights"
    assert restored.stat().st_mode & 0o777 == 0o750


def test_packing_is_deterministic_and_strips_ownership_and_times(tmp_path: Path) -> None:
    src = tmp_path / "out"
    write_tree(src, {"b": b"2", "a": {"z": b"1", "y": b""}})
    pack_path(src, tmp_path / "first.tgz")
    for path in [src, src / "b", src / "a", src / "a" / "z"]:
        os.utime(path, (1_700_000_000, 1_700_000_000))
    pack_path(src, tmp_path / "second.tgz")
    assert (tmp_path / "first.tgz").read_bytes() == (tmp_path / "second.tgz").read_bytes()
    with tarfile.open(tmp_path / "first.tgz", "r:gz") as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == ["out", "out/a", "out/a/y", "out/a/z", "out/b"]
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname) for m in members} == {(0, 0, 0, "", "")}


def test_internal_relative_symlinks_are_kept(tmp_path: Path) -> None:
    src = tmp_path / "out"
    write_tree(src, {"lib": {"libx.so.1": b"elf"}, "bin": {}})
    (src / "lib" / "libx.so").symlink_to("libx.so.1")
    (src / "bin" / "libx").symlink_to("../lib/libx.so")
    pack_path(src, tmp_path / "a.tgz")
    unpack_to(tmp_path / "a.tgz", tmp_path / "dest")
    assert os.readlink(tmp_path / "dest" / "bin" / "libx") == "../lib/libx.so"
    assert (tmp_path / "dest" / "bin" / "libx").read_bytes() == b"elf"


def test_several_top_level_entries_become_the_destination_directory(tmp_path: Path) -> None:
    # The shape `tar -czf a.tgz -C dir .` produces.
    members = [(member(".", tarfile.DIRTYPE), None), (member("./a"), b"1"), (member("./b"), b"2")]
    unpack_to(make_tgz(tmp_path / "a.tgz", members), tmp_path / "dest")
    assert read_tree(tmp_path / "dest") == {"a": b"1", "b": b"2"}


def test_unpacks_into_an_existing_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "f").write_bytes(b"x")
    pack_path(tmp_path / "src", tmp_path / "a.tgz")
    (tmp_path / "dest").mkdir()
    unpack_to(tmp_path / "a.tgz", tmp_path / "dest")
    assert read_tree(tmp_path / "dest") == {"f": b"x"}


def test_refuses_to_overwrite_a_non_empty_destination(tmp_path: Path) -> None:
    (tmp_path / "src").write_bytes(b"x")
    pack_path(tmp_path / "src", tmp_path / "a.tgz")
    (tmp_path / "dest").mkdir()
    (tmp_path / "dest" / "keep").write_bytes(b"mine")
    with pytest.raises(ArchiveError, match="not an empty directory"):
        unpack_to(tmp_path / "a.tgz", tmp_path / "dest")
    assert read_tree(tmp_path / "dest") == {"keep": b"mine"}


# -- packing refusals -------------------------------------------------------------


@pytest.mark.parametrize("target", ["/etc/passwd", "../../outside", "../../out/sub"])
def test_pack_refuses_links_leaving_the_tree(tmp_path: Path, target: str) -> None:
    src = tmp_path / "out"
    write_tree(src, {"sub": {}})
    (src / "sub" / "link").symlink_to(target)
    with pytest.raises(ArchiveError, match="points outside"):
        pack_path(src, tmp_path / "a.tgz")
    assert not (tmp_path / "a.tgz").exists()


def test_pack_refuses_special_files_and_missing_paths(tmp_path: Path) -> None:
    src = tmp_path / "out"
    write_tree(src, {})
    os.mkfifo(src / "pipe")
    with pytest.raises(ArchiveError, match="FIFO"):
        pack_path(src, tmp_path / "a.tgz")
    with pytest.raises(ArchiveError, match="missing"):
        pack_path(tmp_path / "missing", tmp_path / "b.tgz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


# -- malicious archives -----------------------------------------------------------

MALICIOUS = {
    "absolute path": [(member("/tmp/evil"), b"x")],
    "dotdot path": [(member("../evil"), b"x")],
    "nested dotdot": [(member("top/a/../../../evil"), b"x")],
    "absolute symlink": [
        (member("top", tarfile.DIRTYPE), None),
        (member("top/l", tarfile.SYMTYPE, "/etc"), None),
    ],
    "escaping symlink": [
        (member("top", tarfile.DIRTYPE), None),
        (member("top/l", tarfile.SYMTYPE, "../.."), None),
    ],
    "symlink above the renamed root": [
        (member("top", tarfile.DIRTYPE), None),
        (member("top/l", tarfile.SYMTYPE, "../top/x"), None),
    ],
    "lone top-level symlink": [(member("l", tarfile.SYMTYPE, "."), None)],
    "link chain": [
        (member("p", tarfile.SYMTYPE, "."), None),
        (member("x", tarfile.SYMTYPE, "p/.."), None),
        (member("x/evil"), b"x"),
    ],
    "link redirected later": [
        (member("x", tarfile.SYMTYPE, "p/.."), None),
        (member("p", tarfile.SYMTYPE, "."), None),
        (member("y"), b"y"),
    ],
    "escaping link beside others": [
        (member("l", tarfile.SYMTYPE, ".."), None),
        (member("f"), b"x"),
    ],
    "write through redirected link": [
        (member("x", tarfile.SYMTYPE, "p/.."), None),
        (member("p", tarfile.SYMTYPE, "."), None),
        (member("x/evil"), b"x"),
    ],
    "hardlink outside": [
        (member("top/f"), b"x"),
        (member("top/h", tarfile.LNKTYPE, "/etc/passwd"), None),
    ],
    "hardlink to unknown": [
        (member("top/f"), b"x"),
        (member("top/h", tarfile.LNKTYPE, "top/nope"), None),
    ],
    "device": [(member("top/dev", tarfile.CHRTYPE), None)],
    "duplicate": [(member("top/f"), b"1"), (member("top/f"), b"2")],
}


@pytest.mark.parametrize("members", MALICIOUS.values(), ids=MALICIOUS.keys())
def test_malicious_archives_are_refused_and_nothing_is_written(
    tmp_path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    tgz = make_tgz(tmp_path / "bad.tgz", members)
    with pytest.raises(ArchiveError, match="refusing to unpack") as raised:
        unpack_to(tgz, work / "dest")
    assert "Fix:" in str(raised.value)
    assert list(work.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.tgz", "work"]


def test_hardlinks_to_earlier_members_are_copied(tmp_path: Path) -> None:
    tgz = make_tgz(
        tmp_path / "a.tgz",
        [(member("top/f"), b"data"), (member("top/h", tarfile.LNKTYPE, "top/f"), None)],
    )
    unpack_to(tgz, tmp_path / "dest")
    assert read_tree(tmp_path / "dest") == {"f": b"data", "h": b"data"}


def test_not_a_tar_gz_is_reported_clearly(tmp_path: Path) -> None:
    (tmp_path / "plain.txt").write_bytes(b"hello")
    with pytest.raises(ArchiveError, match="not a readable gzip-compressed tar"):
        unpack_to(tmp_path / "plain.txt", tmp_path / "dest")
    truncated = tmp_path / "cut.tgz"
    (tmp_path / "f").write_bytes(os.urandom(100_000))
    pack_path(tmp_path / "f", truncated)
    truncated.write_bytes(truncated.read_bytes()[:-5000])
    with pytest.raises(ArchiveError):
        unpack_to(truncated, tmp_path / "dest")
    assert not (tmp_path / "dest").exists()
    with pytest.raises(ArchiveError, match="no members"):
        unpack_to(make_tgz(tmp_path / "empty.tgz", []), tmp_path / "dest")


def test_is_tar_gz(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"x")
    pack_path(tmp_path / "f", tmp_path / "f.tgz")
    with tarfile.open(tmp_path / "plain.tar", "w") as tar:
        tar.add(tmp_path / "f", arcname="f")
    (tmp_path / "g.gz").write_bytes(gzip.compress(b"not a tar"))
    assert is_tar_gz(tmp_path / "f.tgz")
    assert not is_tar_gz(tmp_path / "f")
    assert not is_tar_gz(tmp_path / "plain.tar")
    assert not is_tar_gz(tmp_path / "g.gz")
    assert not is_tar_gz(make_tgz(tmp_path / "empty.tgz", []))
    assert not is_tar_gz(tmp_path)
    with pytest.raises(ArchiveError, match="missing"):
        is_tar_gz(tmp_path / "missing")
