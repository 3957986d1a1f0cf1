"""`packages_to_install` / `pip_index_urls`: a step pip-installs its packages when it starts.

No internet: the test builds a one-module wheel, serves it as a PEP 503 simple index over HTTP
on 127.0.0.1 and has a component import it. A file:// index would not do: a step sees nothing
of the host's files, as a pod does not.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import http.server
import shutil
import tempfile
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from dsl_support import compiled_text, load_yaml, run_pipeline

import dsl

NAME, VERSION = "kubepipe_tinypkg", "1.0"


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def build_wheel(folder: Path) -> Path:
    """A pure-Python wheel: `import kubepipe_tinypkg; kubepipe_tinypkg.triple(x)`."""
    info = f"{NAME}-{VERSION}.dist-info"
    files = {
        f"{NAME}/__init__.py": b"def triple(x):\n    return 3 * x\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {VERSION}\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: kubepipe-test\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }
    record = "\n".join([_record_line(p, d) for p, d in files.items()] + [f"{info}/RECORD,,"])
    wheel = folder / f"{NAME}-{VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
        archive.writestr(f"{info}/RECORD", record + "\n")
    return wheel


@pytest.fixture
def simple_index() -> Iterator[str]:
    """A PEP 503 index holding the wheel, served over HTTP on 127.0.0.1 as a real index is.

    A step sees none of the host's files (its sandbox), but shares its network, as a pod does.
    """
    root = Path(tempfile.mkdtemp(prefix="kubepipe-pip-index-"))
    project = root / "simple" / NAME.replace("_", "-")
    project.mkdir(parents=True)
    wheel = build_wheel(root)
    (project / "index.html").write_text(
        f'<!DOCTYPE html><html><body><a href="../../{wheel.name}">{wheel.name}</a></body></html>\n'
    )
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/simple"
    finally:
        server.shutdown()
        server.server_close()
        shutil.rmtree(root, ignore_errors=True)


def test_step_installs_packages_from_an_index(tmp_path: Path, simple_index: str) -> None:
    @dsl.component(packages_to_install=[NAME], pip_index_urls=[simple_index])
    def tripled(x: int) -> int:
        import kubepipe_tinypkg

        return kubepipe_tinypkg.triple(x)

    @dsl.pipeline(name="packages")
    def packages(x: int = 14) -> int:
        return tripled(x=x).output

    ran = run_pipeline(packages, tmp_path)
    assert ran.phase == "Succeeded", ran.run["message"]
    assert ran.outputs == {"Output": 42}


def test_packages_ride_in_the_step_description(simple_index: str) -> None:
    @dsl.component(
        packages_to_install=["a==1", "b"], pip_index_urls=[simple_index, "https://x/simple"]
    )
    def nothing() -> None:
        return None

    @dsl.pipeline(name="described")
    def described() -> None:
        nothing()

    template = next(
        t
        for t in load_yaml(compiled_text(described))["spec"]["templates"]
        if t["name"] == "nothing"
    )
    io = template["container"]["command"][-1]
    assert '"packages": ["a==1", "b"]' in io
    assert f'"pip_index_urls": ["{simple_index}", "https://x/simple"]' in io
