"""The queue of runnable trials, oldest first: what an idle executor claims next."""

from __future__ import annotations


class Queue:
    def __init__(self) -> None:
        self._runnable: dict[str, int] = {}  # trial id -> offset it became runnable; log order

    def push(self, trial_id: str, offset: int) -> None:
        self._runnable.pop(trial_id, None)
        self._runnable[trial_id] = offset

    def drop(self, trial_id: str) -> None:
        self._runnable.pop(trial_id, None)

    def __len__(self) -> int:
        return len(self._runnable)

    def __contains__(self, trial_id: str) -> bool:
        return trial_id in self._runnable

    def oldest(self, n: int | None = None) -> list[str]:
        ids = iter(self._runnable)
        return list(ids) if n is None else [tid for _, tid in zip(range(n), ids)]
