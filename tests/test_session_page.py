"""A trial's model session over HTTP and on the dashboard: the same text `autorecipe show RUN
TRIAL --session` prints, served by /trials/{id}/session from a real uvicorn on loopback and
shown in a real headless Chromium when the trial's "Model session" box is opened."""

import httpx
import pytest
from playwright.sync_api import sync_playwright

from actors.config import RunConfig
from actors.local_loop import run_local
from agents.llm.config import Endpoint
from agents.llm.session import LLMProposer
from autorecipe.session_view import session_lines, session_view
from environments import registry
from events import LlmExchanged, RunDir
from events.gateway import create_app
from tests.fake_llm_server import FakeLLM
from tests.gateway_server import Served
from tests.test_dashboard import browser, ready

SPEC = registry.get("dryrun")
REPAIR = "knobs.py\n<<<<<<< SEARCH\nA = 9.9\n=======\nA = 1.0\n>>>>>>> REPLACE\n"  # SEARCH not in the file
BLOCK = "HYPOTHESIS: A toward 3 lowers the loss\nknobs.py\n<<<<<<< SEARCH\nA = 0.0\n=======\nA = 1.0\n>>>>>>> REPLACE\n"


@pytest.fixture(scope="module")
def llm_run(tmp_path_factory):
    """One trial from a two-call text-protocol session: a failed edit, then a repaired one."""
    replies = [REPAIR]
    path = tmp_path_factory.mktemp("session") / "run"
    with FakeLLM(responder=lambda tag, api, body: {"text": replies.pop(0) if replies else BLOCK}) as fake:
        ep = Endpoint(name="fake", base_url=fake.base_url, model="fake-model", retries=1, edit_format="text")
        config = RunConfig(env="dryrun", runner="zero", fsync=False, trials=1, agents=["alpha"], proposer="llm",
                           llm={"alpha": ep.public()})
        run_local(path, SPEC, config, {"alpha": LLMProposer(ep)}, executors=1)
    return path


def test_the_gateway_serves_the_session_as_show_prints_it(llm_run):
    with Served(create_app(llm_run, session_view=session_view(llm_run))) as served:
        got = httpx.get(served.url + "/trials/t0001/session", timeout=30)
        assert got.status_code == 200, got.text
        lines = got.json()["lines"]
        assert lines == session_lines(str(llm_run), "t0001")
        text = "\n".join(lines)
        for part in ("── call 1  ok  HTTP 200", "── call 2", "ERROR: the SEARCH text is not in", "[assistant (stop)]",
                     "ended      submitted after 2 turn(s)"):
            assert part in text, (part, text)
        baseline = httpx.get(served.url + "/trials/t0000/session", timeout=30).json()["lines"]
        assert baseline == ["t0000 came from no model session (the baseline, or a proposer without one)"]
        missing = httpx.get(served.url + "/trials/t9999/session", timeout=30)
        assert missing.status_code == 404 and "no trial 't9999'" in missing.json()["error"]
        assert "/trials/{trial_id}/session" in httpx.get(served.url + "/openapi.json").json()["paths"]


def test_a_gateway_without_a_session_view_says_where_to_get_one(llm_run):
    with Served(create_app(llm_run)) as served:
        got = httpx.get(served.url + "/trials/t0001/session", timeout=30)
        assert got.status_code == 404 and "autorecipe serve" in got.json()["error"]


def test_a_lost_request_blob_is_named_in_the_session_not_a_server_error(llm_run, tmp_path):
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(llm_run, run)
    first = next(r.event for r in RunDir(run).reader().iter_records() if isinstance(r.event, LlmExchanged))
    RunDir(run).blobs().path_of(first.request.sha256).unlink()
    with Served(create_app(run, session_view=session_view(run))) as served:
        got = httpx.get(served.url + "/trials/t0001/session", timeout=30)
    assert got.status_code == 200, got.text
    assert any(line.startswith("   request unreadable:") for line in got.json()["lines"])


@pytest.mark.slow
def test_the_dashboard_shows_the_session_when_its_box_is_opened(llm_run):
    with Served(create_app(llm_run, session_view=session_view(llm_run))) as served, sync_playwright() as p:
        b = browser(p)
        page = b.new_page(viewport={"width": 1400, "height": 1000})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        ready(page, served.url + "/#t0001")
        page.wait_for_selector("#detail-title:has-text('t0001')", timeout=10_000)
        page.click("#session-box summary")
        page.wait_for_function("document.querySelector('#session').textContent.includes('── call 2')", timeout=30_000)
        assert "ended      submitted after 2 turn(s)" in page.inner_text("#session")
        ready(page, served.url + "/#t0000")  # the baseline has no session box
        page.wait_for_selector("#detail-title:has-text('t0000')", timeout=10_000)
        assert page.locator("#session-box").count() == 0
        assert not errors, errors
        b.close()


def test_the_session_is_served_only_as_far_as_the_log_is_acknowledged(llm_run, tmp_path):
    """Records past COMMITTED (a batch written but not yet acknowledged) are not served by any
    other route; the session page read the segments to their end and showed them."""
    import shutil

    from events import AgentSessionEnded
    from events.store import COMMITTED

    run = tmp_path / "run"
    shutil.copytree(llm_run, run)
    records = list(RunDir(run).reader().iter_records())
    proposed = next(r.offset for r in records if getattr(r.event, "trial_id", None) == "t0001")
    ended = next(r.offset for r in records if isinstance(r.event, AgentSessionEnded))
    assert proposed < ended, "the cut must leave the trial in and its session's end out"
    (run / "log" / COMMITTED).write_bytes(ended.to_bytes(8, "little"))
    assert "ended      submitted" in "\n".join(session_lines(str(run), "t0001"))  # the segments hold it
    with Served(create_app(run, session_view=session_view(run))) as served:
        got = httpx.get(served.url + "/trials/t0001/session", timeout=30)
        assert got.status_code == 200, got.text
        text = "\n".join(got.json()["lines"])
        assert "── call 2" in text and "ended " not in text, text
        assert got.json()["lines"] == session_lines(str(run), "t0001", until=ended)
