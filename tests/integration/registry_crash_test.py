#!/usr/bin/env python3
"""kill -9 of `registry-setup serve` in the middle of concurrent writes, then a restart on the
same root: what was acknowledged is there, what was not is absent or whole, nothing on disk
is partial or dangling, and the server serves again.

usage: registry_crash_test.py PATH-TO-registry-setup

  (a) uploads: 50 concurrent uploads of random blobs (1 KiB to 4 MiB; POST then PUT
      ?digest= with the body, a single POST ?digest=, or POST + PATCHes with Content-Range +
      PUT ?digest=, some as sha512), bodies sent in pieces; SIGKILL after a random number of
      them got 201; restart; check. 3 rounds on the same root.
  (b) tags: 8 clients PUT small OCI image manifests (each new, over pushed config and layer
      blobs) to 3 tags, some by digest; SIGKILL after a random number of 201s; restart;
      check. 3 rounds on the same root.

The checks after each restart (over everything pushed so far, all rounds):
  - every blob that got 201 reads back (GET) with its digest and size;
  - every blobs/<alg>/<xx>/<hex>/data file hashes to <hex>;
  - every link file holds exactly its "<alg>:<hex>" and points at a data file that exists;
    every tag's current link names a manifest revision of its repository;
  - a blob whose upload was not acknowledged answers HEAD 404, or 200 with its whole size
    and bytes; an upload session that survived answers a Range no longer than what was
    sent, and finishing it from there gives the right digest (its data is a prefix);
  - each tag resolves to a manifest whose bytes match its digest, that was PUT to that tag,
    and that may be its last value given the order of the 201s (the last acknowledged PUT,
    or one that was not known to be over before it started);
  - every manifest that got 201 reads back byte-identical by digest;
  - a new push and pull work.

Storage root under $RS_FAULT_DIR (default /var/tmp: a real disk, not tmpfs). $RS_FAULT_SEED
repeats a run; $RS_FAULT_KEEP=1 keeps the root and logs of a failed run. Only the server
this script started is signalled, by its PID; only 127.0.0.1 is used. Exit 0 when every check passed, 1 otherwise.
"""
import hashlib
import http.client
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROUNDS = 3
UPLOADS = 50
MANIFEST_CLIENTS = 8
TAGS = ["t0", "t1", "t2"]
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCT = {"Content-Type": "application/octet-stream"}
V2 = "docker/registry/v2"

passed = 0
failed = 0


def ok(what):
    global passed
    passed += 1
    print(f"ok: {what}", flush=True)


def fail(what, *details):
    global failed
    failed += 1
    print(f"FAIL: {what}", flush=True)
    for d in details[:20]:
        print(f"      {d}", flush=True)
    if len(details) > 20:
        print(f"      ... and {len(details) - 20} more", flush=True)


def check(what, problems):
    """Passes when the list of problems is empty, else prints them."""
    if problems:
        fail(what, *problems)
    else:
        ok(what)


def digest_of(data, alg="sha256"):
    return f"{alg}:{hashlib.new(alg, data).hexdigest()}"


# ---- the server -----------------------------------------------------------------------------


class Server:
    """One `registry-setup serve` on 127.0.0.1 port 0; only its own PID is ever signalled."""

    count = 0

    def __init__(self, binary, root, tmp):
        Server.count += 1
        self.log_path = os.path.join(tmp, f"server-{Server.count}.log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:0", "--root", root],
                                     stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        self.pid = self.proc.pid
        self.port = None
        deadline = time.monotonic() + 15
        while self.port is None:
            with open(self.log_path, "rb") as f:
                m = re.search(rb"serving the v2 registry on 127\.0\.0\.1:(\d+)", f.read())
            if m:
                self.port = int(m.group(1))
            elif self.proc.poll() is not None:
                raise RuntimeError(f"the server exited ({self.proc.returncode}) before listening: {self.tail()}")
            elif time.monotonic() > deadline:
                raise RuntimeError(f"the server did not listen within 15 s: {self.tail()}")
            else:
                time.sleep(0.02)

    def tail(self):
        with open(self.log_path, "rb") as f:
            return f.read()[-600:].decode(errors="replace")

    def kill9(self):
        os.kill(self.pid, signal.SIGKILL)
        self.proc.wait()
        self.log.close()

    def stop(self):
        """SIGTERM; the exit status (124 if it had to be killed after 20 s)."""
        if self.proc.poll() is not None:
            return self.proc.returncode
        os.kill(self.pid, signal.SIGTERM)
        try:
            rc = self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.kill(self.pid, signal.SIGKILL)
            self.proc.wait()
            rc = 124
        self.log.close()
        return rc

    def conn(self, timeout=15):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)


def request(server, method, target, body=None, headers=None):
    """One request on a new connection: (status, headers dict lowercased, body)."""
    c = server.conn()
    try:
        hdrs = dict(headers or {})
        if body is None and method in ("PUT", "PATCH", "POST"):
            hdrs.setdefault("Content-Length", "0")
        c.request(method, target, body=body, headers=hdrs)
        r = c.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data
    finally:
        c.close()


def target_of(location):
    m = re.match(r"^https?://[^/]+(/.*)$", location)
    return m.group(1) if m else location


def with_query(target, q):
    return target + ("&" if "?" in target else "?") + q


def send_in_pieces(c, method, target, headers, body, rng, pause):
    """A request whose body goes out in pieces with pauses (a kill can land inside it)."""
    c.putrequest(method, target)
    for k, v in headers.items():
        c.putheader(k, v)
    c.putheader("Content-Length", str(len(body)))
    c.endheaders()
    pos = 0
    while pos < len(body):
        n = rng.randint(16 << 10, 512 << 10)
        c.send(body[pos:pos + n])
        pos += n
        if pause:
            time.sleep(pause)
    r = c.getresponse()
    return r, r.read()


# ---- (a) uploads ------------------------------------------------------------------------------


class Upload:
    def __init__(self, rng, n, round_no):
        self.repo = f"fault/up{rng.randint(0, 3)}"
        # log-uniform 1 KiB .. 4 MiB, with some sizes on block and stage boundaries
        size = int(2 ** rng.uniform(10, 22))
        if rng.random() < 0.15:
            size = rng.choice([4096, 8192, 2 << 20, (2 << 20) + 1, (2 << 20) - 1, 4 << 20])
        self.data = rng.randbytes(size)
        self.alg = "sha512" if rng.random() < 0.2 else "sha256"
        self.digest = digest_of(self.data, self.alg)
        self.mode = rng.choice(["put", "post", "chunked"])
        self.name = f"round {round_no} upload {n} ({self.mode}, {size} bytes, {self.alg})"
        self.status = None      # the final answer's status, None when none came
        self.error = None
        self.location = None    # the upload session, once POST answered 202
        self.sent = 0           # bytes of the body sent so far (at most)


def run_upload(server, up, rng, on_done):
    c = server.conn(timeout=20)
    try:
        if up.mode == "post":
            up.sent = len(up.data)
            r, body = send_in_pieces(c, "POST", f"/v2/{up.repo}/blobs/uploads/?digest={up.digest}", OCT,
                                     up.data, rng, 0.003)
            up.status = r.status
            return
        c.request("POST", f"/v2/{up.repo}/blobs/uploads/", headers={"Content-Length": "0"})
        r = c.getresponse()
        r.read()
        if r.status != 202:
            up.status = r.status
            return
        up.location = target_of(r.getheader("Location"))
        if up.mode == "put":
            up.sent = len(up.data)
            r, body = send_in_pieces(c, "PUT", with_query(up.location, f"digest={up.digest}"), OCT, up.data,
                                     rng, 0.003)
            up.status = r.status
            return
        pos = 0
        target = up.location
        while pos < len(up.data):
            n = rng.randint(32 << 10, 1 << 20)
            chunk = up.data[pos:pos + n]
            up.sent = pos + len(chunk)
            hdrs = dict(OCT)
            hdrs["Content-Range"] = f"{pos}-{pos + len(chunk) - 1}"
            r, body = send_in_pieces(c, "PATCH", target, hdrs, chunk, rng, 0.002)
            if r.status != 202:
                up.status = r.status
                up.error = body[:200]
                return
            target = target_of(r.getheader("Location"))
            pos += len(chunk)
            time.sleep(rng.uniform(0, 0.01))
        r, body = send_in_pieces(c, "PUT", with_query(target, f"digest={up.digest}"), {}, b"", rng, 0)
        up.status = r.status
    except (OSError, http.client.HTTPException) as e:
        up.error = repr(e)
    finally:
        c.close()
        on_done(up)


def resume_upload(server, up):
    """A session that outlived the kill: its Range must be a prefix of what was sent, and
    finishing it from there must give the digest. None when fine, else a problem."""
    st, h, _ = request(server, "GET", up.location)
    if st == 404:
        return None
    if st != 204:
        return f"{up.name}: GET of its session after the restart answered {st}"
    m = re.fullmatch(r"0-(\d+)", h.get("range", ""))
    if not m:
        return f"{up.name}: session Range '{h.get('range')}'"
    held = int(m.group(1)) + 1
    candidates = [0, 1] if held == 1 else [held]   # "0-0" is 0 or 1 byte
    if held > up.sent and held != 1:
        return f"{up.name}: the session holds {held} bytes, only {up.sent} were sent"
    for start in candidates:
        hdrs = dict(OCT)
        rest = up.data[start:]
        target = up.location
        if rest:
            hdrs["Content-Range"] = f"{start}-{len(up.data) - 1}"
            st, h, body = request(server, "PATCH", target, rest, hdrs)
            if st == 416 and start == 0 and len(candidates) == 2:
                continue
            if st != 202:
                return f"{up.name}: PATCH of the rest from {start} answered {st} {body[:200]!r}"
            target = target_of(h["location"])
        st, h, body = request(server, "PUT", with_query(target, f"digest={up.digest}"))
        if st != 201:
            return (f"{up.name}: finishing the surviving session (it held {start} of {len(up.data)} bytes, "
                    f"{up.sent} sent) answered {st} {body[:300]!r}: its data is not what was sent")
        up.status = 201
        up.resumed = True
        return None
    return f"{up.name}: the session refused both 0 and 1 as its offset"


def upload_round(server, rng, round_no, acked):
    ups = [Upload(rng, n, round_no) for n in range(UPLOADS)]
    kill_after = rng.randint(UPLOADS // 5, UPLOADS * 3 // 4)
    done = threading.Event()
    lock = threading.Lock()
    count = [0]

    def on_done(up):
        with lock:
            if up.status == 201:
                count[0] += 1
                if count[0] >= kill_after:
                    done.set()

    threads = [threading.Thread(target=run_upload, args=(server, up, random.Random(rng.random()), on_done))
               for up in ups]
    for t in threads:
        t.start()
    done.wait(20)
    time.sleep(rng.uniform(0, 0.05))
    server.kill9()
    for t in threads:
        t.join(30)
    got = [u for u in ups if u.status == 201]
    others = [u for u in ups if u.status != 201]
    bad = [f"{u.name}: {u.status} {u.error}" for u in ups if u.status not in (None, 201)]
    print(f"note: round {round_no}: SIGKILL after {len(got)} of {UPLOADS} uploads got 201 "
          f"(target {kill_after}); {sum(1 for u in others if u.location)} sessions were open", flush=True)
    check(f"round {round_no}: before the kill, no upload was refused", bad)
    acked.extend(got)
    return others


def check_uploads(server, round_no, acked, unacked):
    problems = []
    for up in acked:
        st, h, body = request(server, "GET", f"/v2/{up.repo}/blobs/{up.digest}")
        if st != 200 or len(body) != len(up.data) or digest_of(body, up.alg) != up.digest:
            problems.append(f"{up.name}: GET answered {st} with {len(body)} bytes "
                            f"(digest {digest_of(body, up.alg)[:23]}...), want {len(up.data)} bytes of {up.digest[:23]}...")
    check(f"round {round_no}: all {len(acked)} blobs that got 201 so far read back whole", problems)

    problems = []
    whole = 0
    for up in unacked:
        st, h, _ = request(server, "HEAD", f"/v2/{up.repo}/blobs/{up.digest}")
        if st == 404:
            continue
        if st != 200 or h.get("content-length") != str(len(up.data)):
            problems.append(f"{up.name}: HEAD answered {st} with Content-Length {h.get('content-length')}")
            continue
        st, h, body = request(server, "GET", f"/v2/{up.repo}/blobs/{up.digest}")
        if st != 200 or body != up.data:
            problems.append(f"{up.name}: HEAD 200 but GET answered {st} with other bytes")
        whole += 1
    print(f"note: round {round_no}: {whole} of {len(unacked)} unacknowledged uploads had committed", flush=True)
    check(f"round {round_no}: each unacknowledged blob is absent (404) or whole", problems)

    problems = []
    resumed = 0
    for up in unacked:
        if up.location and up.status != 201:
            st, _, _ = request(server, "HEAD", f"/v2/{up.repo}/blobs/{up.digest}")
            if st == 200:
                continue
            p = resume_upload(server, up)
            if p:
                problems.append(p)
            elif getattr(up, "resumed", False):
                resumed += 1
                acked.append(up)
    print(f"note: round {round_no}: {resumed} upload sessions survived the kill and were finished", flush=True)
    check(f"round {round_no}: each surviving upload session holds a prefix of what was sent", problems)


# ---- (b) manifests and tags -------------------------------------------------------------------


class Put:
    def __init__(self, ref, body, tag):
        self.ref, self.body, self.tag = ref, body, tag
        self.digest = digest_of(body)
        self.start = None
        self.ack = None     # monotonic time of the 201


def storm_blobs(server, rng, repo):
    """Pushes 3 configs and 5 layers into repo; their descriptors."""
    descs = {"config": [], "layer": []}
    for kind, n, mt in (("config", 3, "application/vnd.oci.image.config.v1+json"),
                        ("layer", 5, "application/vnd.oci.image.layer.v1.tar+gzip")):
        for i in range(n):
            data = (json.dumps({"architecture": "amd64", "os": "linux", "n": i}).encode() if kind == "config"
                    else rng.randbytes(rng.randint(100, 5000)))
            d = digest_of(data)
            st, _, body = request(server, "POST", f"/v2/{repo}/blobs/uploads/?digest={d}", data, OCT)
            if st != 201:
                raise RuntimeError(f"pushing a {kind} blob answered {st} {body[:200]!r}")
            descs[kind].append({"mediaType": mt, "digest": d, "size": len(data)})
    return descs


def manifest_client(server, rng, repo, descs, counter, puts, lock, stop, on_ack):
    c = None
    while not stop.is_set():
        with lock:
            counter[0] += 1
            n = counter[0]
        m = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": rng.choice(descs["config"]),
             "layers": rng.sample(descs["layer"], rng.randint(1, 3)),
             "annotations": {"n": str(n), "pad": "x" * rng.randint(0, 3000)}}
        body = json.dumps(m, indent=rng.choice([None, 2])).encode()
        tag = rng.choice(TAGS)
        p = Put(tag, body, tag)
        if rng.random() < 0.2:
            p.ref, p.tag = p.digest, None
        with lock:
            puts.append(p)
        try:
            if c is None:
                c = server.conn(timeout=10)
            p.start = time.monotonic()
            r, data = send_in_pieces(c, "PUT", f"/v2/{repo}/manifests/{p.ref}", {"Content-Type": OCI_MANIFEST},
                                     body, rng, 0)
            if r.status == 201:
                p.ack = time.monotonic()
                if r.getheader("Docker-Content-Digest") != p.digest:
                    p.bad = f"201 with Docker-Content-Digest {r.getheader('Docker-Content-Digest')}, want {p.digest}"
                on_ack()
            else:
                p.bad = f"answered {r.status} {data[:200]!r}"
        except (OSError, http.client.HTTPException):
            c = None
            if stop.is_set():
                return
            time.sleep(0.01)


def manifest_round(server, rng, round_no, repo, descs, all_puts):
    puts = []
    lock = threading.Lock()
    stop = threading.Event()
    enough = threading.Event()
    counter = [len(all_puts)]
    acks = [0]
    kill_after = rng.randint(30, 300)

    def on_ack():
        with lock:
            acks[0] += 1
            if acks[0] >= kill_after:
                enough.set()

    threads = [threading.Thread(target=manifest_client,
                                args=(server, random.Random(rng.random()), repo, descs, counter, puts, lock, stop,
                                      on_ack)) for _ in range(MANIFEST_CLIENTS)]
    for t in threads:
        t.start()
    enough.wait(20)
    time.sleep(rng.uniform(0, 0.02))
    stop.set()
    server.kill9()
    killed_at = time.monotonic()
    for t in threads:
        t.join(30)
    sent = [p for p in puts if p.start is not None and p.start < killed_at]
    print(f"note: round {round_no}: SIGKILL after {sum(1 for p in sent if p.ack)} of {len(sent)} manifest PUTs "
          f"got 201 (target {kill_after})", flush=True)
    check(f"round {round_no}: before the kill, every manifest PUT was accepted with its digest",
          [f"PUT {p.ref}: {p.bad}" for p in sent if getattr(p, "bad", None)])
    all_puts.extend(sent)


def check_manifests(server, round_no, repo, all_puts):
    problems = []
    for p in all_puts:
        if p.ack is None:
            continue
        st, h, body = request(server, "GET", f"/v2/{repo}/manifests/{p.digest}", headers={"Accept": OCI_MANIFEST})
        if st != 200 or body != p.body:
            problems.append(f"manifest {p.digest} (201 for PUT {p.ref}): GET answered {st}, "
                            f"{'same' if body == p.body else 'other'} bytes")
    check(f"round {round_no}: all {sum(1 for p in all_puts if p.ack)} manifests that got 201 read back "
          f"byte-identical", problems)

    problems = []
    for tag in TAGS:
        to_tag = [p for p in all_puts if p.tag == tag]
        st, h, body = request(server, "GET", f"/v2/{repo}/manifests/{tag}", headers={"Accept": OCI_MANIFEST})
        acked = [p for p in to_tag if p.ack is not None]
        if st == 404 and not acked:
            continue
        if st != 200:
            problems.append(f"tag {tag}: GET answered {st} {body[:200]!r}")
            continue
        d = digest_of(body)
        if h.get("docker-content-digest") != d:
            problems.append(f"tag {tag}: Docker-Content-Digest {h.get('docker-content-digest')}, the bytes are {d}")
        st2, _, body2 = request(server, "GET", f"/v2/{repo}/manifests/{d}", headers={"Accept": OCI_MANIFEST})
        if st2 != 200 or body2 != body:
            problems.append(f"tag {tag}: its manifest {d} answers {st2} by digest")
        sent_here = {p.digest for p in to_tag}
        if d not in sent_here:
            problems.append(f"tag {tag} -> {d}: never PUT to that tag")
            continue
        if acked:
            last = max(acked, key=lambda p: p.ack)
            # The final value is the last acknowledged PUT, or one not known to be over before it began.
            allowed = {last.digest} | {p.digest for p in to_tag if p.ack is None or p.ack > last.start}
            if d not in allowed:
                problems.append(f"tag {tag} -> {d}: older than {last.digest} (201 after every other PUT to it)")
    check(f"round {round_no}: each tag resolves to a manifest whose digest matches its bytes and that may be "
          f"its last value", problems)


# ---- the data directory -----------------------------------------------------------------------


def check_disk(root, round_no):
    base = os.path.join(root, V2)
    problems = []
    data_files = 0
    stray = []
    for dirpath, _, files in os.walk(os.path.join(base, "blobs")):
        for f in files:
            path = os.path.join(dirpath, f)
            rel = os.path.relpath(path, base)
            m = re.fullmatch(r"blobs/(sha256|sha512)/([0-9a-f]{2})/([0-9a-f]+)/data", rel)
            if not m:
                stray.append(rel)
                continue
            alg, pre, hexd = m.groups()
            h = hashlib.new(alg)
            with open(path, "rb") as fh:
                while chunk := fh.read(1 << 20):
                    h.update(chunk)
            data_files += 1
            if h.hexdigest() != hexd or not hexd.startswith(pre):
                problems.append(f"{rel}: its bytes hash to {alg}:{h.hexdigest()}")
    stray_visible = [s for s in stray if not re.search(r"/\.data\.tmp-[^/]*$", s)]
    print(f"note: round {round_no}: {data_files} blob data files hashed; {len(stray) - len(stray_visible)} "
          f"temporary files left by the kill", flush=True)
    check(f"round {round_no}: every blob data file's bytes match its name", problems)
    check(f"round {round_no}: nothing but data files and temporary files under blobs/", stray_visible)

    def blob_exists(d):
        alg, hexd = d.split(":", 1)
        return os.path.isfile(os.path.join(base, "blobs", alg, hexd[:2], hexd, "data"))

    problems = []
    links = 0
    repos = os.path.join(base, "repositories")
    for dirpath, _, files in os.walk(repos):
        for f in files:
            path = os.path.join(dirpath, f)
            rel = os.path.relpath(path, repos)
            if "/_uploads/" in "/" + rel or f.startswith("."):
                continue
            if f != "link":
                problems.append(f"{rel}: not a link file")
                continue
            links += 1
            with open(path, "rb") as fh:
                content = fh.read()
            m = re.search(r"/(sha256|sha512)/([0-9a-f]+)/link$", rel)
            if m and content != f"{m.group(1)}:{m.group(2)}".encode():
                problems.append(f"{rel}: holds {content[:80]!r}, not its own digest")
                continue
            if not re.fullmatch(rb"(sha256|sha512):[0-9a-f]+", content):
                problems.append(f"{rel}: holds {content[:80]!r}")
                continue
            d = content.decode()
            if not blob_exists(d):
                problems.append(f"{rel}: points at {d}, which has no data")
            cm = re.fullmatch(r"(.+)/_manifests/tags/[^/]+/current/link", rel)
            if cm:
                alg, hexd = d.split(":", 1)
                if not os.path.isfile(os.path.join(repos, cm.group(1), "_manifests/revisions", alg, hexd, "link")):
                    problems.append(f"{rel}: points at {d}, not a manifest revision of '{cm.group(1)}'")
    sessions = sum(len(os.listdir(os.path.join(d, "_uploads"))) for d, subdirs, _ in os.walk(repos)
                   if "_uploads" in subdirs)
    print(f"note: round {round_no}: {sessions} upload sessions on disk", flush=True)
    check(f"round {round_no}: all {links} link files name their digest and point at data that exists", problems)


def check_serves(server, rng, round_no):
    repo = "fault/after"
    layer = rng.randbytes(rng.randint(1000, 300000))
    config = json.dumps({"architecture": "amd64", "os": "linux", "round": round_no}).encode()
    problems = []
    for data in (layer, config):
        st, _, body = request(server, "POST", f"/v2/{repo}/blobs/uploads/?digest={digest_of(data)}", data, OCT)
        if st != 201:
            problems.append(f"push of a blob answered {st} {body[:200]!r}")
    m = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                    "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                               "digest": digest_of(config), "size": len(config)},
                    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                                "digest": digest_of(layer), "size": len(layer)}]}).encode()
    st, _, body = request(server, "PUT", f"/v2/{repo}/manifests/r{round_no}", m, {"Content-Type": OCI_MANIFEST})
    if st != 201:
        problems.append(f"push of the manifest answered {st} {body[:200]!r}")
    st, _, body = request(server, "GET", f"/v2/{repo}/manifests/r{round_no}", headers={"Accept": OCI_MANIFEST})
    if st != 200 or body != m:
        problems.append(f"pull of the manifest answered {st}")
    st, _, body = request(server, "GET", f"/v2/{repo}/blobs/{digest_of(layer)}")
    if st != 200 or body != layer:
        problems.append(f"pull of the layer answered {st}")
    check(f"round {round_no}: after the restart a new push and pull work", problems)


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    binary = os.path.realpath(argv[1])
    seed = int(os.environ.get("RS_FAULT_SEED") or random.SystemRandom().randrange(1 << 32))
    print(f"note: seed {seed} (RS_FAULT_SEED={seed} repeats the choices; the kill's timing differs)", flush=True)
    rng = random.Random(seed)
    started = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="rs-fault.", dir=os.environ.get("RS_FAULT_DIR", "/var/tmp"))
    root = os.path.join(tmp, "root")
    server = None
    try:
        server = Server(binary, root, tmp)
        acked = []
        for round_no in range(1, ROUNDS + 1):
            unacked = upload_round(server, rng, round_no, acked)
            server = Server(binary, root, tmp)
            check_uploads(server, round_no, acked, unacked)
            check_disk(root, round_no)
            check_serves(server, rng, round_no)

        repo = "fault/tags"
        descs = storm_blobs(server, rng, repo)
        all_puts = []
        for round_no in range(ROUNDS + 1, 2 * ROUNDS + 1):
            manifest_round(server, rng, round_no, repo, descs, all_puts)
            server = Server(binary, root, tmp)
            check_manifests(server, round_no, repo, all_puts)
            check_disk(root, round_no)
            check_serves(server, rng, round_no)

        rc = server.stop()
        check("SIGTERM stops the last server with exit 0", [] if rc == 0 else [f"exit status {rc}"])
    except Exception as e:  # a step that makes the rest meaningless
        fail(f"{type(e).__name__}: {e}")
    finally:
        if server is not None and server.proc.poll() is None:
            server.stop()
        if failed and os.environ.get("RS_FAULT_KEEP"):
            print(f"note: kept the root and the servers' logs in {tmp}")
        else:
            if failed and server is not None:
                print(f"--- the last server's log ---\n{server.tail()}")
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"{os.path.basename(argv[0])}: {passed} passed, {failed} failed ({time.monotonic() - started:.0f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
