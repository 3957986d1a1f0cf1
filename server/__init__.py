"""kubepipe's REST API and web dashboard over the engine's metadata (and the scheduler's).

`create_app(ServerSettings(...))` builds the FastAPI app; `kubepipe server` / `kubepipe up`
(server.cli, registered through the `kubepipe.commands` entry points) serve it. The engine never
imports this package.
"""

from server.app import create_app
from server.schemas import Role
from server.settings import ServerSettings

__all__ = ["Role", "ServerSettings", "create_app"]
