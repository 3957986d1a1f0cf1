"""`ServerStore`: intent-named reads and writes over the server's own tables (pipelines, their
versions, experiments, run links, API tokens), in the same database as the engine's metadata.

Every write that must be all-or-nothing (a pipeline with its first version, a pipeline with its
versions deleted) is one transaction, so a refused request leaves nothing half-stored.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Table, create_engine, delete, event, func, insert, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from engine.metadata.migrations import Step, upgrade
from server.errors import Conflict
from server.schemas import Role
from server.tables import (
    BASELINE,
    SCHEMA_VERSION,
    ExperimentRow,
    PipelineRow,
    PipelineVersionRow,
    RunLinkRow,
    ServerBase,
    ServerSchemaInfo,
    TokenRow,
)

_T = ServerBase.metadata.tables
PIPELINES: Table = _T[PipelineRow.__tablename__]
VERSIONS: Table = _T[PipelineVersionRow.__tablename__]
EXPERIMENTS: Table = _T[ExperimentRow.__tablename__]
RUN_LINKS: Table = _T[RunLinkRow.__tablename__]
TOKENS: Table = _T[TokenRow.__tablename__]

_Found = TypeVar("_Found")

# STEPS[n] upgrades the server's tables from version n to n + 1.
STEPS: dict[int, Step] = {}


@dataclass(frozen=True)
class Pipeline:
    id: str
    namespace: str
    name: str
    description: str
    created_at: float
    versions: int
    default_version_id: str | None


@dataclass(frozen=True)
class PipelineVersion:
    id: str
    pipeline_id: str
    name: str
    description: str
    source_yaml: str
    manifest: dict[str, Any]
    created_at: float


@dataclass(frozen=True)
class Experiment:
    id: str
    namespace: str
    name: str
    description: str
    created_at: float
    runs: int


@dataclass(frozen=True)
class RunLink:
    run_id: str
    experiment_id: str | None = None
    pipeline_id: str | None = None
    pipeline_version_id: str | None = None
    retry_of: str | None = None


@dataclass(frozen=True)
class TokenGrant:
    """Who a token speaks for."""

    id: str
    namespace: str
    role: Role
    description: str
    created_at: float


def _new_id() -> str:
    return uuid.uuid4().hex[:12]


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


class ServerStore:
    def __init__(self, url: str) -> None:
        self.url = url
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).expanduser().parent.mkdir(
                parents=True, exist_ok=True
            )
        self.engine: Engine = create_engine(url, future=True)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        ServerBase.metadata.create_all(self.engine)
        with self.engine.begin() as conn:
            upgrade(
                conn,
                url,
                STEPS,
                SCHEMA_VERSION,
                table=ServerSchemaInfo,
                baseline=BASELINE,
                what="server schema",
            )

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    def _insert_named(self, taken: str, *rows: tuple[Table, dict[str, Any]]) -> None:
        """Insert `rows` in one transaction; a name already taken (a unique constraint) is
        Conflict(`taken`) on the `name` field, and nothing is stored."""
        try:
            with self._tx() as conn:
                for table, row in rows:
                    conn.execute(insert(table), [row])
        except IntegrityError:
            raise Conflict(taken, field="name") from None

    # -- pipelines ------------------------------------------------------------------------------
    def create_pipeline(
        self,
        namespace: str,
        name: str,
        description: str,
        source_yaml: str,
        manifest: dict[str, Any],
    ) -> tuple[Pipeline, PipelineVersion]:
        """A pipeline and its first version, together or not at all."""
        now = time.time()
        pipeline_id, version_id = _new_id(), _new_id()
        self._insert_named(
            f"namespace {namespace!r} already has a pipeline named {name!r}; upload a new "
            "version of it (POST /api/v1/pipelines/{id}/versions) or pick another name",
            (PIPELINES, _named_row(pipeline_id, namespace, name, description, now)),
            (
                VERSIONS,
                _version_row(
                    version_id, pipeline_id, name, description, source_yaml, manifest, now
                ),
            ),
        )
        return _stored(self.pipeline(pipeline_id)), _stored(self.version(version_id))

    def add_version(
        self,
        pipeline_id: str,
        name: str,
        description: str,
        source_yaml: str,
        manifest: dict[str, Any],
    ) -> PipelineVersion:
        version_id = _new_id()
        row = _version_row(
            version_id, pipeline_id, name, description, source_yaml, manifest, time.time()
        )
        self._insert_named(
            f"the pipeline already has a version named {name!r}; pick another name",
            (VERSIONS, row),
        )
        return _stored(self.version(version_id))

    def pipeline(self, pipeline_id: str) -> Pipeline | None:
        rows = self._pipelines(PIPELINES.c.id == pipeline_id)
        return rows[0] if rows else None

    def pipelines(self, namespace: str | None) -> list[Pipeline]:
        return self._pipelines(*([PIPELINES.c.namespace == namespace] if namespace else []))

    def _pipelines(self, *where: Any) -> list[Pipeline]:
        counts = (
            select(VERSIONS.c.pipeline_id, func.count().label("n"))
            .group_by(VERSIONS.c.pipeline_id)
            .subquery()
        )
        # The default version is the newest: one correlated subquery, not a query per pipeline.
        newest = (
            select(VERSIONS.c.id)
            .where(VERSIONS.c.pipeline_id == PIPELINES.c.id)
            .order_by(VERSIONS.c.created_at.desc(), VERSIONS.c.id.desc())
            .limit(1)
            .correlate(PIPELINES)
            .scalar_subquery()
        )
        stmt = (
            select(PIPELINES, counts.c.n, newest.label("newest_id"))
            .outerjoin(counts, counts.c.pipeline_id == PIPELINES.c.id)
            .where(*where)
            .order_by(PIPELINES.c.created_at.desc())
        )
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        out = [
            Pipeline(
                id=r.id,
                namespace=r.namespace,
                name=r.name,
                description=r.description,
                created_at=r.created_at,
                versions=int(r.n or 0),
                default_version_id=r.newest_id,
            )
            for r in rows
        ]
        return out

    def version(self, version_id: str) -> PipelineVersion | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(VERSIONS).where(VERSIONS.c.id == version_id)).first()
        return _version(row._mapping) if row else None

    def versions(self, pipeline_id: str) -> list[PipelineVersion]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(VERSIONS)
                .where(VERSIONS.c.pipeline_id == pipeline_id)
                .order_by(VERSIONS.c.created_at.desc(), VERSIONS.c.id.desc())
            ).all()
        return [_version(r._mapping) for r in rows]

    def delete_pipeline(self, pipeline_id: str) -> None:
        """The pipeline and every version; runs started from it stay (their manifest is theirs)."""
        with self._tx() as conn:
            conn.execute(delete(VERSIONS).where(VERSIONS.c.pipeline_id == pipeline_id))
            conn.execute(delete(PIPELINES).where(PIPELINES.c.id == pipeline_id))

    def delete_version(self, version_id: str) -> None:
        with self._tx() as conn:
            conn.execute(delete(VERSIONS).where(VERSIONS.c.id == version_id))

    # -- experiments ----------------------------------------------------------------------------
    def create_experiment(self, namespace: str, name: str, description: str) -> Experiment:
        experiment_id = _new_id()
        self._insert_named(
            f"namespace {namespace!r} already has an experiment named {name!r}; pick another name",
            (EXPERIMENTS, _named_row(experiment_id, namespace, name, description, time.time())),
        )
        return _stored(self.experiment(experiment_id))

    def experiment(self, experiment_id: str) -> Experiment | None:
        rows = self._experiments(EXPERIMENTS.c.id == experiment_id)
        return rows[0] if rows else None

    def experiments(self, namespace: str | None) -> list[Experiment]:
        return self._experiments(*([EXPERIMENTS.c.namespace == namespace] if namespace else []))

    def _experiments(self, *where: Any) -> list[Experiment]:
        counts = (
            select(RUN_LINKS.c.experiment_id, func.count().label("n"))
            .group_by(RUN_LINKS.c.experiment_id)
            .subquery()
        )
        stmt = (
            select(EXPERIMENTS, counts.c.n)
            .outerjoin(counts, counts.c.experiment_id == EXPERIMENTS.c.id)
            .where(*where)
            .order_by(EXPERIMENTS.c.created_at.desc())
        )
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return [
            Experiment(r.id, r.namespace, r.name, r.description, r.created_at, int(r.n or 0))
            for r in rows
        ]

    def delete_experiment(self, experiment_id: str) -> None:
        """Refused while runs belong to it: deleting the group must not orphan its runs silently."""
        with self._tx() as conn:
            count = conn.execute(
                select(func.count())
                .select_from(RUN_LINKS)
                .where(RUN_LINKS.c.experiment_id == experiment_id)
            ).scalar_one()
            if count:
                raise Conflict(
                    f"the experiment still has {count} run(s); delete them first",
                    field="experiment_id",
                )
            conn.execute(delete(EXPERIMENTS).where(EXPERIMENTS.c.id == experiment_id))

    # -- run links ------------------------------------------------------------------------------
    def link_run(self, link: RunLink) -> None:
        with self._tx() as conn:
            conn.execute(
                insert(RUN_LINKS),
                [
                    {
                        "run_id": link.run_id,
                        "experiment_id": link.experiment_id,
                        "pipeline_id": link.pipeline_id,
                        "pipeline_version_id": link.pipeline_version_id,
                        "retry_of": link.retry_of,
                    }
                ],
            )

    def run_link(self, run_id: str) -> RunLink:
        return self.run_links([run_id]).get(run_id) or RunLink(run_id)

    def run_links(self, run_ids: Sequence[str]) -> dict[str, RunLink]:
        """The links of those of `run_ids` that have any (a page of runs: one query)."""
        if not run_ids:
            return {}
        with self.engine.connect() as conn:
            rows = conn.execute(select(RUN_LINKS).where(RUN_LINKS.c.run_id.in_(run_ids))).all()
        return {
            row.run_id: RunLink(
                row.run_id,
                row.experiment_id,
                row.pipeline_id,
                row.pipeline_version_id,
                row.retry_of,
            )
            for row in rows
        }

    def unlink_run(self, run_id: str) -> None:
        with self._tx() as conn:
            conn.execute(delete(RUN_LINKS).where(RUN_LINKS.c.run_id == run_id))

    # -- tokens ---------------------------------------------------------------------------------
    def create_token(self, namespace: str, role: Role, description: str = "") -> str:
        """A new random token; only its digest is kept, so this is the one time it is seen."""
        token = "kp_" + secrets.token_urlsafe(32)
        with self._tx() as conn:
            conn.execute(
                insert(TOKENS),
                [
                    {
                        "id": _new_id(),
                        "token_sha256": token_digest(token),
                        "namespace": namespace,
                        "role": role.value,
                        "description": description,
                        "created_at": time.time(),
                    }
                ],
            )
        return token

    def grant_for(self, token: str) -> TokenGrant | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(TOKENS).where(TOKENS.c.token_sha256 == token_digest(token))
            ).first()
        return _grant(row._mapping) if row else None

    def tokens(self) -> list[TokenGrant]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(TOKENS).order_by(TOKENS.c.created_at)).all()
        return [_grant(r._mapping) for r in rows]

    def revoke_token(self, token_id: str) -> bool:
        with self._tx() as conn:
            result = conn.execute(delete(TOKENS).where(TOKENS.c.id == token_id))
        return bool(result.rowcount)


def _stored(found: _Found | None) -> _Found:
    """What a write just stored, read back: it is there, or the store is broken."""
    assert found is not None
    return found


def _named_row(
    row_id: str, namespace: str, name: str, description: str, created_at: float
) -> dict[str, Any]:
    """A pipelines or experiments row: a name unique in its namespace."""
    return {
        "id": row_id,
        "namespace": namespace,
        "name": name,
        "description": description,
        "created_at": created_at,
    }


def _version_row(
    version_id: str,
    pipeline_id: str,
    name: str,
    description: str,
    source_yaml: str,
    manifest: dict[str, Any],
    created_at: float,
) -> dict[str, Any]:
    return {
        "id": version_id,
        "pipeline_id": pipeline_id,
        "name": name,
        "description": description,
        "source_yaml": source_yaml,
        "manifest": manifest,
        "created_at": created_at,
    }


def _version(row: Any) -> PipelineVersion:
    return PipelineVersion(
        id=row["id"],
        pipeline_id=row["pipeline_id"],
        name=row["name"],
        description=row["description"],
        source_yaml=row["source_yaml"],
        manifest=dict(row["manifest"]),
        created_at=row["created_at"],
    )


def _grant(row: Any) -> TokenGrant:
    return TokenGrant(
        row["id"], row["namespace"], Role(row["role"]), row["description"], row["created_at"]
    )
