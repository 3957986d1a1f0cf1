"""Local controllers: what a cluster's operators do for `resource` templates, done on this machine.

A `resource` step names a Kubernetes object by apiVersion/kind. On a cluster the object's own
operator does the work; on the embedded engine the controller registered here for that kind does
it, keeping the object's `status` in the operator's own shape so `successCondition`,
`failureCondition` and `jsonPath` outputs read the same in both places.
"""

from engine.controllers.registry import (
    ControllerRegistry,
    LocalController,
    ResourceContext,
    default_registry,
    process_handles,
)

__all__ = [
    "ControllerRegistry",
    "LocalController",
    "ResourceContext",
    "default_registry",
    "process_handles",
]
