"""Numbers an administrator sets through the environment (caps, bounds, slots).

A leaf module, so that every stage (data, runs) can read its own numbers."""
from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)


def env_int(name: str, default: int, minimum: int = 1) -> int:
    """An integer of at least `minimum` from the environment; a bad value keeps the default
    and says so in the log (the server must start whatever an administrator typed)."""
    try:
        return max(minimum, int(os.environ.get(name, default)))
    except ValueError:
        log.warning("%s=%r is not a whole number; using %d", name, os.environ[name], default)
        return default
