"""Step caching: a pod whose template and inputs match an earlier Succeeded pod reuses its outputs.

The key is the sha256 of what determines a step's result: the filled-in template (image, command,
source, env, declared outputs — not Kubernetes-only scheduling fields), its parameter values and
the sha256 of every input artifact. As in KFP, a hit is only taken when every artifact the cached
outputs name still exists; otherwise it is a miss and the step runs.

Caching is opt-in per workflow or template, because hand-written Argo workflows do not expect
their steps to be skipped: the annotation `kubepipe.io/cache: "true"` on the Workflow's metadata
(the DSL compiler sets it, as KFP caches by default) or on a template's `metadata.annotations`,
or Argo's `memoize` on the template. `kubepipe.io/cache: "false"` on a template turns it off, and
`kubepipe run --no-cache` turns it off for a whole run.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from artifact_store import ArtifactStore
from engine.spec import Template, Workflow
from engine.state import NodeRecord

CACHE_ANNOTATION = "kubepipe.io/cache"
NO_CACHE_ANNOTATION = "kubepipe.io/no-cache"  # set on a run by `--no-cache`


def caching_enabled(workflow: Workflow, template: Template) -> bool:
    if workflow.metadata.annotations.get(NO_CACHE_ANNOTATION) == "true":
        return False
    own = ((template.metadata or {}).get("annotations") or {}).get(CACHE_ANNOTATION)
    if own is not None:
        return str(own).lower() == "true"
    if template.memoize is not None:
        return True
    return workflow.metadata.annotations.get(CACHE_ANNOTATION, "").lower() == "true"


def cache_key(template: Template, node: NodeRecord) -> str:
    body = template.dump()
    for alias in type(template).k8s_only_aliases() | {
        "name",
        "retryStrategy",
        "timeout",
        "activeDeadlineSeconds",
    }:
        body.pop(alias, None)
    inputs = node.inputs or {}
    material = {
        "template": body,
        "parameters": inputs.get("parameters", {}),
        "artifacts": {
            name: _artifact_identity(art)
            for name, art in sorted(inputs.get("artifacts", {}).items())
        },
    }
    text = json.dumps(material, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _artifact_identity(art: dict[str, Any]) -> Any:
    if "raw" in art:
        return {"raw": art["raw"], "path": art.get("path")}
    return {
        "sha256": art.get("sha256"),
        "key": None if art.get("sha256") else art.get("key"),
        "subPath": art.get("subPath"),
        "path": art.get("path"),
    }


def outputs_still_stored(outputs: dict[str, Any], store: ArtifactStore) -> bool:
    """A cache entry whose artifacts were deleted is a miss, not a failure."""
    for art in (outputs.get("artifacts") or {}).values():
        key = art.get("key")
        if not key:
            return False
        try:
            if art.get("tree"):
                if next(iter(store.list(key + "/")), None) is None:
                    return False
            elif not store.exists(key):
                return False
        except Exception:  # a store we cannot reach cannot serve a hit
            return False
    return True
