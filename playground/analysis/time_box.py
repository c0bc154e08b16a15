"""A time limit, a stop request and a progress report for the inspection work that loops
(feature visualisation, accuracy against epsilon): the loop asks `over()` between two
steps, so a user who leaves the panel or a slow machine never holds the page for long."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from playground.train.passes import StopCheck

Progress = Callable[[float, str], None]

# While a run trains, a panel's recomputation may take at most this share of the time of
# the page's one thread, so that the trainer keeps (nearly) all of its cores.
LIVE_SHARE = 1 / 8


def live_interval(every: float, last_seconds: float) -> float:
    """Seconds to wait, while a run trains, before recomputing a panel whose last
    computation took `last_seconds`: at least `every`, and long enough to keep the work
    within LIVE_SHARE of the time."""
    return max(every, last_seconds / LIVE_SHARE)


@dataclass
class TimeBox:
    seconds: float
    should_stop: StopCheck | None = None
    progress: Progress | None = None
    started: float = field(default_factory=time.monotonic)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def over(self) -> bool:
        """The time is up or a stop was asked for."""
        stopped = self.should_stop is not None and self.should_stop()
        return stopped or self.elapsed() >= self.seconds

    def report(self, fraction: float, text: str) -> None:
        if self.progress is not None:
            self.progress(min(max(fraction, 0.0), 1.0), text)
