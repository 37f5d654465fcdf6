"""The HTTP server under `--metrics`: bounded, for an endpoint any host may reach.

wsgiref's server with socketserver's ThreadingMixIn makes a thread per connection and
never times one out: 435 idle connections held 436 threads (4.6 GB of address space),
and under a memory limit the real scrape got an empty reply while "can't start new
thread" tracebacks went to stderr; with the descriptor table full, the accept loop
spun. Here:

- at most `max_connections` connections are served at once, each on a daemon thread;
  when all are taken, the oldest is shut down to make room (a real scrape takes
  milliseconds: only an idle or trickling connection gets that old);
- every read and write gives up after `timeout` seconds of silence;
- accept() failing for want of descriptors or memory rests the listener, longer each
  time, instead of spinning;
- nothing is printed from the server's threads: what went wrong is said once, as a note
  the receive loop takes (`take_notes`) and hands to the reporter, in its own thread.
"""

from __future__ import annotations

import errno
import os
import socket
import threading
from collections import OrderedDict
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

# accept() failures that say the process or host is short of something: the listener
# stays readable, so without a rest the loop would spin on them.
SHORT_OF = frozenset((errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM))
REST_FIRST, REST_LONGEST = 0.05, 2.0  # seconds; each failed try doubles the rest
MAX_CONNECTIONS = 16  # served at once (--metrics-connections)
TIMEOUT = 10.0  # seconds of silence before a connection is closed (--metrics-timeout)
ROOM_WAIT = 1.0  # seconds a new connection waits for the oldest to make room


class QuietHandler(WSGIRequestHandler):
    """No access log, no tracebacks on our stderr; `timeout` comes from the server."""

    def setup(self) -> None:
        self.timeout = self.server.timeout_s  # type: ignore[attr-defined]
        super().setup()

    def log_message(self, *args: Any) -> None:
        pass

    def get_stderr(self) -> Any:
        return _Discard()  # wsgiref prints an application's traceback there


class _Discard:
    def write(self, text: str) -> None:
        pass

    def flush(self) -> None:
        pass


class BoundedServer(WSGIServer):
    """A WSGI server with a thread per connection, at most `max_connections` of them.
    Class attributes `max_connections` and `timeout_s` are set per endpoint."""

    max_connections = MAX_CONNECTIONS
    timeout_s = TIMEOUT
    request_queue_size = 64  # listen() backlog: socketserver's 5 drops a burst's SYNs

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._active: OrderedDict[socket.socket, None] = OrderedDict()  # oldest first
        self._room = threading.Condition()
        self._closing = threading.Event()
        self._rest = REST_FIRST
        self._said: set[str] = set()
        self._notes: list[str] = []
        self._notes_lock = threading.Lock()
        self.evicted = 0  # connections shut down to make room for a newer one
        super().__init__(*args, **kwargs)

    # -- what the endpoint says -------------------------------------------------------

    def say(self, message: str, once: str) -> None:
        """Keep `message` for the reporter, the first time `once` happens in the run."""
        with self._notes_lock:
            if once not in self._said:
                self._said.add(once)
                self._notes.append(message)

    def said(self, once: str) -> bool:
        with self._notes_lock:
            return once in self._said

    def take_notes(self) -> list[str]:
        """What was said since the last call (any thread)."""
        with self._notes_lock:
            notes, self._notes = self._notes, []
        return notes

    # -- socketserver's hooks ---------------------------------------------------------

    def get_request(self) -> tuple[socket.socket, Any]:
        try:
            got = super().get_request()
        except OSError as exc:
            if exc.errno in SHORT_OF:
                self.say(f"accept failed: {os.strerror(exc.errno)}: /metrics connections "
                         "wait until descriptors are free (said once)", once="short")
                self._closing.wait(self._rest)  # the listener rests; close() cuts it short
                self._rest = min(self._rest * 2, REST_LONGEST)
            raise  # serve_forever drops it and looks again
        if self._rest > REST_FIRST and self.said("short"):
            self.say("/metrics connections are accepted again", once="again")
        self._rest = REST_FIRST
        return got

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._make_room():
            self.shutdown_request(request)
            return
        with self._room:
            self._active[request] = None
        thread = threading.Thread(target=self._serve, args=(request, client_address),
                                  name="wskrecv-metrics-conn", daemon=True)
        try:
            thread.start()
        except RuntimeError as exc:  # can't start new thread (a memory limit)
            self.say(f"a /metrics connection was closed unserved: {exc} (said once)",
                     once="thread")
            self._forget(request)
            self.shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a peer that reset or sent junk: nothing for our stderr

    def shutdown(self) -> None:
        self._closing.set()
        super().shutdown()

    def server_close(self) -> None:
        self._closing.set()
        with self._room:
            for conn in list(self._active):
                _cut(conn)
        super().server_close()

    # -- internals --------------------------------------------------------------------

    def _make_room(self) -> bool:
        """Whether a new connection may be served: when all are taken, the oldest is cut
        and the new one waits (briefly) for its thread to let go."""
        with self._room:
            if len(self._active) < self.max_connections:
                return True
            _cut(next(iter(self._active)))
            self.evicted += 1
            return self._room.wait_for(lambda: len(self._active) < self.max_connections,
                                       ROOM_WAIT)

    def _serve(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:  # noqa: BLE001 - a reset, a timeout, junk: that connection only
            pass
        finally:
            self._forget(request)
            self.shutdown_request(request)

    def _forget(self, request: Any) -> None:
        with self._room:
            self._active.pop(request, None)
            self._room.notify_all()


def _cut(conn: socket.socket) -> None:
    """End a connection another thread is blocked on: its read returns at once."""
    try:
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def server_class(family: int, max_connections: int, timeout: float) -> type[BoundedServer]:
    """The server class for one endpoint: its address family and bounds."""
    return type("MetricsServer", (BoundedServer,), {
        "address_family": family, "max_connections": max_connections, "timeout_s": timeout})


__all__ = ["MAX_CONNECTIONS", "TIMEOUT", "BoundedServer", "QuietHandler", "server_class"]
