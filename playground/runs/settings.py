"""Numbers an administrator sets through the environment (caps, bounds, slots): the runs
read theirs with `env_int`, which lives in `playground.environment` so that the data
stage, before the runs, reads its own the same way."""
from __future__ import annotations

from playground.environment import env_int

__all__ = ["env_int"]
