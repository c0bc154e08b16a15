"""What each Inspect panel on what the network sees computes while it is open on a
training run, and how often (the cadences the page uses, from the analysis modules): the
benchmark's "(d) + panel" rows run it beside the Trainer, on the page's one thread."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from playground.analysis import adversarial as AD
from playground.analysis import attribution as AT
from playground.analysis import feature_space as FS
from playground.analysis import feature_visualisation as FV
from playground.analysis import network as I
from playground.analysis.time_box import TimeBox, live_interval
from playground.data import datasets as D
from playground.model import build as M
from playground import spec as S

PANELS = ("favourite images", "attributions", "adversarial noise", "feature space")


@dataclass
class PanelWork:
    """One panel's recomputation on fresh weights, due `time_box.live_interval` after the
    last one, as on the page."""

    compute: Callable[[nn.Module], None]
    every: float
    last_seconds: float = 0.0
    due_at: float = 0.0
    runs: list[float] = field(default_factory=list)

    def maybe_run(self, weights: Callable[[], nn.Module]) -> None:
        now = time.perf_counter()
        if now < self.due_at:
            return
        self.compute(weights())
        self.last_seconds = time.perf_counter() - now
        self.runs.append(self.last_seconds)
        self.due_at = time.perf_counter() + live_interval(self.every, self.last_seconds)


def panel_work(panel: str, model_spec: S.ModelSpec, dataset: D.Dataset) -> PanelWork:
    """The work of `panel` (one of PANELS) for this network and data, as the page does it
    with its default choices (first conv, predicted class, epsilon 0.05, FGSM)."""
    analysis = M.analyze(model_spec)
    per_pass = M.images_per_pass(analysis)
    probe = dataset.test_x[0].to("cpu", torch.float32)
    shape = tuple(model_spec.input)
    if panel == "favourite images":
        def ascend(network: nn.Module) -> None:
            unit = I.conv_units(network)[0]
            FV.favourite_images(network, shape, dataset.mean, dataset.std, unit.name,
                                list(range(unit.out_channels)), per_pass,
                                TimeBox(FV.time_limit(shape)))

        return PanelWork(ascend, FV.LIVE_EVERY)
    if panel == "attributions":
        return PanelWork(lambda net: AT.attributions(net, probe, 0, 6, 2, per_pass),
                         AT.LIVE_EVERY)
    if panel == "adversarial noise":
        return PanelWork(lambda net: AD.attack_probe(net, probe, dataset.mean, dataset.std,
                                                     0.05, "FGSM"), AD.LIVE_EVERY)
    if panel == "feature space":
        indices = FS.fixed_subset(dataset.test_y)
        return PanelWork(lambda net: FS.feature_space(net, dataset.test_x, dataset.test_y,
                                                      indices, per_pass),
                         FS.LIVE_EVERY)
    raise ValueError(f"unknown panel {panel!r}; known: {', '.join(PANELS)}")
