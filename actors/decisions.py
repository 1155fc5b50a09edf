"""What a reactor decides: events to append (with the blobs they name), or one piece of work.

`react()` returns one of these and the shell (actors/shell.py) carries it out: it puts the blobs,
appends the events, runs the trial, calls the evaluator or the proposer. A blob is named by its
content (events.blobs.ref_of), so a reactor names the bytes an event refers to without storing
them; the shell stores them before the event that names them is appended.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agents.proposer import Context
from environments.spec import Tier
from events import BlobRef, NewEvent, TrialExecuted
from events.blobs import ref_of


@dataclass
class Append:
    """Events to append as one batch, and the bytes of every blob they name (by sha256)."""

    events: list[NewEvent] = field(default_factory=list)
    blobs: dict[str, bytes] = field(default_factory=dict)

    def blob(self, data: bytes) -> BlobRef:
        """The ref of `data`, which the shell stores before appending."""
        ref = ref_of(data)
        self.blobs[ref.sha256] = data
        return ref

    def __bool__(self) -> bool:
        return bool(self.events)


@dataclass(frozen=True, kw_only=True)
class Work:
    """One long action for the shell. `claim` is appended first (at an expected version): when it
    is refused, someone else has the work and it is not done. The result goes back to the
    reactor's `concluded(work, result)`; a conclusion refused by the log (another actor got
    there first) is concluded again from the caught-up state, at most `races` times."""

    claim: Append | None = None
    refused_nap_s: float = 0.0  # after a refused claim, nap up to this long, so a herd of claimers thins
    races: int = 1


@dataclass(frozen=True, kw_only=True)
class RunTrial(Work):
    trial_id: str
    attempt: int
    code: dict[str, BlobRef]


@dataclass(frozen=True, kw_only=True)
class Evaluate(Work):
    executed: TrialExecuted
    tier: Tier


@dataclass(frozen=True, kw_only=True)
class Session(Work):
    """Ask the proposer, in the session `claim` opens; each model exchange is recorded as it happens."""

    session_id: str
    ctx: Context


Decision = Append | Work


# what a trial came to, besides its TrialExecuted


class Cancelled:
    """The trial was stopped mid-phase because it was cancelled (that is in the log already)."""


@dataclass(frozen=True)
class Unreadable:
    """The trial's recipe could not be read back, so it was never run."""

    error: Exception


@dataclass(frozen=True)
class Raised:
    """The trial raised (anything but a cancellation or a storage failure)."""

    error: Exception
