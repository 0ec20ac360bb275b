"""Headless Debian chromium for the report page's test: the page's DOM after rendering, and a screenshot.

Without chromium the test skips, saying why, unless AFTERSALES_REQUIRE_BROWSER=1 makes that a
failure. Every launch has a timeout that kills the browser and its helper processes.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest

REQUIRE = "AFTERSALES_REQUIRE_BROWSER"
TIMEOUT_SECONDS = 90
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium() -> str:
    found = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if found is None:
        reason = "no chromium to load the report page (apt-get install -y chromium)"
        if os.environ.get(REQUIRE) == "1":
            pytest.fail(f"a browser is required ({REQUIRE}=1) but there is {reason}")
        pytest.skip(reason)
    return found


def _run(*args: str) -> str:
    with tempfile.TemporaryDirectory(prefix="aftersales-chromium-") as profile:
        command = [chromium(), *FLAGS, f"--user-data-dir={profile}", *args]
        # Its own process group: a timeout kills the browser's helpers too.
        browser = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        try:
            out, err = browser.communicate(timeout=TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(browser.pid, signal.SIGKILL)
            browser.communicate()
            pytest.fail(f"chromium did not finish within {TIMEOUT_SECONDS} s")
        assert browser.returncode == 0, err.decode(errors="replace")[-2000:]
        return out.decode("utf-8", errors="replace")


def dump_dom(page: Path) -> str:
    return _run("--dump-dom", page.as_uri())


def screenshot(page: Path, png: Path) -> bytes:
    _run(f"--screenshot={png}", "--window-size=1280,2000", page.as_uri())
    return png.read_bytes()
