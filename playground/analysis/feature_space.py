"""The feature space as the network learns it: the penultimate layer's features (what the
last linear layer reads) of a fixed, stratified set of test images, projected to 2-D by
PCA.

PCA's axes have no preferred sign and, between two snapshots, may swap or turn: each new
projection is turned (an orthogonal Procrustes fit, reflections allowed) onto the one drawn
before, so that scrubbing through training moves the points instead of flipping them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from playground.train.passes import StopCheck, chunks, pass_slot
from playground.train.target import stratified_subset

POINTS = 1000
# Seconds between two recomputations while a run trains, at least (`time_box.live_interval`;
# a thousand images forward).
LIVE_EVERY = 5.0


def fixed_subset(labels: torch.Tensor, size: int = POINTS) -> np.ndarray:
    """Indices of the same stratified test images on every call (each class its share)."""
    return stratified_subset(labels, min(size, len(labels))).numpy()


def has_linear_layer(network: nn.Module) -> bool:
    return any(isinstance(module, nn.Linear) for module in network.modules())


def _last_linear(network: nn.Module) -> nn.Linear:
    linears = [module for module in network.modules() if isinstance(module, nn.Linear)]
    if not linears:
        raise ValueError("the network has no linear layer")
    return linears[-1]


def penultimate_features(network: nn.Module, images: torch.Tensor, per_pass: int,
                         should_stop: StopCheck | None = None) -> tuple[np.ndarray, np.ndarray]:
    """([N, D] inputs of the network's last linear layer, [N] predicted classes), chunk by
    chunk (a stop request is seen between chunks)."""
    head = _last_linear(network)
    seen: list[torch.Tensor] = []
    predicted: list[torch.Tensor] = []
    handle = head.register_forward_hook(
        lambda module, inputs, output: seen.append(inputs[0].detach().flatten(1)))
    try:
        with torch.no_grad():
            for part in chunks(len(images), per_pass, should_stop):
                with pass_slot(should_stop):
                    predicted.append(network(images[part].to("cpu", torch.float32)).argmax(1))
    finally:
        handle.remove()
    return torch.cat(seen).numpy().astype(np.float64), torch.cat(predicted).numpy()


def pca_2d(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(coordinates [N, 2] of the centred features on their first two principal axes,
    explained variance share of each axis), by torch.linalg.svd."""
    centred = torch.as_tensor(features, dtype=torch.float64)
    centred = centred - centred.mean(0, keepdim=True)
    _, singular, vh = torch.linalg.svd(centred, full_matrices=False)
    axes = vh[:2].T
    if axes.shape[1] < 2:  # one feature: a flat second axis
        axes = torch.cat([axes, torch.zeros_like(axes)], 1)
    power = singular ** 2
    share = (power[:2] / power.sum().clamp_min(1e-12)).numpy()
    return (centred @ axes).numpy(), np.pad(share, (0, 2 - len(share)))


def align(coordinates: np.ndarray, previous: np.ndarray | None) -> np.ndarray:
    """`coordinates` turned (rotation or reflection, no scaling) to lie closest to
    `previous`, the same points' last drawn positions (orthogonal Procrustes)."""
    if previous is None or previous.shape != coordinates.shape:
        return coordinates
    u, _, vt = np.linalg.svd(coordinates.T @ previous)
    return coordinates @ (u @ vt)


def class_separation(features: np.ndarray, labels: np.ndarray) -> float:
    """Between-class over within-class spread: the traces of the two scatter matrices
    (mean squared distance of class means from the overall mean, weighted by class size,
    over mean squared distance of points from their class mean)."""
    features = np.asarray(features, dtype=np.float64)
    centre = features.mean(0)
    between = within = 0.0
    for label in np.unique(labels):
        members = features[labels == label]
        mean = members.mean(0)
        between += len(members) * float(((mean - centre) ** 2).sum())
        within += float(((members - mean) ** 2).sum())
    return between / within if within > 0 else float("inf")


@dataclass
class FeatureSpace:
    indices: np.ndarray        # test-set index of each point
    labels: np.ndarray
    predictions: np.ndarray
    coordinates: np.ndarray    # [N, 2], aligned to the previous drawing
    explained: np.ndarray      # [2] variance share of each axis
    separation: float


def feature_space(network: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                  indices: np.ndarray, per_pass: int, previous: np.ndarray | None = None,
                  should_stop: StopCheck | None = None) -> FeatureSpace:
    """The 2-D feature space of test images `indices` (of `images`, normalised)."""
    chosen = torch.as_tensor(indices, dtype=torch.long)
    subset = images[chosen]
    features, predictions = penultimate_features(network, subset, per_pass, should_stop)
    truth = labels[chosen].cpu().numpy()
    coordinates, explained = pca_2d(features)
    return FeatureSpace(np.asarray(indices), truth, predictions,
                        align(coordinates, previous), explained,
                        class_separation(features, truth))
