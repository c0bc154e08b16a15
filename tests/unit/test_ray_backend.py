"""What only the Ray backend does: Ray places runs (and queues them while no node has the
cores), runs outlive the web process and are found again by id from another process, and
datasets travel through the object store as uint8."""
from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import textwrap

import pytest

from tests.support import ROOT
from tests.support.ray_local import local_ray  # before Ray: it sets the auth token

ray = pytest.importorskip("ray")

from playground import runs  # noqa: E402
from playground import spec as S  # noqa: E402
from playground.runs.ray_executor import RayExecutor  # noqa: E402
from playground.runs.registry_actor import WAITING_FOR_WORKER  # noqa: E402
from playground.train import trainer as T  # noqa: E402
from tests.unit.test_executor_contract import add_run, synthetic_by_name  # noqa: E402
from tests.unit.test_train import synthetic, wait_for  # noqa: E402


@pytest.fixture
def registry_name():
    local_ray()
    return f"test-{secrets.token_hex(4)}"


@pytest.fixture
def executor(registry_name):
    executor = RayExecutor(load_dataset=synthetic_by_name, store_folder="",
                           registry_name=registry_name, stop_runs_on_close=True,
                           sweep_seconds=0.2)
    yield executor
    executor.close()


def test_ray_places_runs_and_one_waits_for_a_worker_until_cores_free(executor):
    # The test head has 2 CPUs and a run reserves 1: the third run waits for Ray.
    first, second, third = (add_run(executor, owner, epochs=5000) for owner in "abc")
    for run_id, owner in ((first, "a"), (second, "b"), (third, "c")):
        executor.start(run_id, owner=owner)
    wait_for(lambda: executor.status(first).state == T.RUNNING, timeout=60)
    wait_for(lambda: executor.status(second).state == T.RUNNING, timeout=60)
    waiting = executor.status(third)
    assert waiting.state == WAITING_FOR_WORKER and waiting.queued and waiting.holds_place
    assert executor.records(third).steps == []
    executor.free(first, owner="a")          # its core frees: Ray places the third
    wait_for(lambda: executor.status(third).state == T.RUNNING, timeout=60)
    wait_for(lambda: executor.records(third).steps, timeout=30)
    assert not executor.status(third).queued


def test_a_run_is_found_by_id_from_another_process_read_only_without_its_owner(
        registry_name):
    first = RayExecutor(load_dataset=synthetic_by_name, store_folder="",
                        registry_name=registry_name, sweep_seconds=0.05)
    run_id = add_run(first, "owner-a", epochs=100_000)  # still training when read
    first.start(run_id, owner="owner-a")
    wait_for(lambda: len(first.records(run_id).steps) >= 2, timeout=60)
    first.close()   # the web process goes away; the run trains on in the cluster
    other = textwrap.dedent(f"""
        import json
        from tests.support import ray_local
        from playground.runs import NotOwnerError
        from playground.runs.ray_executor import RayExecutor
        executor = RayExecutor(registry_name={registry_name!r})
        status = executor.status({run_id!r})
        found = {{"state": status.state, "owner": status.owner,
                  "steps": len(executor.records({run_id!r}).steps),
                  "since": [r.step for r in executor.records({run_id!r}, 8).steps][:1]}}
        refused = []
        for command in ("pause", "stop", "reset", "free"):
            try:
                getattr(executor, command)({run_id!r}, owner="owner-b")
            except NotOwnerError as error:
                refused.append(command)
        found["refused"] = refused
        found["after"] = executor.status({run_id!r}).state
        executor.pause({run_id!r}, owner="owner-a")
        found["paused_by_owner"] = executor.status({run_id!r}).state
        print(json.dumps(found))
        executor.close()
    """)
    env = dict(os.environ, RAY_ADDRESS=ray.get_runtime_context().gcs_address,
               PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", other], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["state"] == T.RUNNING and found["owner"] == "owner-a"
    assert found["steps"] >= 2 and found["since"] == [12]
    assert found["refused"] == ["pause", "stop", "reset", "free"]
    assert found["after"] == T.RUNNING and found["paused_by_owner"] == T.PAUSED
    # And after a restart of this web process too: a new executor finds it by name.
    again = RayExecutor(registry_name=registry_name, stop_runs_on_close=True)
    try:
        assert again.status(run_id).state == T.PAUSED
        again.start(run_id, owner="owner-a")
        assert again.status(run_id).state == T.RUNNING
    finally:
        again.close()


def test_datasets_travel_as_uint8_and_come_back_exactly():
    from playground.data import datasets as D
    from playground.runs.ray_datasets import pack, unpack

    raw = D._Raw(torch_uint8(), torch_labels(), torch_uint8(seed=1), torch_labels(),
                 ["a", "b", "c"], "made in the test")
    data = D._finish("tiny", raw, is_subset=False, limit_train=None)
    packed = pack(data)
    assert packed.train_x.dtype.name == "uint8" and packed.nbytes < data.train_x.nbytes
    back = unpack(packed)
    assert (back.train_x == data.train_x).all() and (back.test_y == data.test_y).all()
    floats = pack(synthetic())       # not whole uint8 values: travels as float32
    assert floats.train_x.dtype.name == "float32"
    assert (unpack(floats).train_x == synthetic().train_x).all()


def torch_uint8(seed: int = 0):
    import torch
    return torch.randint(0, 256, (16, 1, 8, 8), dtype=torch.uint8,
                         generator=torch.Generator().manual_seed(seed))


def torch_labels():
    import torch
    return torch.arange(16) % 3


def test_the_thread_backend_never_imports_ray():
    code = ("import sys, os; os.environ.pop('PLAYGROUND_EXECUTOR', None); "
            "from playground.runs import server; server.executor().close(); "
            "assert 'ray' not in sys.modules, 'ray imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_an_unknown_backend_name_is_one_clear_error(monkeypatch):
    from playground.runs import server
    monkeypatch.setenv("PLAYGROUND_EXECUTOR", "spark")
    with pytest.raises(ValueError, match="PLAYGROUND_EXECUTOR='spark': use one of local, ray"):
        server.backend()
    assert runs.RunLimitError  # the package's errors are the same on both backends


def test_serve_refuses_an_unreachable_cluster_in_one_line():
    from tests.support import free_port
    env = dict(os.environ, PLAYGROUND_EXECUTOR="ray", RAY_ADDRESS=f"127.0.0.1:{free_port()}",
               PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-m", "playground", "serve", "--port", "1"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"error: cannot reach the Ray cluster at {env['RAY_ADDRESS']}: "), done.stderr
