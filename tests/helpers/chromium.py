"""Headless Chromium driven over the Chrome DevTools protocol (``--remote-debugging-pipe``):
load a page, collect console errors, exceptions and network requests, time the load,
evaluate JavaScript and take a screenshot. Skips where Debian's ``chromium`` is missing
(CI installs it with apt: .ci/run)."""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest


@dataclass
class PageLoad:
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    seconds: float = 0.0
    screenshot: bytes = b""
    values: dict[str, Any] = field(default_factory=dict)


def chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")
    return exe


class _Pipe:
    """CDP over ``--remote-debugging-pipe``: JSON messages separated by NUL bytes, commands
    on the browser's fd 3, replies and events from its fd 4."""

    def __init__(self, send_fd: int, recv_fd: int):
        self.send_fd, self.recv_fd, self.buffer = send_fd, recv_fd, b""

    def send(self, text: str) -> None:
        os.write(self.send_fd, text.encode() + b"\0")

    def recv(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.recv_fd], [], [], left)[0]:
                raise TimeoutError("chromium did not answer in time")
            chunk = os.read(self.recv_fd, 1 << 20)
            if not chunk:
                raise AssertionError("chromium closed its DevTools pipe")
            self.buffer += chunk
        message, _, self.buffer = self.buffer.partition(b"\0")
        return message.decode()


def load(page: Path, tmp: Path, *, checks: dict[str, str] | None = None, width: int = 1280,
         height: int = 2400, timeout: float = 60.0) -> PageLoad:
    """Open ``page`` (a file) in a fresh headless Chromium; ``checks``: name -> JavaScript
    expression, evaluated after the load event (their values in ``values``)."""
    to_child_r, to_child_w = os.pipe()
    from_child_r, from_child_w = os.pipe()

    def fds() -> None:  # the browser reads commands on fd 3 and answers on fd 4
        # copies above 10 first: a pipe may already sit at 3 or 4, and dup2 onto itself
        # would keep its close-on-exec flag
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_child_r, from_child_w)]
        os.dup2(high[0], 3)
        os.dup2(high[1], 4)

    proc = subprocess.Popen(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-extensions", "--disable-background-networking", "--remote-debugging-pipe",
         f"--user-data-dir={tmp / 'chromium-profile'}", f"--window-size={width},{height}", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=fds, close_fds=False)
    os.close(to_child_r)
    os.close(from_child_w)
    ws = _Pipe(to_child_w, from_child_r)
    try:
        out = PageLoad()
        ids = iter(range(1, 10**6))
        events: list[dict[str, Any]] = []

        def call(method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
            n = next(ids)
            msg: dict[str, Any] = {"id": n, "method": method, "params": params}
            if session:
                msg["sessionId"] = session
            ws.send(json.dumps(msg))
            while True:
                reply = json.loads(ws.recv(timeout))
                if reply.get("id") == n:
                    assert "error" not in reply, reply
                    return reply.get("result", {})
                events.append(reply)

        target = call("Target.createTarget", url="about:blank")["targetId"]
        session = call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            call(f"{domain}.enable", session)
        events.clear()
        start = time.perf_counter()
        call("Page.navigate", session, url=page.resolve().as_uri())
        while not any(e.get("method") == "Page.loadEventFired" for e in events):
            events.append(json.loads(ws.recv(timeout)))
        out.seconds = time.perf_counter() - start
        for name, expression in (checks or {}).items():
            res = call("Runtime.evaluate", session, expression=expression, returnByValue=True)
            out.values[name] = res.get("result", {}).get("value")
        shot = call("Page.captureScreenshot", session, format="png")
        out.screenshot = base64.b64decode(shot["data"])
        for e in events:
            method, params = e.get("method"), e.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                out.errors.append(json.dumps(params.get("args"))[:300])
            elif method == "Runtime.exceptionThrown":
                out.errors.append(json.dumps(params.get("exceptionDetails"))[:300])
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                out.errors.append(params["entry"].get("text", "")[:300])
            elif method == "Network.requestWillBeSent":
                req = params.get("request", {}).get("url", "")
                if not req.startswith(("data:", "file:")):
                    out.requests.append(req)
        return out
    finally:
        proc.kill()
        proc.wait()
        os.close(to_child_w)
        os.close(from_child_r)
