"""One activation budget for every forward pass: evaluation, predictions, diagnostics and
inspection size their chunks from it, at most one pass per core runs at once, and a pass
stops between two chunks when asked.

The network of the attack: `conv 512 k1 padding 16, relu, global_avgpool` on 28x28 digits
has 6,154 parameters but 14.1 MB of layer outputs per image, so a pass of 1,000 test images
(the evaluation's old chunk) or 256 (the Train page's old dead-filter pass) took gigabytes.
"""
from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest
import torch

from playground import spec as S
from playground.analysis import diagnostics as Dg
from playground.model import build as M
from playground.train import passes
from playground.train.step import evaluate
from tests.support import ROOT

WIDE_LAYERS = [{"type": "conv", "out_channels": 512, "kernel_size": 1, "padding": 16},
               {"type": "relu"}, {"type": "global_avgpool"}]


def wide_spec() -> S.ModelSpec:
    return S.parse_spec({"version": 1, "name": "wide", "input": [1, 28, 28],
                         "num_classes": 10, "layers": WIDE_LAYERS})


def test_images_per_pass_fits_the_budget_and_keeps_small_networks_at_a_thousand():
    analysis = M.analyze(wide_spec())
    per_pass = M.images_per_pass(analysis)
    assert analysis.activation_bytes == (2 * 512 * 60 * 60 + 512 + 10) * 4
    assert per_pass * analysis.activation_bytes <= S.LIMITS.max_activation_bytes
    assert per_pass * analysis.step_work <= S.LIMITS.max_step_macs
    assert 1 < per_pass < 256
    assert M.images_per_pass(analysis, budget=2**20) == 1  # never below one image
    small = M.analyze(S.load_spec(ROOT / "assets" / "presets" / "mnist_fast.json"))
    assert M.images_per_pass(small) == M.MAX_IMAGES_PER_PASS == 1000


# Each path runs in a child process of its own, so that its peak RSS (VmHWM, reset just
# before the path by /proc/self/clear_refs) is its own.
CHILD = r"""
import json, sys
import torch
from playground import spec as S
from playground.data import datasets as D
from playground.analysis import inspection_view as V
from playground.analysis import network as I
from playground.model import build as M
from playground.train import trainer as T

TEST_IMAGES = 150  # over the budget in one pass (2.1 GB), as the old passes were
generator = torch.Generator().manual_seed(0)
dataset = D.Dataset(name="digits", train_x=torch.randn(4, 1, 28, 28, generator=generator),
                    train_y=torch.arange(4) % 10,
                    test_x=torch.randn(TEST_IMAGES, 1, 28, 28, generator=generator),
                    test_y=torch.arange(TEST_IMAGES) % 10, classes=[str(i) for i in range(10)],
                    mean=(0.0,), std=(1.0,), source="made in the test")
model_spec = S.parse_spec({"version": 1, "name": "wide", "input": [1, 28, 28],
                           "num_classes": 10, "layers": json.loads(sys.argv[2])})
analysis = M.analyze(model_spec)
trainer = T.Trainer(model_spec, dataset, S.TrainingConfig(batch_size=4, epochs=1),
                    T.TrainerOptions(device="cpu", evals_per_epoch=1))
state = trainer.latest_weights()[1]
network = V.network_at(model_spec, state, analysis)
paths = {
    "trainer evaluation": lambda: trainer.run(),
    "test-set predictions": lambda: V.predict_test_set(model_spec, state, dataset, 0, 0.0,
                                                       analysis),
    "dead filters (Train page)": lambda: V.dead_filters(model_spec, state, dataset, 256,
                                                        analysis),
    "next mistake (Inspect page)": lambda: V.next_mistake(network, dataset, -1, analysis),
    "activations of one probe (Inspect page)": lambda: I.activations(
        network, V.test_probe(dataset, 0)[0]),
}


def status(field: str) -> int:
    with open("/proc/self/status") as lines:
        return next(int(line.split()[1]) * 1024 for line in lines if line.startswith(field))


# Warm up: the code the path runs is faulted in now, not counted as its growth.
from playground.train.step import evaluate, train_step
spare = M.build_model(model_spec, analysis=analysis)
evaluate(spare, dataset.test_x[:2], dataset.test_y[:2], analysis=analysis)
train_step(spare, torch.optim.Adam(spare.parameters()), dataset.train_x[:2],
           dataset.train_y[:2])
del spare
with open("/proc/self/clear_refs", "w") as clear:
    clear.write("5")  # the peak RSS starts again from the RSS of now
before = status("VmRSS:")
paths[sys.argv[1]]()
print(json.dumps({"growth": status("VmHWM:") - before, "state": trainer.state}))
"""

# What a pass may take beyond its layer outputs: the allocator's and oneDNN's own
# buffers, the logits, and the pages a new tensor touches before the last one is freed.
MARGIN_BYTES = 256 * 2**20

PATHS = ["trainer evaluation", "test-set predictions", "dead filters (Train page)",
         "next mistake (Inspect page)", "activations of one probe (Inspect page)"]


@pytest.mark.parametrize("path", PATHS)
def test_every_pass_of_the_wide_network_stays_within_the_budget(path):
    result = subprocess.run([sys.executable, "-c", CHILD, path, json.dumps(WIDE_LAYERS)],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    growth_mb = report["growth"] / 2**20
    limit_mb = (S.LIMITS.max_activation_bytes + MARGIN_BYTES) / 2**20
    assert growth_mb <= limit_mb, f"{path}: RSS grew {growth_mb:,.0f} MB, limit {limit_mb:,.0f}"
    if path == "trainer evaluation":
        assert report["state"] == "finished"


def small_network() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))


def test_evaluation_stops_between_chunks_and_restores_the_mode():
    network = small_network().train()
    images, labels = torch.randn(50, 4), torch.arange(50) % 3
    calls = []
    network.register_forward_pre_hook(lambda module, inputs: calls.append(len(inputs[0])))
    with pytest.raises(passes.PassStopped):
        evaluate(network, images, labels, chunk=10, should_stop=lambda: len(calls) >= 2)
    assert calls == [10, 10] and network.training
    assert evaluate(network, images, labels, chunk=10).count == 50 and len(calls) == 7


def test_evaluation_takes_its_chunk_from_the_analysis():
    model_spec = wide_spec()
    analysis = M.analyze(model_spec)
    network = M.build_model(model_spec, analysis=analysis)
    sizes = []
    network.register_forward_pre_hook(lambda module, inputs: sizes.append(len(inputs[0])))
    count = M.images_per_pass(analysis) + 3
    evaluate(network, torch.randn(count, 1, 28, 28), torch.zeros(count, dtype=torch.long),
             analysis=analysis)
    assert sizes == [M.images_per_pass(analysis), 3]


def test_dead_filters_in_chunks_match_one_pass():
    torch.manual_seed(0)
    network = torch.nn.Sequential(torch.nn.Conv2d(1, 6, 3), torch.nn.ReLU())
    with torch.no_grad():
        network[0].bias[:3] = -100.0  # three filters that never fire
    images = torch.randn(20, 1, 8, 8)
    whole = Dg.dead_filters(network, images)
    chunked = Dg.dead_filters(network, images, per_pass=3)
    assert chunked == whole and whole[0].dead_channels == [0, 1, 2]


def test_at_most_one_pass_per_slot_runs_at_once_and_a_waiting_pass_can_stop():
    slots = passes.PassSlots(2)
    running, peak, lock = [0], [0], threading.Lock()

    def one_pass() -> None:
        with slots.hold():
            with lock:
                running[0] += 1
                peak[0] = max(peak[0], running[0])
            time.sleep(0.05)
            with lock:
                running[0] -= 1

    threads = [threading.Thread(target=one_pass) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert peak[0] == 2
    with slots.hold(), slots.hold():  # a pass inside a pass does not wait for itself
        with slots.hold():
            pass
    release, held = threading.Event(), threading.Semaphore(0)

    def hold_until_released() -> None:
        with slots.hold():
            held.release()
            release.wait(5)

    holders = [threading.Thread(target=hold_until_released) for _ in range(2)]
    for holder in holders:
        holder.start()
        held.acquire(timeout=5)
    started = time.monotonic()
    with pytest.raises(passes.PassStopped):
        with slots.hold(should_stop=lambda: time.monotonic() - started > 0.1):
            pass
    release.set()
    for holder in holders:
        holder.join(5)
    assert passes.SLOTS.count >= 1


def wide_trainer(batch_size: int) -> "T.Trainer":
    from playground.data import datasets as D
    from playground.train import trainer as T

    generator = torch.Generator().manual_seed(0)
    data = D.Dataset(name="digits", train_x=torch.randn(batch_size, 1, 28, 28,
                                                        generator=generator),
                     train_y=torch.arange(batch_size) % 10,
                     test_x=torch.randn(8, 1, 28, 28, generator=generator),
                     test_y=torch.arange(8) % 10, classes=[str(i) for i in range(10)],
                     mean=(0.0,), std=(1.0,), source="made in the test")
    return T.Trainer(wide_spec(), data, S.TrainingConfig(batch_size=batch_size, epochs=2),
                     T.TrainerOptions(device="cpu"))


def fail_with_out_of_memory(trainer, in_evaluation: bool) -> None:
    def hook(module, inputs):
        if torch.is_grad_enabled() != in_evaluation:
            raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to "
                               "allocate 8589934592 bytes")
    trainer.network.register_forward_pre_hook(hook)


def test_out_of_memory_in_the_evaluation_names_the_layer_and_the_budget_not_the_batch():
    from playground.train import trainer as T

    trainer = wide_trainer(batch_size=2)
    fail_with_out_of_memory(trainer, in_evaluation=True)
    trainer.run()
    assert trainer.state == T.FAILED
    assert trainer.message.startswith("training failed: out of memory on cpu at step 1 in the "
                                      "test-set evaluation: layer 0 (conv) outputs 7.0 MB per "
                                      "image, 14.1 MB for all layers"), trainer.message
    assert f"runs {M.images_per_pass(trainer.analysis)} images at a time" in trainer.message
    assert "1,024.0 MB activation budget" in trainer.message
    assert "smaller batch" not in trainer.message


def test_out_of_memory_in_a_step_full_of_layer_outputs_names_the_layer():
    from playground.train import trainer as T

    trainer = wide_trainer(batch_size=32)
    fail_with_out_of_memory(trainer, in_evaluation=False)
    trainer.run()
    assert trainer.state == T.FAILED
    assert trainer.message == (
        "training failed: out of memory on cpu at step 0 with batch size 32: layer 0 (conv) "
        "outputs 7.0 MB per image, 14.1 MB for all layers, 450.1 MB for the batch (limit "
        "1,024.0 MB); try a smaller batch (e.g. 16) or make layer 0 smaller, then reset")
