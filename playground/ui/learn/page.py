"""Learn page: short interactive lessons on how convolution works, one per screen.

The menu is built from the lesson registry (`playground.lessons.LESSONS`): a part choice,
then the part's lessons. Each topic has its own render module here; its numbers come
from `playground.lessons.<topic>` and its figures from `playground.figures.lessons`.
"""
from __future__ import annotations

from typing import Callable

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from playground.lessons import TRAINING_AND_LIMITS, HOW_CONVOLUTION_WORKS
from playground.lessons import LESSONS, PARTS as PART_NAMES
from playground.ui import session
from playground.ui.lesson_link import PARAM as LESSON_PARAM
from playground.ui.learn import (activations, backward, channels, convolution, correlation,
                                 deeper, dice, frequency, invariance, normalisation, pooling,
                                 receptive_fields, signals, transposed, weight_sharing)

RENDERERS: dict[str, Callable[[], None]] = {
    "convolution": convolution.render,
    "correlation": correlation.render,
    "channels": channels.render,
    "weight_sharing": weight_sharing.render,
    "frequency": frequency.render,
    "activations": activations.render,
    "pooling": pooling.render,
    "receptive_fields": receptive_fields.render,
    "normalisation": normalisation.render,
    "signals": signals.render,
    "backward": backward.render,
    "transposed": transposed.render,
    "deeper": deeper.render,
    "invariance": invariance.render,
    "dice": dice.render,
}
# Widget keys of each part's lesson radio (the tests pick lessons by them).
LESSON_KEYS = {HOW_CONVOLUTION_WORKS: "learn_lesson",
               TRAINING_AND_LIMITS: "learn_lesson_training"}
# Fifteen lessons do not fit one row of a radio: a part choice above it.
# Part name -> (its lessons' menu labels, the key of its lesson radio).
PARTS: dict[str, tuple[tuple[str, ...], str]] = {
    part: (tuple(lesson.label for lesson in LESSONS if lesson.part == part), LESSON_KEYS[part])
    for part in PART_NAMES}
BY_LABEL = {lesson.label: lesson for lesson in LESSONS}


def render() -> None:
    st.title("Learn how convolution works")
    _open_linked_lesson()
    first = next(iter(PARTS))
    part = st.segmented_control("Part", tuple(PARTS), default=first, key="learn_part",
                                label_visibility="collapsed")
    labels, key = PARTS[part or first]
    label = st.radio("Lesson", labels, horizontal=True, key=key, label_visibility="collapsed")
    st.divider()
    lesson = BY_LABEL[label]
    if session.presenting():
        st.markdown(session.presentation_css(), unsafe_allow_html=True)
    with lesson_slot(lesson.slug).container(key=f"learn_{lesson.slug}"):
        RENDERERS[lesson.slug]()


def _open_linked_lesson() -> None:
    """A link from another page (`?lesson=<slug>`, see ui/lesson_link.py) picks its lesson
    once; the parameter then leaves the address so the menu is free again."""
    slug = st.query_params.get(LESSON_PARAM)
    if slug is None:
        return
    del st.query_params[LESSON_PARAM]
    linked = next((lesson for lesson in LESSONS if lesson.slug == slug), None)
    if linked is not None:
        st.session_state["learn_part"] = linked.part
        st.session_state[LESSON_KEYS[linked.part]] = linked.label


def lesson_slot(slug: str) -> DeltaGenerator:
    """One placeholder per lesson, in registry order; `slug`'s is returned, the others stay
    empty.

    Why not one container: the browser gives a container that replaces one of the same
    type the old one's elements, and shows them greyed out until the run ends (the deep
    lessons train for seconds). Here a switch puts the new lesson where an empty element
    was, and an empty element where the old lesson was: the old one goes at once."""
    slots = {lesson.slug: st.empty() for lesson in LESSONS}
    return slots[slug]
