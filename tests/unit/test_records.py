"""The snapshot ring: within its byte budget, covering the whole run."""
from __future__ import annotations

import torch

from playground.train.records import SnapshotRing


def state(value: float) -> dict[str, torch.Tensor]:
    return {"weight": torch.full((4,), value)}   # 16 bytes


def test_ring_thins_to_its_budget_and_keeps_both_ends():
    ring, added = SnapshotRing(every=1), []
    for step in range(20):
        if ring.is_due(step):
            ring.add(step, step / 10, state(step), max_bytes=5 * 16)
            added.append(step)
    snapshots = ring.list()
    assert sum(s.nbytes for s in snapshots) <= 5 * 16
    assert snapshots[0].step == 0 and snapshots[-1].step == added[-1]
    assert len(added) < 20   # it snapshots less often as the run grows
    assert ring.every > 1
    assert [s.step for s in snapshots] == sorted({s.step for s in snapshots})


def test_ring_keeps_one_snapshot_per_step():
    ring = SnapshotRing(every=5)
    ring.add(0, 0.0, state(0), max_bytes=1000)
    ring.add(0, 0.0, state(1), max_bytes=1000)
    assert len(ring.list()) == 1 and ring.list()[0].state["weight"][0] == 0
    assert ring.list() is not ring.list()
