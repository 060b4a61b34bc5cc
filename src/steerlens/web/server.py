"""Run the app with uvicorn: in the foreground (``steerlens serve``) or in a thread (tests, notebooks).

The listening socket is bound first, so a port in use, an address that is not this machine's or a
host name that does not resolve fails at once with one line (:class:`~steerlens.errors.ConfigError`,
exit 2) before anything is loaded, written or printed. Models are loaded next, so a bad
``--model`` fails with one line too; only then does ``serving http://...`` appear. A temporary
runs folder is removed when the server stops (Ctrl-C, SIGTERM or an error); waiting runs are
dropped and a running one gets :data:`STOP_WAIT_S` seconds to finish.
"""

from __future__ import annotations

import atexit
import dataclasses
import errno
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Self

import uvicorn

from steerlens.errors import ConfigError
from steerlens.web.app import AppConfig, create_app

#: Seconds a stopping server waits for a running run to finish.
STOP_WAIT_S = 3.0


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago on ``host``.

    Examples
    --------
    >>> 0 < free_port() < 65536
    True
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def bind_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (``port`` 0: any free port) and listening.

    Raises :class:`ConfigError` with one line for an empty or unresolvable host, an address that
    is not this machine's, a port in use or a port that needs privileges.

    Examples
    --------
    >>> s = bind_socket("127.0.0.1", 0)
    >>> s.getsockname()[0]
    '127.0.0.1'
    >>> bind_socket("127.0.0.1", s.getsockname()[1])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    steerlens.errors.ConfigError: port ... on 127.0.0.1 is already in use; stop what uses it or choose another --port
    >>> s.close()
    """
    name = host.strip()
    if not name:
        raise ConfigError("--host is empty; give an address such as 127.0.0.1 (this machine "
                          "only) or 0.0.0.0 (every interface)")
    name = name[1:-1] if name.startswith("[") and name.endswith("]") else name
    try:
        infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as e:
        reason = e.strerror if isinstance(e, socket.gaierror) and e.strerror else str(e)
        raise ConfigError(f"cannot resolve --host {host[:80]!r} ({reason}); give an IP address "
                          "such as 127.0.0.1 or a name of this machine") from None
    except OverflowError:
        raise ConfigError(f"--port must be 1-65535, got {port}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)  # held from now on: connections wait while the models load
    except OSError as e:
        sock.close()
        shown = f"[{address[0]}]" if family == socket.AF_INET6 else address[0]
        if e.errno == errno.EADDRINUSE:
            raise ConfigError(f"port {port} on {shown} is already in use; stop what uses it "
                              "or choose another --port") from None
        if e.errno == errno.EACCES:
            raise ConfigError(f"cannot listen on port {port} of {shown} (permission denied); "
                              "choose a --port above 1023") from None
        if e.errno == errno.EADDRNOTAVAIL:
            named = host[:80] if host.strip("[] ") == address[0] else f"{host[:80]} ({shown})"
            raise ConfigError(f"--host {named} is not an address of this machine; use "
                              "127.0.0.1 or one of its own addresses") from None
        raise ConfigError(f"cannot listen on {shown}:{port} ({e.strerror or e}); choose "
                          "another --host or --port") from None
    return sock


def _server(cfg: AppConfig, host: str, sock: socket.socket, preload: bool) -> uvicorn.Server:
    app = create_app(dataclasses.replace(cfg, host=host))
    try:
        if preload:
            for name in cfg.models:
                app.state.pool.get(name)
    except BaseException:
        app.state.store.close()
        raise
    port = int(sock.getsockname()[1])
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                            server_header=False, date_header=False, timeout_graceful_shutdown=2)
    return uvicorn.Server(config)


def run_server(cfg: AppConfig, host: str = "127.0.0.1", port: int = 8000,
               echo: Callable[[str], None] | None = print,
               sock: socket.socket | None = None) -> None:
    """Bind (unless ``sock`` is already bound by :func:`bind_socket`), load the models, then serve
    until interrupted (Ctrl-C). The socket is closed and a temporary runs folder removed on exit.

    Examples
    --------
    >>> run_server(AppConfig(models=["mnist-cnn"]), port=8000)         # doctest: +SKIP
    """
    t0 = time.perf_counter()
    sock = sock if sock is not None else bind_socket(host, port)
    try:
        server = _server(cfg, host, sock, preload=True)
        try:
            if echo:
                shown = f"[{host}]" if ":" in host else host
                echo(f"loaded {', '.join(cfg.models)} in {time.perf_counter() - t0:.1f} s; "
                     f"serving http://{shown}:{sock.getsockname()[1]}/ (Ctrl-C to stop)")
            server.run(sockets=[sock])
        finally:
            idle = server.config.app.state.queue.close(timeout=STOP_WAIT_S)
            server.config.app.state.store.close()
            if not idle and not isinstance(sys.exc_info()[1], Exception):
                # Stopped (Ctrl-C, SIGTERM) with a run still inside torch: exiting the interpreter
                # under a running torch thread aborts the process ("terminate called..."), so the
                # process ends right after the clean-up and the caller's last words instead.
                atexit.register(_exit_now)
    finally:
        sock.close()


def _exit_now() -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


class BackgroundServer:
    """The app served by uvicorn in a daemon thread, for tests and notebooks.

    The socket is bound when the server is made (``port=None``: a free port), so there is no race
    for the port between choosing it and serving on it.

    Examples
    --------
    >>> with BackgroundServer(AppConfig(models=["mnist-cnn"])) as srv:    # doctest: +SKIP
    ...     print(srv.url)
    http://127.0.0.1:40123
    """

    def __init__(self, cfg: AppConfig, host: str = "127.0.0.1", port: int | None = None,
                 preload: bool = False) -> None:
        self.sock = bind_socket(host, port or 0)
        self.host, self.port = host, int(self.sock.getsockname()[1])
        try:
            self.server = _server(cfg, self.host, self.sock, preload)
        except BaseException:
            self.sock.close()
            raise
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       daemon=True, name="steerlens-serve")

    @property
    def url(self) -> str:
        """Base URL, without a trailing slash."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def app(self):
        """The FastAPI app being served."""
        return self.server.config.app

    def __enter__(self) -> Self:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError(f"the app did not start on {self.url}")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        if self.thread.is_alive():
            self.thread.join(timeout=10)
        self.sock.close()
        self.app.state.queue.close(timeout=STOP_WAIT_S)
        self.app.state.store.close()
