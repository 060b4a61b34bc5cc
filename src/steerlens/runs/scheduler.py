"""Check a ``--scheduler`` value before any work: a reachable Dask scheduler, or one line saying why not.

:func:`check_scheduler` turns the value (``tcp://HOST:PORT``, ``tls://HOST:PORT`` or the path of a
scheduler file) into the address of a scheduler that answered, before the model is loaded or the
output folder is touched. Everything else is refused with a one-line
:class:`~steerlens.errors.ConfigError`:

- a path that is a folder, a FIFO, a device, an unreadable or oversized file, or a file that is
  not a scheduler file (JSON with an ``address``); a FIFO is never opened;
- a protocol other than ``tcp://`` and ``tls://`` (``inproc://`` lives inside one Python process,
  ``ucx://`` needs UCX), ``tls://`` without Dask's TLS configuration, a missing host or a port
  outside 1-65535;
- a port where nothing listens (refused at once, not after Dask's 30 s of retries), a host that
  does not resolve or answer, and a port where something that is not a Dask scheduler listens
  (it must answer Dask's ``identity`` call within the timeout; a silent server or one sending
  other bytes cannot hold the command or make it allocate what those bytes claim).
"""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any

from steerlens.errors import ConfigError
from steerlens.runs.files import printable, read_regular

__all__ = ["PROTOCOLS", "check_scheduler"]

#: protocols ``--scheduler`` accepts
PROTOCOLS = ("tcp", "tls")
#: largest scheduler file read (bytes); Dask's are under 1 kB
_MAX_FILE_BYTES = 1 << 20


def check_scheduler(value: str, timeout: float = 10.0) -> str:
    """The address of the Dask scheduler ``value`` names, after it answered; else one line.

    Parameters
    ----------
    value
        ``tcp://HOST:PORT``, ``tls://HOST:PORT`` or a scheduler file (as written by
        ``dask scheduler --scheduler-file`` or ``Client.write_scheduler_file``).
    timeout
        Seconds to wait for the connection and for the scheduler's answer.

    Returns
    -------
    str
        The scheduler's address (from the file, for a scheduler file).

    Raises
    ------
    ConfigError
        The value names no reachable Dask scheduler (see the module docstring).

    Examples
    --------
    >>> check_scheduler("inproc://x")
    Traceback (most recent call last):
    ...
    steerlens.errors.ConfigError: --scheduler inproc://x: inproc:// addresses live inside one Python process; give tcp://HOST:PORT or a scheduler file
    """
    shown = printable(value)
    if not value.strip() or "\0" in value:
        raise ConfigError(f"--scheduler {shown!r} is empty or holds a NUL byte; give tcp://HOST:PORT or a scheduler file")
    if "://" in value:
        address = value.strip()
    else:
        address = _address_from_file(Path(value).expanduser(), shown)
        shown = f"{shown} (address {printable(address)})"
    host, port = _parse(address, shown)
    args = _connection_args(address, shown)
    _probe_tcp(host, port, shown, timeout)
    reply = _identify(address, args, shown, timeout)
    kind = reply.get("type") if isinstance(reply, dict) else None
    if kind != "Scheduler":
        what = f"a Dask {kind}" if isinstance(kind, str) and kind else "not a Dask scheduler"
        raise ConfigError(
            f"--scheduler {shown} answers but is {what}; give the scheduler's address (port 8786 "
            "by default)"
        )
    return address


def _address_from_file(path: Path, shown: str) -> str:
    """The ``address`` of a scheduler file, or one line on what the path is instead."""
    try:
        data = read_regular(path, _MAX_FILE_BYTES)
    except FileNotFoundError:
        raise ConfigError(
            f"--scheduler {shown} is neither a scheduler file nor an address like tcp://HOST:8786"
        ) from None
    except OSError as e:
        reason = str(e) if not e.strerror else e.strerror
        if isinstance(e, IsADirectoryError):
            reason = "is a folder"
        raise ConfigError(
            f"--scheduler {shown} {reason if reason.startswith('is ') else 'cannot be read: ' + reason}; "
            "give a scheduler file or tcp://HOST:PORT"
        ) from None
    try:
        info = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        info = None
    address = info.get("address") if isinstance(info, dict) else None
    if not isinstance(address, str) or "://" not in address:
        raise ConfigError(
            f"--scheduler {shown} is not a Dask scheduler file (JSON with an \"address\"); give the "
            "file the scheduler wrote or tcp://HOST:PORT"
        )
    return address


def _parse(address: str, shown: str) -> tuple[str, int]:
    """``(host, port)`` of a ``tcp://``/``tls://`` address; one line for anything else."""
    protocol, _, rest = address.partition("://")
    protocol = protocol.lower()
    if protocol == "inproc":
        raise ConfigError(
            f"--scheduler {shown}: inproc:// addresses live inside one Python process; give "
            "tcp://HOST:PORT or a scheduler file"
        )
    if protocol not in PROTOCOLS:
        raise ConfigError(
            f"--scheduler {shown}: protocol {printable(protocol)}:// is not supported; give "
            "tcp://HOST:PORT (or tls:// with Dask's TLS configuration)"
        )
    host, sep, port_text = rest.rstrip("/").rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ConfigError(
            f"--scheduler {shown} is not HOST:PORT with a port from 1 to 65535; give an address "
            "like tcp://10.0.0.1:8786"
        )
    return host, int(port_text)


def _connection_args(address: str, shown: str) -> dict[str, Any]:
    """Dask's client connection arguments; for ``tls://``, one line unless TLS is configured."""
    from distributed.security import Security

    security = Security()
    if address.lower().startswith("tls://") and not (security.tls_ca_file and security.tls_client_cert):
        raise ConfigError(
            f"--scheduler {shown}: tls:// needs Dask's TLS configuration (distributed.comm.tls.ca-file "
            "and distributed.comm.tls.client.cert/key in ~/.config/dask/); set it or use tcp://"
        )
    return security.get_connection_args("client")


def _probe_tcp(host: str, port: int, shown: str, timeout: float) -> None:
    """Fail at once where nothing listens (Dask would retry for its whole timeout)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except socket.gaierror:
        raise ConfigError(f"--scheduler {shown}: host {printable(host)} does not resolve; check the address") from None
    except TimeoutError:
        raise ConfigError(
            f"--scheduler {shown}: no answer from {printable(host)}:{port} within {timeout:g} s; "
            "check that the scheduler runs and the address"
        ) from None
    except OSError as e:
        reason = e.strerror or type(e).__name__
        raise ConfigError(
            f"--scheduler {shown}: cannot connect ({reason.lower()}); check that the scheduler runs "
            "and the address"
        ) from None


def _identify(address: str, args: dict[str, Any], shown: str, timeout: float) -> Any:
    """Dask's ``identity`` reply of ``address``, under one hard timeout."""

    async def ask() -> Any:
        from distributed.comm import connect

        comm = await connect(address, timeout=timeout, **args)
        try:
            await comm.write({"op": "identity"})
            return await comm.read()
        finally:
            comm.abort()

    try:
        return asyncio.run(asyncio.wait_for(ask(), timeout))
    except TimeoutError:
        raise ConfigError(
            f"--scheduler {shown} accepts connections but gave no Dask answer within {timeout:g} s; "
            "is it a Dask scheduler?"
        ) from None
    except Exception as e:  # noqa: BLE001 - any failure of a foreign server is this one line
        # Dask reading another protocol's bytes as a frame length raises MemoryError, OSError...
        first = printable(str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__)[:120]
        raise ConfigError(
            f"--scheduler {shown} is not a Dask scheduler ({type(e).__name__}: {first}); check the "
            "address"
        ) from None
