"""A careless user at the command line: a damaged run resumed, a truncated log read, a busy port,
a URL where nothing listens, a live run confirmed, numbers out of range. Each is one clear line
(and the right exit status) before anything is spent, never a traceback, a hang or lost data."""

from __future__ import annotations

import pickle
import socket
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from actors.config import RunConfig
from actors.local_loop import run_local
from agents.library import LibraryProposer
from autorecipe.cli import main
from autorecipe.errors import message
from environments import registry
from events import CorruptLog, DamagedWitness, EventStore, WrongExpectedVersion
from events.segments import FRAME_OVERHEAD, HEADER_SIZE, list_segments, scan

SPEC = registry.get("dryrun")


def invoke(*args, **kw):
    return CliRunner().invoke(main, [str(a) for a in args], **kw)


def one_line_error(result, *words, code=2):
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    for w in words:
        assert w in result.output, result.output


@pytest.fixture
def stopped_run(tmp_path):
    path = tmp_path / "run"
    run_local(path, SPEC, RunConfig(env="dryrun", runner="zero", fsync=False, trials=3),
              {a.name: LibraryProposer() for a in SPEC.specialists})
    return path


def cut_to(run: Path, keep: int) -> None:
    """Truncate the run's only segment after its first `keep` records, at a frame boundary: a
    clean-looking log that ends below its COMMITTED mark."""
    (_, segment), = list_segments(run / "log")
    data = segment.read_bytes()
    frames = scan(data, HEADER_SIZE, 0)
    segment.write_bytes(data[: frames.starts[keep] - FRAME_OVERHEAD])


@pytest.mark.parametrize("mistake", ["an unknown environment", "--resume of a folder with no run",
                                     "a new run in a run's folder", "show of a trial the run lacks"])
def test_every_refusal_exits_2_with_one_line(stopped_run, tmp_path, mistake):
    """errors.py's promise for every refusal, click's own ClickException (exit 1) included: 1 is
    kept for a finding (a divergence, an invalid environment, a claim not confirmed)."""
    args, words = {
        "an unknown environment": (("run", tmp_path / "r", "--env", "nosuch"), ("nosuch",)),
        "--resume of a folder with no run": (("run", tmp_path, "--resume"), ("no run to resume",)),
        "a new run in a run's folder": (("run", stopped_run, "--env", "dryrun"), ("already holds a run",)),
        "show of a trial the run lacks": (("show", stopped_run, "t9999"), ("no trial 't9999'",)),
    }[mistake]
    result = invoke(*args)
    one_line_error(result, *words)
    assert result.output.startswith("error: ") and len(result.output.strip().splitlines()) == 1, result.output


# --- a damaged log, across Ray -------------------------------------------------------------------

def test_corrupt_log_and_a_version_conflict_survive_pickling():
    exc = CorruptLog(Path("/r/log/segment-1.log"), 40, 3, "CRC mismatch")
    back = pickle.loads(pickle.dumps(exc))
    assert (back.segment, back.position, back.offset, back.why, str(back)) == \
        (exc.segment, 40, 3, "CRC mismatch", str(exc))
    conflict = pickle.loads(pickle.dumps(WrongExpectedVersion("trial/t1", 2, 3, "e1")))
    assert (conflict.stream, conflict.expected, conflict.actual, conflict.event_id) == ("trial/t1", 2, 3, "e1")


def test_the_error_line_unwraps_what_ray_wrapped():
    ray_exceptions = pytest.importorskip("ray.exceptions")
    exc = CorruptLog(Path("/r/log/segment-1.log"), 40, 3, "CRC mismatch")
    trace = f"Traceback (most recent call last):\n  File \"x.py\", line 1\nevents.segments.CorruptLog: {exc}\n"
    task = ray_exceptions.RayTaskError("EventLog.read", trace, exc)
    assert message(task) == str(exc)
    assert message(task.as_instanceof_cause()) == str(exc)  # what ray.get raises
    assert message(ray_exceptions.ActorDiedError(task)) == str(exc)  # __init__ raised: only the text is kept


def test_resume_of_a_run_whose_acknowledged_tail_is_gone_says_so_in_one_line(stopped_run):
    cut_to(stopped_run, 5)  # no run.stopped any more, so it looks resumable; the store refuses it
    result = invoke("run", stopped_run, "--resume", "-q")
    one_line_error(result, "COMMITTED says", "acknowledged events are missing")
    assert "not a torn tail" not in result.output  # COMMITTED, not a valid record after it, is the witness
    assert "ray" not in result.output.splitlines()[-1].lower()


# --- a log that ends below its COMMITTED mark ----------------------------------------------------

@pytest.mark.parametrize("command", [("replay",), ("export", "--tsv"), ("log",)])
def test_reading_a_log_cut_below_committed_warns(stopped_run, command):
    assert "warning" not in invoke(command[0], stopped_run, *command[1:]).output
    total = sum(1 for _ in scan(next(iter(list_segments(stopped_run / "log")))[1].read_bytes(), HEADER_SIZE, 0).starts)
    cut_to(stopped_run, 7)
    result = invoke(command[0], stopped_run, *command[1:])
    assert result.exit_code == 0, result.output
    assert f"{total - 7} acknowledged event(s) are missing (offsets 7 to {total - 1})" in result.output


def test_replay_until_inside_the_log_does_not_warn(stopped_run):
    cut_to(stopped_run, 7)
    assert "missing" not in invoke("replay", stopped_run, "--until", 5).output
    assert "missing" in invoke("replay", stopped_run, "--until", 9).output


@pytest.mark.parametrize("damage", [b"\xff" * 8, (1 << 60).to_bytes(8, "little")], ids=["all-ff", "a-high-bit"])
def test_a_damaged_committed_file_is_called_damaged_not_18e18_missing_events(stopped_run, damage):
    """COMMITTED is the witness of what was acknowledged; a value no log can reach means the
    witness is damaged. Reading says so and reads the log; the writer refuses to open it; verify fails."""
    (stopped_run / "log" / "COMMITTED").write_bytes(damage)
    read = invoke("replay", stopped_run)
    assert read.exit_code == 0 and "COMMITTED says" in read.output and "damaged" in read.output, read.output
    assert "missing" not in read.output, read.output
    with pytest.raises(DamagedWitness, match="COMMITTED says .* damaged.*remove"):
        EventStore(stopped_run / "log")
    verified = invoke("replay", stopped_run, "--verify")
    assert verified.exit_code == 1 and "damaged" in verified.output, verified.output
    assert (stopped_run / "log" / "COMMITTED").read_bytes() == damage  # nothing changed


# --- serve on a port it cannot have --------------------------------------------------------------

def test_serve_on_a_busy_port_refuses_before_saying_serving(stopped_run):
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    try:
        result = invoke("serve", stopped_run, "--port", holder.getsockname()[1])
    finally:
        holder.close()
    one_line_error(result, "in use", "--port")
    assert "serving" not in result.output


@pytest.mark.parametrize("args, words", [(("--port", 70000), ("70000", "0<=x<=65535")),
                                         (("--host", "no-such-host.invalid", "--token", "t"), ("no-such-host.invalid",)),
                                         (("--host", "192.0.2.77", "--token", "t"), ("cannot serve on 192.0.2.77",))])
def test_serve_on_an_address_it_cannot_have_is_one_line(stopped_run, args, words):
    result = invoke("serve", stopped_run, *args)
    one_line_error(result, *words)
    assert "serving" not in result.output


# --- stream from where nothing answers -----------------------------------------------------------

def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now: connections are refused
    return port


@pytest.mark.parametrize("url", ["localhost:8000", "ftp://127.0.0.1/", "http://", "http://[::1"])
def test_stream_refuses_a_malformed_url_at_once(url):
    started = time.monotonic()
    one_line_error(invoke("stream", url), "URL")
    assert time.monotonic() - started < 30


def test_stream_gives_up_when_no_first_connection_succeeds():
    started = time.monotonic()
    result = invoke("stream", f"http://127.0.0.1:{_free_port()}", "--give-up-after", 0.5)
    one_line_error(result, "no connection to", "0.5 s")
    assert time.monotonic() - started < 30  # before: retried forever


def test_stream_gives_up_on_a_4xx(stopped_run):
    from events.gateway import create_app
    from tests.gateway_server import Served

    with Served(create_app(stopped_run)) as served:
        result = invoke("stream", served.url + "/not-here", "--give-up-after", 60)
    one_line_error(result, "404")


def test_stream_gives_up_on_a_url_that_is_not_a_gateway_and_on_one_that_never_answers():
    """A web page at the URL was retried every 10 s for ever (httpx-sse's content-type error read
    as a dropped connection), and a server that accepts and never answers took the 60 s read
    timeout past --give-up-after, saying '(last: )'."""
    import http.server
    import threading

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"<html>not a gateway</html>"
            self.send_response(200)
            self.send_header("content-type", "text/html")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    page = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=page.serve_forever, daemon=True).start()
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts connections (the kernel does), answers nothing
    try:
        started = time.monotonic()
        result = invoke("stream", f"http://127.0.0.1:{page.server_address[1]}", "--give-up-after", 10)
        one_line_error(result, "text/html, not an event stream")
        assert time.monotonic() - started < 10
        started = time.monotonic()
        result = invoke("stream", f"http://127.0.0.1:{silent.getsockname()[1]}", "--give-up-after", 1)
        one_line_error(result, "no connection to", "(last: ReadTimeout)")
        assert time.monotonic() - started < 20
    finally:
        page.shutdown()
        silent.close()


def test_an_interrupt_before_anything_was_recorded_does_not_offer_a_resume(tmp_path, monkeypatch, stopped_run):
    """Ctrl-C in the first seconds (Ray starting, the endpoint probed) said 'continue with
    autorecipe run --resume DIR' for a DIR that did not exist, and --resume then refused it."""
    import autorecipe.cli_run as cli_run

    def interrupted(*args, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_run, "launch", interrupted)
    monkeypatch.setattr(cli_run.signals, "install", lambda: None)
    fresh = invoke("run", tmp_path / "never", "--env", "dryrun", "--runner", "zero", "--trials", "2")
    assert fresh.exit_code == 130 and "nothing was recorded" in fresh.output and "--resume" not in fresh.output
    begun = invoke("run", "--resume", stopped_run)
    assert begun.exit_code == 130 and f"--resume {stopped_run}" in begun.output


def test_llm_config_mistakes_name_the_file(tmp_path):
    cfg = tmp_path / "cfg.toml"
    cfg.write_bytes(b"\xff\xfe\x00\x01")
    result = invoke("run", tmp_path / "r", "--env", "dryrun", "--runner", "zero", "--llm-config", cfg, "--llm", "local")
    one_line_error(result, str(cfg), "not UTF-8 text (byte 0")
    cfg.write_text('[endpoints.local]\nbase_url = "http://127.0.0.1:1/v1"\nmodel = "q"\n')
    result = invoke("run", tmp_path / "r", "--env", "dryrun", "--runner", "zero", "--llm-config", cfg, "--llm", "nosuch")
    one_line_error(result, f"{cfg} has no endpoint 'nosuch'; it has local")


def test_stream_from_that_is_not_an_offset_names_the_parameter_not_the_header(stopped_run):
    import httpx

    from events.gateway import create_app
    from tests.gateway_server import Served

    with Served(create_app(stopped_run)) as served:
        for bad, said in (("abc", "query parameter from='abc' is not an integer"), ("-5", "from must be >= 0")):
            r = httpx.get(f"{served.url}/events/stream?from={bad}", timeout=30)
            assert r.status_code == 400 and said in r.text, r.text
        r = httpx.get(f"{served.url}/events/stream", headers={"last-event-id": "-5"}, timeout=30)
        assert r.status_code == 400 and "Last-Event-ID '-5' is not an offset" in r.text, r.text


def test_show_prints_a_phase_without_a_budget_and_verify_of_a_synthetic_run_says_what_it_is(tmp_path, stopped_run):
    shown = invoke("show", stopped_run, "t0000")
    assert shown.exit_code == 0 and "budget Nones" not in shown.output, shown.output
    assert invoke("synth", tmp_path / "s", "--trials", "20").exit_code == 0
    verified = invoke("replay", tmp_path / "s", "--verify")
    assert verified.exit_code == 0 and "a synthetic run (autorecipe synth)" in verified.output, verified.output


# --- confirm on a run it cannot write --------------------------------------------------------------

def test_confirm_on_a_live_run_refuses_before_running_any_seed(stopped_run, monkeypatch):
    import autorecipe.claims as claims
    from events import EventStore

    ran = []
    monkeypatch.setattr(claims, "local_trial", lambda *a, **kw: ran.append(a) or pytest.fail("a seed ran"))
    with EventStore(stopped_run / "log"):  # as a running loop holds it
        result = invoke("confirm", stopped_run, "t0001", "--seeds", 2)
    one_line_error(result, "running loop")
    assert ran == []


# --- calibrate when the baseline does not run ------------------------------------------------------

@pytest.fixture
def broken_baseline(tmp_path, monkeypatch):
    """A user's own environment (dryrun's shape) whose baseline recipe raises, and a data folder
    holding the calibration an earlier, good run recorded."""
    package = tmp_path / "userenv"
    (package / "recipe").mkdir(parents=True)
    (package / "recipe" / "knobs.py").write_text("A = 0.0\nraise RuntimeError('the baseline is broken')\n")
    (package / "__init__.py").write_text(
        "import dataclasses\nfrom pathlib import Path\nfrom environments.dryrun import SPEC as DRYRUN\n"
        "SPEC = dataclasses.replace(DRYRUN, name='broken', recipe_root=Path(__file__).parent / 'recipe')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("AUTORECIPE_DATA", str(tmp_path / "data"))
    from environments.data import prepared_data

    earlier = prepared_data(registry.get("userenv:SPEC"), log=lambda m: None) / "calibration-micro.json"
    earlier.write_text('{"score_mean": 1.25}')
    return earlier


def test_calibrate_with_no_valid_run_keeps_the_calibration_it_had(broken_baseline):
    result = invoke("calibrate", "userenv:SPEC", "--tier", "micro", "--runs", 2)
    one_line_error(result, "nothing was recorded", "crash", "autorecipe trial broken --tier micro", code=1)
    assert broken_baseline.read_text() == '{"score_mean": 1.25}'


def test_calibrate_checks_its_tier_before_preparing_data(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTORECIPE_DATA", str(tmp_path / "data"))
    one_line_error(invoke("calibrate", "dryrun", "--tier", "mirco"), "mirco", "micro")
    assert not (tmp_path / "data").exists()


def test_serve_beyond_loopback_without_a_token_is_a_usage_error(stopped_run, monkeypatch):
    monkeypatch.delenv("AUTORECIPE_TOKEN", raising=False)
    result = invoke("serve", stopped_run, "--host", "0.0.0.0")
    one_line_error(result, "--token", "0.0.0.0")
    assert "serving" not in result.output


# --- numbers out of range ----------------------------------------------------------------------------

@pytest.mark.parametrize("args", [
    ("calibrate", "dryrun", "--runs", 0), ("replay", "RUN", "--top", 0), ("replay", "RUN", "--until", -1),
    ("log", "RUN", "--from", -3), ("log", "RUN", "--limit", 0), ("show", "RUN", "t0000", "--log-lines", -1),
    ("synth", "NEW", "--trials", 0), ("synth", "NEW", "--executors", 0), ("synth", "NEW", "--batch", 0),
    ("fork", "RUN", "NEW", "--at", -1), ("fork", "RUN", "NEW", "--at", 3, "--noise-margin", -0.1),
    ("confirm", "RUN", "t0001", "--alpha", 0), ("confirm", "RUN", "t0001", "--alpha", 1.5),
    ("confirm", "RUN", "t0001", "--min-delta", -1), ("run", "NEW", "--hours", 0), ("run", "NEW", "--cpu-hours", -2),
    ("run", "NEW", "--serve", 70000), ("serve", "RUN", "--port", -1), ("stream", "http://127.0.0.1:1", "--from", -1),
    ("stream", "http://127.0.0.1:1", "--give-up-after", 0),
])
def test_a_number_out_of_range_is_refused_by_name(stopped_run, tmp_path, args):
    args = [stopped_run if a == "RUN" else tmp_path / "new" if a == "NEW" else a for a in args]
    flag = [a for a in args if isinstance(a, str) and a.startswith("--")][-1]
    result = invoke(*args)
    one_line_error(result, flag, "range")
    assert not (tmp_path / "new").exists()


def test_output_piped_into_head_ends_quietly_with_the_pipes_status(tmp_path):
    """`autorecipe show RUN T | head` printed `error: BrokenPipeError` and exited 2. Each output
    here is far more than a pipe holds (64 KB), so the writer meets the closed pipe every time."""
    import subprocess
    import sys

    assert CliRunner().invoke(main, ["synth", str(tmp_path / "r"), "--trials", "300"]).exit_code == 0
    code = "from autorecipe.cli import main; main()"
    for args in (["log", str(tmp_path / "r")], ["log", str(tmp_path / "r"), "--json"]):
        proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        proc.stdout.readline()
        proc.stdout.close()  # the reader goes away, as head does after its lines
        err = proc.stderr.read().decode()
        assert proc.wait(timeout=60) == 141 and err == "", (args, err)


def test_looking_at_a_run_creates_nothing_in_it(tmp_path):
    """A read command re-created a blobs/ folder its user had removed."""
    import shutil

    run = tmp_path / "r"
    assert CliRunner().invoke(main, ["synth", str(run), "--trials", "20"]).exit_code == 0
    shutil.rmtree(run / "blobs")
    before = sorted(p.relative_to(run) for p in run.rglob("*"))
    for args in (["replay", run], ["log", run, "--limit", "3"], ["export", run, "--tsv"], ["show", run, "t000003"],
                 ["replay", run, "--verify"]):
        CliRunner().invoke(main, [str(a) for a in args])
    assert sorted(p.relative_to(run) for p in run.rglob("*")) == before
