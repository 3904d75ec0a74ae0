#!/usr/bin/env python3
"""The HTML report in a real browser: Debian's headless Chromium, driven over the
DevTools protocol (python3-websocket).

scripts/report writes REPORT.html from the committed fixture; the page is opened
from disk and must load without a console error or an uncaught exception; every
chart must have rendered (the traces counted in the drawn SVG, against the number
worked out here from the results file); the picker and the overlay must change what
is drawn. Screenshots of the page go to MEMSTRAT_SCREENSHOTS (default: a folder in
the temporary directory), for a person to look at. The same for scripts/compare --html.

Without Chromium or python3-websocket the test fails and says to run
scripts/setup.sh --browser (what `make test` and CI call): it never skips.
"""
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
FIXTURE = os.path.join(ROOT, "tests", "fixtures", "results-small.json")
DISTURBED = os.path.join(ROOT, "tests", "fixtures", "results-disturbed.json")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]

try:
    import websocket
except ImportError:
    websocket = None


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class Browser:
    """One headless Chromium with one page, spoken to over the DevTools protocol."""

    def __init__(self, profile):
        self.proc = subprocess.Popen([chromium(), *FLAGS, "--remote-debugging-port=0", f"--user-data-dir={profile}",
                                      "--window-size=1280,900", "about:blank"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        port, deadline = None, time.time() + 60
        while port is None and time.time() < deadline:
            line = self.proc.stderr.readline()
            if not line and self.proc.poll() is not None:
                raise RuntimeError(f"chromium exited with {self.proc.returncode} before listening")
            m = re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line)
            port = int(m.group(1)) if m else None
        if port is None:
            raise RuntimeError("chromium did not say where DevTools listens within 60 s")
        pages = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30))
        page = next(p for p in pages if p.get("type") == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=60)
        self.next_id, self.events = 0, []
        for domain in ("Runtime", "Log", "Page"):
            self.call(f"{domain}.enable")

    def call(self, method, **params):
        self.next_id += 1
        mine = self.next_id
        self.ws.send(json.dumps({"id": mine, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == mine:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, method, seconds=60):
        deadline = time.time() + seconds
        while time.time() < deadline:
            if any(e.get("method") == method for e in self.events):
                return
            self.events.append(json.loads(self.ws.recv()))
        raise RuntimeError(f"no {method} within {seconds} s")

    def open(self, path):
        self.events.clear()
        self.call("Page.navigate", url="file://" + os.path.abspath(path))
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression):
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expression}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def errors(self):
        """Console errors, uncaught exceptions and error log entries seen since open()."""
        found = []
        for e in self.events:
            m, p = e.get("method"), e.get("params", {})
            if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                found.append("console: " + " ".join(str(a.get("value", a.get("description"))) for a in p["args"]))
            elif m == "Runtime.exceptionThrown":
                found.append("exception: " + json.dumps(p["exceptionDetails"])[:300])
            elif m == "Log.entryAdded" and p["entry"].get("level") == "error":
                found.append("log: " + p["entry"].get("text", ""))
        return found

    def screenshot(self, path, height):
        self.call("Emulation.setDeviceMetricsOverride", width=1280, height=int(height), deviceScaleFactor=1,
                  mobile=False)
        data = self.call("Page.captureScreenshot", format="png")["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def close(self):
        try:
            self.ws.close()
        finally:
            self.proc.kill()
            self.proc.wait()


def rendered_traces(browser, div):
    """Traces plotly actually drew into the div's SVG (bars, scatter lines and markers)."""
    return browser.evaluate(f"document.querySelectorAll('#{div} .plot .trace').length")


class ReportInBrowser(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        missing = [what for what, ok in (("chromium", chromium()), ("python3-websocket", websocket)) if not ok]
        if missing:
            raise RuntimeError(f"{', '.join(missing)} missing: run scripts/setup.sh --browser (make test does)")
        cls.work = tempfile.mkdtemp(prefix="memstrat-browser-")
        cls.shots = os.environ.get("MEMSTRAT_SCREENSHOTS") or os.path.join(cls.work, "screenshots")
        os.makedirs(cls.shots, exist_ok=True)
        cls.browser = Browser(os.path.join(cls.work, "profile"))

    @classmethod
    def tearDownClass(cls):
        cls.browser.close()
        shutil.rmtree(cls.work, ignore_errors=True)

    def report(self, results=FIXTURE):
        out = os.path.join(self.work, "REPORT.md")
        page = os.path.join(self.work, "REPORT.html")
        subprocess.run([os.path.join(ROOT, "scripts", "report"), results, "--out", out, "--html", page],
                       check=True, stdout=subprocess.DEVNULL)
        return page

    def test_report_loads_draws_every_chart_and_the_picker_redraws(self):
        from memstrat_charts.results import load
        results = load(FIXTURE)
        page = self.report()
        b = self.browser
        b.open(page)
        self.assertEqual(b.errors(), [])
        self.assertEqual(b.evaluate("window.memstratErrors.concat(window.memstrat.errors)"), [])
        workloads = list(results.workloads().values())
        self.assertGreater(len(workloads), 0)
        steps_drawn = 0
        for i, cells in enumerate(workloads):
            # One marker trace per cell with a time and a peak, and the front.
            ok = [c for c in cells if c.ok and c.get("step_ms") is not None and c.get("peak_rss_bytes") is not None]
            self.assertEqual(rendered_traces(b, f"pareto-{i}"), len(ok) + 1, f"pareto chart of workload {i}")
            with_step = [c for c in cells if c.step_timeline() is not None]
            if not with_step:
                self.assertFalse(b.evaluate(f"!!document.getElementById('step-{i}')"))
                continue
            steps_drawn += 1
            first = with_step[0]
            # Seven kinds stacked, RSS, and reserved where the allocator knows it.
            expected = 7 + 1 + (1 if "reserved_bytes" in first.step_timeline() else 0)
            self.assertEqual(rendered_traces(b, f"step-{i}"), expected, f"step chart of {first.name}")
            title = b.evaluate(f"document.querySelector('#step-{i} .gtitle').textContent")
            self.assertIn(first.strategy, title)
            if len(with_step) > 1:
                other = with_step[1]
                # The picker: another cell, another title and another RSS line.
                rss_before = b.evaluate(f"JSON.stringify(document.getElementById('step-{i}').data[7].y)")
                b.evaluate(f"(() => {{ const s = document.getElementById('cell-{i}'); s.value = {json.dumps(other.name)};"
                           f" s.dispatchEvent(new Event('change')); }})()")
                title = b.evaluate(f"document.querySelector('#step-{i} .gtitle').textContent")
                self.assertIn(other.strategy, title)
                self.assertNotEqual(b.evaluate(f"JSON.stringify(document.getElementById('step-{i}').data[7].y)"),
                                    rss_before)
                # The overlay: the first cell laid over the second adds its RSS and live lines.
                before = rendered_traces(b, f"step-{i}")
                b.evaluate(f"(() => {{ const box = document.querySelector('#overlay-{i} input[value=\"{first.name}\"]');"
                           f" box.checked = true; box.dispatchEvent(new Event('change')); }})()")
                self.assertEqual(rendered_traces(b, f"step-{i}"), before + 2)
        self.assertGreater(steps_drawn, 0, "the fixture has step timelines: some step chart must be drawn")
        if results.fit:
            self.assertEqual(rendered_traces(b, "fit-chart"), 3)
        self.assertEqual(b.errors(), [])
        height = b.evaluate("document.body.scrollHeight")
        b.screenshot(os.path.join(self.shots, "report.png"), min(height, 12000))
        print(f"screenshot: {os.path.join(self.shots, 'report.png')} ({height} px)", file=sys.stderr)

    def test_compare_page_draws_both_ratios(self):
        page = os.path.join(self.work, "compare.html")
        subprocess.run([os.path.join(ROOT, "scripts", "compare"), FIXTURE, DISTURBED, "--html", page],
                       check=True, stdout=subprocess.DEVNULL)
        b = self.browser
        b.open(page)
        self.assertEqual(b.errors(), [])
        self.assertEqual(rendered_traces(b, "compare-chart"), 2)
        points = b.evaluate("document.querySelectorAll('#compare-chart .scatterlayer .point').length")
        self.assertGreater(points, 0)
        b.screenshot(os.path.join(self.shots, "compare.png"), 700)

    def test_page_without_network(self):
        # Everything inlined: no script, stylesheet or image is fetched from anywhere.
        with open(self.report(), encoding="utf-8") as f:
            text = f.read()
        self.assertIsNone(re.search(r"<(script|link|img)[^>]+(src|href)=", text))


if __name__ == "__main__":
    unittest.main(verbosity=2)
