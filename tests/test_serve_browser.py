"""A real browser (Debian's chromium via Playwright) against running servers: type, see results;
sentences, then documents (title, highlighted passage, metadata), at desktop and phone sizes.

Needs ``apt-get install chromium`` (``.ci/run`` does it) and ``pip install playwright``; never
``playwright install``. Screenshots go under tmp and, if set, ``$SIMCSE_SCREENSHOT_DIR``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
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


@contextlib.contextmanager
def serving(app):
    """``app`` under uvicorn on a free loopback port; yields its URL."""
    pytest.importorskip("uvicorn", reason="pip install 'simcse[serve]'")
    from serve_helpers import running
    from simcse.serve import ServeConfig

    config = ServeConfig(port=free_port(), log_level="warning")
    with running(app, config) as url:
        yield url


@pytest.fixture(scope="module")
def model(tiny_bert):
    from simcse.api import SimCSE

    return SimCSE(tiny_bert, device="cpu", pooler="avg")


@pytest.fixture(scope="module")
def server_url(model):
    from samples import SENTENCES
    from simcse.index import Index
    from simcse.serve import create_app

    corpus = [*SENTENCES, "a dog runs in the snow", "two children play in the park", "a man plays piano music"]
    index = Index(model.dim, model=model.model_name, pooler="avg")
    index.add(corpus, model.encode(corpus, normalize=True))
    with serving(create_app(model, index)) as url:
        yield url


DOCUMENTS = [  # (id, text, metadata)
    ("winter/dogs.md", "the dog runs in the park . a dog runs in the snow . two dogs play .",
     {"title": "Dogs in winter", "source": "notes"}),
    ("music.txt", "a man plays piano music . the woman plays guitar . people sit .", {"source": "blog", "year": 2020}),
    ("market", "the stock market fell . the market rose . people eat food in the street .", {"title": "Markets"}),
]


@pytest.fixture(scope="module")
def documents_url(model):
    from simcse.document_indexing import new_document_index, upsert_documents
    from simcse.documents import Document
    from simcse.serve import create_app

    index = new_document_index(model, chunk_tokens=10, chunk_overlap=0)  # one sentence a passage
    upsert_documents(index, model, [Document(*doc) for doc in DOCUMENTS])
    with serving(create_app(model, index)) as url:
        yield url


@contextlib.contextmanager
def browser(tmp_path, viewport: str):
    """A page in Debian's chromium at the viewport's size."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    with sync_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            user_data_dir=str(tmp_path / "profile"), executable_path=str(CHROMIUM), headless=True, args=ARGS,
            viewport=VIEWPORTS[viewport], is_mobile=viewport == "phone", has_touch=viewport == "phone",
        )
        try:
            yield context.new_page()
        finally:
            context.close()


def screenshot(page, tmp_path, name: str, viewport: str) -> None:
    """Save a full-page screenshot (also to $SIMCSE_SCREENSHOT_DIR) and check nothing scrolls sideways."""
    shot = tmp_path / f"{name}-{viewport}.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 5000
    if os.environ.get("SIMCSE_SCREENSHOT_DIR"):
        out = Path(os.environ["SIMCSE_SCREENSHOT_DIR"])
        out.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, out / shot.name)
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORTS[viewport]["width"]


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_demo_page_in_chromium(server_url, documents_url, tmp_path, viewport):
    with browser(tmp_path, viewport) as page:
        page.goto(server_url + "/")
        page.wait_for_function("document.getElementById('info').textContent.includes('sentences')")
        assert page.locator("#bydoc-row").is_hidden()  # an index of sentences: no documents to group by
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
        screenshot(page, tmp_path, "demo", viewport)

        page.goto(documents_url + "/")
        page.wait_for_function("document.getElementById('info').textContent.includes('3 documents')")
        assert page.locator("#bydoc").is_checked()  # an index of documents: one result per document
        page.fill("#query", "a dog runs in the snow")
        page.click("#go")
        page.wait_for_function("document.getElementById('status').textContent.includes('3 results')")
        titles = page.locator("#results .doc-title").all_inner_texts()
        assert titles[0] == "Dogs in winter" and set(titles) == {"Dogs in winter", "music.txt", "Markets"}
        first = page.locator("#results li.result").first
        assert first.locator("mark").inner_text() == "a dog runs in the snow ."  # the passage, highlighted
        assert first.locator(".passage").inner_text() == DOCUMENTS[0][1]  # in its context, whole (a short document)
        assert first.locator("dl.doc-meta").inner_text().split() == ["source", "notes"]  # metadata but the title
        music = page.locator("#results li.result", has_text="music.txt")
        assert "2020" in music.locator("dl.doc-meta").inner_text()
        screenshot(page, tmp_path, "documents", viewport)
