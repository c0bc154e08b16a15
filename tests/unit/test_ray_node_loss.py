"""A cluster of a head and two worker nodes on this machine (`ray.cluster_utils.Cluster`):
runs are placed on both workers, and killing one worker fails its run, and nothing else."""
from __future__ import annotations

import secrets

import pytest

from tests.support import ray_local  # before Ray: it sets the auth token

ray = pytest.importorskip("ray")
from ray.cluster_utils import Cluster  # noqa: E402

from playground.runs import ray_cluster  # noqa: E402
from playground.runs.ray_executor import RayExecutor  # noqa: E402
from playground.train import trainer as T  # noqa: E402
from tests.unit.test_executor_contract import add_run, synthetic_by_name  # noqa: E402
from tests.unit.test_train import wait_for  # noqa: E402

# Ray notices a dead node within about two seconds instead of its default half minute.
FAST_HEALTH_CHECKS = {"health_check_initial_delay_ms": 0, "health_check_period_ms": 500,
                      "health_check_timeout_ms": 500, "health_check_failure_threshold": 3}


@pytest.fixture
def cluster():
    ray_local.shutdown()   # the test process's own local head, if an earlier test made it
    cluster = Cluster(initialize_head=True, connect=False, head_node_args=dict(
        num_cpus=0, include_dashboard=False, node_ip_address="127.0.0.1",
        object_store_memory=ray_local.TEST_OBJECT_STORE_BYTES,
        _system_config=FAST_HEALTH_CHECKS))
    try:
        doomed = cluster.add_node(num_cpus=1, node_ip_address="127.0.0.1",
                                  object_store_memory=ray_local.TEST_OBJECT_STORE_BYTES)
        kept = cluster.add_node(num_cpus=3, node_ip_address="127.0.0.1",
                                object_store_memory=ray_local.TEST_OBJECT_STORE_BYTES)
        cluster.wait_for_nodes()
        ray_cluster.connect(cluster.address)
        yield cluster, doomed, kept
    finally:
        ray.shutdown()
        cluster.shutdown()


def test_a_lost_worker_fails_its_run_at_its_last_step_and_nothing_else(cluster):
    cluster, doomed, kept = cluster
    executor = RayExecutor(load_dataset=synthetic_by_name, store_folder="",
                           registry_name=f"test-{secrets.token_hex(4)}",
                           stop_runs_on_close=True, sweep_seconds=0.2)
    try:
        # Long runs (epochs of 16 steps, stored at every epoch end).
        run_ids = {owner: add_run(executor, owner, epochs=100_000) for owner in "abc"}
        for owner, run_id in run_ids.items():
            executor.start(run_id, owner=owner)
        for run_id in run_ids.values():
            wait_for(lambda: executor.status(run_id).step > 40, timeout=120)
        nodes = {owner: ray.get(executor._actor(run_id).ready.remote())
                 for owner, run_id in run_ids.items()}
        assert set(nodes.values()) == {doomed.node_id, kept.node_id}  # both workers train
        lost = next(owner for owner, node in nodes.items() if node == doomed.node_id)
        lost_id = run_ids[lost]
        fetched = executor.records(lost_id)
        cluster.remove_node(doomed)

        wait_for(lambda: executor.status(lost_id).state == T.FAILED, timeout=60)
        status = executor.status(lost_id)
        assert status.message.startswith("the worker running it was lost at step ")
        step = int(status.message.rsplit(" ", 1)[1])
        assert step >= fetched.through_step and status.step == step
        assert not status.holds_place and not status.busy
        # What the page fetched stays; the store still has its last stored epoch.
        assert executor.records(lost_id, since_step=fetched.through_step).steps == []
        wait_for(lambda: any(s.state == T.FAILED for s in executor.history(lost)), timeout=30)
        stored = executor.history(lost)[-1]
        assert stored.epochs and stored.steps[-1].step % 16 == 0
        # The other runs train on, and the session starts a new run on the node left.
        for owner, run_id in run_ids.items():
            if owner != lost:
                before = executor.status(run_id).step
                wait_for(lambda: executor.status(run_id).step > before, timeout=60)
                assert executor.status(run_id).state == T.RUNNING
        executor.free(lost_id, owner=lost)
        again = add_run(executor, lost, epochs=100_000)
        executor.start(again, owner=lost)
        wait_for(lambda: executor.status(again).step > 0, timeout=120)
        assert ray.get(executor._actor(again).ready.remote()) == kept.node_id
    finally:
        executor.close()
