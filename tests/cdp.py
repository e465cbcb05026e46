"""Headless Chromium driven over the DevTools protocol on a pipe, for tests that use a report as a person does.

Why this and not playwright or selenium: Chromium is already what the report tests render with (Debian's
``chromium``); ``--remote-debugging-pipe`` speaks the DevTools protocol as NUL-terminated JSON on its fds
3 and 4, so a page can be loaded, typed into and read back with the standard library.  playwright would
bring its own node driver and a browser build it expects to download; selenium needs a chromedriver
matched to the browser's version.  Neither adds anything these tests use.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path


class CdpError(RuntimeError):
    pass


class Chromium:
    def __init__(self, profile: Path, width: int = 1280, height: int = 1000):
        browser = shutil.which("chromium") or shutil.which("chromium-browser")
        if not browser:
            raise CdpError("chromium not installed: run ci/setup.sh --tests")
        to_browser, self._w = os.pipe()
        self._r, from_browser = os.pipe()
        # out of the way of 3 and 4 before putting them there in the child
        fds = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_browser, from_browser)]
        for fd in (to_browser, from_browser):
            os.close(fd)

        def child_fds() -> None:
            os.dup2(fds[0], 3)
            os.dup2(fds[1], 4)

        self.proc = subprocess.Popen(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", f"--window-size={width},{height}", "about:blank"],
            preexec_fn=child_fds, pass_fds=(3, 4), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        for fd in fds:
            os.close(fd)
        self._buf = b""
        self._id = 0
        self._events: list[dict] = []
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.call("Page.enable", session=True)
        self.call("Runtime.enable", session=True)

    def _read(self, timeout: float) -> dict:
        end = time.monotonic() + timeout
        while b"\0" not in self._buf:
            left = end - time.monotonic()
            if left <= 0 or not select.select([self._r], [], [], left)[0]:
                raise CdpError("no answer from chromium")
            chunk = os.read(self._r, 1 << 20)
            if not chunk:
                raise CdpError("chromium closed the pipe")
            self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method: str, session: bool = False, timeout: float = 60, **params) -> dict:
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params}
        if session:
            msg["sessionId"] = self.session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        while True:
            m = self._read(timeout)
            if m.get("id") == self._id:
                if "error" in m:
                    raise CdpError(f"{method}: {m['error']}")
                return m.get("result", {})
            self._events.append(m)

    def eval(self, expression: str):
        r = self.call("Runtime.evaluate", session=True, expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise CdpError(f"{expression}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def open(self, url: str, ready: str = "document.body && document.body.dataset.ready", timeout: float = 120) -> float:
        """Load ``url``; returns the seconds until ``ready`` (a JS expression) is truthy."""
        t0 = time.monotonic()
        self.call("Page.navigate", session=True, url=url)
        while time.monotonic() - t0 < timeout:
            try:
                if self.eval(ready):
                    return time.monotonic() - t0
            except CdpError:
                pass  # the new document is not there yet
            time.sleep(0.05)
        raise CdpError(f"{url}: not ready after {timeout} s")

    def type(self, selector: str, text: str) -> None:
        """Focus the field and type ``text`` as keyboard input (the page sees its input events)."""
        self.eval(f"document.querySelector({json.dumps(selector)}).focus()")
        self.call("Input.insertText", session=True, text=text)

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=10)
        except (CdpError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._r, self._w):
            try:
                os.close(fd)
            except OSError:
                pass
