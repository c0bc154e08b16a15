"""The names of the Train and Inspect pages' panels, in the order they are drawn: a lesson
hides panels by these names (training.hidden_panels), chosen on the Build page."""
from __future__ import annotations

TRAIN_PANELS = ("Confusion matrix", "Test images", "Diagnostics", "Compare runs")
INSPECT_PANELS = ("Kernels", "Feature maps", "Pooling", "Frequency", "Grad-CAM",
                  "Favourite images", "Attributions", "Adversarial noise", "Feature space")
