"""Headless Chromium over the DevTools protocol, for the pages' browser tests (SPEC §7.7, §10.10).

Chromium is driven with the `websockets` client: the page's console, its exceptions, its log
(where a Content-Security-Policy violation would show) and every network request it makes are
recorded while it loads. `open_page` loads a file and `assert_clean_and_offline` checks that
nothing was fetched and nothing complained.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

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


@contextmanager
def launch(tmp_path: Path) -> Iterator[Cdp]:
    """Start Chromium with a fresh profile under `tmp_path` and connect to it."""
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


def evaluate(cdp: Cdp, session: str, expression: str) -> Any:
    """The value of a JavaScript expression in the page; a script error fails the test."""
    result = cdp.call(
        "Runtime.evaluate", {"expression": expression, "returnByValue": True}, session
    )
    if "exceptionDetails" in result:
        raise AssertionError(f"page script failed: {result['exceptionDetails']}")
    return result["result"]["value"]


def open_page(cdp: Cdp, url: str, width: int = WIDTH) -> str:
    """Load `url` in a new tab recording console, log and network; its session id, once loaded."""
    target = cdp.call("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = cdp.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    for domain in ("Page", "Runtime", "Log", "Network"):
        cdp.call(f"{domain}.enable", {}, session)
    cdp.call(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": 1000, "deviceScaleFactor": 1, "mobile": False},
        session,
    )
    cdp.call("Page.navigate", {"url": url}, session)
    cdp.wait_for("Page.loadEventFired")
    return session


def plots(cdp: Cdp, session: str) -> dict[str, tuple[int, int]]:
    """Each `svg.plot` of the page: id -> (rendered width in px, number of drawn marks)."""
    found = evaluate(
        cdp,
        session,
        "JSON.stringify(Array.from(document.querySelectorAll('svg.plot')).map(s => "
        "[s.id, Math.round(s.getBoundingClientRect().width), s.querySelectorAll("
        "'circle,rect,line,polyline,path').length]))",
    )
    return {pid: (width, marks) for pid, width, marks in json.loads(found)}


def assert_plots_drawn(cdp: Cdp, session: str, plot_ids: tuple[str, ...]) -> None:
    """Every named plot is on the page, wider than 300 px, and draws more than three marks."""
    rendered = plots(cdp, session)
    for pid in plot_ids:
        assert pid in rendered, f"plot {pid} missing; found {sorted(rendered)}"
        width, marks = rendered[pid]
        assert width > 300, f"{pid} is {width}px wide"
        assert marks > 3, f"{pid} draws only {marks} marks"


def screenshot(cdp: Cdp, session: str, width: int = WIDTH) -> bytes:
    """The whole page as PNG bytes."""
    import base64

    height = cdp.call("Page.getLayoutMetrics", {}, session)["cssContentSize"]["height"]
    shot = cdp.call(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
        },
        session,
    )
    png = base64.b64decode(shot["data"])
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    return png


def assert_clean_and_offline(cdp: Cdp, url: str) -> None:
    """No console error or warning, no exception, no log complaint, no request but the page."""
    console = [
        e for e in cdp.of("Runtime.consoleAPICalled") if e.get("type") in {"error", "warning"}
    ]
    assert console == []
    assert cdp.of("Runtime.exceptionThrown") == []
    # A blocked fetch (the page's Content-Security-Policy) would be logged here.
    logged = [
        e["entry"]
        for e in cdp.of("Log.entryAdded")
        if e["entry"].get("level") in {"error", "warning"}
    ]
    assert logged == []
    requested = {e["request"]["url"] for e in cdp.of("Network.requestWillBeSent")}
    assert requested == {url}
