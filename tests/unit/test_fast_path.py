"""Speed never changes results: the Trainer's fast path computes what a plain loop computes.

The plain loop is written the way a tutorial writes it (torch.optim.Adam, OneCycleLR,
`loss.item()` every step) with the Trainer's seeds: initial weights from `seed`, the
shuffle from `seed + 1`. The Trainer slices batches from resident tensors, sums the loss
on the device and reads it every `log_every` steps, in its own thread or the caller's.
"""
from __future__ import annotations

import math
import os
import threading
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from playground.data import datasets as D
from playground.model import build as M
from playground import spec as S
from playground.train import trainer as T
from playground.train.threads import cpu_cores

PRESET = Path(__file__).resolve().parents[2] / "assets" / "presets" / "mnist_fast.json"
TRAIN_SIZE, BATCH, EPOCHS, LOG_EVERY, SEED = 600, 64, 2, 5, 11


def digit_like(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Ten learnable classes on 1x28x28: a bright square whose place is the label."""
    labels = torch.randint(0, 10, (n,), generator=generator)
    images = torch.randn(n, 1, 28, 28, generator=generator) * 0.5
    for cls in range(10):
        row, col = divmod(cls, 5)
        images[labels == cls, :, 4 + row * 12:12 + row * 12, 1 + col * 5:6 + col * 5] += 2.0
    return images, labels


@pytest.fixture(scope="module")
def dataset() -> D.Dataset:
    generator = torch.Generator().manual_seed(5)
    train_x, train_y = digit_like(TRAIN_SIZE, generator)
    test_x, test_y = digit_like(200, generator)
    return D.Dataset(name="synthetic", train_x=train_x, train_y=train_y, test_x=test_x,
                     test_y=test_y, classes=[str(c) for c in range(10)], mean=(0.0,),
                     std=(1.0,), source="made in the test")


def config() -> S.TrainingConfig:
    return S.TrainingConfig(optimizer="adam", lr=0.01, batch_size=BATCH, epochs=EPOCHS,
                            schedule="onecycle", seed=SEED)


def plain_loop(model_spec: S.ModelSpec, dataset: D.Dataset):
    """Per-step losses and final weights, the textbook way."""
    network = M.build_model(model_spec, "cpu", torch.Generator().manual_seed(SEED)).train()
    optimizer = torch.optim.Adam(network.parameters(), lr=0.01)
    steps_per_epoch = math.ceil(TRAIN_SIZE / BATCH)
    total = steps_per_epoch * EPOCHS
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=0.01, total_steps=total, pct_start=0.25, cycle_momentum=False)
    shuffle = torch.Generator().manual_seed(SEED + 1)
    losses, step = [], 0
    for _ in range(EPOCHS):
        order = torch.randperm(TRAIN_SIZE, generator=shuffle)
        for start in range(0, TRAIN_SIZE, BATCH):
            batch = order[start:start + BATCH]
            loss = F.cross_entropy(network(dataset.train_x[batch]), dataset.train_y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            if step < total:  # OneCycleLR refuses a step past its total
                scheduler.step()
            losses.append(loss.item())
    return losses, network.state_dict()


def trainer_run(model_spec: S.ModelSpec, dataset: D.Dataset, in_thread: bool) -> T.Trainer:
    options = T.TrainerOptions(device="cpu", log_every=LOG_EVERY, evals_per_epoch=2,
                               snapshot_every=7)
    trainer = T.Trainer(model_spec, dataset, config(), options)
    if in_thread:
        trainer.start()
        trainer.join(120)
    else:
        trainer.run()
    assert trainer.state == T.FINISHED, trainer.message
    return trainer


@pytest.mark.parametrize("in_thread", [True, False], ids=["trainer thread", "calling thread"])
def test_trainer_matches_the_plain_loop(dataset, in_thread):
    model_spec = S.load_spec(PRESET)
    losses, weights = plain_loop(model_spec, dataset)
    trainer = trainer_run(model_spec, dataset, in_thread)
    assert trainer.step_count == len(losses)
    records = trainer.history()[0]
    assert len(records) >= len(losses) // LOG_EVERY
    previous = 0
    for record in records:  # each record averages the steps since the one before
        chunk = losses[previous:record.step]
        sizes = [BATCH if (i + 1) * BATCH <= TRAIN_SIZE else TRAIN_SIZE % BATCH
                 for i in (s % math.ceil(TRAIN_SIZE / BATCH) for s in range(previous, record.step))]
        expected = sum(l * n for l, n in zip(chunk, sizes)) / sum(sizes)
        assert record.loss == pytest.approx(expected, rel=1e-4, abs=1e-6), record.step
        previous = record.step
    assert previous == len(losses)
    _, trained = trainer.latest_weights()
    assert trained.keys() == weights.keys()
    for name, tensor in weights.items():
        torch.testing.assert_close(trained[name], tensor, rtol=1e-4, atol=1e-5, msg=name)
    # and the training itself worked: a plain loss that fell, the same at the end
    assert losses[-1] < 0.5 * losses[0]


def test_trainer_thread_keeps_its_thread_count(dataset):
    """Page threads use one intra-op thread; a run made on one, or running while one asks
    torch for fewer, still trains on every core."""
    model_spec = S.load_spec(PRESET)
    before = torch.get_num_threads()
    torch.set_num_threads(1)       # the app's page threads use one; the run is made there
    try:
        trainer = T.Trainer(model_spec, dataset, config(), T.TrainerOptions(device="cpu"))
    finally:
        torch.set_num_threads(before)
    seen = []
    original = trainer._train_step

    def spy():
        seen.append(torch.get_num_threads())
        original()

    trainer._train_step = spy
    try:
        torch.set_num_threads(1)   # after the Trainer was made, as another thread might
        trainer.step(2)
        while trainer.busy:
            trainer.join(0.05)
    finally:
        torch.set_num_threads(before)
        trainer.stop()
    assert seen == [cpu_cores(), cpu_cores()]


def test_a_background_run_yields_the_cpu_to_pages(dataset):
    """The app's training thread runs at a lower priority (its own niceness, not the
    process's), so page refreshes are not queued behind it."""
    if not hasattr(os, "getpriority") or not hasattr(threading, "get_native_id"):
        pytest.skip("per-thread niceness is a Linux feature")
    model_spec = S.load_spec(PRESET)
    trainer = T.Trainer(model_spec, dataset, config(),
                        T.TrainerOptions(device="cpu", thread_nice=5))
    seen = []
    original = trainer._train_step

    def spy():
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        original()

    trainer._train_step = spy
    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    try:
        trainer.step(1)
        while trainer.busy:
            trainer.join(0.05)
    finally:
        trainer.stop()
    assert seen == [min(19, mine + 5)]
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == mine
