"""report.html in real headless Chromium (SPEC §7.7): plots render, nothing fetched, no errors.

Chromium is driven over the DevTools protocol with the `websockets` client: the page's console,
its exceptions, its log (where a Content-Security-Policy violation would show) and every network
request it makes are recorded while it loads, then a full-page screenshot is taken. Set
XMARGIN_ARTIFACTS to a folder to keep the screenshot.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.reports import render_report
from pipeline.reports.sample import write_sample_folder

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else None
)
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",
)
PLOT_IDS = (
    "plot-requirement-vs-equity",
    "plot-r-applied",
    "plot-dv01",
    "plot-xm-savings",
    "plot-reserve-waterfall-customer",
    "plot-reserve-waterfall-pab",
)
WIDTH = 1400


class Cdp:
    """A minimal DevTools protocol client: numbered calls, events buffered as they arrive."""

    def __init__(self, url: str) -> None:
        from websockets.sync.client import connect

        # proxy=None: a proxy from the environment must never see a loopback DevTools socket.
        self.ws = connect(url, proxy=None, max_size=None, open_timeout=30)
        self.events: list[dict[str, Any]] = []
        self._id = 0

    def _recv(self, deadline: float) -> dict[str, Any]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no message from Chromium in time")
        message: dict[str, Any] = json.loads(self.ws.recv(timeout=remaining))
        return message

    def call(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None
    ) -> dict[str, Any]:
        self._id += 1
        request: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if session:
            request["sessionId"] = session
        self.ws.send(json.dumps(request))
        deadline = time.monotonic() + 60
        while True:
            message = self._recv(deadline)
            if message.get("id") == self._id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            self.events.append(message)

    def wait_for(self, method: str, timeout: float = 60) -> dict[str, Any]:
        for event in self.events:
            if event.get("method") == method:
                return event
        deadline = time.monotonic() + timeout
        while True:
            message = self._recv(deadline)
            self.events.append(message)
            if message.get("method") == method:
                return message

    def of(self, method: str) -> list[dict[str, Any]]:
        return [e.get("params", {}) for e in self.events if e.get("method") == method]

    def close(self) -> None:
        self.ws.close()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Cdp]:
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install chromium); .ci/run installs it")
    profile = tmp_path / "profile"
    log_path = tmp_path / "chromium.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    try:
        # Chromium writes the chosen port and the browser socket path once it listens.
        active = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (active.is_file() and len(active.read_text().split()) >= 2):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"chromium did not start: {log_path.read_text(errors='replace')}")
            time.sleep(0.1)
        port, path = active.read_text().split()[:2]
        cdp = Cdp(f"ws://127.0.0.1:{port}{path}")
        try:
            yield cdp
        finally:
            cdp.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)


def _evaluate(cdp: Cdp, session: str, expression: str) -> Any:
    result = cdp.call(
        "Runtime.evaluate", {"expression": expression, "returnByValue": True}, session
    )
    if "exceptionDetails" in result:
        raise AssertionError(f"page script failed: {result['exceptionDetails']}")
    return result["result"]["value"]


def test_report_renders_offline_with_every_plot(browser: Cdp, tmp_path: Path) -> None:
    import base64

    folder = write_sample_folder(tmp_path / "out", n_accounts=5000)
    page_url = render_report(folder).resolve().as_uri()

    target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = browser.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
        "sessionId"
    ]
    for domain in ("Page", "Runtime", "Log", "Network"):
        browser.call(f"{domain}.enable", {}, session)
    browser.call(
        "Emulation.setDeviceMetricsOverride",
        {"width": WIDTH, "height": 1000, "deviceScaleFactor": 1, "mobile": False},
        session,
    )
    browser.call("Page.navigate", {"url": page_url}, session)
    browser.wait_for("Page.loadEventFired")

    plots = _evaluate(
        browser,
        session,
        "JSON.stringify(Array.from(document.querySelectorAll('svg.plot')).map(s => "
        "[s.id, Math.round(s.getBoundingClientRect().width), s.querySelectorAll("
        "'circle,rect,line').length]))",
    )
    rendered = {pid: (width, marks) for pid, width, marks in json.loads(plots)}
    for pid in PLOT_IDS:
        assert pid in rendered, f"plot {pid} missing; found {sorted(rendered)}"
        width, marks = rendered[pid]
        assert width > 300, f"{pid} is {width}px wide"
        assert marks > 3, f"{pid} draws only {marks} marks"
    circles = _evaluate(
        browser, session, "document.querySelectorAll('#plot-requirement-vs-equity circle').length"
    )
    assert circles == 3000
    headline = _evaluate(
        browser,
        session,
        "[document.getElementById('fig-total-maintenance').textContent,"
        " document.getElementById('fig-total-maintenance').dataset.value]",
    )
    whole, cents = headline[1].split(".")
    assert headline[0] == f"${int(whole):,}.{cents}"

    height = browser.call("Page.getLayoutMetrics", {}, session)["cssContentSize"]["height"]
    shot = browser.call(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": WIDTH, "height": height, "scale": 1},
        },
        session,
    )
    png = base64.b64decode(shot["data"])
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(png) > 50_000
    (tmp_path / "report.png").write_bytes(png)
    artifacts = os.environ.get("XMARGIN_ARTIFACTS")
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        (Path(artifacts) / "report.png").write_bytes(png)

    console = [
        e for e in browser.of("Runtime.consoleAPICalled") if e.get("type") in {"error", "warning"}
    ]
    assert console == []
    assert browser.of("Runtime.exceptionThrown") == []
    # A blocked fetch (the page's Content-Security-Policy) would be logged here.
    logged = [
        e["entry"]
        for e in browser.of("Log.entryAdded")
        if e["entry"].get("level") in {"error", "warning"}
    ]
    assert logged == []
    requested = {e["request"]["url"] for e in browser.of("Network.requestWillBeSent")}
    assert requested == {page_url}
