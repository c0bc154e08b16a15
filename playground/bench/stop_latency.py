"""How long Stop takes on the heaviest networks the caps allow: from `stop()` to the end of
the run's thread, pressed at a random moment of a step (a torch operation cannot be
interrupted, so the step in progress always finishes; the step cap keeps it short).

Each network runs at the largest batch its caps allow, on random images (only time is
measured), in the Trainer's own thread at the app's priority, as a page drives it."""
from __future__ import annotations

import random
import statistics
import time
from dataclasses import dataclass

import torch

from playground import spec as S
from playground.data.datasets import Dataset
from playground.model import build as M
from playground.train import trainer as T
from playground.train.threads import BACKGROUND_NICE

_CONV3 = {"type": "conv", "kernel_size": 3, "padding": 1}

# The heaviest kinds of network within the caps: most multiply-adds, most stored layer
# outputs (the network of the memory attack), and many thin convs on a big image.
HEAVIEST: dict[str, tuple[tuple[int, int, int], list[dict]]] = {
    "3 convs 512 3x3 on 28x28": ((1, 28, 28), [{**_CONV3, "out_channels": 512}] * 3),
    "conv 512 1x1 padding 16, relu": ((1, 28, 28), [
        {"type": "conv", "out_channels": 512, "kernel_size": 1, "padding": 16},
        {"type": "relu"}, {"type": "global_avgpool"}]),
    "8 convs 8 3x3 on 256x256": ((1, 256, 256), [{**_CONV3, "out_channels": 8}] * 8
                                 + [{"type": "global_avgpool"}]),
}


@dataclass
class StopLatency:
    network: str
    batch_size: int
    step_seconds: float      # median training step
    worst_seconds: float     # longest time from stop() to the end of the run's thread
    trials: int


def largest_batch(analysis: M.Analysis, limits: S.Limits = S.LIMITS) -> int:
    """The largest batch every cap on a training batch allows."""
    return max(1, min(limits.max_batch_size,
                      limits.max_activation_bytes // max(analysis.activation_bytes, 1),
                      limits.max_step_macs // max(analysis.step_work, 1)))


def random_dataset(shape: tuple[int, int, int], train: int, test: int) -> Dataset:
    generator = torch.Generator().manual_seed(0)
    return Dataset(name="random", train_x=torch.randn(train, *shape, generator=generator),
                   train_y=torch.arange(train) % 10,
                   test_x=torch.randn(test, *shape, generator=generator),
                   test_y=torch.arange(test) % 10, classes=[str(i) for i in range(10)],
                   mean=(0.0,) * shape[0], std=(1.0,) * shape[0], source="random images")


def measure_stop(name: str, trials: int = 2, seed: int = 0) -> StopLatency:
    shape, layers = HEAVIEST[name]
    model_spec = S.parse_spec({"version": 1, "name": name, "input": list(shape),
                               "num_classes": 10, "layers": layers})
    analysis = M.analyze(model_spec)
    batch = largest_batch(analysis)
    data = random_dataset(shape, train=batch * 4, test=2 * M.images_per_pass(analysis))
    trainer = T.Trainer(model_spec, data, S.TrainingConfig(batch_size=batch, epochs=100),
                        T.TrainerOptions(device="cpu", log_every=1,
                                         thread_nice=BACKGROUND_NICE))
    chance = random.Random(seed)
    latencies, steps = [], []
    try:
        for _ in range(trials):
            trainer.reset()
            trainer.start()
            _wait_for(lambda: trainer.step_count >= 2 or trainer.state == T.FAILED)
            step = trainer.step_records[-1]
            steps.append(step.train_seconds / step.step)
            time.sleep(chance.uniform(0, steps[-1]))  # somewhere inside a step
            started = time.perf_counter()
            trainer.stop(wait=True)
            latencies.append(time.perf_counter() - started)
    finally:
        trainer.stop(wait=True)
    return StopLatency(name, batch, statistics.median(steps), max(latencies), trials)


def _wait_for(condition, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError("stop latency: the run did not start training")
        time.sleep(0.01)


def measure_all(trials: int = 2, say=lambda text: None) -> list[StopLatency]:
    results = []
    for name in HEAVIEST:
        say(f"stop latency: {name}...")
        results.append(measure_stop(name, trials))
    return results
