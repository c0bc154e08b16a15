"""How much memory a run may take, from its spec and settings alone: what an administrator
weighs before stopping one. An estimate in float32 bytes, not a measurement."""
from __future__ import annotations

from dataclasses import dataclass

from playground import spec as S
from playground.model import build as M

FLOAT_BYTES = 4


@dataclass(frozen=True)
class RunFootprint:
    parameters: int           # bytes of the weights
    gradients: int            # bytes of one gradient per weight
    optimizer_state: int      # bytes the optimizer keeps per weight (Adam: two moments)
    activations: int          # bytes of one batch's layer outputs, up to the budget
    activation_budget: int    # the most one batch's activations may take

    @property
    def total(self) -> int:
        return self.parameters + self.gradients + self.optimizer_state + self.activations


def optimizer_slots(config: S.TrainingConfig) -> int:
    """Tensors the optimizer keeps per weight: Adam and AdamW two moments, SGD a momentum
    buffer when it has momentum."""
    if config.optimizer in ("adam", "adamw"):
        return 2
    return 1 if config.momentum > 0 else 0


def estimate(model_spec: S.ModelSpec, config: S.TrainingConfig,
             limits: S.Limits = S.LIMITS) -> RunFootprint:
    """The run's memory on its device while it trains (meta-device analysis, no weights)."""
    analysis = M.analyze(model_spec, limits)
    weights = analysis.total_params * FLOAT_BYTES
    batch = analysis.activation_floats * FLOAT_BYTES * config.batch_size
    return RunFootprint(parameters=weights, gradients=weights,
                        optimizer_state=weights * optimizer_slots(config),
                        activations=min(batch, limits.max_activation_bytes),
                        activation_budget=limits.max_activation_bytes)
