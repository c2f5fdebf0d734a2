"""What a person looks at, in a real headless Chromium: JupyterLab from ``kubelab start`` and the docs site."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from test_start import read_until, stop_group

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        yield chromium
        chromium.close()


def test_jupyterlab_opens_the_first_lab_and_its_kernel_talks_to_the_cluster(browser, tmp_path):
    """The learner's first minutes: the orientation lab opens, and a cell reaches the cluster with kubectl."""
    env = dict(os.environ, HOME=str(tmp_path), BROWSER="true", JUPYTER_CONFIG_DIR=str(tmp_path / "jupyter"),
               KUBELAB_SLOT_DIR=str(tmp_path / "slots"))
    workspace = tmp_path / "ws"
    process = subprocess.Popen(
        [sys.executable, "-m", "kubelab", "start", "--no-browser", "--store", "memory", "--workspace", str(workspace),
         "--port", "18900"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    page = browser.new_page()  # type: ignore[attr-defined]
    try:
        url = read_until(process, r"JupyterLab is ready: (\S+)", timeout=300).group(1)
        notebook = url.replace("/lab?", "/lab/tree/00-orientation/00-orientation.ipynb?")
        page.goto(notebook, timeout=120_000)
        first_heading = page.locator(".jp-Notebook .jp-RenderedMarkdown h1").first
        first_heading.wait_for(timeout=120_000)
        assert "Orientation" in first_heading.inner_text()
        page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle'], "
                     "#jp-main-statusbar :text('Idle')").first.wait_for(timeout=120_000)

        # A cell of the learner's own, below the last one: kubectl sees the cluster kubelab start made.
        page.locator(".jp-Notebook .jp-Cell").last.click()
        page.keyboard.press("Escape")
        page.keyboard.press("b")
        page.keyboard.press("Enter")
        page.keyboard.type("!kubectl get nodes")
        page.keyboard.press("Shift+Enter")
        output = page.locator(".jp-Notebook .jp-OutputArea-output", has_text="node-2")
        output.wait_for(timeout=120_000)
        assert "Ready" in output.inner_text()
    finally:
        page.close()
        stop_group(process)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The docs site as built for publishing, served over HTTP."""
    built = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-f", str(ROOT / "site" / "mkdocs.yml"),
                    "-d", str(built)], check=True, timeout=300)
    handler = functools.partial(QuietHandler, directory=str(built))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_the_docs_site_renders_and_leads_from_the_home_page_to_every_lab(browser, site):
    page = browser.new_page()  # type: ignore[attr-defined]
    failed: list[str] = []
    # A request the page itself gave up on when the test moved to the next page is not a broken link.
    page.on("requestfailed", lambda request: None if "ERR_ABORTED" in (request.failure or "")
            else failed.append(request.url))
    page.on("response", lambda response: failed.append(response.url) if response.status >= 400 else None)
    try:
        page.goto(site + "/", timeout=60_000)
        assert "kubelab" in page.title().lower()
        labs_index = page.locator("nav a", has_text="Labs").first
        assert labs_index.count() == 1
        lab_dirs = sorted(p.name for p in (ROOT / "labs").iterdir() if p.is_dir())
        assert lab_dirs, "the course has no labs"
        for name in lab_dirs:
            page.goto(f"{site}/labs/{name}/", timeout=60_000)
            heading = page.locator("article h1").first
            assert heading.is_visible(), name
            assert name[:2] in heading.inner_text(), (name, heading.inner_text())
        assert failed == []
    finally:
        page.close()
