"""The records a live page keeps of the run it shows, read from the executor as deltas.

The Train page refreshes twice a second; asking for every record since step 0 each time
copies and filters the whole history (thousands of points late in a long run) while the
training thread waits for the GIL. Instead the page keeps what it has read and asks only
for the steps after it (`Executor.records(run_id, since_step)`).

What is kept belongs to one life of one run: a new run id, a reset (the run's number
changes) or records that restart (the run's step went back, e.g. a stored run reopened
under the same id) start again from step 0. No Streamlit here: the page holds the value
in its session state, tests drive it with a fake reader.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from playground.runs.executor import RunRecords, RunStatus

# Executor.records, or anything that answers like it.
ReadRecords = Callable[[str, int], RunRecords]


@dataclass
class KeptRecords:
    """Every record of one run's life through `records.through_step`."""

    run_id: str
    number: int
    records: RunRecords

    def belongs_to(self, run: RunStatus) -> bool:
        """Still the same life of `run`: same id and number, and no step went back."""
        return (self.run_id == run.run_id and self.number == run.number
                and run.step >= self.records.through_step)


def refresh(kept: KeptRecords | None, run: RunStatus, read: ReadRecords) -> KeptRecords:
    """`kept` brought up to date with `run`'s newest records (a new one when it belonged
    to another run or life). The lists of `kept.records` grow in place: a caller that
    holds them sees the new records too, never a copy of the old ones."""
    if kept is None or not kept.belongs_to(run):
        return KeptRecords(run.run_id, run.number, read(run.run_id, 0))
    new = read(run.run_id, kept.records.through_step)
    records = kept.records
    if new.through_step < records.through_step:
        # Records restarted between the status and this read (a reset just now): the
        # delta is of a new life, so read that life from its start.
        return KeptRecords(run.run_id, run.number, read(run.run_id, 0))
    records.steps.extend(new.steps)
    records.evals.extend(new.evals)
    records.epochs.extend(new.epochs)
    records.norms.extend(new.norms)
    records.lr_changes.extend(new.lr_changes)
    records.through_step = new.through_step
    return kept
