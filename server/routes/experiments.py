"""Experiments: named groups of runs in a namespace (KFP's experiments)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, status

from server.auth import Principal, editor, principal
from server.context import Services, services
from server.convert import experiment_out
from server.lookups import visible_experiment
from server.schemas import ExperimentCreate, ExperimentList, ExperimentOut

router = APIRouter(prefix="/api/v1/experiments", tags=["experiments"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ExperimentOut)
def create_experiment(
    body: ExperimentCreate, who: Principal = Depends(editor), svc: Services = Depends(services)
) -> ExperimentOut:
    home = who.home(body.namespace, svc.settings.default_namespace)
    return experiment_out(svc.store.create_experiment(home, body.name, body.description))


@router.get("", response_model=ExperimentList)
def list_experiments(
    namespace: str | None = Query(default=None),
    who: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> ExperimentList:
    scope = who.visible_namespace(namespace)
    return ExperimentList(experiments=[experiment_out(e) for e in svc.store.experiments(scope)])


@router.get("/{experiment_id}", response_model=ExperimentOut)
def get_experiment(
    experiment_id: str, who: Principal = Depends(principal), svc: Services = Depends(services)
) -> ExperimentOut:
    return experiment_out(visible_experiment(svc, who, experiment_id))


@router.delete("/{experiment_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_experiment(
    experiment_id: str, who: Principal = Depends(editor), svc: Services = Depends(services)
) -> None:
    """Refused (409) while runs belong to the experiment."""
    svc.store.delete_experiment(visible_experiment(svc, who, experiment_id).id)
