"""The loop on a real Ray: a run that replays to its own digest, actors that hold no handle but
the log's, and the faults — an executor killed mid-trial, an evaluator killed mid-evaluation,
the driver killed and the run resumed — with no trial lost and none judged twice."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import ray

from actors.config import RunConfig
from actors.eventlog import LOG_RESOURCE, RayLog, start_event_log
from actors.ray_actors import reactor_actor
from agents.library import LibraryProposer
from autorecipe.launch import LaunchError, launch
from autorecipe.pool import pool_size
from environments import registry
from events import LogReader, RunState, replay
from tests.loop_scripts import scripts

pytestmark = pytest.mark.slow
SPEC = registry.get("dryrun")
EVAL_DELAY_S = "0.3"


@pytest.fixture(scope="module")
def ray_address():
    """One Ray for this module (each start costs seconds), with fake GPUs and the log's resource.
    It is shut down after the module, so no other test forks under a live Ray."""
    os.environ["DRYRUN_EVAL_DELAY_S"] = EVAL_DELAY_S  # inherited by the workers
    ray.init(address="local", num_cpus=2, num_gpus=2, resources={LOG_RESOURCE: 1}, object_store_memory=128 * 1024**2,
             include_dashboard=False, log_to_driver=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()
        os.environ.pop("DRYRUN_EVAL_DELAY_S", None)


def _records(path: Path):
    return list(LogReader(Path(path) / "log").iter_records())


def _wait_for(path: Path, pred, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (Path(path) / "log").exists():
            for r in _records(path):
                if pred(r):
                    return r
        time.sleep(0.05)
    raise AssertionError(f"nothing matched in {path} within {timeout} s")


def _in_thread(fn, *args, **kwargs):
    box = {}

    def target():
        try:
            box["result"] = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            box["error"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    return t, box


def _assert_nothing_lost_nothing_twice(path: Path, judged: bool = True) -> RunState:
    records = _records(path)
    st = RunState().apply_all(records)
    verdicts = Counter((r.event.trial_id, r.event.attempt) for r in records if r.type == "trial.evaluated")
    assert bool(verdicts) == judged and max(verdicts.values(), default=1) == 1, verdicts
    executed = Counter((r.event.trial_id, r.event.attempt) for r in records if r.type == "trial.executed")
    assert max(executed.values(), default=1) == 1
    assert st.run.stopped, "the run did not finish"
    for row in st.trials.rows.values():
        assert row.phase in ("evaluated", "cancelled"), (row.trial_id, row.phase)
    from autorecipe.verify import verify_run

    assert verify_run(path).divergences == []  # every verdict re-derives from its recorded outputs
    return st


def test_a_run_on_ray_replays_to_the_digest_it_ran_with(ray_address, tmp_path):
    config = RunConfig(env="dryrun", runner="zero", trials=8, executors=2)
    done = launch(tmp_path / "run", config, proposers=scripts(), echo=lambda m: None)
    assert done.state.run.stopped == "trial_budget"
    assert len(done.state.trials.rows) == 9
    assert replay(tmp_path / "run").digest() == done.state.digest()
    statuses = Counter(r.status for r in done.state.trials.rows.values())
    assert statuses["size_blocked"] == 1 and statuses["out_of_surface"] == 1 and statuses["invalid_edit"] >= 1


def test_with_one_specialist_two_runs_on_ray_append_the_same_domain_events(ray_address, tmp_path):
    """On Ray, one specialist, one executor and one evaluator leave no room for a race: the same
    seed gives the same events in the same order (ids, times and the fingerprint aside)."""
    from tests.test_loop_local import _domain

    runs = []
    for name in ("a", "b"):
        config = RunConfig(env="dryrun", runner="zero", trials=4, executors=1, agents=["alpha"], seed=3)
        launch(tmp_path / name, config, proposers={"alpha": scripts()["alpha"]}, echo=lambda m: None)
        runs.append(_domain(_records(tmp_path / name)))
    assert len(runs[0]) > 20
    assert runs[0] == runs[1]


def _handles_held(actor) -> list[str]:
    """The actor ids of every actor handle `actor` holds, run inside it (ray's __ray_call__)."""
    import ray

    seen, found = set(), []

    def walk(obj, depth=0):
        if depth > 4 or id(obj) in seen:
            return
        seen.add(id(obj))
        if isinstance(obj, ray.actor.ActorHandle):
            found.append(obj._actor_id.hex())
            return
        if isinstance(obj, dict):
            for v in obj.values():
                walk(v, depth + 1)
        elif isinstance(obj, (list, tuple, set)):
            for v in obj:
                walk(v, depth + 1)
        elif hasattr(obj, "__dict__"):
            for v in vars(obj).values():
                walk(v, depth + 1)

    walk(actor)
    return sorted(set(found))


def test_no_actor_holds_a_handle_to_another_actor_except_the_log(ray_address, tmp_path):
    log = start_event_log(tmp_path / "run", name="handles-test-log")
    ray.get(log.ping.remote(), timeout=60)
    made = [
        reactor_actor("specialist", "h-spec").remote("specialist", "handles-test-log", "dryrun", agent="alpha",
                                                      proposer=LibraryProposer()),
        reactor_actor("executor", "h-exec").remote("executor", "handles-test-log", "dryrun", name="executor/0",
                                                    data=None, scratch=str(tmp_path / "work")),
        reactor_actor("evaluator", "h-eval").remote("evaluator", "handles-test-log", "dryrun", name="evaluator/0"),
    ]
    try:
        held = ray.get([a.__ray_call__.remote(_handles_held) for a in made], timeout=60)
        assert held == [[log._actor_id.hex()]] * 3
    finally:
        for a in [*made, log]:
            ray.kill(a)


def test_pool_size_follows_the_resources_a_trial_asks_for():
    from dataclasses import replace

    from environments.spec import Resources

    gpu_spec = replace(SPEC, resources=Resources(cpus=1, gpus=1))
    config = RunConfig(env="dryrun")
    assert pool_size(config, gpu_spec, {"CPU": 16, "GPU": 2}) == 2
    assert pool_size(RunConfig(env="dryrun", executors=1), gpu_spec, {"CPU": 16, "GPU": 8}) == 1
    with pytest.raises(LaunchError, match="needs 1 CPU and 1 GPU"):
        pool_size(config, gpu_spec, {"CPU": 16})


def test_executors_ask_ray_for_the_gpus_a_trial_declares(ray_address, tmp_path):
    """Fake GPUs: two executors of one GPU each fit this Ray's two; a third waits for one."""
    log = start_event_log(tmp_path / "run", name="gpu-test-log")
    ray.get(log.ping.remote(), timeout=60)
    made = [reactor_actor("executor", f"gpu-exec-{i}", num_gpus=1).remote(
        "executor", "gpu-test-log", "dryrun", name=f"executor/{i}", data=None, scratch=str(tmp_path))
        for i in range(3)]
    try:
        ready, pending = ray.wait([a.stats.remote() for a in made], num_returns=3, timeout=15)
        assert (len(ready), len(pending)) == (2, 1)
        ray.kill(made[0])
        ready, pending = ray.wait(pending, timeout=30)
        assert len(ready) == 1  # placed once a GPU came free
    finally:
        for a in [*made, log]:
            ray.kill(a)


def test_a_two_gpu_real_task_gets_its_gpus_through_a_placement_group(ray_address, tmp_path):
    """parameter-golf against the stand-in record, two fake GPUs per trial: the executor pool is
    reserved as a placement group of whole-trial bundles, the trial's torchrun sees exactly the
    GPUs Ray assigned, and the group is released when the run ends."""
    import shutil

    from ray.util import placement_group_table

    upstream = tmp_path / "parameter-golf"
    shutil.copytree(Path(__file__).parent / "fixtures" / "upstream" / "parameter-golf", upstream)
    options = dict(upstream=str(upstream), gpus="2", cpus="1", train_s="1", eval_s="5", startup_s="20",
                   smoke_s="30", smoke_train_s="0.2", smoke_steps="20", train_shards="1")
    run = tmp_path / "run"
    done = launch(run, RunConfig(env="parameter-golf", env_options=options, tier="full", trials=1),
                  echo=lambda m: None)
    baseline = done.state.trials.rows["t0000"]
    assert baseline.verdict == "valid", baseline
    run_id = done.state.run.run_id
    groups = [g for g in placement_group_table().values() if g["name"] == f"autorecipe-{run_id}-executors"]
    assert len(groups) == 1 and groups[0]["bundles"] == {0: {"GPU": 2.0, "CPU": 1.0}}
    assert groups[0]["state"] == "REMOVED"
    executed = next(r.event for r in _records(run) if r.type == "trial.executed")
    from events import BlobStore

    log = BlobStore(run / "blobs").get(executed.outputs["logs/run"]).decode()
    visible = next(line for line in log.splitlines() if line.startswith("autorecipe-devices:"))
    assert sorted(visible.split("=")[1].split(",")) == ["0", "1"]


@pytest.mark.faults
def test_an_executor_killed_mid_trial_loses_no_trial(ray_address, tmp_path):
    run = tmp_path / "run"
    config = RunConfig(env="dryrun", tier="standard", trials=6, executors=2)  # 2-second trials
    t, box = _in_thread(launch, run, config, echo=lambda m: None)
    claim = _wait_for(run, lambda r: r.type == "trial.claimed" and r.event.trial_id != "t0000")
    run_id = _records(run)[0].event.run_id
    victim = ray.get_actor(f"{run_id}/{claim.event.executor}")
    ray.kill(victim, no_restart=False)  # a crash: Ray restarts it
    t.join(timeout=180)
    assert not t.is_alive() and "error" not in box, box.get("error")
    st = _assert_nothing_lost_nothing_twice(run)
    records = _records(run)
    lost = [r.event for r in records if r.type == "trial.lost"]
    assert [(e.trial_id, e.attempt) for e in lost] == [(claim.event.trial_id, 1)]
    row = st.trials.rows[claim.event.trial_id]
    assert row.attempt == 2 and row.phase == "evaluated" and row.verdict == "valid"


@pytest.mark.faults
def test_an_evaluator_killed_mid_evaluation_judges_each_trial_once(ray_address, tmp_path):
    run = tmp_path / "run"
    config = RunConfig(env="dryrun", runner="zero", trials=6, executors=2)
    t, box = _in_thread(launch, run, config, echo=lambda m: None)
    done = _wait_for(run, lambda r: r.type == "trial.executed" and r.event.trial_id != "t0000")
    run_id = _records(run)[0].event.run_id
    ray.kill(ray.get_actor(f"{run_id}/evaluator/0"), no_restart=False)
    t.join(timeout=180)
    assert not t.is_alive() and "error" not in box, box.get("error")
    st = _assert_nothing_lost_nothing_twice(run)
    assert st.trials.rows[done.event.trial_id].phase == "evaluated"


@pytest.mark.faults
def test_a_killed_driver_resumes_and_finishes(ray_address, tmp_path):
    run = tmp_path / "run"
    env = {**os.environ, "RAY_ADDRESS": ray_address}
    cmd = [sys.executable, "-m", "autorecipe.cli", "run", "--env", "dryrun", "--tier", "standard", "--trials", "5",
           "--executors", "2", str(run)]
    driver = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        claim = _wait_for(run, lambda r: r.type == "trial.claimed" and r.event.trial_id != "t0000", timeout=120)
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.wait()
    assert not RunState().apply_all(_records(run)).run.stopped
    time.sleep(2)  # Ray reaps the dead driver's actors; the log's file lock goes with its process
    resumed = subprocess.run([sys.executable, "-m", "autorecipe.cli", "run", "--resume", str(run)], env=env,
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "marked lost and queued again" in resumed.stdout
    st = _assert_nothing_lost_nothing_twice(run)
    assert st.trials.rows[claim.event.trial_id].attempt >= 2
    assert len(st.trials.rows) == 1 + 5


@pytest.mark.faults
def test_the_event_log_killed_by_sigkill_mid_run_restarts_and_the_run_goes_on(ray_address, tmp_path):
    """Every producer (specialists, executors, evaluator, supervisor) is appending when the log's
    process dies: each retries with the same event ids, the restarted log recovers its segments,
    and nothing is lost or stored twice."""
    run = tmp_path / "run"
    config = RunConfig(env="dryrun", tier="standard", trials=6, executors=2)
    t, box = _in_thread(launch, run, config, echo=lambda m: None)
    _wait_for(run, lambda r: r.type == "trial.claimed" and r.event.trial_id != "t0000")
    run_id = _records(run)[0].event.run_id
    log = ray.get_actor(f"autorecipe-log-{run_id}")
    before = ray.get(log.ping.remote())
    os.kill(before["pid"], signal.SIGKILL)
    after = RayLog(log)._call("ping")  # retried while Ray restarts it; it recovers from its segments
    assert after["restarted"] and after["pid"] != before["pid"] and after["next_offset"] >= before["next_offset"]
    t.join(timeout=180)
    assert not t.is_alive() and "error" not in box, box.get("error")
    st = _assert_nothing_lost_nothing_twice(run)
    records = _records(run)
    ids = [r.event_id for r in records]
    assert len(ids) == len(set(ids)) and [r.offset for r in records] == list(range(len(records)))
    assert len(st.trials.rows) == 1 + 6 and st.run.stopped == "trial_budget"


@pytest.mark.faults
def test_a_specialist_killed_mid_session_abandons_it_and_the_run_goes_on(ray_address, tmp_path):
    """The model is slow, so the session is open when the specialist dies: its next incarnation
    records the session as abandoned, opens a new one, and no trial is lost or judged twice."""
    from agents.llm.config import Endpoint
    from tests.fake_llm_server import FakeLLM
    from tests.llm_responders import climber

    def slow(tag, api, body):
        time.sleep(0.25)
        return climber(tag, api, body)

    run = tmp_path / "run"
    with FakeLLM(responder=slow) as fake:
        ep = Endpoint(name="fake", base_url=fake.base_url, model="fake-model").public()
        config = RunConfig(env="dryrun", runner="zero", trials=4, executors=1, proposer="llm", agents=["alpha"],
                           llm={"alpha": ep})
        t, box = _in_thread(launch, run, config, echo=lambda m: None)
        opened = _wait_for(run, lambda r: r.type == "agent.session_started" and r.event.agent == "alpha")
        _wait_for(run, lambda r: r.type == "llm.exchanged" and r.event.session_id == opened.event.session_id)
        run_id = _records(run)[0].event.run_id
        ray.kill(ray.get_actor(f"{run_id}/agent/alpha"), no_restart=False)
        t.join(timeout=180)
    assert not t.is_alive() and "error" not in box, box.get("error")
    st = _assert_nothing_lost_nothing_twice(run)
    ended = {r.event.session_id: r.event.outcome for r in _records(run) if r.type == "agent.session_ended"}
    assert ended[opened.event.session_id] == "abandoned"
    assert len(st.trials.rows) == 1 + 4 and all(r.phase == "evaluated" for r in st.trials.rows.values())


@pytest.fixture
def small_disk(tmp_path):
    """A 48 KiB filesystem for a run directory: room for the start of a run, not its end."""
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48k", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {made.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.faults
def test_a_full_disk_stops_the_run_clearly_and_loses_nothing_acknowledged(ray_address, small_disk):
    run = small_disk / "run"
    config = RunConfig(env="dryrun", runner="zero", trials=500, executors=2)
    with pytest.raises(LaunchError) as err:
        launch(run, config, echo=lambda m: None)
    message = str(err.value)
    assert "No space left on device" in message and f"--resume {run}" in message and "reads back intact" in message
    records = _records(run)  # reads back: no corrupt frame, no gap
    assert [r.offset for r in records] == list(range(len(records))) and len(records) > 5
    acknowledged = {r.event_id for r in records}
    # room again: the run resumes where the log ends and finishes; what was there stays there
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    launch(run, resume=True, echo=lambda m: None)
    st = _assert_nothing_lost_nothing_twice(run)
    assert acknowledged <= {r.event_id for r in _records(run)} and st.run.stopped


@pytest.mark.parametrize("at_stop", ["finish", "cancel"])
def test_trials_in_flight_at_a_deadline_are_finished_or_cancelled(ray_address, tmp_path, at_stop):
    run = tmp_path / "run"
    # 30 s trials and a 20 s deadline: a trial claimed at any time before the deadline is still
    # running when it passes, however slowly the machine brings the actors up
    config = RunConfig(env="dryrun", env_options={"delay_s": "30"}, tier="standard", trials=20, executors=2,
                       hours=20 / 3600, at_stop=at_stop)
    done = launch(run, config, echo=lambda m: None)
    st = _assert_nothing_lost_nothing_twice(run, judged=at_stop == "finish")
    assert done.state.run.stop_requested == "deadline"
    records = _records(run)
    stop = next(r.offset for r in records if r.type == "run.stop_requested")
    cancelled = [r.event for r in records if r.type == "trial.cancelled"]
    running_at_stop = {r.event.trial_id for r in records if r.type == "trial.claimed" and r.offset < stop} - {
        r.event.trial_id for r in records if r.type == "trial.executed" and r.offset < stop}
    assert running_at_stop, "nothing was running when the deadline passed"
    if at_stop == "cancel":
        assert running_at_stop <= {e.trial_id for e in cancelled}
        assert all(st.trials.rows[t].phase == "cancelled" for t in running_at_stop)
    else:
        assert all(st.trials.rows[t].phase == "evaluated" for t in running_at_stop)


def test_llm_specialists_on_ray_against_the_fake_server_replay_without_it(ray_address, tmp_path):
    from agents.llm.config import Endpoint
    from tests.fake_llm_server import FakeLLM
    from tests.llm_responders import climber

    run = tmp_path / "run"
    with FakeLLM(responder=climber) as fake:
        ep = Endpoint(name="fake", base_url=fake.base_url, model="fake-model", stream=True).public()
        config = RunConfig(env="dryrun", runner="zero", trials=6, executors=2, proposer="llm",
                           llm={"alpha": ep, "beta": ep})
        done = launch(run, config, echo=lambda m: None)
    assert done.state.run.stopped == "trial_budget"
    rows = [r for r in done.state.trials.rows.values() if r.trial_id != "t0000"]
    assert len(rows) == 6 and all(r.phase == "evaluated" for r in rows)
    # three calls a submitted session (edit, check, submit); on a loaded machine a session may
    # start just before the budget is reached and be cut short, so count what the log holds
    sessions = sum(a.sessions for a in done.state.agents.by_agent.values())
    calls = done.state.ledger.total.llm_calls
    assert sessions >= 6 and 18 <= calls <= 3 * sessions, (sessions, calls)
    # the server is gone: replay serves the recorded replies, and today's code asks the same
    replayed = subprocess.run([sys.executable, "-m", "autorecipe.cli", "replay", str(run), "--llm", "replay"],
                              capture_output=True, text=True, timeout=120)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    served = re.search(r"(\d+) session\(s\), (\d+) recorded calls served, 0 divergence\(s\)", replayed.stderr)
    assert served and int(served[1]) >= 6 and int(served[2]) == calls, replayed.stderr
    assert f"digest     {done.state.digest()}" in replayed.stdout


def test_llm_replay_reports_a_divergence(ray_address, tmp_path):
    """Change what the agent is told (its surface brief) and replay notices."""
    from agents.llm.config import Endpoint
    from agents.llm.verify import verify_llm_sessions
    from tests.fake_llm_server import FakeLLM
    from tests.llm_responders import climber

    run = tmp_path / "run"
    with FakeLLM(responder=climber) as fake:
        ep = Endpoint(name="fake", base_url=fake.base_url, model="fake-model").public()
        launch(run, RunConfig(env="dryrun", runner="zero", trials=2, executors=1, proposer="llm", agents=["alpha"],
                              llm={"alpha": ep}), echo=lambda m: None)
    import agents.llm.session as session

    original = session.system_prompt
    session.system_prompt = lambda ctx: original(ctx) + "\nBe bold."
    try:
        checks = verify_llm_sessions(run)
    finally:
        session.system_prompt = original
    assert checks and not any(c.ok for c in checks)
    assert "request differs" in checks[0].detail and ".system" in checks[0].detail or ".messages" in checks[0].detail


def test_autorecipe_run_with_llm_specialists_on_golf_mini(ray_address, tmp_path):
    """The command line, a real miniature (sandboxed torch trials), models behind the fake server."""
    from tests.fake_llm_server import FakeLLM
    from tests.llm_responders import golf_tuner

    run = tmp_path / "run"
    env = {**os.environ, "RAY_ADDRESS": ray_address}
    with FakeLLM(responder=golf_tuner) as fake:
        done = subprocess.run([sys.executable, "-m", "autorecipe.cli", "run", "--env", "golf-mini", "--agents",
                               "opt,quant", "--trials", "2", "--executors", "2", "--llm", "vllm:fake-model",
                               "--llm-base-url", fake.base_url, str(run)],
                              env=env, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    st = RunState().apply_all(_records(run))
    rows = [r for r in st.trials.rows.values() if r.trial_id != "t0000"]
    assert sorted(r.agent for r in rows) == ["opt", "quant"]
    assert all(r.verdict == "valid" and r.score is not None for r in rows), [(r.status, r.feedback) for r in rows]
    assert "digest" in done.stdout and "result     best" in done.stdout
    replayed = subprocess.run([sys.executable, "-m", "autorecipe.cli", "replay", str(run), "--llm", "replay",
                               "--verify"], env=env, capture_output=True, text=True, timeout=120)
    assert replayed.returncode == 0, replayed.stderr
    assert "0 divergence(s)" in replayed.stderr and "verify: 3 recipes and 3 verdicts checked, 0 divergence(s)" \
        in replayed.stderr, replayed.stderr
    digest = next(line for line in done.stdout.splitlines() if line.startswith("digest"))
    assert digest in replayed.stdout  # the same state, rebuilt with the server gone


def test_run_serve_streams_the_run_while_it_runs(ray_address, tmp_path):
    import asyncio
    import socket

    from events.consumer import follow

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = tmp_path / "run"
    config = RunConfig(env="dryrun", tier="standard", trials=4, executors=2)  # 2-second trials
    t, box = _in_thread(launch, run, config, echo=lambda m: None, serve_port=port)
    _wait_for(run, lambda r: r.type == "run.started")
    types = []

    async def consume():
        for _ in range(600):  # the gateway starts a moment after the log
            try:
                async with contextlib.aclosing(follow(f"http://127.0.0.1:{port}", 0, reconnect=False)) as records:
                    async for rec in records:  # closed here on return, not later by the collector
                        types.append(rec["event"]["type"])
                        if types[-1] == "run.stop_requested":
                            return
            except Exception:  # noqa: BLE001 - not up yet
                await asyncio.sleep(0.1)

    asyncio.run(asyncio.wait_for(consume(), 120))
    t.join(timeout=120)
    assert "error" not in box, box.get("error")
    assert types[0] == "run.started" and types.count("trial.evaluated") >= 5


def test_a_fork_continues_from_the_cut_with_its_own_budget_and_keep_rule(ray_address, tmp_path):
    from click.testing import CliRunner

    from autorecipe.cli import main

    src = tmp_path / "src"
    launch(src, RunConfig(env="dryrun", runner="zero", trials=8, executors=2), echo=lambda m: None)
    records = _records(src)
    cut = [r.offset for r in records if r.type == "trial.claimed"][4]  # a trial claimed just before the cut
    # --start: written and continued by one command, on this module's Ray (already up in-process)
    result = CliRunner().invoke(main, ["fork", str(src), "--at", str(cut + 1), str(tmp_path / "fork"), "--trials",
                                       "12", "--noise-margin", "0.5", "--start", "-q"])
    assert result.exit_code == 0, result.output
    assert "result     best" in result.output and "run dir" in result.output  # run --resume's own summary
    forked = _records(tmp_path / "fork")
    assert [(r.offset, r.event_id) for r in forked[1:cut + 1]] == [(r.offset, r.event_id) for r in records[1:cut + 1]]
    assert forked[0].event.keep_rule.noise_margin == 0.5 and forked[0].event.config["forked_from"]["at"] == cut + 1
    st = _assert_nothing_lost_nothing_twice(tmp_path / "fork")
    assert st.run.stopped in ("trial_budget", "exhausted")
    assert any(r.type == "trial.lost" for r in _records(tmp_path / "fork"))  # the attempt running at the cut
    assert len(st.trials.rows) > len({r.event.trial_id for r in records[:cut + 1] if r.type == "trial.proposed"})


@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT to a background job"])
def test_sigterm_and_a_background_sigint_end_a_run_cleanly_with_the_resume_hint(ray_address, tmp_path, how):
    """A job started with `&` inherits SIGINT ignored, and ray.init installs a SIGTERM handler of
    its own: the driver handles both, so the run still ends with the resume hint, not going on or a crash."""
    run = tmp_path / "run"
    env = {**os.environ, "RAY_ADDRESS": ray_address}
    cmd = [sys.executable, "-m", "autorecipe.cli", "run", "--env", "dryrun", "--tier", "standard", "--trials", "50",
           "--executors", "1", str(run)]
    ignore = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if how.startswith("SIGINT") else None
    driver = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              preexec_fn=ignore)
    try:
        _wait_for(run, lambda r: r.type == "trial.claimed" and r.event.trial_id != "t0000", timeout=120)
        driver.send_signal(signal.SIGTERM if how == "SIGTERM" else signal.SIGINT)
        out, _ = driver.communicate(timeout=90)
    finally:
        driver.kill()
    assert driver.returncode == 130, out[-3000:]
    assert f"continue with `autorecipe run --resume {run}`" in out and "Traceback" not in out, out[-3000:]
