"""End to end in a real browser: headless Debian Chromium driven by Playwright, against the
real server (uvicorn on a free localhost port)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tumorsynth.apps.reader_study import store
from tumorsynth.apps.reader_study.layout import StudyPaths

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(fresh_study) -> Iterator[tuple[str, object]]:
    uvicorn = pytest.importorskip("uvicorn")
    pytest.importorskip("fastapi")
    from tumorsynth.apps.reader_study.server import create_app

    port = _free_port()
    config = uvicorn.Config(create_app(fresh_study.study_dir), host="127.0.0.1", port=port,
                            log_level="warning", access_log=False)
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the reader study server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", fresh_study
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def browser():
    if not CHROMIUM.exists():
        pytest.skip("needs Debian chromium at /usr/bin/chromium (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright package")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def _canvas_levels(page) -> int:
    """Number of distinct grey levels on the viewer canvas."""
    return page.evaluate("""() => {
        const c = document.getElementById('canvas');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        const s = new Set();
        for (let i = 0; i < d.length; i += 4) s.add(d[i]);
        return s.size;
    }""")


def _wait_saved(page) -> None:
    page.wait_for_function(
        "() => document.getElementById('save-status').textContent.startsWith('Saved')", timeout=10_000)


def test_reader_answers_survive_reload(server, browser, tmp_path: Path) -> None:
    base, st = server
    errors: list[str] = []
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{base}/#token={st.tokens['alice']}")
    page.wait_for_selector("body[data-ready='1']", timeout=15_000)
    assert "token" not in page.url  # the token is taken out of the address bar
    assert page.inner_text("#case-title") == "Case 1 of 6"
    assert page.inner_text("#progress-label") == "0 of 6 answered"
    assert page.get_attribute("#stage", "data-case-id") == st.case_ids[0]
    assert _canvas_levels(page) > 20  # a real CT slice, not a blank canvas

    # scroll through slices: mouse wheel and keyboard
    first = int(page.get_attribute("#stage", "data-slice"))
    page.hover("#stage")
    page.mouse.wheel(0, 120)
    page.wait_for_function(f"() => document.getElementById('stage').dataset.slice !== '{first}'")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    assert int(page.get_attribute("#stage", "data-slice")) == first - 1
    # coronal view: width x, height z
    page.click("#views button[data-view='coronal']")
    assert page.evaluate("() => [canvas.width, canvas.height]") == [40, 12]
    page.click("#views button[data-view='axial']")
    # zoom in overflows the viewer (pan by scrolling); Fit brings the whole slice back
    page.click("#zoom-in")
    assert page.inner_text("#zoom-label") == "150%"
    assert page.evaluate("() => stage.scrollWidth > stage.clientWidth + 10")
    page.keyboard.press("0")
    assert page.inner_text("#zoom-label") == "100%"
    assert page.evaluate("() => stage.scrollWidth <= stage.clientWidth + 1")
    # window presets
    page.click("#windows button:has-text('Liver')")
    assert page.input_value("#ww") == "150" and page.input_value("#wl") == "30"

    # answer case 1 with confidence and comment
    page.click("button.answer[data-answer='synthetic']")
    _wait_saved(page)
    page.click("button.conf[data-conf='4']")
    _wait_saved(page)
    page.fill("#comment", "rim looks painted")
    page.click("#next")  # leaving the case saves the comment
    page.wait_for_function("() => document.getElementById('case-title').textContent === 'Case 2 of 6'")
    page.wait_for_selector("body[data-ready='1']")
    page.keyboard.press("r")  # keyboard answer: real
    _wait_saved(page)
    page.click("#next")
    page.wait_for_function("() => document.getElementById('case-title').textContent === 'Case 3 of 6'")
    page.click("button.answer[data-answer='unsure']")
    _wait_saved(page)
    assert page.inner_text("#progress-label") == "3 of 6 answered"
    page.wait_for_function("() => document.querySelectorAll('#case-grid button.answered').length === 3")

    # reload: still signed in, answers kept, resumes on the last case opened
    page.reload()
    page.wait_for_selector("body[data-ready='1']", timeout=15_000)
    assert page.inner_text("#progress-label") == "3 of 6 answered"
    assert page.inner_text("#case-title") == "Case 3 of 6"
    assert "on" in page.get_attribute("button.answer[data-answer='unsure']", "class")
    page.click("#case-grid button >> nth=0")
    page.wait_for_function("() => document.getElementById('case-title').textContent === 'Case 1 of 6'")
    assert "on" in page.get_attribute("button.answer[data-answer='synthetic']", "class")
    assert "on" in page.get_attribute("button.conf[data-conf='4']", "class")
    assert page.input_value("#comment") == "rim looks painted"
    page.wait_for_selector("body[data-ready='1']")
    shot = tmp_path / "reader.png"
    page.screenshot(path=str(shot))
    assert shot.is_file() and shot.stat().st_size > 20_000

    # the database holds exactly these answers
    mine = {a.case_id: a for a in store.all_answers(StudyPaths(st.study_dir).db) if a.reader == "alice"}
    assert {k: v.answer for k, v in mine.items()} == {
        st.case_ids[0]: "synthetic", st.case_ids[1]: "real", st.case_ids[2]: "unsure"}
    assert mine[st.case_ids[0]].confidence == 4
    assert mine[st.case_ids[0]].comment == "rim looks painted"
    assert mine[st.case_ids[0]].seconds is not None
    assert not errors, errors

    # another reader starts empty; a wrong token gets the sign-in form
    other = browser.new_context().new_page()
    other.goto(f"{base}/#token={st.tokens['bob']}")
    other.wait_for_selector("body[data-ready='1']", timeout=15_000)
    assert other.inner_text("#progress-label") == "0 of 6 answered"
    assert "rim looks painted" not in other.content()
    bad = browser.new_context().new_page()
    bad.goto(f"{base}/#token=not-a-valid-token")
    bad.wait_for_selector("#login:not([hidden])")
    assert "not valid" in bad.inner_text("#login-error")

    # the owner page shows progress, readers cannot open it
    owner = browser.new_context().new_page()
    owner.goto(f"{base}/owner#token={st.owner_token}")
    owner.wait_for_selector("#content:not([hidden])", timeout=15_000)
    assert "3 / 6" in owner.inner_text("#readers")
    refused = browser.new_context().new_page()
    refused.goto(f"{base}/owner#token={st.tokens['alice']}")
    refused.wait_for_function("() => document.getElementById('message').textContent.length > 0")
    assert "owner token" in refused.inner_text("#message")
