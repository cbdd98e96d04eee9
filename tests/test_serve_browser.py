"""A real browser (Debian's chromium via Playwright) against a running server: type, see results.

Needs ``apt-get install chromium`` (``.ci/run`` does it) and ``pip install playwright``; never
``playwright install``. Screenshots go under tmp and, if set, ``$SIMCSE_SCREENSHOT_DIR``.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is absent: apt-get install -y chromium")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server_url(tiny_bert):
    uvicorn = pytest.importorskip("uvicorn", reason="pip install 'simcse[serve]'")
    from samples import SENTENCES
    from simcse.api import SimCSE
    from simcse.index import Index
    from simcse.serve import create_app

    model = SimCSE(tiny_bert, device="cpu", pooler="avg")
    corpus = [*SENTENCES, "a dog runs in the snow", "two children play in the park", "a man plays piano music"]
    index = Index(model.dim, model=model.model_name, pooler="avg")
    index.add(corpus, model.encode(corpus, normalize=True))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(model, index), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start within 30 s")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_demo_page_in_chromium(server_url, tmp_path, viewport):
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    with sync_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            user_data_dir=str(tmp_path / "profile"), executable_path=str(CHROMIUM), headless=True, args=ARGS,
            viewport=VIEWPORTS[viewport], is_mobile=viewport == "phone", has_touch=viewport == "phone",
        )
        try:
            page = context.new_page()
            page.goto(server_url + "/")
            page.wait_for_function("document.getElementById('info').textContent.includes('sentences')")
            page.fill("#query", "a dog runs in the snow")
            page.locator("#threshold").fill("-1")  # keep every hit, whatever the random model scores
            page.click("#go")
            page.wait_for_selector("#results li.result")
            results = page.locator("#results li.result")
            assert results.count() == 5  # the default top-k
            scores = [float(s) for s in page.locator("#results .score").all_inner_texts()]
            assert scores == sorted(scores, reverse=True) and scores[0] == pytest.approx(1.0, abs=1e-3)
            assert "a dog runs in the snow" in page.locator("#results .text").all_inner_texts()
            assert "server" in page.locator("#status").inner_text()  # timing shown
            page.locator(".examples button").first.click()  # an example query searches too
            page.wait_for_function("document.getElementById('status').textContent.includes('results')")
            page.fill("#query", "a dog runs in the snow")
            page.click("#go")
            page.wait_for_function("document.getElementById('status').textContent.includes('results')")
            shot = tmp_path / f"demo-{viewport}.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 5000
            if os.environ.get("SIMCSE_SCREENSHOT_DIR"):
                out = Path(os.environ["SIMCSE_SCREENSHOT_DIR"])
                out.mkdir(parents=True, exist_ok=True)
                shutil.copy(shot, out / shot.name)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= VIEWPORTS[viewport]["width"]  # no sideways scrolling on a phone
        finally:
            context.close()
