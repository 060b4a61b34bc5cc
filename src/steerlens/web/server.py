"""Run the app with uvicorn: in the foreground (``steerlens serve``) or in a thread (tests, notebooks).

Models are loaded before the server starts, so a bad ``--model`` fails at once with one line.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Self

import uvicorn

from steerlens.web.app import AppConfig, create_app


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


def _server(cfg: AppConfig, host: str, port: int, preload: bool) -> uvicorn.Server:
    app = create_app(cfg)
    if preload:
        for name in cfg.models:
            app.state.pool.get(name)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                            server_header=False, date_header=False, timeout_graceful_shutdown=2)
    return uvicorn.Server(config)


def run_server(cfg: AppConfig, host: str = "127.0.0.1", port: int = 8000,
               echo: Callable[[str], None] | None = print) -> None:
    """Load the models, then serve until interrupted (Ctrl-C).

    Examples
    --------
    >>> run_server(AppConfig(models=["mnist-cnn"]), port=8000)         # doctest: +SKIP
    """
    t0 = time.perf_counter()
    server = _server(cfg, host, port, preload=True)
    if echo:
        shown = f"[{host}]" if ":" in host else host
        echo(f"loaded {', '.join(cfg.models)} in {time.perf_counter() - t0:.1f} s; "
             f"serving http://{shown}:{port}/ (Ctrl-C to stop)")
    server.run()


class BackgroundServer:
    """The app served by uvicorn in a daemon thread, for tests and notebooks.

    Examples
    --------
    >>> with BackgroundServer(AppConfig(models=["mnist-cnn"])) as srv:    # doctest: +SKIP
    ...     print(srv.url)
    http://127.0.0.1:40123
    """

    def __init__(self, cfg: AppConfig, host: str = "127.0.0.1", port: int | None = None,
                 preload: bool = False) -> None:
        self.host, self.port = host, port or free_port(host)
        self.server = _server(cfg, self.host, self.port, preload)
        self.thread = threading.Thread(target=self.server.run, daemon=True, name="steerlens-serve")

    @property
    def url(self) -> str:
        """Base URL, without a trailing slash."""
        return f"http://{self.host}:{self.port}"

    @property
    def app(self):
        """The FastAPI app being served."""
        return self.server.config.app

    def __enter__(self) -> Self:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the app did not start on {self.url}")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
