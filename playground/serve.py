"""`python -m playground serve`: start one web replica (`streamlit run app.py`), having
checked first that the training backend it names is there.

With `PLAYGROUND_EXECUTOR=ray` and `RAY_ADDRESS` set, the cluster must answer before
Streamlit starts: an unreachable address is one line and exit 1, never a quiet fall-back
to training in threads (a class would then load one web machine with every run). Ray is
imported only in that case.
"""
from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "app.py"
CONNECT_SECONDS = 3.0


class ServeError(RuntimeError):
    """The replica cannot start: one line for the operator."""


def streamlit_command(port: int, address: str, extra: list[str]) -> list[str]:
    if not APP.is_file():
        raise ServeError(f"app.py is not beside the playground package ({APP}): run serve "
                         "from a checkout of the project (pip install -e .)")
    return [sys.executable, "-m", "streamlit", "run", str(APP), "--server.port", str(port),
            "--server.address", address, "--server.headless", "true", *extra]


def check_backend() -> str:
    """What the replica will train on, or ServeError when it cannot be used."""
    from playground.runs import server
    try:
        backend = server.backend()
    except ValueError as error:
        raise ServeError(str(error)) from None
    if backend != "ray":
        return "training in threads of this process (PLAYGROUND_EXECUTOR is not ray)"
    address = os.environ.get("RAY_ADDRESS")
    if not address:
        return ("training on a Ray head started inside this replica (RAY_ADDRESS is not "
                "set; runs end with it)")
    check_port_open(address)
    from playground.runs import ray_cluster
    try:
        described = ray_cluster.check_reachable(address)
    except ray_cluster.ClusterUnreachable as error:
        raise ServeError(str(error)) from None
    finally:
        _disconnect()
    return f"training on the Ray cluster at {address}: {described}"


def check_port_open(address: str) -> None:
    """A quick TCP look at the head's GCS port: Ray itself retries for a long time."""
    host, _, port = address.rpartition(":")
    if address in ("auto", "local"):
        return
    if not host or not port.isdigit():
        raise ServeError(f"RAY_ADDRESS={address!r} is not HOST:PORT")
    try:
        with socket.create_connection((host, int(port)), timeout=CONNECT_SECONDS):
            pass
    except OSError as error:
        raise ServeError(f"cannot reach the Ray cluster at {address}: "
                         f"{error.strerror or error}") from None


def _disconnect() -> None:
    import ray
    if ray.is_initialized():
        ray.shutdown()


def serve(port: int, address: str, extra: list[str]) -> int:
    """Check the backend, say what it is, then become the Streamlit server."""
    command = streamlit_command(port, address, extra)
    print(f"serve: {check_backend()}", file=sys.stderr, flush=True)
    os.execv(sys.executable, command)
    return 0  # not reached
