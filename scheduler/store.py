"""`RecurringStore`: intent-named reads and writes over the scheduler's tables.

The one write that matters for exactly-once is `decide`: in one transaction it compare-and-sets
the recurring run's (cursor, generation) and inserts the fire rows for the times it decided.
Two schedulers that decide the same time cannot both commit: the second one's compare-and-set
matches no row (and the unique (recurring_id, scheduled_time) index would stop it anyway).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Table, bindparam, create_engine, delete, event, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from engine.metadata.migrations import upgrade
from scheduler.errors import RecurringRunExists, RecurringRunNotFound
from scheduler.migrations import STEPS
from scheduler.spec import Fire, FireState, RecurringRun, RecurringRunSpec
from scheduler.tables import (
    BASELINE,
    SCHEMA_VERSION,
    ChangeCounterRow,
    FireRow,
    RecurringRunRow,
    SchedulerBase,
    SchedulerSchemaInfo,
)

# Core tables: typed column expressions (sqlmodel's class attributes confuse type checkers).
_TABLES = SchedulerBase.metadata.tables
_RR: Table = _TABLES[RecurringRunRow.__tablename__]
_FR: Table = _TABLES[FireRow.__tablename__]
_CC: Table = _TABLES[ChangeCounterRow.__tablename__]

# Built once: constructing these per fire cost more than executing them.
_CAS = (
    update(_RR)
    .where(_RR.c.id == bindparam("b_id"))
    .where(_RR.c.cursor == bindparam("b_cursor"))
    .where(_RR.c.generation == bindparam("b_generation"))
    .where(_RR.c.enabled.is_(True))
    .values(
        cursor=bindparam("cursor"),
        next_fire_time=bindparam("next_fire_time"),
        last_scheduled_time=bindparam("last_scheduled_time"),
    )
)
_INSERT_FIRE = insert(_FR)
_MARK_CREATED = (
    update(_FR)
    .where(_FR.c.recurring_id == bindparam("b_rid"))
    .where(_FR.c.scheduled_time == bindparam("b_time"))
    .where(_FR.c.state == FireState.PENDING.value)
    .values(state=FireState.CREATED.value)
)


@dataclass(frozen=True)
class NewFire:
    """A fire decided in `decide`: PENDING with its run's id and name, or SKIPPED with a reason."""

    scheduled_time: int
    state: FireState
    run_id: str | None = None
    run_name: str | None = None
    reason: str = ""


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


class RecurringStore:
    def __init__(self, url: str) -> None:
        self.url = url
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).expanduser().parent.mkdir(
                parents=True, exist_ok=True
            )
        self._engine: Engine = create_engine(url, future=True)
        if self._engine.dialect.name == "sqlite":
            event.listen(self._engine, "connect", _sqlite_pragmas)
        # Parsed specs by (id, generation): a spec only changes with its generation, and parsing
        # (cron validation included) would otherwise cost more than the rest of a fire.
        self._specs: dict[tuple[str, int], RecurringRunSpec] = {}
        SchedulerBase.metadata.create_all(self._engine)
        with self._engine.begin() as conn:
            upgrade(
                conn,
                url,
                STEPS,
                SCHEMA_VERSION,
                table=SchedulerSchemaInfo,
                baseline=BASELINE,
                what="scheduler schema",
            )
            if conn.execute(select(_CC.c.counter)).first() is None:
                conn.execute(insert(_CC), [{"id": 1, "counter": 0}])

    def close(self) -> None:
        self._engine.dispose()

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with self._engine.begin() as conn:
            yield conn

    # -- what people change -------------------------------------------------------------------
    def create(
        self, spec: RecurringRunSpec, *, enabled: bool, now: float, cursor: int
    ) -> RecurringRun:
        """Store a new recurring run; times at or before `cursor` are never fired."""
        row = {
            "id": uuid.uuid4().hex[:12],
            "namespace": spec.namespace,
            "name": spec.name,
            "spec": spec.model_dump(mode="json"),
            "enabled": enabled,
            "created_at": now,
            "updated_at": now,
            "cursor": cursor,
            "last_scheduled_time": None,
            "next_fire_time": spec.trigger.next_after(cursor),
            "generation": 0,
            "history_limited": spec.successful_history_limit is not None
            or spec.failed_history_limit is not None,
        }
        try:
            with self._tx() as conn:
                conn.execute(insert(_RR), [row])
                self._bump(conn)
        except IntegrityError:
            raise RecurringRunExists(
                f"namespace {spec.namespace!r} already has a recurring run named {spec.name!r}; "
                f"pick another name or `kubepipe recurring delete --namespace {spec.namespace} "
                f"{spec.name}` first"
            ) from None
        return self.get(str(row["id"]))

    def set_enabled(self, recurring_id: str, enabled: bool, now: float) -> RecurringRun:
        """Enabling starts from `now`: times that passed while it was disabled are not run."""
        rec = self.get(recurring_id)
        values: dict[str, Any] = {
            "enabled": enabled,
            "updated_at": now,
            "generation": rec.generation + 1,
        }
        if enabled and not rec.enabled:
            cursor = max(rec.cursor, int(now))
            values["cursor"] = cursor
            values["next_fire_time"] = rec.spec.trigger.next_after(cursor)
        with self._tx() as conn:
            conn.execute(update(_RR).where(_RR.c.id == rec.id).values(values))
            self._bump(conn)
        return self.get(rec.id)

    def delete(self, recurring_id: str) -> RecurringRun:
        """Forget the recurring run and its fire records; the runs it created stay."""
        rec = self.get(recurring_id)
        with self._tx() as conn:
            conn.execute(delete(_FR).where(_FR.c.recurring_id == rec.id))
            conn.execute(delete(_RR).where(_RR.c.id == rec.id))
            self._bump(conn)
        return rec

    def _bump(self, conn: Connection) -> None:
        conn.execute(update(_CC).values(counter=_CC.c.counter + 1))

    # -- what the loop reads --------------------------------------------------------------------
    def change_counter(self) -> int:
        with self._engine.connect() as conn:
            row = conn.execute(select(_CC.c.counter)).first()
        return int(row[0]) if row else 0

    def enabled(self) -> list[RecurringRun]:
        """Every enabled recurring run (one query: the loop's view after a start or a change)."""
        with self._engine.connect() as conn:
            rows = conn.execute(select(_RR).where(_RR.c.enabled.is_(True))).all()
        return [self._recurring(r._mapping) for r in rows]

    def schedule_index(self) -> list[tuple[str, int]]:
        """(id, next fire time) of every enabled recurring run that will fire again."""
        stmt = (
            select(_RR.c.id, _RR.c.next_fire_time)
            .where(_RR.c.enabled.is_(True))
            .where(_RR.c.next_fire_time.is_not(None))
        )
        with self._engine.connect() as conn:
            return [(r[0], int(r[1])) for r in conn.execute(stmt).all()]

    def get(self, recurring_id: str) -> RecurringRun:
        """By id (ids are unique across namespaces; names are not)."""
        found = self.find(recurring_id)
        if found is None:
            raise RecurringRunNotFound(f"no recurring run with id {recurring_id!r}")
        return found

    def find(self, recurring_id: str) -> RecurringRun | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(_RR).where(_RR.c.id == recurring_id)).first()
        return None if row is None else self._recurring(row._mapping)

    def lookup(self, ref: str, namespace: str) -> RecurringRun:
        """By name or id, within `namespace` only: what is in another namespace is not found,
        exactly as if it did not exist."""
        in_namespace = _RR.c.namespace == namespace
        with self._engine.connect() as conn:
            row = conn.execute(select(_RR).where(in_namespace, _RR.c.name == ref)).first()
            if row is None:
                row = conn.execute(select(_RR).where(in_namespace, _RR.c.id == ref)).first()
        if row is None:
            raise RecurringRunNotFound(
                f"namespace {namespace!r} has no recurring run named {ref!r} "
                f"(see `kubepipe recurring list --namespace {namespace}`)"
            )
        return self._recurring(row._mapping)

    def with_history_limits(self) -> list[RecurringRun]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(_RR).where(_RR.c.history_limited.is_(True))).all()
        return [self._recurring(r._mapping) for r in rows]

    def list_all(self, namespace: str | None = None) -> list[RecurringRun]:
        """Every recurring run, or those of one namespace, by namespace and name."""
        where = [] if namespace is None else [_RR.c.namespace == namespace]
        stmt = select(_RR).where(*where).order_by(_RR.c.namespace, _RR.c.name)
        with self._engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return [self._recurring(r._mapping) for r in rows]

    # -- what the loop writes -------------------------------------------------------------------
    def decide(
        self,
        rec: RecurringRun,
        *,
        cursor: int,
        next_fire_time: int | None,
        fires: Sequence[NewFire],
        now: float,
        marks: Mapping[str, Sequence[int]] | None = None,
    ) -> bool:
        """Record the decisions for every time up to `cursor`, if nobody decided first.

        False means another scheduler (or a person) changed the recurring run since `rec` was
        read; nothing was written, and the caller reads it again. `marks` (fires whose runs now
        exist, as for `mark_created`) ride along in the same transaction when it commits.
        """
        started = [f.scheduled_time for f in fires if f.state is FireState.PENDING]
        last = max(started + [rec.last_scheduled_time or 0]) or None
        try:
            with self._tx() as conn:
                result = conn.execute(
                    _CAS,
                    {
                        "b_id": rec.id,
                        "b_cursor": rec.cursor,
                        "b_generation": rec.generation,
                        "cursor": cursor,
                        "next_fire_time": next_fire_time,
                        "last_scheduled_time": last,
                    },
                )
                if result.rowcount != 1:
                    return False
                if fires:
                    conn.execute(
                        _INSERT_FIRE,
                        [
                            {
                                "recurring_id": rec.id,
                                "scheduled_time": f.scheduled_time,
                                "state": f.state.value,
                                "run_id": f.run_id,
                                "run_name": f.run_name,
                                "reason": f.reason,
                                "created_at": now,
                                "finished": f.state is FireState.SKIPPED,
                            }
                            for f in fires
                        ],
                    )
                if marks:
                    self._mark(conn, marks)
        except IntegrityError:
            return False
        return True

    def mark_created(self, fires: Mapping[str, Sequence[int]]) -> None:
        """Pending -> Created for {recurring id: scheduled times}, in one transaction."""
        with self._tx() as conn:
            self._mark(conn, fires)

    def _mark(self, conn: Connection, fires: Mapping[str, Sequence[int]]) -> None:
        # Sorted, so two schedulers marking overlapping fires lock rows in one order (no deadlock).
        pairs = sorted({(rid, t) for rid, times in fires.items() for t in times})
        rows = [{"b_rid": rid, "b_time": t} for rid, t in pairs]
        if rows:
            conn.execute(_MARK_CREATED, rows)

    def mark_finished(self, recurring_id: str, run_ids: Sequence[str]) -> None:
        if not run_ids:
            return
        with self._tx() as conn:
            conn.execute(
                update(_FR)
                .where(_FR.c.recurring_id == recurring_id)
                .where(_FR.c.run_id.in_(run_ids))
                .values(finished=True)
            )

    def mark_pruned(self, recurring_id: str, run_ids: Sequence[str], reason: str) -> None:
        """The fires stay (they are the exactly-once record); their runs are gone."""
        if not run_ids:
            return
        with self._tx() as conn:
            conn.execute(
                update(_FR)
                .where(_FR.c.recurring_id == recurring_id)
                .where(_FR.c.run_id.in_(run_ids))
                .values(reason=reason)
            )

    def pending_fires(self) -> list[Fire]:
        """Fires decided but not known to have their run: what a crash can leave behind."""
        return self._fires(_FR.c.state == FireState.PENDING.value)

    def unfinished_fires(self, recurring_id: str) -> list[Fire]:
        """Fires whose run may still be going (or is about to be created)."""
        return self._fires(
            _FR.c.recurring_id == recurring_id,
            _FR.c.finished.is_(False),
        )

    def fires(self, recurring_id: str) -> list[Fire]:
        return self._fires(_FR.c.recurring_id == recurring_id)

    def _fires(self, *where: Any) -> list[Fire]:
        stmt = select(_FR).where(*where).order_by(_FR.c.scheduled_time)
        with self._engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return [
            Fire(
                recurring_id=r.recurring_id,
                scheduled_time=int(r.scheduled_time),
                state=FireState(r.state),
                run_id=r.run_id,
                run_name=r.run_name,
                reason=r.reason,
                created_at=r.created_at,
                finished=bool(r.finished),
            )
            for r in rows
        ]

    def _recurring(self, row: Any) -> RecurringRun:
        key = (row["id"], int(row["generation"]))
        spec = self._specs.get(key)
        if spec is None:
            spec = self._specs[key] = RecurringRunSpec.model_validate(row["spec"])
        return RecurringRun(
            id=row["id"],
            spec=spec,
            enabled=bool(row["enabled"]),
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            cursor=int(row["cursor"]),
            last_scheduled_time=(
                None if row["last_scheduled_time"] is None else int(row["last_scheduled_time"])
            ),
            next_fire_time=None if row["next_fire_time"] is None else int(row["next_fire_time"]),
            generation=key[1],
        )
