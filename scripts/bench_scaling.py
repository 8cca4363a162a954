#!/usr/bin/env python3
"""Scale-out benchmarks against real `slipway serve` processes: SQLite vs
PostgreSQL for the release list, one vs two API replicas for device polls,
one vs two builder replicas for build throughput. Load from wrk on the same
2 cores as the servers and the database. Run through scripts/bench-scaling.sh."""

import http.client
import io
import json
import os
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.request

SLIPWAY, ADMIN_URL = sys.argv[1], sys.argv[2]
RELEASES = int(os.environ.get("RELEASES", "100000"))
DEVICES = int(os.environ.get("DEVICES", "10000"))
BUILDS = int(os.environ.get("BUILDS", "6"))
SECONDS = os.environ.get("SECONDS_PER_RUN", "10")
TOKEN = "bench-admin-token-0123456789"
work = tempfile.mkdtemp(prefix="slipway-scaling-bench-")
servers = []
next_port = [18800]


def psql(database, sql):
    base = ADMIN_URL.rsplit("/", 1)[0]
    subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", f"{base}/{database}", "-c", sql],
                   check=True, stdout=subprocess.DEVNULL)


def fresh_database(name):
    psql("postgres", f"DROP DATABASE IF EXISTS {name}")
    psql("postgres", f"CREATE DATABASE {name}")
    return ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def serve(name, *extra):
    port = next_port[0]
    next_port[0] += 1
    process = subprocess.Popen(
        [SLIPWAY, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", f"{work}/{name}", *extra],
        env=dict(os.environ, SLIPWAY_ADMIN_TOKEN=TOKEN, SLIPWAY_CACHE_DIR=f"{work}/cache"),
        stdout=subprocess.DEVNULL, stderr=open(f"{work}/{name}.log", "w"))
    servers.append(process)
    for _ in range(600):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz")
            return port, process
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"{name} did not start: see {work}/{name}.log")


def stop(process):
    process.terminate()
    process.wait()


def call(port, method, path, body=None, content_type="application/json", conn=None):
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", port)
    data = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else None)
    conn.request(method, path, body=data, headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": content_type})
    response = conn.getresponse()
    text = response.read()
    if own:
        conn.close()
    return response.status, text


def wrk_script(name, lines):
    path = f"{work}/{name}.lua"
    with open(path, "w") as f:
        f.write(lines + """
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %d %d %d\\n", summary.requests, summary.errors.status, latency:percentile(50), latency:percentile(99)))
end
""")
    return path


def wrk(script, port, connections=32):
    return subprocess.Popen(["wrk", "-t1", f"-c{connections}", f"-d{SECONDS}s", "--latency", "-s", script,
                             f"http://127.0.0.1:{port}/"], stdout=subprocess.PIPE, text=True)


def result(process):
    out = process.communicate()[0]
    line = next(l for l in out.splitlines() if l.startswith("RESULT"))
    requests, bad, p50, p99 = map(int, line.split()[1:])
    return requests / float(SECONDS), bad, p50 / 1000, p99 / 1000


def show(name, rate, bad, p50, p99):
    print(f"  {name:62} {rate:8.0f} req/s   p50 {p50:6.2f} ms   p99 {p99:6.2f} ms   errors {bad}")


def tar(dockerfile):
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as t:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        t.addfile(info, io.BytesIO(dockerfile))
    return archive.getvalue()


def release_list():
    print(f"release list with {RELEASES} releases (GET /api/v1/releases?limit=50, and filtered by app and status)")
    rows = [(f"{i:032x}", f"app-{i % 20}", f"{i * 7919:040x}", "git", "failed" if i % 10 == 0 else "success",
             '["intel-nuc"]', 1_700_000_000_000 + i * 1000, 1_700_000_000_000 + i * 1000 + 5000, "")
            for i in range(1, RELEASES + 1)]
    port, process = serve("sqlite-list")
    stop(process)
    db = sqlite3.connect(f"{work}/sqlite-list/releases.sqlite")
    db.executemany("INSERT INTO releases (hash, app, commit_sha, source, status, device_types, started_at_ms,"
                   " ended_at_ms, composition) VALUES (?,?,?,?,?,?,?,?,?)", rows)
    db.commit()
    db.close()
    database = fresh_database("slipway_bench_list")
    port, process = serve("pg-list", "--database", database)
    psql("slipway_bench_list", f"""INSERT INTO releases (hash, app, commit_sha, source, status, device_types,
          started_at_ms, ended_at_ms, composition)
        SELECT lpad(to_hex(g), 32, '0'), 'app-' || (g % 20), lpad(to_hex(g * 7919), 40, '0'), 'git',
               CASE WHEN g % 10 = 0 THEN 'failed' ELSE 'success' END, '["intel-nuc"]',
               1700000000000 + g * 1000::BIGINT, 1700000000000 + g * 1000::BIGINT + 5000, ''
        FROM generate_series(1, {RELEASES}) g; ANALYZE releases;""")
    stop(process)
    auth = f'["Authorization"] = "Bearer {TOKEN}"'
    page = wrk_script("list", f'request = function() return wrk.format("GET", "/api/v1/releases?limit=50", {{{auth}}}) end')
    # app-10's releases are all failed (50 rows); app-3 has no failed one (an empty answer: the worst case for a scan).
    filtered = wrk_script("filtered", f'request = function() return wrk.format("GET", "/api/v1/releases?limit=50&app=app-10&status=failed", {{{auth}}}) end')
    empty = wrk_script("empty", f'request = function() return wrk.format("GET", "/api/v1/releases?limit=50&app=app-3&status=failed", {{{auth}}}) end')
    constant = wrk_script("constant", 'request = function() return wrk.format("GET", "/healthz") end')
    for name, extra in [("SQLite", []), ("PostgreSQL", ["--database", database])]:
        port, process = serve(f"{'sqlite' if not extra else 'pg'}-list", *extra)
        status, text = call(port, "GET", "/api/v1/releases?limit=50")
        assert status == 200 and len(json.loads(text)["releases"]) == 50, text[:200]
        result(wrk(page, port, 8))  # warm-up
        show(f"{name}: newest 50", *result(wrk(page, port, 8)))
        show(f"{name}: app + status filter, 50 rows", *result(wrk(filtered, port, 8)))
        show(f"{name}: app + status filter, no row", *result(wrk(empty, port, 8)))
        show(f"{name}: GET /healthz (constant route, same server)", *result(wrk(constant, port, 8)))
        stop(process)


def device_polls():
    print(f"device-state polls, {DEVICES} devices, own key + matching ETag (304), PostgreSQL")
    database = fresh_database("slipway_bench_polls")
    git_dir = f"{work}/polls-git"
    a, _ = serve("polls-a", "--database", database, "--git-dir", git_dir)
    status, text = call(a, "POST", "/api/v1/apps", {"name": "bench", "device_types": ["intel-nuc"]})
    assert status == 201, text
    status, text = call(a, "POST", "/api/v1/apps/bench/releases", tar(b"FROM busybox:slipway-amd64\nRUN echo bench\n"), "application/x-tar")
    assert json.loads(text.decode().strip().splitlines()[-1])["release"]["status"] == "success", text[-300:]
    keys = [None] * DEVICES

    def register(part):
        conn = http.client.HTTPConnection("127.0.0.1", a)
        for i in range(part, DEVICES, 8):
            status, text = call(a, "POST", "/api/v1/apps/bench/devices",
                                {"name": f"d{i}", "device_type": "intel-nuc"}, conn=conn)
            assert status == 201, text
            keys[i] = json.loads(text)["device_key"]
    threads = [threading.Thread(target=register, args=(p,)) for p in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    b, _ = serve("polls-b", "--role", "api", "--database", database, "--git-dir", git_dir)
    request = urllib.request.Request(f"http://127.0.0.1:{b}/api/v1/device/state", headers={"Authorization": f"Bearer {keys[-1]}"})
    etag = urllib.request.urlopen(request).headers["ETag"]
    with open(f"{work}/keys.lua", "w") as f:
        f.write("keys = {\n" + ",\n".join(f'"{k}"' for k in keys) + "\n}\n")
    poll = wrk_script("poll", f"""dofile("{work}/keys.lua")
local n = 0
request = function()
  n = n + 1
  local key = keys[(n * 7919) % #keys + 1]
  return wrk.format("GET", "/api/v1/device/state", {{["Authorization"] = "Bearer " .. key, ["If-None-Match"] = '{etag}'}})
end""")
    constant = wrk_script("constant304", """request = function()
  return wrk.format("GET", "/healthz", {["If-None-Match"] = '"ok"'})
end""")
    result(wrk(poll, a, 64))  # warm-up
    # The same load generator both times: two wrk processes of 32 connections.
    for name, ports in [("one replica", (a, a)), ("two replicas", (a, b))]:
        rates = [result(p) for p in [wrk(poll, port, 32) for port in ports]]
        show(f"{name}: load 1 -> {'A' if ports[0] == a else 'B'}", *rates[0])
        show(f"{name}: load 2 -> {'A' if ports[1] == a else 'B'}", *rates[1])
        print(f"  {name} together: {rates[0][0] + rates[1][0]:.0f} req/s")
    show("GET /healthz on A (constant route)", *result(wrk(constant, a, 64)))


def build_throughput():
    # Both builders use this machine's one engine: a second dockerd on the
    # same host would share (and rewrite) its network set-up. On a real
    # deployment each builder brings its own engines (--engine).
    print(f"build throughput, {BUILDS} releases of {BUILDS} apps, each a 3 s build; builders run one build at a time,"
          " on this machine's one engine")
    for builders in (1, 2):
        database = fresh_database(f"slipway_bench_builds_{builders}")
        git_dir = f"{work}/builds-git-{builders}"
        api, _ = serve(f"builds-api-{builders}", "--role", "api", "--database", database, "--git-dir", git_dir)
        workers = [serve(f"builds-{builders}-{n}", "--role", "builder", "--concurrency", "1",
                         "--database", database, "--git-dir", git_dir)[1] for n in range(builders)]
        for n in range(BUILDS):
            call(api, "POST", "/api/v1/apps", {"name": f"app{n}", "device_types": ["intel-nuc"]})
        outcomes = [None] * BUILDS

        def upload(n):
            dockerfile = f"FROM busybox:slipway-amd64\nRUN echo {builders}-{n}-{time.time()} && sleep 3\n".encode()
            status, text = call(api, "POST", f"/api/v1/apps/app{n}/releases", tar(dockerfile), "application/x-tar")
            outcomes[n] = json.loads(text.decode().strip().splitlines()[-1])["release"]["status"]
        started = time.monotonic()
        threads = [threading.Thread(target=upload, args=(n,)) for n in range(BUILDS)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        took = time.monotonic() - started
        assert all(o == "success" for o in outcomes), outcomes
        print(f"  {builders} builder replica(s): {BUILDS} releases in {took:5.1f} s = {BUILDS / took * 60:5.1f} releases/min")
        for process in workers:
            stop(process)


try:
    parts = sys.argv[3:] or ["list", "polls", "builds"]
    if "list" in parts:
        release_list()
    if "polls" in parts:
        device_polls()
    if "builds" in parts:
        build_throughput()
finally:
    for process in servers:
        process.kill()
    subprocess.run(["rm", "-rf", work])
