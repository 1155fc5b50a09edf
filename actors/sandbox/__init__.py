"""Run one harness phase as a contained subprocess and measure it from outside.

What is enforced, and where:
- everywhere: rlimits on address space, file size and CPU seconds; fixed thread counts; wall and
  CPU time measured by this process, never reported by the recipe; output captured with a size
  cap, keeping the head and the tail (where tracebacks are); a cap on what the writable folders
  hold (`disk_bytes`), looked at four times a second and once more at the end, so a phase
  overshoots it by at most what it writes in a quarter second (files it deleted but holds open
  count too: its cgroup's processes, or its uid's where there is no cgroup; where the folders
  are a filesystem of their own, `Limits.disk_fs` (actors/trial_fs.py), its use counts, and its
  size bounds them whatever holds the files);
- as root on Linux (CI and the executors here):
  - a control group of its own (actors/cgroups.py), joined before anything else happens in the
    child: CPU seconds are the group's counter (every process, however started: a libc fork
    with SIGCHLD ignored, whose time wait4 never sees, included), the CPU watchdog reads that
    counter, `pids.max` is the process limit, a memory limit holds the resident memory of all
    of them (and the tmpfs they fill), and the whole group is killed on a watchdog and at the
    end. Where no group can be made, wait4 and RLIMIT_NPROC do, and `Run.cpu_clock` says so;
  - a new network namespace with no interfaces but its own loopback, an IPC namespace (no SysV
    shared memory or message queue outlives the phase), a private mount namespace
    and a root of its own (actors/fsview.py: the system's programs and libraries, the
    interpreter and its venv, declared folders, the work dir; fresh tmpfs on /tmp, /var/tmp,
    /dev/shm), and an unprivileged uid (a trial runner gives each trial its own,
    actors/trial_uid.py; nobody by default), so nothing but the work dir's writable folders can
    be written and nothing outside the view can be read, whatever its mode;
  - a seccomp filter (actors/sandbox/seccomp.py): no add_key, request_key or keyctl, since a
    uid's keyring is the machine's and outlives the phase and the trial;
  - and a new PID namespace, so nothing the recipe starts outlives the phase: the harness runs as
    PID 2 under a tiny init (PID 1, root, ours) that forwards the watchdog's TERM to every process
    in the namespace, reaps orphans, and when the harness exits kills whatever is left (a daemon
    that called setsid() or double-forked included) before it exits itself; the kernel kills the
    rest of a namespace whose PID 1 is gone. A waiter outside the namespace (root, ours) is the
    process this one starts and waits for: it passes TERM on to the init and exits with the
    harness's status. The recipe sees only its own processes in /proc, and cannot signal the
    init or the waiter.
- without PID namespaces (`Run.isolation` says so): its own process group, which the watchdog
  sends TERM, then KILL, and which is killed when the phase ends (and its cgroup, where there is one).
- elsewhere (not root, or no namespaces): the rlimits, the process group and the measurements
  only; `Run.isolation` and `Run.cpu_clock` say which.

Audit reports (attempted opens of protected paths, sockets, process spawns) arrive on a pipe
named by AUTORECIPE_REPORT_FD, written by the harness's audit hook. They explain verdicts; no
promise above depends on them (a recipe can blind the hook, with dup2 over its pipe).

The package, one idea a module: `limits` (what a phase may do, what was measured), `probes`
(what this machine allows), `environment` (the variables a phase starts with), `contain` (the
child's steps between fork and exec), `pidns` (the waiter and the init of a PID namespace),
`stages`, `drain` and `disk` (what is read of a running phase), `watchdog` (watching and
stopping it), `phase` (`run`, which puts them together), `kernel` (Linux's numbers).
"""

from actors.sandbox.contain import needed_paths
from actors.sandbox.disk import disk_use
from actors.sandbox.environment import thread_env
from actors.sandbox.limits import NOBODY, Limits, Run
from actors.sandbox.phase import run
from actors.sandbox.pidns import HARD_STOP
from actors.sandbox.probes import isolation_available, pid_namespace_available
from actors.sandbox.watchdog import TERM_GRACE_S

__all__ = ["HARD_STOP", "NOBODY", "TERM_GRACE_S", "Limits", "Run", "disk_use", "isolation_available", "needed_paths",
           "pid_namespace_available", "run", "thread_env"]
