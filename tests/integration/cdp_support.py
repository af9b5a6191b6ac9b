"""Headless Chromium driven over the DevTools protocol (aiohttp websockets, no extra package):
open a page, collect console errors, exceptions and failed loads, evaluate, screenshot."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from typing import Any

import aiohttp

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


def chromium_path() -> str | None:
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class PageReport:
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    png: bytes = b""
    values: dict[str, Any] = field(default_factory=dict)


class _Session:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse, report: PageReport) -> None:
        self.ws = ws
        self.report = report
        self.next_id = 0
        self.pending: dict[int, asyncio.Future] = {}
        self.loaded = asyncio.Event()
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            data = msg.json()
            if "id" in data:
                fut = self.pending.pop(data["id"], None)
                if fut is not None and not fut.done():
                    fut.set_result(data)
                continue
            method, params = data.get("method"), data.get("params", {})
            if method == "Page.loadEventFired":
                self.loaded.set()
            elif method == "Runtime.exceptionThrown":
                self.report.errors.append(f"exception: {params['exceptionDetails']}")
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error",
                                                                                   "assert"):
                self.report.errors.append(f"console.{params['type']}: {params.get('args')}")
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                self.report.errors.append(f"log: {params['entry'].get('text')}")
            elif method == "Network.requestWillBeSent":
                self.report.requests.append(params["request"]["url"])
            elif method == "Network.loadingFailed":
                self.report.errors.append(f"load failed: {params.get('errorText')}")

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        self.pending[self.next_id] = fut
        await self.ws.send_json({"id": self.next_id, "method": method, "params": params})
        data = await asyncio.wait_for(fut, 60)
        if "error" in data:
            raise RuntimeError(f"{method}: {data['error']}")
        return data.get("result", {})


async def _open(url: str, width: int, height: int, expressions: dict[str, str]) -> PageReport:
    exe = chromium_path()
    assert exe, "chromium is not installed (apt-get install chromium; .ci/run does it)"
    profile = tempfile.mkdtemp(prefix="sp-chromium-")
    proc = subprocess.Popen(
        [exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-extensions", "--remote-debugging-port=0", f"--user-data-dir={profile}",
         f"--window-size={width},{height}", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, "LANG": "C"})
    report = PageReport()
    try:
        assert proc.stderr is not None
        ws_url = None
        loop = asyncio.get_running_loop()
        while ws_url is None:  # Chromium prints its endpoint when it is ready
            line = await asyncio.wait_for(loop.run_in_executor(None, proc.stderr.readline), 60)
            if not line:
                raise RuntimeError("chromium exited before it listened")
            m = re.search(rb"DevTools listening on (ws://\S+)", line)
            if m:
                ws_url = m[1].decode()
        port = re.search(r":(\d+)/", ws_url)[1]  # type: ignore[index]
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/json/list") as resp:
                pages = [t for t in await resp.json() if t["type"] == "page"]
            async with http.ws_connect(pages[0]["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                s = _Session(ws, report)
                for domain in ("Page", "Runtime", "Log", "Network"):
                    await s.call(f"{domain}.enable")
                await s.call("Page.navigate", url=url)
                await asyncio.wait_for(s.loaded.wait(), 60)
                for name, expr in expressions.items():
                    res = await s.call("Runtime.evaluate", expression=expr, returnByValue=True)
                    report.values[name] = res["result"].get("value")
                shot = await s.call("Page.captureScreenshot", format="png",
                                    captureBeyondViewport=True)
                report.png = base64.b64decode(shot["data"])
                s.reader.cancel()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(profile, ignore_errors=True)
    return report


def open_page(url: str, expressions: dict[str, str] | None = None, width: int = 1100,
              height: int = 1400) -> PageReport:
    return asyncio.run(_open(url, width, height, expressions or {}))
