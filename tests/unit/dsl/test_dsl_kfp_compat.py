"""KFP v2 pipelines run after changing `from kfp import dsl` to `import dsl`.

The pipelines in kfp_data/ are written against kfp.dsl; the test rewrites the import, loads the
module, runs the pipeline through the engine and compares with the components called directly.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from dsl_support import run_pipeline

DATA = Path(__file__).parent / "kfp_data"


def as_kubepipe(path: Path, tmp: Path) -> ModuleType:
    text = path.read_text(encoding="utf-8")
    text = text.replace("from kfp import dsl", "import dsl").replace("from kfp.dsl import", "from dsl import")
    assert "kfp" not in text.replace("kfp-", "")
    target = tmp / path.name
    target.write_text(text, encoding="utf-8")
    name = f"kfp_compat_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, target)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("path", sorted(DATA.glob("kfp_*.py")), ids=lambda p: p.stem)
def test_kfp_pipeline_runs_unchanged(path: Path, tmp_path: Path) -> None:
    module = as_kubepipe(path, tmp_path)
    ran = run_pipeline(module.pipeline, tmp_path)
    assert ran.phase == "Succeeded", {n["displayName"]: n["message"] for n in ran.run["nodes"]}
    if hasattr(module, "expected"):
        assert ran.outputs == module.expected()
    if hasattr(module, "expected_nodes"):
        phases = ran.phases()
        assert {k: phases[k] for k in module.expected_nodes()} == module.expected_nodes()


def test_at_least_five() -> None:
    assert len(list(DATA.glob("kfp_*.py"))) >= 5
