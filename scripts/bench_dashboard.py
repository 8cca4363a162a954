#!/usr/bin/env python3
"""The dashboard's benchmarks against a real `slipway serve` (release
build), a real engine and a real Chromium, all on loopback. Not a test:
results go to docs/benchmarks.md. Run through scripts/bench-dashboard.sh."""

import json
import os
import random
import shutil
import socket
import sqlite3
import subprocess
import sys
import tarfile
import io
import tempfile
import threading
import time
import urllib.request

SLIPWAY = sys.argv[1]
TOKEN = "bench-admin-token-0123456789"
RELEASES = 10_000
work = tempfile.mkdtemp(prefix="slipway-bench-dash-")
env = dict(os.environ, SLIPWAY_CACHE_DIR=f"{work}/cache", SLIPWAY_ADMIN_TOKEN=TOKEN)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data):
    port = free_port()
    log = open(f"{work}/server.log", "a")
    process = subprocess.Popen([SLIPWAY, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data],
                               env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(f"{url}/healthz")
            return url, process
        except OSError:
            time.sleep(0.05)
    raise SystemExit("the server did not start")


def request(url, method="GET", body=None, cookie=True, content_type="application/json"):
    r = urllib.request.Request(url, data=body, method=method)
    if cookie:
        r.add_header("Cookie", f"slipway_session={TOKEN}")
    r.add_header("Authorization", f"Bearer {TOKEN}")
    if body is not None:
        r.add_header("Content-Type", content_type)
    with urllib.request.urlopen(r) as response:
        return response.read()


def timed(url, n=200, cookie=True):
    times = []
    for _ in range(n):
        t = time.perf_counter()
        request(url, cookie=cookie)
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return times[len(times) // 2], times[int(len(times) * 0.99) - 1]


def webdriver(base, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    r = urllib.request.Request(f"{base}{path}", data=data, method=method)
    r.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(r, timeout=120) as response:
        return json.loads(response.read())["value"]


def tar_of(dockerfile):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        data = dockerfile.encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


processes = []
try:
    data = f"{work}/data"
    url, server = start_server(data)
    request(f"{url}/api/v1/apps", "POST", json.dumps({"name": "bench", "device_types": ["intel-nuc"]}).encode())
    request(f"{url}/api/v1/apps", "POST", json.dumps({"name": "other", "device_types": ["raspberrypi4-64"]}).encode())
    server.terminate()
    server.wait()

    # 10,000 releases, written straight into the store while the server is down.
    db = sqlite3.connect(f"{data}/releases.sqlite")
    now = int(time.time() * 1000)
    statuses = ["success"] * 8 + ["failed", "cancelled"]
    rows = []
    for i in range(RELEASES):
        app = "bench" if i % 4 else "other"
        started = now - (RELEASES - i) * 60_000
        rows.append((f"{i:032x}", app, f"{random.getrandbits(160):040x}", random.choice(["git", "tar"]),
                     random.choice(statuses), json.dumps(["intel-nuc" if app == "bench" else "raspberrypi4-64"]),
                     started, started + 45_000, "version: '2'\nservices:\n  main:\n    build: .\n"))
    db.executemany("INSERT INTO releases (hash, app, commit_sha, source, status, device_types, started_at_ms, "
                   "ended_at_ms, composition) VALUES (?,?,?,?,?,?,?,?,?)", rows)
    db.commit()
    db.close()
    url, server = start_server(data)
    processes.append(server)

    print(f"## releases page, {RELEASES:,} releases (server time seen by a loopback client, 200 requests each)")
    for name, path, cookie in [
        ("GET /healthz (constant route)", "/healthz", False),
        ("GET /releases (newest 50)", "/releases", True),
        ("GET /releases?status=failed", "/releases?status=failed", True),
        ("GET /releases?app=bench&since=2026-01-01", "/releases?app=bench&since=2026-01-01", True),
        ("GET /releases?cursor=200 (deep page)", "/releases?cursor=200", True),
        ("GET /api/v1/releases (JSON, newest 50)", "/api/v1/releases", True),
    ]:
        p50, p99 = timed(f"{url}{path}", cookie=cookie)
        print(f"  {name:44} p50 {p50:6.2f} ms   p99 {p99:6.2f} ms")

    print("## page weight (uncompressed, nothing cached)")
    html = request(f"{url}/releases")
    css = request(f"{url}/static/app.css", cookie=False)
    js = request(f"{url}/static/app.js", cookie=False)
    print(f"  /releases HTML {len(html):,} B + app.css {len(css):,} B + app.js {len(js):,} B = {len(html) + len(css) + len(js):,} B")

    print("## log line latency: RUN prints a wall-clock stamp; the page (Chromium) and a plain HTTP client stamp its arrival")
    port = free_port()
    driver = subprocess.Popen(["chromedriver", f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    processes.append(driver)
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(f"{base}/status")
            break
        except OSError:
            time.sleep(0.05)
    session = webdriver(base, "POST", "/session", {"capabilities": {"alwaysMatch": {"goog:chromeOptions": {
        "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]}}}})["sessionId"]
    s = f"/session/{session}"
    webdriver(base, "POST", f"{s}/url", {"url": f"{url}/signin"})
    webdriver(base, "POST", f"{s}/cookie", {"cookie": {"name": "slipway_session", "value": TOKEN}})
    stamp = "adjtimex | awk '/tv_sec/{s=$2}/tv_usec/{u=$2}END{printf \"MARK %d%06d\\n\", s, u}'"
    page_delays, client_delays = [], []
    for round_ in range(3):
        dockerfile = f"FROM busybox:slipway-amd64\nRUN echo {time.time_ns()} && for i in $(seq 100); do {stamp}; sleep 0.05; done\n"
        upload = threading.Thread(target=request, args=(f"{url}/api/v1/apps/bench/releases", "POST", tar_of(dockerfile)),
                                  kwargs={"content_type": "application/x-tar"})
        upload.start()
        live = None
        for _ in range(600):
            listed = json.loads(request(f"{url}/api/v1/releases?app=bench&status=running"))
            if listed["releases"]:
                live = listed["releases"][0]["id"]
                break
            time.sleep(0.02)
        # A plain client on the same stream, beside the page.
        def follow():
            r = urllib.request.Request(f"{url}/releases/{live}/events")
            r.add_header("Cookie", f"slipway_session={TOKEN}")
            with urllib.request.urlopen(r) as response:
                for line in response:
                    arrived = time.time_ns() // 1000
                    text = line.decode(errors="replace")
                    if text.startswith("data: ") and "MARK " in text and "RUN" not in text:
                        client_delays.append((arrived - int(text.split("MARK ")[1].split()[0])) / 1000)
                    if text.startswith("event: done"):
                        return
        client = threading.Thread(target=follow)
        client.start()
        webdriver(base, "POST", f"{s}/url", {"url": f"{url}/releases/{live}"})
        webdriver(base, "POST", f"{s}/execute/sync", {"script": """
            window.delays = [];
            new MutationObserver(function (changes) {
              var now = Date.now() * 1000 + Math.round((performance.now() % 1) * 1000);
              changes.forEach(function (c) { c.addedNodes.forEach(function (n) {
                var m = /MARK (\\d+)/.exec(n.textContent || "");
                if (m && n.textContent.indexOf("RUN") < 0) window.delays.push((now - Number(m[1])) / 1000);
              }); });
            }).observe(document.getElementById("live-log"), {childList: true});""", "args": []})
        upload.join()
        client.join()
        time.sleep(0.3)
        page_delays += webdriver(base, "POST", f"{s}/execute/sync", {"script": "return window.delays || [];", "args": []})
        # The page reloads itself when the build ends: the next round opens its own.
    for name, values in [("engine -> Chromium page (SSE, DOM)", page_delays), ("engine -> plain HTTP client (same SSE)", client_delays)]:
        values = sorted(values)
        if not values:
            print(f"  {name}: no lines seen")
            continue
        p = lambda q: values[min(len(values) - 1, int(q * len(values)))]
        print(f"  {name:42} p50 {p(0.5):6.1f} ms   p90 {p(0.9):6.1f} ms   p99 {p(0.99):6.1f} ms   ({len(values)} lines)")
    webdriver(base, "DELETE", s)
    release_page = request(f"{url}/releases/{live}")
    print(f"## page weight of a built release's page (/releases/{live}, its build log inline): {len(release_page):,} B")
finally:
    for process in processes:
        process.terminate()
    shutil.rmtree(work, ignore_errors=True)
