"""Who is asking: the local user (auth off) or the namespace and role of a bearer token.

Kubeflow's profiles in miniature: every object lives in a namespace; a viewer reads its
namespace, an editor may also create, stop, retry and delete there; objects in any other
namespace answer 404, exactly as if they did not exist, so names in other namespaces never leak.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Depends, Request

from engine.validate import NAMESPACE_NAME, NAMESPACE_RULE
from server.context import Services, services
from server.errors import Forbidden, Invalid, NotFound, Unauthorized
from server.schemas import Role


@dataclass(frozen=True)
class Principal:
    """`namespace` None is the local user of a server without auth, who sees every namespace."""

    namespace: str | None
    role: Role

    def can_see(self, namespace: str) -> bool:
        return self.namespace is None or self.namespace == namespace

    def visible_namespace(self, requested: str | None) -> str | None:
        """The namespace a list is limited to: a token's own; the local user's pick (or all)."""
        if self.namespace is None:
            return requested
        if requested is not None and requested != self.namespace:
            raise NotFound(f"no namespace {requested!r}", field="namespace")
        return self.namespace

    def home(self, requested: str | None, default: str) -> str:
        """Where a new object goes: a token's namespace; the local user's pick or the default."""
        if self.namespace is None:
            if requested and not NAMESPACE_NAME.match(requested):
                shown = requested if len(requested) <= 40 else requested[:37] + "..."
                raise Invalid(
                    f"{shown!r} is not a namespace name: use {NAMESPACE_RULE}", field="namespace"
                )
            return requested or default
        if requested is not None and requested != self.namespace:
            raise NotFound(f"no namespace {requested!r}", field="namespace")
        return self.namespace


_BEARER = "bearer "


def principal(request: Request, svc: Services = Depends(services)) -> Principal:
    """The caller; 401 when auth is on and the request has no token the server knows."""
    if not svc.settings.auth:
        return Principal(None, Role.EDITOR)
    header = request.headers.get("authorization", "")
    if not header.lower().startswith(_BEARER) or not header[len(_BEARER) :].strip():
        raise Unauthorized(
            "this server requires a token: send `Authorization: Bearer TOKEN` "
            "(create one with `kubepipe token create --namespace NS --role viewer|editor`)",
            field="Authorization",
        )
    grant = svc.store.grant_for(header[len(_BEARER) :].strip())
    if grant is None:
        raise Unauthorized("the token is not known to this server", field="Authorization")
    return Principal(grant.namespace, grant.role)


def editor(who: Principal = Depends(principal)) -> Principal:
    """The caller, if it may change things; a viewer gets 403."""
    if who.role is not Role.EDITOR:
        raise Forbidden(
            f"a viewer of namespace {who.namespace!r} can read but not change it; "
            "use an editor token",
            field="Authorization",
        )
    return who
