"""How values and signatures travel in the compiled YAML: one encoding, one set of annotation keys.

Argo parameters are strings. A `str` travels as itself and every other type as JSON, so a step,
a pipeline argument and a compiled-in constant all agree on the bytes. The annotation keys are
what `kubepipe` reads back to re-type those strings.
"""

from __future__ import annotations

import json
from typing import Any

SIGNATURE_ANNOTATION = "kubepipe.io/signature"
OUTPUTS_ANNOTATION = "kubepipe.io/outputs"
CACHE_ANNOTATION = "kubepipe.io/cache"
DESCRIPTION_ANNOTATION = "kubepipe.io/description"
ACCELERATOR_ANNOTATION = "kubepipe.io/accelerator-type"

_TEXT_TYPES = ("str", "optional_str", "any")


def encode_constant(value: Any, type_name: str = "any") -> str:
    """A Python constant as the Argo string its declared type travels as (str as-is, others JSON).

    `any` (a loop item, a comparison operand) keeps a str as-is too: that is how Argo
    substitutes the value into the step, so both sides of a comparison agree.
    """
    if isinstance(value, str) and type_name in _TEXT_TYPES:
        return value
    return json.dumps(value, ensure_ascii=False)


def expression_ref(placeholder: str) -> str:
    """`{{tasks.a-b.outputs.parameters.x}}` as an expr operand: `tasks["a-b"]["outputs"]...`.

    Argo's `{{= ...}}` and `valueFrom.expression` read the same variables as plain tags, but
    names with `-` must be indexed, so every part after the first is.
    """
    inner = placeholder.strip()
    assert inner.startswith("{{") and inner.endswith("}}"), placeholder
    if inner.startswith("{{="):  # already an expression tag
        return f"({inner[3:-2].strip()})"
    root, *parts = inner[2:-2].strip().split(".")
    return root + "".join(f"[{json.dumps(p)}]" for p in parts)


def expression_string(text: str) -> str:
    """A string literal for Argo expressions (expr-lang): JSON's escapes are also expr's."""
    return json.dumps(text, ensure_ascii=False)
