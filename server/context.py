"""The objects every request handler needs, built once per app by `create_app` and kept on
`app.state` (never in module globals), handed to handlers through FastAPI's `Depends`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from artifact_store import ArtifactStore
from engine.metadata.store import MetadataStore
from server.settings import ServerSettings
from server.store import ServerStore


@dataclass
class Services:
    settings: ServerSettings
    metadata: MetadataStore
    store: ServerStore
    artifacts: ArtifactStore
    _recurring: Any = field(default=None, repr=False)

    def recurring(self) -> Any:
        """The scheduler's store, opened on first use (the scheduler's tables are its own)."""
        if self._recurring is None:
            from scheduler.store import RecurringStore

            self._recurring = RecurringStore(self.settings.engine.database_url)
        return self._recurring

    def close(self) -> None:
        self.metadata.close()
        self.store.close()
        if self._recurring is not None:
            self._recurring.close()


def services(request: Request) -> Services:
    found = request.app.state.services
    assert isinstance(found, Services)
    return found
