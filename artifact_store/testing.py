"""A local S3 server and a fault-injecting proxy, for tests and benchmarks of ``s3://`` stores.

moto's server mode stands in for MinIO: ``ThreadedMotoServer`` is a real S3-compatible HTTP
server, started here on 127.0.0.1 (a free port chosen by the OS), and the store talks to it
through the ``minio`` client exactly as it would to MinIO. It runs in a child process, so
memory measured in the caller (``tracemalloc``, peak RSS) is the store's and not the
server's, which keeps whole objects in memory; and so that a process that dies mid-test
takes the server with it (the child serves until its stdin closes).

``ThreadedMotoServer.stop()`` keeps its listening socket bound and lets accepted connections
finish, so it cannot stand for a crashed server. ``FlakyProxy`` sits between a store and the
server and is what dies: its listener closes and every open connection is reset, which is
what a client sees when MinIO dies, while moto keeps its state behind it, so a test can
check afterwards that no partial object became visible.

Nothing here is imported by the stores; moto is needed only by ``start_moto_server``
(``pip install 'moto[server]'``, part of the ``dev`` extra).

Examples:
    >>> with start_moto_server() as server:  # doctest: +SKIP
    ...     store = S3ArtifactStore("b", endpoint=server.endpoint, access_key="k", secret_key="s")
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

__all__ = ["FlakyProxy", "MotoServer", "start_moto_server"]

_MOTO_SERVER = """
import sys
from moto.server import ThreadedMotoServer

server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()  # Serve until the parent closes our stdin (or dies).
"""


@dataclass(frozen=True)
class MotoServer:
    """A running moto S3 server: where it listens, and its process id (to read its memory)."""

    port: int
    pid: int

    @property
    def endpoint(self) -> str:
        """``host:port`` as ``KUBEPIPE_S3_ENDPOINT`` and ``S3ArtifactStore`` take it."""
        return f"127.0.0.1:{self.port}"


@contextmanager
def start_moto_server(*, timeout: float = 30.0) -> Iterator[MotoServer]:
    """Start moto's S3 server in a child process; stop it when the block exits.

    Raises:
        RuntimeError: if the server did not start (moto missing, or it crashed), with
            what it printed and the fix.
    """
    # stderr goes to a file, not a pipe: nobody reads a pipe while the server runs, and a
    # full one would hang it.
    with tempfile.TemporaryFile() as stderr:
        server = subprocess.Popen(
            [sys.executable, "-c", _MOTO_SERVER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        assert server.stdin is not None and server.stdout is not None
        try:
            line = server.stdout.readline()
            if not line.strip().isdigit():
                server.kill()
                server.wait()
                stderr.seek(0)
                said = stderr.read().decode(errors="replace").strip()[-500:]
                raise RuntimeError(
                    f"moto's S3 server did not start (it printed {line!r}; stderr: {said!r}). "
                    "Fix: pip install 'moto[server]' (in kubepipe's dev extra)"
                )
            yield MotoServer(int(line), server.pid)
        finally:
            if server.returncode is None:
                server.stdin.close()
                try:
                    server.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait()
            server.stdout.close()


class FlakyProxy:
    """A TCP proxy in front of an S3 server that can die mid-transfer and come back.

    ``die_after(up=N)`` takes the server down once N more bytes went from the store to the
    server (``down=N``: from the server to the store): the listening socket closes and
    every open connection is reset, so requests in flight break and new ones are refused.
    ``reset_after(down=N)`` only resets the open connections once (a network blip).
    ``start()`` brings it back on the same port. ``connections`` counts accepted
    connections and ``deaths`` the times it went down, so a test can prove its fault
    really happened.
    """

    def __init__(self, upstream_port: int) -> None:
        """Listen on a free port of 127.0.0.1 and forward to ``upstream_port``."""
        self._upstream = ("127.0.0.1", upstream_port)
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._budget: dict[str, int] = {}
        self._action = ""
        self.port = 0
        self.connections = 0
        self.deaths = 0
        self.start()

    @property
    def endpoint(self) -> str:
        """``host:port`` of the proxy, to give the store instead of the server's."""
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        """Listen (again, on the same port after a death) and forward new connections."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def die_after(self, *, up: int | None = None, down: int | None = None) -> None:
        """Go down once ``up`` bytes more were sent to the server (or ``down`` received)."""
        self._arm("die", up, down)

    def reset_after(self, *, down: int) -> None:
        """Reset the open connections once ``down`` bytes more came from the server."""
        self._arm("reset", None, down)

    def blip(self) -> None:
        """Reset every open connection now; the server stays up."""
        self._reset_connections()

    def _arm(self, action: str, up: int | None, down: int | None) -> None:
        with self._lock:
            self._action = action
            self._budget = {k: v for k, v in (("up", up), ("down", down)) if v is not None}

    def stop(self) -> None:
        """Go down now: refuse new connections and reset the open ones."""
        with self._lock:
            listener, self._listener = self._listener, None
            self.deaths += 1
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)  # Wakes accept(); refuses new connections.
            listener.close()
        self._reset_connections()

    def _reset_connections(self) -> None:
        with self._lock:
            conns, self._conns = list(self._conns), set()
        for conn in conns:
            try:
                conn.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                )
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # Closed by stop().
            try:
                server = socket.create_connection(self._upstream)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns.update((client, server))
                self.connections += 1
            threading.Thread(target=self._pump, args=(client, server, "up"), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, "down"), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, direction: str) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
                if self._spend(direction, len(data)):
                    return
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def _spend(self, direction: str, count: int) -> bool:
        with self._lock:
            if direction not in self._budget:
                return False
            self._budget[direction] -= count
            if self._budget[direction] > 0:
                return False
            self._budget, action = {}, self._action
        if action == "die":
            self.stop()
        else:
            self._reset_connections()
        return True
