"""Undo and redo over whole values (the Build page keeps specs in it)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")
HISTORY = 50  # edits that can be undone; older ones are forgotten


@dataclass
class EditHistory(Generic[T]):
    """The values an edit replaced (to undo to) and the ones undo replaced (to redo to)."""
    limit: int = HISTORY
    _undoable: list[T] = field(default_factory=list, init=False)
    _redoable: list[T] = field(default_factory=list, init=False)

    def record(self, previous: T) -> None:
        """An edit replaced `previous`: it can be undone to, and the redo steps are gone."""
        self._undoable.append(previous)
        del self._undoable[:-self.limit]
        self._redoable.clear()

    def undo(self, current: T) -> T | None:
        """The value before `current` (which redo brings back), or None with nothing to undo."""
        if not self._undoable:
            return None
        self._redoable.append(current)
        return self._undoable.pop()

    def redo(self, current: T) -> T | None:
        """The value the last undo replaced, or None with nothing to redo."""
        if not self._redoable:
            return None
        self._undoable.append(current)
        return self._redoable.pop()

    def can_undo(self) -> bool:
        return bool(self._undoable)

    def can_redo(self) -> bool:
        return bool(self._redoable)

    def __len__(self) -> int:
        """The number of edits that can be undone."""
        return len(self._undoable)
