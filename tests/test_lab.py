"""A chapter opened in a real JupyterLab (with the pinned jupyterlab-myst) renders as on the site.

Starts JupyterLab on a free local port with a throwaway configuration, opens a chapter in Chromium
and checks that an exercise directive is rendered (not shown as raw MyST markup) and that its
solution is a collapsed dropdown.
"""
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = "notebooks/ch03_4_pruning_weights.ipynb"
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    home = tmp_path_factory.mktemp("lab")
    # Render every cell at once (JupyterLab otherwise attaches only the cells near the viewport).
    settings = home / "settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
    port = free_port()
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
           "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
           "JUPYTERLAB_SETTINGS_DIR": str(home / "settings")}
    jupyter = Path(sys.executable).with_name("jupyter")
    log = open(home / "lab.log", "w")
    process = subprocess.Popen(
        [str(jupyter), "lab", "--no-browser", "--allow-root", f"--port={port}", "--ServerApp.ip=127.0.0.1",
         "--IdentityProvider.token=", "--ServerApp.password=", f"--ServerApp.root_dir={ROOT}",
         "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{url}/api", timeout=1)
                break
            except OSError:
                if process.poll() is not None:
                    pytest.fail(f"JupyterLab exited:\n{(home / 'lab.log').read_text()[-3000:]}")
                time.sleep(0.5)
        else:
            pytest.fail(f"JupyterLab did not start:\n{(home / 'lab.log').read_text()[-3000:]}")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def test_exercise_renders_with_its_solution_collapsed(lab):
    from playwright.sync_api import sync_playwright

    from test_book import CHROMIUM_ARGS

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{lab}/lab/tree/{CHAPTER}", wait_until="domcontentloaded")
        page.wait_for_selector(".jp-Notebook .jp-MarkdownCell", timeout=120_000)
        exercise = page.locator(".jp-MarkdownCell .myst aside.myst-exercise").first
        exercise.wait_for(timeout=60_000)
        exercise.scroll_into_view_if_needed()
        assert exercise.locator(".myst-exercise-title").inner_text().startswith("Exercise 1")
        assert ":::" not in exercise.inner_text()  # rendered, not raw markup
        solution = page.locator(".jp-MarkdownCell .myst details.myst-exercise", has_text="Solution to").first
        solution.wait_for(state="attached", timeout=60_000)
        solution.scroll_into_view_if_needed()
        body = solution.locator(".details-body")
        assert solution.get_attribute("open") is None
        assert not body.is_visible()  # the solution's code is folded away
        solution.locator("summary").click()
        body.wait_for(state="visible", timeout=10_000)
        assert "check_" in body.inner_text()  # the solution ends with its self-check
        browser.close()


def test_pinned_jupyterlab_myst_is_compatible_with_the_pinned_jupyterlab():
    """``jupyter labextension list`` flags an extension whose shared packages clash with the lab's
    (jupyterlab-myst 2.7.0 needs ``@jupyter/ydoc`` 3, which JupyterLab 4.5 ships and 4.6 does not)."""
    jupyter = Path(sys.executable).with_name("jupyter")
    listing = subprocess.run([str(jupyter), "labextension", "list"], capture_output=True, text=True,
                             env={**os.environ, "NO_COLOR": "1"})
    text = listing.stdout + listing.stderr
    assert listing.returncode == 0, text
    assert "jupyterlab-myst v2" in text, text
    assert "not compatible" not in text, text
