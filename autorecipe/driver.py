"""The driver's loop, once the run's actors are started: it steps the Supervisor reactor (whose
decisions stop the run), prints progress, calls `run()` again on any actor Ray restarted after a
crash, gives up on an actor that keeps failing, and stops a run that can no longer progress
(autorecipe/watchdog.py). It returns once the run has stopped.
"""

from __future__ import annotations

import time

import ray

from actors.config import RunConfig
from actors.decisions import Append
from actors.failures import storage_failure
from actors.supervisor import Supervisor
from autorecipe.launched import Launched
from autorecipe.progress import Progress
from autorecipe.run_actors import ROLES
from autorecipe.watchdog import live_roles, stuck, unstick

POLL_S = 0.05
WATCH_EVERY_S = 1.0  # how often the driver asks whether anything can still happen
GIVE_UP_AFTER = 3  # an actor whose run() fails this often in a row is dead for good
UNAVAILABLE_RETRY_S = 0.5  # Ray is restarting the actor: ask again shortly; not a failure of its own
SHUTDOWN_S = 30.0


def drive(supervisor: Supervisor, actors: dict, launched: Launched, config: RunConfig, echo, quiet: bool) -> None:
    DriverLoop(supervisor, actors, launched, echo, quiet).drive(config.trials)


def every_one_gone(actors, abandoned: set[str]) -> str | None:
    """The role (specialist, executor, evaluator) whose actors have all been given up on, if any."""
    for prefix, role in ROLES.items():
        mine = [n for n in actors if n.startswith(prefix)]
        if mine and all(n in abandoned for n in mine):
            return role
    return None


class DriverLoop:
    def __init__(self, supervisor: Supervisor, actors: dict, launched: Launched, echo, quiet: bool):
        self.supervisor, self.actors, self.launched, self.echo, self.quiet = supervisor, actors, launched, echo, quiet
        self.running: dict = {}  # the ref of an actor's run() call -> the actor's name
        self.failures: dict[str, int] = {}  # failures in a row
        self.abandoned: set[str] = set()
        self.retry_at: dict[str, float] = {}

    def drive(self, trials: int) -> None:
        sup = self.supervisor
        progress = Progress(trials, echo=self.echo)
        if not self.quiet:
            sup.on_record = lambda rec: progress.record(rec, sup.state)
        self.running = {h.run.remote(): name for name, h in self.actors.items()}
        watched_at = time.monotonic()
        while True:
            sup.step()
            if not self.quiet:
                progress.tick(sup.state)
            if sup.finished():
                break
            done, _ = ray.wait(list(self.running), num_returns=len(self.running), timeout=0) if self.running else ([], [])
            for ref in done:
                self._returned(ref)
            if time.monotonic() - watched_at >= WATCH_EVERY_S:
                watched_at = time.monotonic()
                self._watch()
            for name, when in list(self.retry_at.items()):
                if time.monotonic() >= when:
                    del self.retry_at[name]
                    self._run_again(name)
            time.sleep(POLL_S)
        ray.wait(list(self.running), num_returns=len(self.running), timeout=SHUTDOWN_S)

    def _returned(self, ref) -> None:
        """An actor's run() came back: it finished, Ray is restarting it, or it failed."""
        name = self.running.pop(ref)
        try:
            ray.get(ref)
            self.failures[name] = 0
        except ray.exceptions.ActorUnavailableError:
            # still restarting (slow on a loaded node): counted as a failure, a healthy actor
            # would be given up on and the run would hang
            self.retry_at[name] = time.monotonic() + UNAVAILABLE_RETRY_S
            return
        except (ray.exceptions.RayActorError, ray.exceptions.RayTaskError) as exc:
            if storage_failure(exc) is not None:
                raise
            if not self._failed(name, exc):
                return
        self._run_again(name)

    def _failed(self, name: str, exc: Exception) -> bool:
        """Count the failure; True when the actor gets another run()."""
        self.launched.restarts += 1
        self.failures[name] = self.failures.get(name, 0) + 1
        if self.failures[name] < GIVE_UP_AFTER:
            self.echo(f"{name} failed ({type(exc).__name__}); Ray restarts it and it resumes from the log")
            return True
        self.echo(f"{name} failed {self.failures[name]} times in a row ({exc}); going on without it")
        lost = self.supervisor.recover_abandoned(name)
        if lost:
            self.supervisor.commit(Append(lost))
        self.abandoned.add(name)
        gone = every_one_gone(self.actors, self.abandoned)
        if gone:  # nothing left to do that work: waiting would never end
            self.supervisor.commit(self.supervisor.stop("error", f"every {gone} failed; see the errors above"))
        return False

    def _watch(self) -> None:
        found = stuck(self.supervisor.state, live_roles(self.actors, self.abandoned, ROLES))
        if found is not None:
            self.echo(f"stuck: {found.detail}; stopping the run")
            unstick(self.supervisor, found)

    def _run_again(self, name: str) -> None:
        if not self.supervisor.finished():
            self.running[self.actors[name].run.remote()] = name
