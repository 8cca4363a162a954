#!/usr/bin/env python3
"""Device-state polls against a real `slipway serve` holding DEVICES
registered devices, every poll with its device's own key and a matching
ETag, beside the same server's constant 304 (`GET /healthz` with its ETag).
Load from wrk on the same 2 cores. Not a test: results go to
docs/benchmarks.md. Run through scripts/bench-fleet.sh."""

import http.client
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.request

SLIPWAY = sys.argv[1]
DEVICES = int(os.environ.get("DEVICES", "100000"))
SECONDS = os.environ.get("SECONDS_PER_RUN", "15")
TOKEN = "bench-admin-token-0123456789"
PORT = 18700
work = tempfile.mkdtemp(prefix="slipway-fleet-bench-")
server = subprocess.Popen(
    [SLIPWAY, "serve", "--listen", f"127.0.0.1:{PORT}", "--data-dir", f"{work}/data"],
    env=dict(os.environ, SLIPWAY_ADMIN_TOKEN=TOKEN, SLIPWAY_CACHE_DIR=f"{work}/cache"),
    stdout=subprocess.DEVNULL, stderr=open(f"{work}/serve.log", "w"))
url = f"http://127.0.0.1:{PORT}"


def rss():
    with open(f"/proc/{server.pid}/status") as f:
        return next(int(l.split()[1]) / 1024 for l in f if l.startswith("VmRSS:"))


def call(method, path, body=None, content_type="application/json", conn=None):
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", PORT)
    data = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else None)
    conn.request(method, path, body=data, headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": content_type})
    response = conn.getresponse()
    text = response.read()
    if own:
        conn.close()
    return response.status, text


try:
    for _ in range(300):
        try:
            urllib.request.urlopen(f"{url}/healthz")
            break
        except OSError:
            time.sleep(0.05)
    call("POST", "/api/v1/apps", {"name": "bench", "device_types": ["intel-nuc"]})
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        dockerfile = b"FROM busybox:slipway-amd64\nRUN echo bench\n"
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tar.addfile(info, io.BytesIO(dockerfile))
    status, text = call("POST", "/api/v1/apps/bench/releases", archive.getvalue(), "application/x-tar")
    summary = json.loads(text.decode().strip().splitlines()[-1])
    assert summary["release"]["status"] == "success", summary

    # Register the devices: 8 connections in parallel.
    started = time.monotonic()
    keys = [None] * DEVICES

    def register(part):
        conn = http.client.HTTPConnection("127.0.0.1", PORT)
        for i in range(part, DEVICES, 8):
            status, text = call("POST", "/api/v1/apps/bench/devices",
                                {"name": f"d{i}", "device_type": "intel-nuc", "tags": {"rack": str(i % 50)}}, conn=conn)
            assert status == 201, text
            keys[i] = json.loads(text)["device_key"]
    threads = [threading.Thread(target=register, args=(p,)) for p in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    print(f"registered {DEVICES} devices in {time.monotonic() - started:.1f} s; server RSS {rss():.0f} MiB")
    request = urllib.request.Request(f"{url}/api/v1/device/state", headers={"Authorization": f"Bearer {keys[0]}"})
    etag = urllib.request.urlopen(request).headers["ETag"]
    with open(f"{work}/keys.lua", "w") as f:
        f.write("keys = {\n" + ",\n".join(f'"{k}"' for k in keys) + "\n}\n")
    lua = f"""
dofile("{work}/keys.lua")
local n = 0
request = function()
  n = n + 1
  local key = keys[(n * 7919) % #keys + 1]
  return wrk.format("GET", "/api/v1/device/state", {{["Authorization"] = "Bearer " .. key, ["If-None-Match"] = '{etag}'}})
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %d %d %d\\n", summary.requests, summary.errors.status, latency:percentile(50), latency:percentile(99)))
end
"""
    with open(f"{work}/poll.lua", "w") as f:
        f.write(lua)
    constant = """
request = function()
  return wrk.format("GET", "/healthz", {["If-None-Match"] = '"ok"'})
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %d %d %d\\n", summary.requests, summary.errors.status, latency:percentile(50), latency:percentile(99)))
end
"""
    with open(f"{work}/constant.lua", "w") as f:
        f.write(constant)

    def wrk(script, path):
        out = subprocess.run(["wrk", "-t2", "-c64", f"-d{SECONDS}s", "--latency", "-s", script, f"{url}{path}"],
                             capture_output=True, text=True, check=True).stdout
        line = next(l for l in out.splitlines() if l.startswith("RESULT"))
        requests, bad, p50, p99 = map(int, line.split()[1:])
        return requests / float(SECONDS), bad, p50 / 1000, p99 / 1000

    # Every poll is a 304: check one.
    check = urllib.request.Request(f"{url}/api/v1/device/state", headers={"Authorization": f"Bearer {keys[12345 % DEVICES]}", "If-None-Match": etag})
    try:
        urllib.request.urlopen(check)
        raise SystemExit("expected 304")
    except urllib.error.HTTPError as e:
        assert e.code == 304, e.code
    wrk(f"{work}/poll.lua", "/api/v1/device/state")  # warm-up
    results = []
    for name, script, path in [("GET /api/v1/device/state (own key, matching ETag -> 304)", "poll.lua", "/api/v1/device/state"),
                               ("GET /healthz (constant ETag -> 304)", "constant.lua", "/healthz")]:
        rate, bad, p50, p99 = wrk(f"{work}/{script}", path)
        results.append(rate)
        print(f"  {name:58} {rate:9.0f} req/s   p50 {p50:6.2f} ms   p99 {p99:6.2f} ms   non-2xx/3xx {bad}")
    print(f"  ratio device state / constant route: {results[0] / results[1]:.2f}x")
    print(f"  server RSS after the runs: {rss():.0f} MiB ({DEVICES} devices)")
    status, text = call("GET", "/api/v1/apps/bench/events?limit=1")
finally:
    server.kill()
    subprocess.run(["rm", "-rf", work])
