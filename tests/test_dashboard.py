"""The dashboard in a real headless Chromium: it shows a run's trials and follows new events."""

import shutil
import time

import msgspec
import pytest
from playwright.sync_api import sync_playwright

from actors.config import RunConfig
from actors.local_loop import run_local
from agents.library import LibraryProposer
from environments import registry
from events import EventStore, RunDir
from events.gateway import create_app
from tests.conftest import lifecycle
from tests.gateway_server import Served

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SPEC = registry.get("dryrun")


@pytest.mark.slow
def test_the_dashboard_shows_the_trials_and_updates_live(tmp_path):
    assert CHROMIUM, "Chromium is needed for this test: `make setup` installs Debian's chromium package as root"
    run = tmp_path / "run"
    run_local(run, SPEC, RunConfig(env="dryrun", runner="zero", fsync=False, trials=6),
              {a.name: LibraryProposer() for a in SPEC.specialists})
    with Served(create_app(run)) as served, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--headless=new"])
        page = browser.new_page()
        page.goto(served.url + "/")
        page.wait_for_function("document.querySelectorAll('#trials tbody tr').length === 7", timeout=15_000)
        assert "best" in page.inner_text("#status") and "stopped" in page.inner_text("#status")
        assert page.locator("#chart path").count() == 1
        page.click("#trials tbody tr[data-id='t0001']")
        page.wait_for_function("document.querySelector('#detail pre') !== null", timeout=10_000)
        assert "knobs.py" in page.inner_text("#detail pre")
        started = time.monotonic()
        log = RunDir(run).blobs().put(b"epoch 1\nloss <0.5>\n")
        with EventStore(run / "log") as store:
            events = lifecycle("t0999", 0.5, "t0001")
            done = events[2]  # its TrialExecuted gets a phase log, for the detail's tail
            events[2] = msgspec.structs.replace(done, event=msgspec.structs.replace(done.event, outputs={"logs/train": log}))
            store.append(events)
        page.wait_for_selector("#trials tbody tr[data-id='t0999']", timeout=5_000)
        assert time.monotonic() - started < 5
        assert page.locator("#trials tbody tr").count() == 8
        page.click("#trials tbody tr[data-id='t0999']")
        page.wait_for_selector("#detail pre.log", timeout=10_000)
        assert "logs/train" in page.inner_text("#detail") and page.inner_text("#detail pre.log") == "epoch 1\nloss <0.5>"
        browser.close()
