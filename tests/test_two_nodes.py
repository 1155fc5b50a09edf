"""A two-node Ray on this machine, started as a user would (`ray start`): the head holds the event
log and no CPUs; a second node has the CPUs and fake GPUs; a micro-tier loop's trials must all
run on the second node."""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from events import LogReader, RunState

pytestmark = pytest.mark.slow
RAY = str(Path(sys.executable).with_name("ray"))


def _start(args: list[str], tmp: Path, name: str) -> subprocess.Popen:
    log = open(tmp / f"{name}.log", "w")
    return subprocess.Popen([RAY, "start", "--block", "--disable-usage-stats", *args], stdout=log,
                            stderr=subprocess.STDOUT, env={**os.environ, "RAY_AUTH_MODE": "disabled"})


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()  # --block: the node stops what it started, and nothing else of anyone's
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_trials_land_on_the_node_with_the_resources(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"127.0.0.1:{port}"
    head = _start(["--head", f"--port={port}", "--num-cpus=0", "--num-gpus=0", '--resources={"autorecipe_log":1}',
                   "--include-dashboard=false", "--object-store-memory=100000000", "--node-ip-address=127.0.0.1"],
                  tmp_path, "head")
    worker = None
    try:
        time.sleep(4)
        worker = _start([f"--address={address}", "--num-cpus=2", "--num-gpus=2", "--object-store-memory=100000000",
                         "--node-ip-address=127.0.0.1"], tmp_path, "worker")
        env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_ADDRESS": address}
        deadline = time.monotonic() + 60
        while True:  # until the cluster has both nodes
            out = subprocess.run([RAY, "status", f"--address={address}"], env=env, capture_output=True, text=True)
            if out.stdout.count("node_") >= 2 or time.monotonic() > deadline:
                break
            time.sleep(1)
        run = tmp_path / "run"
        done = subprocess.run([sys.executable, "-m", "autorecipe.cli", "run", "--address", address, "--env",
                               "golf-mini", "--trials", "2", "--executors", "2", str(run)],
                              env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        nodes = subprocess.run([sys.executable, "-c", "import ray, json; ray.init(address='%s'); "
                                "print(json.dumps([(n['NodeID'], n['Resources'].get('CPU', 0)) for n in ray.nodes() "
                                "if n['Alive']]))" % address], env=env, capture_output=True, text=True, timeout=60)
        import json

        alive = json.loads(nodes.stdout.strip().splitlines()[-1])
        worker_ids = {nid[:12] for nid, cpu in alive if cpu > 0}
        head_ids = {nid[:12] for nid, cpu in alive if cpu == 0}
        assert len(worker_ids) == 1 and len(head_ids) == 1
        records = list(LogReader(run / "log").iter_records())
        claims = [r.event for r in records if r.type == "trial.claimed"]
        assert len(claims) == 3  # the baseline and two trials
        assert {re.sub(r"^.*/", "", c.node) for c in claims} == worker_ids
        st = RunState().apply_all(records)
        assert st.run.stopped and all(r.verdict for r in st.trials.rows.values())
        # the audit, from the log alone (no Ray): each verdict re-derived from the worker's recorded outputs
        verified = subprocess.run([sys.executable, "-m", "autorecipe.cli", "replay", str(run), "--verify"],
                                  env=env, capture_output=True, text=True, timeout=300)
        assert verified.returncode == 0 and "3 verdicts checked, 0 divergence(s)" in verified.stderr, \
            verified.stdout[-2000:] + verified.stderr[-2000:]
    finally:
        if worker is not None:
            _stop(worker)
        _stop(head)
        current = Path("/tmp/ray/ray_current_cluster")  # what `ray stop` would remove; --block leaves it
        if current.exists() and current.read_text().strip() == address:
            current.unlink()
