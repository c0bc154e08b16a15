"""The Train page's kept records: read as deltas, appended once, started again for a new
run or a new life of the same run."""
from __future__ import annotations

from dataclasses import dataclass, field

from playground.runs.executor import RunRecords
from playground.train.records import EvalRecord, LrChange, NormRecord, StepRecord
from playground.ui import live_records as L


@dataclass
class Status:
    """The fields of RunStatus that the kept records look at."""

    run_id: str
    number: int
    step: int


@dataclass
class FakeRun:
    """A run's records up to `step`, answered like Executor.records; counts the reads."""

    step: int = 0
    reads: list[int] = field(default_factory=list)

    def records(self, run_id: str, since_step: int) -> RunRecords:
        self.reads.append(since_step)
        steps = [StepRecord(s, s / 100, 1.0 / s, 0.5, 0.1, 1000.0, s / 10)
                 for s in range(20, self.step + 1, 20)]
        evals = [EvalRecord(s, s / 100, 0.5, 0.9, s / 10) for s in range(50, self.step + 1, 50)]
        norms = [NormRecord(r.step, r.epoch, [0], [1.0], [0.1]) for r in steps]
        changes = [LrChange(31, 0.31, 0.01)] if self.step >= 31 else []

        def new(records):
            return [r for r in records if since_step < r.step <= self.step]

        return RunRecords(self.step, new(steps), new(evals), [], new(norms), new(changes))


def test_new_records_are_appended_and_only_the_delta_is_read():
    run = FakeRun(step=40)
    kept = L.refresh(None, Status("a", 1, 40), run.records)
    assert [r.step for r in kept.records.steps] == [20, 40] and run.reads == [0]
    run.step = 120
    again = L.refresh(kept, Status("a", 1, 120), run.records)
    assert again is kept and run.reads == [0, 40]
    assert [r.step for r in kept.records.steps] == [20, 40, 60, 80, 100, 120]
    assert [r.step for r in kept.records.evals] == [50, 100]
    assert [r.step for r in kept.records.norms] == [20, 40, 60, 80, 100, 120]
    assert [c.step for c in kept.records.lr_changes] == [31]
    assert kept.records.through_step == 120


def test_no_record_is_kept_twice():
    run = FakeRun(step=60)
    kept = None
    for step in (60, 60, 61, 80, 80, 100):  # refreshes with and without new steps
        run.step = step
        kept = L.refresh(kept, Status("a", 1, step), run.records)
    assert [r.step for r in kept.records.steps] == [20, 40, 60, 80, 100]
    assert [r.step for r in kept.records.evals] == [50, 100]
    assert [c.step for c in kept.records.lr_changes] == [31]
    assert kept.records == run.records("a", 0)  # the same as one full read


def test_a_new_run_starts_from_step_zero():
    first = FakeRun(step=100)
    kept = L.refresh(None, Status("a", 1, 100), first.records)
    other = FakeRun(step=40)
    kept = L.refresh(kept, Status("b", 1, 40), other.records)
    assert kept.run_id == "b" and other.reads == [0]
    assert [r.step for r in kept.records.steps] == [20, 40]


def test_a_reset_starts_again_even_past_the_kept_step():
    run = FakeRun(step=60)
    kept = L.refresh(None, Status("a", 1, 60), run.records)
    run.step = 100  # reset, then trained on beyond step 60 before the next refresh
    kept = L.refresh(kept, Status("a", 2, 100), run.records)
    assert run.reads == [0, 0] and kept.number == 2
    assert [r.step for r in kept.records.steps] == [20, 40, 60, 80, 100]


def test_records_that_restart_under_the_same_number_are_read_again():
    run = FakeRun(step=100)
    kept = L.refresh(None, Status("a", 1, 100), run.records)
    run.step = 40  # its step went back (a life the number does not tell apart)
    kept = L.refresh(kept, Status("a", 1, 40), run.records)
    assert run.reads == [0, 0]
    assert [r.step for r in kept.records.steps] == [20, 40]
    # and a restart that happens between the status and the read
    run.step = 100
    kept = L.refresh(kept, Status("a", 1, 100), run.records)
    run.step = 20
    kept = L.refresh(kept, Status("a", 1, 100), run.records)
    assert [r.step for r in kept.records.steps] == [20]
