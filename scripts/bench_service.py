#!/usr/bin/env python3
"""The builder service's benchmarks, against a real `slipway serve`, real
git, engine and registry, all on loopback. Not a test: results go to
docs/benchmarks.md. Run through scripts/bench-service.sh."""

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

SLIPWAY = sys.argv[1]
REGISTRY = sys.argv[2]
ROUNDS = int(os.environ.get("ROUNDS", "5"))
TOKEN = "bench-admin-token-0123456789"
work = tempfile.mkdtemp(prefix="slipway-bench-")
env = dict(os.environ, SLIPWAY_CACHE_DIR=f"{work}/cache")


def sh(*args, cwd=None, check=True, **kw):
    return subprocess.run(args, cwd=cwd, check=check, capture_output=True, text=True, **kw)


def api(server, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{server}{path}", data=data, method=method)
    request.add_header("Authorization", f"Bearer {TOKEN}")
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def start_server(name, registry=True):
    port = 18600 + len(servers)
    data = f"{work}/{name}"
    args = [SLIPWAY, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data]
    if registry:
        args += ["--registry", REGISTRY]
    log = open(f"{work}/{name}.log", "w")
    process = subprocess.Popen(args, env=dict(env, SLIPWAY_ADMIN_TOKEN=TOKEN), stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(f"{url}/healthz")
            break
        except OSError:
            time.sleep(0.05)
    servers.append(process)
    return url, port, process


def repo(files):
    path = tempfile.mkdtemp(dir=work)
    for name, text in files.items():
        with open(os.path.join(path, name), "w") as f:
            f.write(text)
    sh("git", "init", "-q", "-b", "master", cwd=path)
    commit(path)
    return path


def commit(path):
    sh("git", "add", "-A", cwd=path)
    sh("git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q", "--allow-empty", "-m", "x", cwd=path)


def push(path, port, app):
    return subprocess.run(
        ["git", "push", "--force", f"http://slipway:{TOKEN}@127.0.0.1:{port}/{app}.git", "HEAD:master"],
        cwd=path, capture_output=True, text=True)


def ms(values):
    values = sorted(values)
    p = lambda q: values[min(len(values) - 1, int(round(q * (len(values) - 1))))]
    return f"median {statistics.median(values):8.1f} ms   min {values[0]:8.1f}   max {values[-1]:8.1f}   ({len(values)} runs)"


servers = []
try:
    registry_server, registry_port, _ = start_server("with-registry")
    plain_server, plain_port, _ = start_server("without-registry", registry=False)

    # 1. push-to-release vs slipway build (and docker build + docker push) of the same tree.
    print("## push to release, same tree, cache invalidated the same way each round")
    dockerfile = "FROM busybox:slipway-amd64\nCOPY nonce /nonce\nRUN for i in 1 2 3 4 5; do echo step $i; done > /log\n"
    tree = repo({"Dockerfile": dockerfile, "nonce": "0"})
    for server in (registry_server, plain_server):
        api(server, "POST", "/api/v1/apps", {"name": "timed", "device_types": ["intel-nuc"]})
    results = {"slipway build (local, no registry)": [], "git push -> release (service, no registry)": [],
               "git push -> release + registry push (service)": [], "docker build + docker push (same tree)": []}
    for round_ in range(ROUNDS):
        def fresh():
            with open(os.path.join(tree, "nonce"), "w") as f:
                f.write(f"{round_}-{time.time_ns()}")
            commit(tree)
        fresh()
        t = time.monotonic()
        sh(SLIPWAY, "build", tree, "--device-type", "intel-nuc", "--app", "timed", env=dict(env, SLIPWAY_DATA_DIR=f"{work}/local"))
        results["slipway build (local, no registry)"].append((time.monotonic() - t) * 1000)
        fresh()
        t = time.monotonic()
        out = push(tree, plain_port, "timed")
        assert out.returncode == 0, out.stderr
        results["git push -> release (service, no registry)"].append((time.monotonic() - t) * 1000)
        fresh()
        t = time.monotonic()
        out = push(tree, registry_port, "timed")
        assert out.returncode == 0, out.stderr
        results["git push -> release + registry push (service)"].append((time.monotonic() - t) * 1000)
        fresh()
        t = time.monotonic()
        tag = f"{REGISTRY}/bench/docker:{round_}"
        sh("docker", "build", "-q", "-t", tag, tree, env=dict(env, DOCKER_BUILDKIT="0"))
        sh("docker", "push", tag)
        results["docker build + docker push (same tree)"].append((time.monotonic() - t) * 1000)
    for name, values in results.items():
        print(f"  {name:48} {ms(values)}")
    base = statistics.median(results["slipway build (local, no registry)"])
    print(f"  ratio service (no registry) / slipway build: {statistics.median(results['git push -> release (service, no registry)']) / base:.2f}x")
    print(f"  ratio service + registry / slipway build:    {statistics.median(results['git push -> release + registry push (service)']) / base:.2f}x")

    # 2. How long a build log line takes from the engine to the git push client.
    print("## log line latency: RUN prints a wall-clock stamp, the git client stamps its arrival")
    stamp = "adjtimex | awk '/tv_sec/{s=$2}/tv_usec/{u=$2}END{printf \"MARK %d%06d\\n\", s, u}'"
    latency_tree = repo({"Dockerfile": f"FROM busybox:slipway-amd64\nCOPY nonce /nonce\nRUN for i in $(seq 200); do {stamp}; sleep 0.02; done\n", "nonce": "0"})
    api(registry_server, "POST", "/api/v1/apps", {"name": "latency", "device_types": ["intel-nuc"]})
    delays = []
    for round_ in range(3):
        with open(os.path.join(latency_tree, "nonce"), "w") as f:
            f.write(str(time.time_ns()))
        commit(latency_tree)
        process = subprocess.Popen(
            ["git", "push", "--force", f"http://slipway:{TOKEN}@127.0.0.1:{registry_port}/latency.git", "HEAD:master"],
            cwd=latency_tree, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
        buffer = b""
        while True:
            chunk = os.read(process.stderr.fileno(), 65536)
            if not chunk:
                break
            arrived = time.time_ns() // 1000
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                text = line.decode(errors="replace")
                if "MARK " in text and "RUN" not in text:
                    sent = int(text.split("MARK ")[1].split()[0])
                    delays.append((arrived - sent) / 1000)
        process.wait()
    delays.sort()
    p = lambda q: delays[min(len(delays) - 1, int(q * len(delays)))]
    print(f"  engine -> git push client   p50 {p(0.5):7.1f} ms   p90 {p(0.9):7.1f} ms   p99 {p(0.99):7.1f} ms   max {delays[-1]:7.1f} ms   ({len(delays)} lines)")
    constant = []
    for _ in range(200):
        t = time.monotonic()
        urllib.request.urlopen(f"{registry_server}/healthz").read()
        constant.append((time.monotonic() - t) * 1000)
    constant.sort()
    print(f"  GET /healthz (constant route, same server)   p50 {constant[100]:7.2f} ms   p99 {constant[198]:7.2f} ms")

    # 3. 20 pushes across 5 apps (the apps in parallel, each app's pushes in turn).
    print("## 20 pushes across 5 apps")
    apps = [f"fleet{i}" for i in range(5)]
    trees = {}
    for app in apps:
        api(registry_server, "POST", "/api/v1/apps", {"name": app, "device_types": ["intel-nuc"]})
        trees[app] = repo({"Dockerfile": f"FROM busybox:slipway-amd64\nCOPY nonce /nonce\nRUN echo {app}\n", "nonce": "0"})
    outcomes = []

    def pushes(app):
        for i in range(4):
            with open(os.path.join(trees[app], "nonce"), "w") as f:
                f.write(f"{i}")
            commit(trees[app])
            out = push(trees[app], registry_port, app)
            outcomes.append((app, out.returncode, out.stderr))

    t = time.monotonic()
    threads = [threading.Thread(target=pushes, args=(app,)) for app in apps]
    [th.start() for th in threads]
    [th.join() for th in threads]
    took = time.monotonic() - t
    releases = []
    cursor = ""
    while True:
        _, page = api(registry_server, "GET", f"/api/v1/releases?limit=500{cursor}")
        releases += [r for r in page["releases"] if r["app"] in apps]
        if not page["next_cursor"]:
            break
        cursor = f"&cursor={page['next_cursor']}"
    ok = sum(1 for _, code, _ in outcomes if code == 0)
    success = sum(1 for r in releases if r["status"] == "success")
    print(f"  {len(outcomes)} pushes in {took:.1f} s: {ok} accepted; {len(releases)} releases recorded, {success} success, "
          f"{len(releases) - success} other")

    # 4. Server memory during a 500 MB upload.
    print("## server RSS during a 500 MB tar upload")
    big = f"{work}/big"
    os.makedirs(big)
    with open(f"{big}/Dockerfile", "w") as f:
        f.write("FROM busybox:slipway-amd64\nCOPY small /small\n")
    with open(f"{big}/small", "w") as f:
        f.write("x")
    with open(f"{big}/.dockerignore", "w") as f:
        f.write("blob.bin\n")
    with open(f"{big}/blob.bin", "wb") as f:
        for _ in range(500):
            f.write(os.urandom(1 << 20))
    sh("tar", "-cf", f"{work}/big.tar", "-C", big, ".")
    shutil.rmtree(big)
    api(registry_server, "POST", "/api/v1/apps", {"name": "big", "device_types": ["intel-nuc"]})
    pid = servers[0].pid

    def rss():
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    idle = rss()
    peak = [idle]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss())
            time.sleep(0.05)
    sampler = threading.Thread(target=sample)
    sampler.start()
    t = time.monotonic()
    out = sh("curl", "-sS", "-H", f"Authorization: Bearer {TOKEN}", "-H", "Content-Type: application/x-tar",
             "--data-binary", f"@{work}/big.tar", f"{registry_server}/api/v1/apps/big/releases")
    took = time.monotonic() - t
    done.set()
    sampler.join()
    last = json.loads([l for l in out.stdout.splitlines() if l.strip()][-1])
    print(f"  upload of {os.path.getsize(work + '/big.tar') / 1e6:.0f} MB -> release {last['release']['status']} in {took:.1f} s: "
          f"server RSS idle {idle:.0f} MiB, peak {peak[0]:.0f} MiB")
finally:
    for process in servers:
        process.kill()
    shutil.rmtree(work, ignore_errors=True)
