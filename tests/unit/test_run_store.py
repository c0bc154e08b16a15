"""The run store: runs written at epoch ends and when they end, bounded by count and bytes
(oldest first), read back as "interrupted" after their process died, opened again through
the executor and trained on from their stored weights."""
from __future__ import annotations

import io
import logging
import os
import signal
import subprocess
import sys
import textwrap

import pytest
import torch

from playground import spec as S
from playground.runs import RunOptions
from playground.runs.sqlite_store import SqliteStore, open_store
from playground.runs.sqlite_store import _weights_name as weights_name
from playground.runs.store import InMemoryStore, StoreBounds, StoredRun
from playground.train import trainer as T
from playground.train.records import EpochRecord, RunProgress, StepRecord
from tests.support import ROOT
from tests.unit.test_runs import add_run, make_executor
from tests.unit.test_train import SMALL_NET, make_trainer, synthetic, wait_for

STEPS_PER_EPOCH = 16  # synthetic(): 512 images, batch 32


def stored_run(run_id: str, owner: str = "a", number: int = 1, state: str = T.FINISHED,
               epochs: int = 1) -> StoredRun:
    step = epochs * STEPS_PER_EPOCH
    progress = RunProgress(step, 1.5, [StepRecord(step, epochs, 0.5, 0.8, 0.01, 900.0, 1.5)],
                           [], [EpochRecord(e + 1, 0.5, 0.8, 0.7, 900.0, 1.0, 1.2)
                                for e in range(epochs)])
    return StoredRun(run_id, number, owner, S.parse_spec(SMALL_NET),
                     S.TrainingConfig(lr=0.01, batch_size=32, epochs=5), "synthetic", "cpu",
                     state, "finished", STEPS_PER_EPOCH, progress)


def weights(fill: float = 0.0, size: int = 100) -> dict[str, torch.Tensor]:
    return {"w": torch.full((size,), fill)}


@pytest.fixture(params=["memory", "sqlite"])
def make_store(request, tmp_path):
    """Both stores obey the same bounds; `make_store(bounds)` makes a new one."""
    made = []

    def make(bounds: StoreBounds):
        made.append(1)
        if request.param == "memory":
            return InMemoryStore(bounds)
        return SqliteStore(tmp_path / f"store{len(made)}", bounds)
    return make


# --- bounds --------------------------------------------------------------------------------

def test_each_owner_keeps_its_newest_runs_and_hears_of_the_evicted(make_store):
    store = make_store(StoreBounds(runs_per_owner=3, max_bytes=2**30))
    for index in range(5):
        store.save_run(stored_run(f"run{index}", number=index + 1), weights(index))
    store.save_run(stored_run("other", owner="b"), weights())
    assert [r.run_id for r in store.stored_runs("a")] == ["run2", "run3", "run4"]
    assert [r.run_id for r in store.stored_runs("b")] == ["other"]
    assert store.stored_weights("run0", 1) is None
    assert store.stored_weights("run4", 5)["w"][0] == 4
    why = "(over the 3 saved runs kept per browser)"
    assert store.take_evictions("a") == [f"#1 small: adam lr 0.01, batch 32 {why}",
                                         f"#2 small: adam lr 0.01, batch 32 {why}"]
    assert store.take_evictions("a") == [] and store.take_evictions("b") == []
    if isinstance(store, SqliteStore):  # the evicted runs' weights files are gone too
        assert len(list((store.folder / "weights").iterdir())) == 4


def test_a_run_stored_again_replaces_itself_and_stays_as_old_as_it_was(make_store):
    store = make_store(StoreBounds(runs_per_owner=2, max_bytes=2**30))
    store.save_run(stored_run("first"), weights())
    store.save_run(stored_run("second"), weights())
    store.save_run(stored_run("first", epochs=2), weights(1.0))  # its next epoch
    assert [(r.run_id, r.progress.step) for r in store.stored_runs("a")] == [
        ("first", 32), ("second", 16)]
    store.save_run(stored_run("third"), weights())
    assert [r.run_id for r in store.stored_runs("a")] == ["second", "third"]


def test_the_bytes_bound_evicts_the_oldest_runs_of_anyone(make_store):
    one_run = make_store(StoreBounds(runs_per_owner=10, max_bytes=2**30))
    one_run.save_run(stored_run("probe"), weights(size=10_000))
    size = one_run.stored_runs("a")[0].nbytes  # 40 kB of weights, and the records
    store = make_store(StoreBounds(runs_per_owner=10, max_bytes=int(size * 2.5)))
    store.save_run(stored_run("oldest", owner="a"), weights(size=10_000))
    store.save_run(stored_run("middle", owner="b"), weights(size=10_000))
    store.save_run(stored_run("newest", owner="c"), weights(size=10_000))
    assert store.stored_runs("a") == []
    assert [r.run_id for r in store.stored_runs("b") + store.stored_runs("c")] == [
        "middle", "newest"]
    [note] = store.take_evictions("a")
    assert note.startswith("#1 small: adam lr 0.01, batch 32 (over the ")
    assert note.endswith(" MB of saved runs the server keeps)")


def test_the_bounds_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("PLAYGROUND_STORED_RUNS_PER_OWNER", "4")
    monkeypatch.setenv("PLAYGROUND_STORE_MAX_MB", "300")
    assert StoreBounds.from_env() == StoreBounds(runs_per_owner=4, max_bytes=300 * 2**20)
    monkeypatch.setenv("PLAYGROUND_STORE_MAX_MB", "lots")  # the server starts anyway
    assert StoreBounds.from_env().max_bytes == 2048 * 2**20


# --- on disk -----------------------------------------------------------------------------

def test_a_run_still_training_reads_back_interrupted_in_the_next_process(tmp_path):
    first = SqliteStore(tmp_path)
    first.save_run(stored_run("live", state=T.RUNNING, epochs=2), weights(3.0))
    first.save_run(stored_run("done", state=T.FINISHED), weights())
    assert first.stored_run("live").state == T.RUNNING  # its own process still trains it
    first.close()
    after_restart = SqliteStore(tmp_path)
    live = after_restart.stored_run("live")
    assert live.state == T.INTERRUPTED and "end of epoch 2" in live.message
    assert after_restart.stored_run("done").state == T.FINISHED
    assert live.progress == stored_run("live", epochs=2).progress
    assert live.spec == S.parse_spec(SMALL_NET) and live.config.epochs == 5
    assert torch.equal(after_restart.stored_weights("live", 1)["w"], weights(3.0)["w"])


def test_stored_weights_are_read_as_tensors_only(tmp_path, caplog):
    store = SqliteStore(tmp_path)
    store.save_run(stored_run("run"), weights())
    path = next((tmp_path / "weights").iterdir())

    class Payload:
        def __reduce__(self):
            return (os.system, ("echo owned",))

    buffer = io.BytesIO()
    torch.save({"w": Payload()}, buffer)
    path.write_bytes(buffer.getvalue())
    with caplog.at_level(logging.WARNING):
        assert store.stored_weights("run", 1) is None
    assert "refused" in caplog.text


def test_stray_files_and_rows_are_dropped_when_the_store_opens(tmp_path):
    store = SqliteStore(tmp_path)
    store.save_run(stored_run("kept"), weights())
    store.save_run(stored_run("lost"), weights())
    store.close()
    folder = tmp_path / "weights"
    kept = {path.name for path in folder.iterdir()} - {weights_name("lost", 1)}
    (folder / weights_name("lost", 1)).unlink()  # deleted by hand
    (folder / "killed-between-two-writes.partial").write_bytes(b"x")
    reopened = SqliteStore(tmp_path)
    assert [r.run_id for r in reopened.stored_runs("a")] == ["kept"]
    assert {path.name for path in folder.iterdir()} == kept


def test_an_unusable_state_folder_falls_back_to_memory(tmp_path, caplog):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    with caplog.at_level(logging.ERROR):
        store = open_store(blocked / "state")
    assert isinstance(store, InMemoryStore) and not isinstance(store, SqliteStore)
    assert "will not survive a restart" in caplog.text


# --- through the registry and the executor -------------------------------------------------

class CountingStore(InMemoryStore):
    def __init__(self):
        super().__init__(StoreBounds())
        self.saved: list[tuple[str, int, int]] = []  # (state, step, epochs)

    def save_run(self, run, weights):
        self.saved.append((run.state, run.progress.step, len(run.progress.epochs)))
        super().save_run(run, weights)


def test_a_run_is_stored_at_each_epoch_end_and_when_it_ends_never_per_step():
    store = CountingStore()
    executor = make_executor(store=store, sweep_seconds=0.02)
    try:
        run = add_run(executor, "a", epochs=3)
        executor.start(run.run_id)
        run.trainer.join(60)
        wait_for(lambda: store.saved and store.saved[-1][0] == T.FINISHED, timeout=10)
        # At most once per epoch end and once at the end (epoch ends may come faster
        # than the sweep), each time at a whole epoch, never the same thing twice.
        saved = list(store.saved)
        assert 1 <= len(saved) <= 4 and len(set(saved)) == len(saved)
        assert all(step % STEPS_PER_EPOCH == 0 and step == epochs * STEPS_PER_EPOCH
                   for _, step, epochs in saved)
        assert saved[-1] == (T.FINISHED, 48, 3)
        executor.free(run.run_id)
        assert store.saved == saved  # nothing changed since: not stored again
    finally:
        executor.close()


def test_a_run_stored_mid_run_keeps_its_last_epoch_end():
    store = CountingStore()
    executor = make_executor(store=store, sweep_seconds=0.02)
    try:
        run = add_run(executor, "a", epochs=50)
        executor.step(run.run_id, STEPS_PER_EPOCH + 5)
        wait_for(lambda: run.trainer.step_count == STEPS_PER_EPOCH + 5 and not run.trainer.busy)
        wait_for(lambda: store.saved, timeout=10)
        assert store.saved == [(T.PAUSED, STEPS_PER_EPOCH, 1)]
        stored = store.stored_run(run.run_id)
        assert stored.progress.steps[-1].step == STEPS_PER_EPOCH
    finally:
        executor.close()
    assert store.saved[-1] == (T.STOPPED, STEPS_PER_EPOCH + 5, 1)  # close() stores it


def test_a_failing_store_fails_neither_the_run_nor_the_registry(caplog):
    class FullDisk(InMemoryStore):
        def save_run(self, run, weights):
            raise OSError(28, "No space left on device")

    executor = make_executor(store=FullDisk(), sweep_seconds=0.02)
    try:
        with caplog.at_level(logging.ERROR, logger="playground.runs.registry"):
            run = add_run(executor, "a", epochs=2)
            executor.start(run.run_id)
            run.trainer.join(60)
            executor.free(run.run_id)
        assert run.trainer.state == T.FINISHED
        assert "No space left" in caplog.text
        assert executor.history("a") == []
    finally:
        executor.close()


def test_a_stored_run_opens_again_for_its_owner_only_and_trains_no_further(tmp_path):
    executor = make_executor(store=SqliteStore(tmp_path), sweep_seconds=0.02)
    try:
        run = add_run(executor, "a", epochs=2)
        executor.start(run.run_id)
        run.trainer.join(60)
        step, trained = executor.latest_weights(run.run_id)
        records = executor.records(run.run_id)
        executor.free(run.run_id)
        assert executor.open_stored("b", run.run_id) is None  # not theirs
        opened = executor.open_stored("a", run.run_id)
        assert opened == run.run_id  # its id is free again: a reload's URL finds it
        status = executor.status(opened)
        assert (status.state, status.step, status.number, status.owner) == (
            T.FINISHED, step, 1, "a")
        assert status.from_store and not status.busy
        again = executor.records(opened)
        assert again.steps == records.steps and again.epochs == records.epochs
        assert all(torch.equal(executor.latest_weights(opened)[1][k], v)
                   for k, v in trained.items())
        assert [s.step for s in executor.snapshots(opened)] == [step]
        executor.start(opened)
        executor.step(opened, 3)
        assert executor.status(opened).state == T.FINISHED and not executor.status(opened).busy
        assert [s.run_id for s in executor.history("a")] == [run.run_id]  # not stored twice
    finally:
        executor.close()


def test_training_on_starts_from_the_stored_weights():
    executor = make_executor(sweep_seconds=0.02)
    try:
        run = add_run(executor, "a", epochs=1)
        executor.start(run.run_id)
        run.trainer.join(60)
        _, trained = executor.latest_weights(run.run_id)
        accuracy = run.trainer.eval_records[-1].test_acc
        executor.free(run.run_id)
        on = executor.create("a", S.parse_spec(SMALL_NET),
                             S.TrainingConfig(lr=0.01, batch_size=32, epochs=1, seed=7),
                             "synthetic", device="cpu", options=RunOptions(log_every=4),
                             initial_weights=trained)
        assert all(torch.equal(executor.latest_weights(on)[1][k], v) for k, v in trained.items())
        executor.step(on, 4)
        wait_for(lambda: executor.status(on).step == 4 and not executor.status(on).busy)
        # It goes on from what it learnt: the first records are as good as the last ones.
        assert executor.records(on).steps[0].train_acc >= min(0.9, accuracy - 0.1)
        executor.reset(on)  # reset goes back to where it started, not the seed's draw
        assert all(torch.equal(executor.latest_weights(on)[1][k], v) for k, v in trained.items())
    finally:
        executor.close()


def test_a_restored_trainer_shows_the_stored_progress():
    trained = make_trainer(epochs=1)
    trained.start()
    trained.join(60)
    progress = trained.progress()
    _, state = trained.latest_weights()
    restored = make_trainer(epochs=3, options={"initial_weights": state})
    restored.restore(progress, T.INTERRUPTED, "the server stopped")
    assert (restored.state, restored.step_count, restored.epoch) == (T.INTERRUPTED, 16, 1.0)
    assert restored.history() == trained.history()
    assert torch.equal(restored.latest_weights()[1]["0.weight"], state["0.weight"])
    restored.step(2)  # an ended run trains no further, and is not left busy
    assert restored.step_count == 16 and not restored.busy
    with pytest.raises(ValueError, match="must have ended"):
        restored.restore(progress, T.PAUSED, "")


# --- across a real process restart ----------------------------------------------------------

KILLED_MID_RUN = textwrap.dedent("""
    import os, signal, sys, time
    from pathlib import Path
    from playground import spec as S
    from playground.runs import RunOptions
    from playground.runs.sqlite_store import SqliteStore
    from tests.unit.test_runs import make_executor
    from tests.unit.test_train import SMALL_NET

    store = SqliteStore(Path(sys.argv[1]))
    executor = make_executor(store=store, sweep_seconds=0.02)
    run_id = executor.create("owner", S.parse_spec(SMALL_NET),
                             S.TrainingConfig(lr=0.01, batch_size=32, epochs=500, seed=7),
                             "synthetic", device="cpu", options=RunOptions(log_every=4))
    executor.start(run_id)
    deadline = time.monotonic() + 60
    while True:  # two epochs stored, then killed in the middle of a later one
        stored = store.stored_run(run_id)
        if stored is not None and stored.progress.step >= 32:
            break
        assert time.monotonic() < deadline
        time.sleep(0.01)
    print(run_id, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
""")


def test_a_run_killed_mid_run_comes_back_interrupted_and_trains_on(tmp_path):
    result = subprocess.run([sys.executable, "-c", KILLED_MID_RUN, str(tmp_path)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == -signal.SIGKILL, result.stderr
    run_id = result.stdout.split()[0]
    executor = make_executor(store=SqliteStore(tmp_path), sweep_seconds=0.02)
    try:
        assert executor.owner_of(run_id) == "owner"  # a reload's URL finds its session
        [summary] = executor.history("owner")
        assert summary.run_id == run_id and summary.state == T.INTERRUPTED
        opened = executor.open_stored("owner", run_id)
        status = executor.status(opened)
        epochs = status.step // status.steps_per_epoch
        assert status.state == T.INTERRUPTED and status.step % STEPS_PER_EPOCH == 0
        assert epochs >= 2 and f"end of epoch {epochs}" in executor.status(opened).message
        assert [e.epoch for e in executor.records(opened).epochs] == list(range(1, epochs + 1))
        _, stored = executor.latest_weights(opened)
        # Train on: a new run from the stored weights, for the epochs that are left.
        config = S.TrainingConfig(lr=0.01, batch_size=32, epochs=2, seed=7)
        on = executor.create("owner", status.spec, config, "synthetic", device="cpu",
                             initial_weights=stored)
        assert executor.status(on).number == 2  # numbered after the stored run
        executor.start(on)
        executor.trainer(on).join(60)
        assert executor.status(on).state == T.FINISHED
    finally:
        executor.close()
