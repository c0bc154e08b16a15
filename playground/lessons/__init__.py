"""The Learn page's lessons: one registry, and one module per topic holding its numbers.

Every value a lesson shows is computed (torch, OpenCV, NumPy) in its topic module and
checked in tests against an independent route; no module here imports Streamlit. This
package's own import is plain data, so the page can build its menu without torch.
"""
from __future__ import annotations

from dataclasses import dataclass

HOW_CONVOLUTION_WORKS = "Part 1 · How convolution works"
TRAINING_AND_LIMITS = "Part 2 · Training, other convolutions, limits"


@dataclass(frozen=True)
class Lesson:
    number: int
    title: str
    slug: str       # the topic: names the lesson's modules in lessons/, figures/, ui/learn/
    part: str       # the menu group it is listed under

    @property
    def label(self) -> str:
        """The lesson's entry in the menu: "7 · Pooling and shifts"."""
        return f"{self.number} · {self.title}"


# In menu order.
LESSONS = (
    Lesson(1, "Convolution step by step", "convolution", HOW_CONVOLUTION_WORKS),
    Lesson(2, "Correlation vs convolution", "correlation", HOW_CONVOLUTION_WORKS),
    Lesson(3, "Multiple channels", "channels", HOW_CONVOLUTION_WORKS),
    Lesson(4, "Weight sharing", "weight_sharing", HOW_CONVOLUTION_WORKS),
    Lesson(5, "Frequency view", "frequency", HOW_CONVOLUTION_WORKS),
    Lesson(6, "Activation functions", "activations", HOW_CONVOLUTION_WORKS),
    Lesson(7, "Pooling and shifts", "pooling", HOW_CONVOLUTION_WORKS),
    Lesson(8, "Receptive fields", "receptive_fields", HOW_CONVOLUTION_WORKS),
    Lesson(9, "BatchNorm, dropout, residuals", "normalisation", HOW_CONVOLUTION_WORKS),
    Lesson(10, "Signals in 1-D", "signals", TRAINING_AND_LIMITS),
    Lesson(11, "The backward pass", "backward", TRAINING_AND_LIMITS),
    Lesson(12, "Transposed & dilated", "transposed", TRAINING_AND_LIMITS),
    Lesson(13, "Going deeper (ResNets)", "deeper", TRAINING_AND_LIMITS),
    Lesson(14, "Rotation and scale", "invariance", TRAINING_AND_LIMITS),
    Lesson(15, "Dice: convolution elsewhere", "dice", TRAINING_AND_LIMITS),
)
PARTS = tuple(dict.fromkeys(lesson.part for lesson in LESSONS))


def lesson(slug: str) -> Lesson:
    """The registered lesson of a topic; KeyError for an unknown slug."""
    for candidate in LESSONS:
        if candidate.slug == slug:
            return candidate
    raise KeyError(f"no lesson {slug!r}; known: {', '.join(l.slug for l in LESSONS)}")
