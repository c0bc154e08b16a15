"""Undo and redo as one object: the order of steps, redo lost on a new edit, the cap."""
from __future__ import annotations

from playground.ui.build.history import EditHistory


def test_undo_and_redo_walk_back_and_forth():
    history: EditHistory[str] = EditHistory()
    assert not history.can_undo() and not history.can_redo()
    history.record("a")  # "a" was replaced by "b"
    history.record("b")  # "b" was replaced by "c"
    assert len(history) == 2
    assert history.undo("c") == "b" and history.undo("b") == "a"
    assert history.undo("a") is None and history.can_redo()
    assert history.redo("a") == "b" and history.redo("b") == "c"
    assert history.redo("c") is None


def test_a_new_edit_forgets_what_could_be_redone():
    history: EditHistory[str] = EditHistory()
    history.record("a")
    assert history.undo("b") == "a"
    history.record("a")  # "a" replaced by "x"
    assert not history.can_redo()
    assert history.undo("x") == "a"


def test_only_the_latest_edits_are_kept():
    history: EditHistory[int] = EditHistory(limit=3)
    for value in range(5):
        history.record(value)
    assert len(history) == 3
    assert [history.undo(9), history.undo(9), history.undo(9)] == [4, 3, 2]
    assert not history.can_undo()
