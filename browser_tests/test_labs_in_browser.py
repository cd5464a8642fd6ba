"""The labs in a real browser: JupyterLab from the project's venv, driven by Playwright in headless Chromium.

For each lab: open it, run all cells, wait for the kernel, check that no cell shows an error and every widget
rendered, then move the lab's main control and check, pixel by pixel, that the explorer's image changed.
Screenshots of the explorer before and after go to artifacts/browser/ (git-ignored).

Run with `make test-browser` (it installs Chromium and Playwright first). Not part of `make test`.
"""
from __future__ import annotations

import io
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

playwright = pytest.importorskip("playwright.sync_api", reason="run `make test-browser` to install Playwright")

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "artifacts" / "browser"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
RUN_ALL_TIMEOUT_S = 240

# The main control of each lab: the slider (by its label) of an ImageExplorer, and the value to type into it.
MAIN_CONTROL = {
    "1_sampling": ("frame", "20"),         # scrub the stored trajectory from x_T to a late frame
    "2_training": ("t", "250"),            # the forward process: noise the sprites up to t = 250
    "3_context": ("guidance", "0"),        # guidance 0: the unconditional samples
    "4_fast_sampling": ("DDIM steps", "2"),  # 2 DDIM steps instead of 25
    "5_beyond": ("NFE", "3"),              # the sampler arena at 3 model evaluations instead of 7
}
MIN_CHANGED_PIXELS = 0.02  # share of the image's pixels that must change (sprites + background)
MIN_TRACK_PX = 100  # a slider squeezed narrower than this can hardly be dragged


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


@pytest.fixture(scope="session")
def jupyter(tmp_path_factory):
    """JupyterLab on 127.0.0.1 with a random port and token, serving a copy of labs/, with throw-away
    settings (no news pop-up, no autosave). Stopped at the end whatever happens."""
    home = tmp_path_factory.mktemp("jupyter")
    root = home / "labs"
    shutil.copytree(ROOT / "labs", root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    settings = home / "settings"
    for plugin, value in {"apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False,
                                                              "doNotDisturbMode": True},
                          "docmanager-extension/plugin": {"autosave": False}}.items():
        path = settings / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_RUNTIME_DIR=str(home / "runtime"),
               JUPYTERLAB_SETTINGS_DIR=str(settings), JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"))
    port, token = free_port(), secrets.token_hex(16)
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
           f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={root}", "--expose-app-in-browser"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    log = open(home / "server.log", "w")
    server = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {server.returncode}: {(home / 'server.log').read_text()}")
            try:
                get_json(f"{base}/api/status?token={token}")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("JupyterLab did not answer within 60 s: " + (home / "server.log").read_text())
                time.sleep(0.5)
        yield base, token
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: install the Debian package `chromium` (make test-browser does)")
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        try:
            yield chromium
        finally:
            chromium.close()


def delete_sessions(base: str, token: str) -> None:
    """Shut down the kernels of earlier labs, so that each lab starts a fresh one."""
    for session in get_json(f"{base}/api/sessions?token={token}"):
        request = urllib.request.Request(f"{base}/api/sessions/{session['id']}?token={token}", method="DELETE")
        urllib.request.urlopen(request, timeout=10).close()


def wait_for_kernel_idle(page, timeout_s: float = 120) -> None:
    page.wait_for_function(
        """() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
                   const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
                   return !!k && k.connectionStatus === 'connected' && k.status === 'idle'; }""",
        timeout=timeout_s * 1000, polling=250)


def image_pixels(element) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(element.screenshot())).convert("RGB")).astype(np.int16)


def wait_for_new_image(page, image, old_src: str, what: str, timeout_s: float = 60) -> None:
    """Wait until the kernel has sent a new picture and the browser has decoded it."""
    try:
        page.wait_for_function(
            "([img, old]) => img.src !== old && img.complete && img.naturalWidth > 0",
            arg=[image.element_handle(), old_src], timeout=timeout_s * 1000, polling=100)
    except playwright.TimeoutError:
        pytest.fail(f"{what}: no new image arrived within {timeout_s:.0f} s")


@pytest.mark.parametrize("lab", list(MAIN_CONTROL))
def test_lab_runs_and_its_widget_redraws(lab, jupyter, browser):
    base, token = jupyter
    delete_sessions(base, token)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(f"{base}/lab/tree/{lab}.ipynb?token={token}&reset", timeout=60_000)
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
        wait_for_kernel_idle(page)

        page.evaluate("""() => { window.__done = undefined;
            window.jupyterapp.commands.execute('notebook:run-all-cells')
                .then(r => { window.__done = r; }, e => { window.__done = 'error: ' + e; }); }""")
        page.wait_for_function("() => window.__done !== undefined", timeout=RUN_ALL_TIMEOUT_S * 1000, polling=500)
        done = page.evaluate("() => window.__done")
        wait_for_kernel_idle(page)
        errors = page.locator(".jp-OutputArea-output").filter(has_text="Traceback").all_inner_texts()
        assert done is True and not errors, f"{lab}: a cell failed (run-all returned {done!r}): {errors[:1]}"
        broken = page.get_by_text("Error displaying widget").count() + page.get_by_text("Loading widget...").count()
        assert broken == 0, f"{lab}: {broken} widget(s) did not render (is jupyterlab_widgets installed?)"

        label, value = MAIN_CONTROL[lab]
        slider = page.locator(".widget-slider").filter(
            has=page.locator(".widget-label", has_text=re.compile(f"^{re.escape(label)}$")))
        assert slider.count() >= 1, f"{lab}: no slider labelled {label!r} was rendered"
        track = slider.first.locator(".slider-container").bounding_box()  # None when not rendered
        width = track["width"] if track else 0.0
        assert width >= MIN_TRACK_PX, f"{lab}: the {label!r} slider's track is {width:.0f} px wide, too narrow to drag"
        explorer = page.locator(".widget-vbox").filter(has=slider.first).last
        image = explorer.locator("img.widget-image").first
        explorer.scroll_into_view_if_needed()
        image.wait_for(state="visible", timeout=30_000)
        before, old_src = image_pixels(image), image.get_attribute("src")
        explorer.screenshot(path=str(SCREENSHOTS / f"{lab}_before.png"))
        shown = image.evaluate("img => [img.clientWidth, img.clientHeight, img.naturalWidth, img.naturalHeight, "
                               "getComputedStyle(img).imageRendering]")
        assert shown[:2] == shown[2:4] and shown[4] == "pixelated", (
            f"{lab}: the picture is drawn at {shown[0]}x{shown[1]} px for {shown[2]}x{shown[3]} px of pixel art "
            f"(image-rendering {shown[4]}): it must show at its own size, never smoothed")

        readout = slider.first.locator(".widget-readout")
        readout.click()
        page.keyboard.press("Control+A")
        page.keyboard.type(value)
        page.keyboard.press("Enter")
        wait_for_new_image(page, image, old_src, f"{lab}: after moving {label!r} to {value}")
        wait_for_kernel_idle(page)
        after = image_pixels(image)
        explorer.screenshot(path=str(SCREENSHOTS / f"{lab}_after.png"))

        assert before.shape == after.shape, f"{lab}: the image changed size {before.shape} -> {after.shape}"
        changed = (np.abs(before - after).max(axis=2) > 8).mean()
        assert changed >= MIN_CHANGED_PIXELS, (
            f"{lab}: moving {label!r} to {value} changed only {changed:.1%} of the image's pixels")
    finally:
        page.close()
