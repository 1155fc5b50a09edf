"""The dashboard in a real headless Chromium (Debian's package, driven by playwright): a live run
(rows, progress and verdicts arriving while the page is open) and a 10,000-trial synthetic run
(it renders from the live end, sorts, filters, pages and deep-links). Screenshots go to
$AUTORECIPE_SCREENSHOTS (default: the test's tmp dir)."""

import os
import shutil
import time
from pathlib import Path

import msgspec
import pytest
from playwright.sync_api import sync_playwright

from actors.config import RunConfig
from actors.local_loop import run_local
from agents.library import LibraryProposer
from environments import registry
from events import EventStore, RunDir, TrialProgress
from events.envelope import NewEvent
from events.gateway import create_app
from events.synthetic import generate, write
from tests.conftest import lifecycle
from tests.gateway_server import Served

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-dev-shm-usage", "--no-first-run", "--disable-extensions"]
SPEC = registry.get("dryrun")


def shots(tmp_path) -> Path:
    out = Path(os.environ.get("AUTORECIPE_SCREENSHOTS") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    return out


def browser(p):
    """The system's Chromium, else the one `playwright install chromium` put in its cache."""
    own = CHROMIUM or (p.chromium.executable_path if os.path.exists(p.chromium.executable_path) else None)
    assert own, ("Chromium is needed for this test: `make setup` installs Debian's chromium package as root; "
                 "as another user, install it, or run `.venv/bin/playwright install chromium`")
    return p.chromium.launch(executable_path=own, args=ARGS)


def ready(page, url):
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']", timeout=30_000)


def ids(page) -> list[str]:
    return page.eval_on_selector_all("#trials tbody tr", "rs => rs.map(r => r.dataset.id)")


@pytest.mark.slow
def test_the_dashboard_follows_a_live_run(tmp_path):
    run = tmp_path / "run"
    run_local(run, SPEC, RunConfig(env="dryrun", runner="zero", fsync=False, trials=6),
              {a.name: LibraryProposer() for a in SPEC.specialists})
    out = shots(tmp_path)
    with Served(create_app(run)) as served, sync_playwright() as p:
        b = browser(p)
        page = b.new_page(viewport={"width": 1400, "height": 1000})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        ready(page, served.url + "/")
        assert len(ids(page)) == 7 and ids(page)[0] == "t0006"  # newest first
        assert "stopped" in page.inner_text("#status") and page.locator("#scatter canvas").count() == 1
        assert page.locator("#agents tbody tr").count() >= 1 and "trials" in page.inner_text("#gauges")

        # live: a trial is proposed and claimed, reports progress, then is judged
        with EventStore(run / "log") as store:
            events = [msgspec.structs.replace(e, wall_time_ns=time.time_ns()) for e in lifecycle("t0999", 0.5, "t0001")]
            store.append(events[:2])
            page.wait_for_selector("#trials tbody tr[data-id='t0999']", timeout=5_000)
            progress = [NewEvent(event=TrialProgress(trial_id="t0999", attempt=1, phase="train", elapsed_s=1.0 + i,
                                                     budget_s=10.0, step=100 * (i + 1), total_steps=500,
                                                     metrics={"train_loss": 3.0 - 0.4 * i}),
                                 stream="progress/t0999", event_id=f"p{i}", producer="executor/0")
                        for i in range(3)]
            page.goto(served.url + "/#t0999")  # a deep link, while it runs
            page.wait_for_selector("body[data-ready='1']", timeout=30_000)
            page.wait_for_selector("#detail-title:has-text('t0999')", timeout=5_000)
            store.append(progress[:2])
            page.wait_for_function("document.querySelector(\"tr[data-id='t0999'] td.prog\").textContent"
                                   ".includes('200/500')", timeout=5_000)
            store.append(progress[2:])
            page.wait_for_function("document.querySelector(\"tr[data-id='t0999'] td.prog\").textContent"
                                   ".includes('300/500')", timeout=5_000)
            assert page.locator("#curve canvas").count() == 1  # its progress curve
            page.screenshot(path=str(out / "live-running.png"), full_page=True)
            log = RunDir(run).blobs().put(b"epoch 1\nloss <0.5>\n")
            done = events[2]
            events[2] = msgspec.structs.replace(done, event=msgspec.structs.replace(
                done.event, outputs={"logs/train": log}), wall_time_ns=time.time_ns())
            store.append(events[2:])
        page.wait_for_function("document.querySelector(\"tr[data-id='t0999']\").innerText.includes('0.5000')",
                               timeout=5_000)
        assert "Δ parent" in page.inner_text("#trials thead")
        page.wait_for_function("document.querySelector('#detail pre.log') !== null", timeout=5_000)
        assert page.inner_text("#detail pre.log") == "epoch 1\nloss <0.5>"
        page.wait_for_function("document.querySelector('#scatter-note').textContent.startsWith('8 ')", timeout=5_000)
        health = page.evaluate("fetch('/health').then(r => r.json())")
        assert health["served_offset"] == health["committed_offset"]
        assert "served offset" in page.inner_text("#status") and not page.is_visible("#stale")
        page.screenshot(path=str(out / "live-done.png"), full_page=True)
        assert not errors, errors
        b.close()


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    run = tmp_path_factory.mktemp("big10k")
    with EventStore(run / "log", fsync=False) as store:  # no blobs: the tables are what is on trial here
        write(store.append, generate(trials=10_000, seed=1, blobs=None), batch=2000)
    return run


@pytest.mark.slow
def test_the_dashboard_on_ten_thousand_trials_sorts_filters_pages_and_deep_links(big, tmp_path):
    out = shots(tmp_path)
    with Served(create_app(big)) as served, sync_playwright() as p:
        b = browser(p)
        page = b.new_page(viewport={"width": 1400, "height": 1000})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        ready(page, served.url + "/#t004242")
        assert len(ids(page)) == 50 and "1–50 of 10001" in page.inner_text("#pageinfo")
        assert ids(page)[0] == "t010000"
        page.wait_for_selector("#detail-title:has-text('t004242')", timeout=10_000)
        n_points = int(page.inner_text("#scatter-note").split()[0])
        assert n_points > 9000  # every verdict, drawn
        page.screenshot(path=str(out / "10k-first.png"), full_page=False)

        page.click("#trials th[data-key='score']")  # ascending: the best (minimize) first
        page.wait_for_function("document.querySelector('#trials th[data-key=score]').dataset.dir === 'asc'")
        page.wait_for_function("document.querySelector('#trials tbody tr').dataset.id !== 't010000'")
        scores = page.eval_on_selector_all("#trials tbody tr td:nth-child(4)", "cs => cs.map(c => +c.textContent)")
        assert scores == sorted(scores) and len(scores) == 50
        page.click("#trials th[data-key='score']")  # and descending
        page.wait_for_function("document.querySelector('#trials th[data-key=score]').dataset.dir === 'desc'")
        page.wait_for_timeout(300)
        down = page.eval_on_selector_all("#trials tbody tr td:nth-child(4)", "cs => cs.map(c => +c.textContent)")
        assert down == sorted(down, reverse=True) and down[0] > scores[-1]

        page.select_option("#f-status", "size_blocked")
        page.wait_for_function("[...document.querySelectorAll('#trials tbody tr td:nth-child(3)')]"
                               ".every(c => c.textContent === 'size_blocked')", timeout=10_000)
        page.wait_for_function("!document.querySelector('#pageinfo').textContent.includes('of 10001')")
        blocked = int(page.inner_text("#pageinfo").split("of")[1])
        assert 2000 < blocked < 5000
        page.fill("#f-q", "z-loss")
        page.wait_for_function("[...document.querySelectorAll('#trials tbody tr td.hyp')]"
                               ".every(c => c.textContent.includes('z-loss'))", timeout=10_000)
        page.click("#next")
        page.wait_for_function("document.querySelector('#pageinfo').textContent.trim().startsWith('51')")
        page.screenshot(path=str(out / "10k-filtered.png"), full_page=False)

        page.evaluate("location.hash = '#t000042'")
        page.wait_for_selector("#detail-title:has-text('t000042')", timeout=10_000)
        assert "by " in page.inner_text("#detail")
        page.click("#lineage-box summary")
        page.wait_for_selector("#lineage li", timeout=20_000)
        page.screenshot(path=str(out / "10k-detail-lineage.png"), full_page=False)
        assert not errors, errors
        b.close()
