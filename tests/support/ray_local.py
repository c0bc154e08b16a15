"""A small Ray for the tests: one local head (2 CPUs, no dashboard, a small object store,
loopback only, token authentication), started once per test process and shut down at its
end; and the settings every test cluster and `ray start` in the tests use.

Ray is imported only when a test asks for it, so the rest of the suite never loads it.
"""
from __future__ import annotations

import atexit
import os
import secrets
import tempfile

TEST_OBJECT_STORE_BYTES = 80 * 2**20
# Short: Ray's socket paths (under the temp folder) have a length limit.
RAY_TEMP = os.path.join(tempfile.gettempdir(), f"pg-ray-{os.getpid()}")


def auth_environment() -> dict[str, str]:
    """Token authentication on, with a token of this test process's own (never the
    user's ~/.ray/auth_token); workers and `ray start` inherit it. Ray reads these when it
    is imported, so this module sets them on import: import it before Ray."""
    os.environ["RAY_AUTH_MODE"] = "token"
    os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(32))
    return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": os.environ["RAY_AUTH_TOKEN"]}


auth_environment()
# The test clusters' nodes are made in this process on 127.0.0.1 (ray.cluster_utils). Ray
# rewrites a loopback address it is asked to join into the machine's outward address
# unless this switch (meant for Windows and macOS) is off; it is read when Ray is
# imported. `ray start` of a worker refuses to run with it off, so only tests set it.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


def local_ray() -> None:
    """Connect this process to the session's local Ray head (started on first use)."""
    import ray

    from playground.runs import ray_cluster

    if ray.is_initialized():
        return
    auth_environment()
    ray_cluster.connect(None, num_cpus=2, object_store_memory=TEST_OBJECT_STORE_BYTES,
                        _temp_dir=RAY_TEMP)
    atexit.register(ray.shutdown)


def shutdown() -> None:
    import ray
    if ray.is_initialized():
        ray.shutdown()
