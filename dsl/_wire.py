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
