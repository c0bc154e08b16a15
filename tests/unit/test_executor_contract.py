"""The executor contract, on both backends: the in-process threads (`LocalExecutor`) and Ray
(`RayExecutor`, on one local Ray head shared by the test process). Only the Executor
interface is used here, so whatever passes on one backend passes on the other."""
from __future__ import annotations

import secrets

import pytest
import torch

from playground import runs
from playground import spec as S
from playground.analysis.network import model_from_state
from playground.train import trainer as T
from tests.unit.test_train import SMALL_NET, synthetic, wait_for

BACKENDS = ["local", "ray"]


def synthetic_by_name(name: str):
    """SMALL_NET's synthetic data, whatever the dataset name (importable by Ray workers)."""
    return synthetic()


def make_executor(backend: str, **settings):
    if backend == "local":
        return runs.LocalExecutor(load_dataset=synthetic_by_name, **settings)
    from tests.support.ray_local import local_ray  # before Ray: it sets the auth token
    pytest.importorskip("ray")
    from playground.runs.ray_executor import RayExecutor
    local_ray()
    # A registry of this test's own (in memory), stopped with every run when it closes.
    return RayExecutor(load_dataset=synthetic_by_name, store_folder="",
                       registry_name=f"test-{secrets.token_hex(4)}", stop_runs_on_close=True,
                       **settings)


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def executor(backend):
    executor = make_executor(backend, sweep_seconds=0.05)
    yield executor
    executor.close()


def add_run(executor, owner="a", epochs=50, options=None, **config) -> str:
    settings = dict(lr=0.01, batch_size=32, epochs=epochs, seed=7)
    settings.update(config)
    return executor.create(owner, S.parse_spec(SMALL_NET), S.TrainingConfig(**settings),
                           "synthetic", device="cpu",
                           options=options or runs.RunOptions(log_every=4))


def settled(executor, run_id, step):
    status = executor.status(run_id)
    return status.step == step and not status.busy


def test_create_step_and_read_records_since_a_step(executor):
    run_id = add_run(executor, epochs=2, options=runs.RunOptions(
        log_every=4, snapshot_every=4, evals_per_epoch=2, record_norms=True,
        keep_predictions=True))
    status = executor.status(run_id)
    assert (status.step, status.owner, status.number) == (0, "a", 1)
    assert status.steps_per_epoch == 16 and status.total_steps == 32
    assert status.device == "cpu" and status.spec.name == "small"
    assert status.label.startswith("#1 small: adam lr 0.01")
    executor.step(run_id, 8)
    wait_for(lambda: settled(executor, run_id, 8), timeout=60)
    first = executor.records(run_id)
    assert first.through_step == 8
    assert [r.step for r in first.steps] == [4, 8] and [r.step for r in first.evals] == [8]
    assert [r.step for r in first.norms] == [4, 8] and first.epochs == []
    executor.step_epoch(run_id)
    wait_for(lambda: settled(executor, run_id, 16))
    later = executor.records(run_id, since_step=first.through_step)
    assert [r.step for r in later.steps] == [12, 16] and [r.step for r in later.evals] == [16]
    assert [r.epoch for r in later.epochs] == [1]
    assert executor.records(run_id, since_step=16).steps == []
    assert executor.test_predictions(run_id).step == 16
    status = executor.status(run_id)
    assert status.state == T.PAUSED and status.epoch == 1.0 and status.train_seconds > 0
    executor.set_lr(run_id, 0.002)
    executor.set_augment(run_id, True)
    status = executor.status(run_id)
    assert status.lr == pytest.approx(0.002) and status.config.augment


def test_snapshots_and_latest_weights_load_into_a_network_built_from_the_spec(executor):
    run_id = add_run(executor, epochs=1, options=runs.RunOptions(snapshot_every=4))
    executor.step(run_id, 8)
    wait_for(lambda: settled(executor, run_id, 8), timeout=60)
    snapshots = executor.snapshots(run_id)
    assert [(s.step, s.epoch) for s in snapshots] == [(0, 0.0), (4, 0.25), (8, 0.5)]
    first = executor.snapshot_weights(run_id, snapshots[0].snapshot_id)
    step, latest = executor.latest_weights(run_id)
    assert step == 8 and all(t.device.type == "cpu" for t in latest.values())
    assert not torch.equal(first["0.weight"], latest["0.weight"])
    assert torch.equal(executor.weight(run_id, "0.weight")[1], latest["0.weight"])
    assert executor.snapshot_weights(run_id, 12345) is None
    network = model_from_state(executor.status(run_id).spec, latest)
    assert network(synthetic().test_x[:4]).shape == (4, 3)


def test_dataset_info_and_stop_and_free(executor):
    run_id = add_run(executor)
    executor.start(run_id)
    wait_for(lambda: executor.records(run_id).steps, timeout=60)
    info = executor.dataset_info(run_id)
    assert (info.name, info.classes, info.input_shape) == (
        "synthetic", ["top", "middle", "bottom"], (1, 12, 12))
    assert (info.train_size, info.test_size, info.mean, info.std) == (512, 128, (0.0,), (1.0,))
    assert info.source == "made in the test" and info.note == ""
    assert torch.equal(info.samples, synthetic().train_x[:8])
    executor.stop(run_id)
    wait_for(lambda: executor.status(run_id).state == T.STOPPED, timeout=10)
    executor.start(run_id)  # a stopped run stays stopped
    assert executor.status(run_id).state == T.STOPPED
    executor.free(run_id)
    assert executor.status(run_id) is None and not executor.touch(run_id)
    with pytest.raises(runs.UnknownRunError):
        executor.records(run_id)
    executor.pause(run_id)  # commands to a freed run do nothing
    assert executor.owner_of(run_id) == "a"
    assert [s.run_id for s in executor.history("a")] == [run_id]
    assert executor.all_runs() == []


def _observed(executor, run_id) -> tuple:
    status = executor.status(run_id)
    return (status.state, status.step, status.pending_steps, status.queued, status.lr,
            status.config.augment, status.number)


def test_every_command_from_another_owner_is_refused_and_changes_nothing(executor):
    run_id = add_run(executor, "a")
    executor.step(run_id, 2, owner="a")
    wait_for(lambda: settled(executor, run_id, 2), timeout=60)
    before = _observed(executor, run_id)
    weights = executor.latest_weights(run_id)[1]["0.weight"].clone()
    commands = {"start": lambda o: executor.start(run_id, owner=o),
                "resume": lambda o: executor.resume(run_id, owner=o),
                "pause": lambda o: executor.pause(run_id, owner=o),
                "step": lambda o: executor.step(run_id, 3, owner=o),
                "step_epoch": lambda o: executor.step_epoch(run_id, owner=o),
                "stop": lambda o: executor.stop(run_id, owner=o),
                "reset": lambda o: executor.reset(run_id, owner=o),
                "set_lr": lambda o: executor.set_lr(run_id, 0.5, owner=o),
                "set_augment": lambda o: executor.set_augment(run_id, True, owner=o),
                "free": lambda o: executor.free(run_id, owner=o)}
    for name, command in commands.items():
        with pytest.raises(runs.NotOwnerError, match="started in another browser"):
            command("b")
        assert _observed(executor, run_id) == before, name
    assert torch.equal(executor.latest_weights(run_id)[1]["0.weight"], weights)
    assert executor.history("b") == [] and executor.owner_of(run_id) == "a"
    executor.pause(run_id, owner="a")   # its own browser, and the server, may
    executor.set_lr(run_id, 0.002, owner="a")
    executor.stop(run_id)
    assert executor.status(run_id).state == T.STOPPED
    executor.free(run_id, owner="a")
    assert executor.status(run_id) is None


def test_the_caps_on_active_runs(backend):
    executor = make_executor(backend, max_active=3, max_per_address=1, sweep_seconds=0.05)

    def started(owner, address=None):
        run_id = executor.create(owner, S.parse_spec(SMALL_NET), S.TrainingConfig(epochs=50),
                                 "synthetic", device="cpu", address=address)
        executor.start(run_id, owner=owner)
        return run_id

    try:
        first = started("a")
        with pytest.raises(runs.RunLimitError, match=r"limit 1 per session"):
            started("a")
        started("b", "10.0.0.5")
        with pytest.raises(runs.RunLimitError, match=r"address 10.0.0.5 .*limit 1 per address"):
            started("c", "10.0.0.5")
        started("d")
        with pytest.raises(runs.RunLimitError, match=r"3 active training runs \(limit 3\)"):
            started("e")
        executor.free(first, owner="a")
        assert started("e")  # the freed place is taken at once
    finally:
        executor.close()


def test_a_spec_that_does_not_fit_the_dataset_is_refused_at_once(executor):
    wrong = S.parse_spec({**SMALL_NET, "input": [3, 12, 12]})
    with pytest.raises(S.SpecError, match=r"input: the spec takes \[3, 12, 12\]"):
        executor.create("a", wrong, S.TrainingConfig(), "synthetic", device="cpu")
    assert executor.all_runs() == []
