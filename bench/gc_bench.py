#!/usr/bin/env python3
"""Benchmark (not a test) of garbage collection: a store of 10,000 blobs and 1,000 manifests
in 50 repositories (half the manifests untagged, some blobs referenced by nothing), written
in registry:2's layout once and copied for each run. Collected by `registry-setup gc` and by
Debian's `docker-registry garbage-collect` (offline only), default and --delete-untagged:
wall time, CPU, peak RSS, blobs deleted, and whether both keep the same blobs. Then ours
while serving: p50/p99 of manifest GETs (one persistent connection) with no collection and
during `gc --delete-untagged`; docker-registry has no online collection to compare.

Usage: bench/gc_bench.py [PATH-TO-registry-setup]. Needs docker-registry, /usr/bin/time.
Talks to 127.0.0.1 only; ends only the processes it started. One run per figure.
"""
import hashlib
import http.client
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

BIN = os.path.realpath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "build", "registry-setup"))
WORK = tempfile.mkdtemp(prefix="rs-gc-bench.", dir="/var/tmp")
V2 = "docker/registry/v2"
OLD = time.time() - 7200
rng = random.Random(7)


def put(root, rel, data):
    path = os.path.join(root, V2, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    os.utime(path, (OLD, OLD))


def blob(root, data):
    d = hashlib.sha256(data).hexdigest()
    put(root, f"blobs/sha256/{d[:2]}/{d}/data", data)
    return d


def build(root):
    pool = [blob(root, os.urandom(rng.randint(300, 3000))) for _ in range(2500)]
    sizes = {}
    tags = []
    for m in range(1000):
        repo = f"bench/r{(m // 2) % 50}"  # each repository tagged and untagged manifests (registry:2 refuses a repository without tags under --delete-untagged)
        config = os.urandom(200)
        c = blob(root, config)
        layers = rng.sample(pool, 4) + [blob(root, os.urandom(rng.randint(300, 3000))) for _ in range(5)]
        doc = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
               "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + c, "size": 200},
               "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": "sha256:" + l,
                           "size": os.path.getsize(os.path.join(root, V2, f"blobs/sha256/{l[:2]}/{l}/data"))}
                          for l in layers]}
        body = json.dumps(doc).encode()
        md = blob(root, body)
        base = f"repositories/{repo}"
        for l in [c, *layers]:
            put(root, f"{base}/_layers/sha256/{l}/link", b"sha256:" + l.encode())
        put(root, f"{base}/_manifests/revisions/sha256/{md}/link", b"sha256:" + md.encode())
        if m % 2 == 0:
            tag = f"t{m}"
            put(root, f"{base}/_manifests/tags/{tag}/current/link", b"sha256:" + md.encode())
            put(root, f"{base}/_manifests/tags/{tag}/index/sha256/{md}/link", b"sha256:" + md.encode())
            tags.append((repo, tag))
    for _ in range(500):  # uploaded, never referenced
        blob(root, os.urandom(500))
    return tags


def count_blobs(root):
    base = os.path.join(root, V2, "blobs", "sha256")
    return {h for p in os.listdir(base) for h in os.listdir(os.path.join(base, p))
            if os.path.isfile(os.path.join(base, p, h, "data"))}


def timed(argv, env=None):
    out = subprocess.run(["/usr/bin/time", "-f", "TIME %e %U %S %M", *argv], capture_output=True, text=True, env=env)
    m = re.search(r"TIME ([\d.]+) ([\d.]+) ([\d.]+) (\d+)", out.stderr)
    if out.returncode != 0 or not m:
        raise RuntimeError(f"{argv[0]} failed: {out.stderr[-500:]}")
    return float(m.group(1)), float(m.group(2)) + float(m.group(3)), int(m.group(4)) / 1024


def config(root):
    path = root + ".yml"
    with open(path, "w") as f:
        f.write(f"version: 0.1\nlog: {{level: error}}\nstorage:\n  filesystem: {{rootdirectory: {root}}}\n"
                f"  delete: {{enabled: true}}\nhttp: {{addr: 127.0.0.1:0}}\n")
    return path


def gets(port, tags, stop, out):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    i = 0
    while not stop.is_set():
        repo, tag = tags[i % len(tags)]
        i += 1
        t0 = time.perf_counter()
        conn.request("GET", f"/v2/{repo}/manifests/{tag}", headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
        r = conn.getresponse()
        r.read()
        out.append((time.perf_counter() - t0) * 1000)
        assert r.status == 200, r.status


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(len(v) * p / 100))]


def main():
    seed = os.path.join(WORK, "seed")
    t0 = time.time()
    tags = build(seed)
    total = len(count_blobs(seed))
    print(f"store: {total} blobs, 1000 manifests (500 tagged) in 50 repositories; built in {time.time() - t0:.0f} s; nproc {os.cpu_count()}")
    env = {k: v for k, v in os.environ.items() if k != "REGISTRY_AUTH_FILE"}
    rows = []
    for mode, flags in (("default", []), ("--delete-untagged", ["--delete-untagged"])):
        kept = {}
        for tool in ("registry-setup gc", "docker-registry garbage-collect"):
            root = os.path.join(WORK, "run")
            shutil.rmtree(root, ignore_errors=True)
            shutil.copytree(seed, root)
            subprocess.run(["sync"])
            if tool.startswith("registry-setup"):
                wall, cpu, rss = timed([BIN, "gc", "--root", root, "--grace", "0s", *flags])
            else:
                wall, cpu, rss = timed(["docker-registry", "garbage-collect", *flags, config(root)], env)
            kept[tool] = count_blobs(root)
            rows.append((tool, mode, wall, cpu, rss, total - len(kept[tool])))
        same = kept["registry-setup gc"] == kept["docker-registry garbage-collect"]
        print(f"{mode}: same kept set: {'yes' if same else 'no'}")
    print(f"\n{'tool':34} {'mode':18} {'wall s':>7} {'CPU s':>7} {'RSS MiB':>8} {'deleted':>8}")
    for r in rows:
        print(f"{r[0]:34} {r[1]:18} {r[2]:7.2f} {r[3]:7.2f} {r[4]:8.1f} {r[5]:8d}")
    for i in (0, 2):
        ours, theirs = rows[i], rows[i + 1]
        print(f"{ours[1]}: docker-registry / ours: wall {theirs[2] / max(ours[2], 0.01):.1f}x, CPU {theirs[3] / max(ours[3], 0.01):.1f}x, RSS {theirs[4] / ours[4]:.1f}x")

    # Online: manifest GETs with and during a collection.
    root = os.path.join(WORK, "run")
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(seed, root)
    log = open(os.path.join(WORK, "serve.log"), "w")
    server = subprocess.Popen([BIN, "serve", "--listen", "127.0.0.1:0", "--root", root], stderr=log)
    try:
        port = None
        while port is None:
            time.sleep(0.05)
            m = re.search(r"serving the v2 registry on 127\.0\.0\.1:(\d+)", open(log.name).read())
            port = m and int(m.group(1))
        idle, during, stop = [], [], threading.Event()
        th = threading.Thread(target=gets, args=(port, tags, stop, idle))
        th.start()
        time.sleep(3)
        stop.set()
        th.join()
        stop = threading.Event()
        th = threading.Thread(target=gets, args=(port, tags, stop, during))
        th.start()
        wall, cpu, rss = timed([BIN, "gc", "--root", root, "--grace", "0s", "--delete-untagged"])
        stop.set()
        th.join()
        print(f"\nonline (ours only; docker-registry collects offline): gc --delete-untagged while serving: {wall:.2f} s")
        print(f"manifest GET, no gc:     {len(idle):6d} requests, p50 {pct(idle, 50):.3f} ms, p99 {pct(idle, 99):.3f} ms")
        print(f"manifest GET, during gc: {len(during):6d} requests, p50 {pct(during, 50):.3f} ms, p99 {pct(during, 99):.3f} ms")
        print("(GETs of tagged manifests, kept by the collection: every one answered 200)")
    finally:
        server.terminate()
        server.wait(20)
        shutil.rmtree(WORK, ignore_errors=True)


main()
