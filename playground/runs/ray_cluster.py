"""Joining the Ray cluster that trains a class's runs (`PLAYGROUND_EXECUTOR=ray`).

Only the Ray backend imports this module, so a server on the thread backend never imports
Ray. With `RAY_ADDRESS` set the process joins that cluster and fails in one line when it
cannot be reached; without it, it starts a single-node Ray head of its own (its runs then
end with the process). Every actor of the playground lives in one namespace, under a name,
so any web replica (or a restarted one) finds them again.
"""
from __future__ import annotations

import logging
import os

import ray

from playground.runs.settings import env_int


NAMESPACE = "cnn-playground"
REGISTRY_NAME = "registry"
RUN_PREFIX = "run-"
# Cores a run trains on: Ray reserves them and sets OMP_NUM_THREADS to match.
CPUS_PER_RUN = env_int("PLAYGROUND_CPUS_PER_RUN", 1)
RUNS_PER_GPU = env_int("PLAYGROUND_RUNS_PER_GPU", 2)


class ClusterUnreachable(RuntimeError):
    """RAY_ADDRESS names a cluster this process cannot join."""


def run_actor_name(run_id: str) -> str:
    return RUN_PREFIX + run_id


def worker_env() -> dict[str, str]:
    """What every actor's process needs from this one: where the data and the run store are,
    and (in a source checkout, tests) where the package is."""
    names = ("PLAYGROUND_DATA", "PLAYGROUND_CACHE", "PLAYGROUND_STATE", "PYTHONPATH",
             "PLAYGROUND_STORED_RUNS_PER_OWNER", "PLAYGROUND_STORE_MAX_MB")
    env = {name: os.environ[name] for name in names if os.environ.get(name)}
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
        __file__))))
    if package_root not in env.get("PYTHONPATH", "").split(os.pathsep):
        # An editable or source install: workers import this same copy of the package.
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH"))
                                            if p)
    return env


def connect(address: str | None = None, **local_head) -> None:
    """Join the cluster at `address` (default RAY_ADDRESS), or start a local head when there
    is none. Nothing happens when this process is connected already (tests)."""
    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS") or None
    settings = dict(namespace=NAMESPACE, runtime_env={"env_vars": worker_env()},
                    log_to_driver=False, logging_level=logging.WARNING)
    if address is None:
        settings.update(include_dashboard=False, _node_ip_address="127.0.0.1")
        settings.update(local_head)
        ray.init(**settings)
        return
    try:
        ray.init(address=address, **settings)
    except Exception as error:  # Ray raises ConnectionError, RuntimeError or its own
        raise ClusterUnreachable(f"cannot reach the Ray cluster at {address}: "
                                 f"{_first_line(error)}") from None


def check_reachable(address: str | None = None) -> str:
    """A short description of the cluster, or ClusterUnreachable; used by `serve` before it
    starts any web replica."""
    connect(address)
    resources = ray.cluster_resources()
    nodes = [node for node in ray.nodes() if node.get("Alive")]
    return (f"{len(nodes)} node(s), {resources.get('CPU', 0):g} CPUs, "
            f"{resources.get('GPU', 0):g} GPUs")


def has_gpus() -> bool:
    return ray.cluster_resources().get("GPU", 0) > 0


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:300]

