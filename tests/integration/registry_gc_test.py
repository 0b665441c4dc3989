#!/usr/bin/env python3
"""Garbage collection against the real thing: our server and skopeo, Debian's
docker-registry (registry:2) as the reference, several processes on one root.

  - interop: on a root written by our server, the blobs `gc` keeps are the blobs
    docker-registry's own garbage-collect keeps (same flags), file by file; after ours,
    docker-registry finds nothing more to delete and serves the root (skopeo pulls);
  - multi-arch (--delete-untagged takes exactly the right children), referrers (kept with
    their subject, gone after it), `rm -rf repositories/NAME` by hand seen at once;
  - GC in a loop while 8 clients push images sharing layers with deleted ones and with each
    other and others delete: every tag pulls completely, every blob's bytes match its
    digest, nothing unreferenced older than the grace window is left;
  - two servers with a gc schedule and a command-line gc on one root: one sweep at a time;
    a held lock refuses, an expired one is taken over; kill -9 mid-sweep, then a consistent
    store.

Usage: registry_gc_test.py PATH-TO-registry-setup. Talks to 127.0.0.1 only. Prints each
check and "N passed, N failed"; exits 1 when anything failed.
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

BIN = os.path.realpath(sys.argv[1])
for tool in ("skopeo", "docker-registry"):
    if not shutil.which(tool):
        print(f"skipped: {tool} is not installed (scripts/install-deps.sh installs it)")
        sys.exit(77)
TMP = tempfile.mkdtemp(prefix="rs-gc.", dir=os.environ.get("TMPDIR", "/var/tmp"))
V2 = "docker/registry/v2"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
passed = failed = 0
started = []  # processes this test started, ended by PID at exit


def check(what, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print("ok:", what, flush=True)
    else:
        failed += 1
        print("FAIL:", what, flush=True)
        if detail:
            print("      " + str(detail)[:3000].replace("\n", "\n      "), flush=True)


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Server:
    """Our server on 127.0.0.1, port 0, on `root`, with an optional config."""

    def __init__(self, name, root, config=""):
        self.root = root
        self.log_path = os.path.join(TMP, name + ".log")
        args = [BIN, "serve", "--listen", "127.0.0.1:0", "--root", root]
        if config:
            cfg = os.path.join(TMP, name + ".yml")
            with open(cfg, "w") as f:
                f.write(config)
            args += ["--config", cfg]
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(args, stderr=self.log, stdout=subprocess.DEVNULL)
        started.append(self.proc)
        deadline = time.monotonic() + 15
        self.port = None
        while time.monotonic() < deadline and self.port is None:
            m = re.search(r"serving the v2 registry on 127\.0\.0\.1:(\d+)", self.text())
            if m:
                self.port = int(m.group(1))
            elif self.proc.poll() is not None:
                break
            else:
                time.sleep(0.05)
        if self.port is None:
            raise RuntimeError("server did not start:\n" + self.text())

    def text(self):
        with open(self.log_path) as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


class Client:
    """A registry client over plain HTTP, as docker push does it: HEAD each blob, upload
    what is missing, PUT the manifest; a manifest refused for a blob that went meanwhile
    (MANIFEST_BLOB_UNKNOWN) has its blobs pushed again, as a client retrying would."""

    def __init__(self, port):
        self.port = port
        self.conn = None

    def request(self, method, path, body=None, headers=None):
        for attempt in range(3):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                self.conn.request(method, path, body=body, headers=headers or {})
                r = self.conn.getresponse()
                data = r.read()
                return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data
            except (http.client.HTTPException, ConnectionError, OSError):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise

    def has_blob(self, repo, digest):
        return self.request("HEAD", f"/v2/{repo}/blobs/{digest}")[0] == 200

    def upload(self, repo, data):
        digest = sha(data)
        status, headers, body = self.request("POST", f"/v2/{repo}/blobs/uploads/")
        assert status == 202, (status, body)
        location = headers["location"]
        sep = "&" if "?" in location else "?"
        status, _, body = self.request("PUT", f"{location}{sep}digest={digest}", body=data,
                                       headers={"Content-Type": "application/octet-stream"})
        assert status == 201, (status, body)
        return digest

    def push_blobs(self, repo, blobs, always=False):
        for data in blobs:
            if always or not self.has_blob(repo, sha(data)):
                self.upload(repo, data)

    def put_manifest(self, repo, ref, body, media_type):
        return self.request("PUT", f"/v2/{repo}/manifests/{ref}", body=body, headers={"Content-Type": media_type})

    def image(self, repo, tag, layers, config=b"{}", subject=None, retries=5):
        """Pushes an image of `layers` (bytes); returns its manifest's digest."""
        doc = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
               "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(config),
                          "size": len(config)},
               "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha(l), "size": len(l)}
                          for l in layers]}
        if subject:
            doc["subject"] = {"mediaType": OCI_MANIFEST, "digest": subject[0], "size": subject[1]}
            doc["artifactType"] = "application/vnd.example.signature"
        body = json.dumps(doc).encode()
        for attempt in range(retries):
            self.push_blobs(repo, [config, *layers], always=attempt > 0)
            status, _, answer = self.put_manifest(repo, tag or sha(body), body, OCI_MANIFEST)
            if status == 201:
                return sha(body), len(body)
            assert b"MANIFEST_BLOB_UNKNOWN" in answer, (status, answer)
        raise AssertionError("manifest refused %d times" % retries)

    def index(self, repo, tag, children):
        doc = {"schemaVersion": 2, "mediaType": OCI_INDEX,
               "manifests": [{"mediaType": OCI_MANIFEST, "digest": d, "size": n,
                              "platform": {"architecture": arch, "os": "linux"}}
                             for (d, n), arch in zip(children, ["amd64", "arm64", "s390x", "ppc64le"])]}
        body = json.dumps(doc).encode()
        status, _, answer = self.put_manifest(repo, tag or sha(body), body, OCI_INDEX)
        assert status == 201, (status, answer)
        return sha(body), len(body)

    def delete(self, repo, digest):
        return self.request("DELETE", f"/v2/{repo}/manifests/{digest}")[0]

    def manifest_status(self, repo, ref):
        return self.request("GET", f"/v2/{repo}/manifests/{ref}",
                            headers={"Accept": OCI_MANIFEST + ", " + OCI_INDEX})[0]

    def catalog(self):
        return json.loads(self.request("GET", "/v2/_catalog")[2])["repositories"]


def gc(root, *args):
    p = subprocess.run([BIN, "gc", "--root", root, *args], capture_output=True, text=True, timeout=300)
    return p.returncode, p.stdout, p.stderr


def gc_json(root, *args):
    rc, out, err = gc(root, "--json", *args)
    try:
        return rc, json.loads(out), err
    except ValueError:
        return rc, None, err + out


def reference_config(root, name):
    path = os.path.join(TMP, name + "-reference.yml")
    with open(path, "w") as f:
        f.write(f"version: 0.1\nlog: {{level: error}}\nstorage:\n  filesystem: {{rootdirectory: {root}}}\n"
                f"  delete: {{enabled: true}}\nhttp: {{addr: 127.0.0.1:0}}\n")
    return path


def reference_gc(root, name, *flags):
    """docker-registry garbage-collect on `root`: the digests it names as eligible."""
    env = {k: v for k, v in os.environ.items() if k != "REGISTRY_AUTH_FILE"}
    p = subprocess.run(["docker-registry", "garbage-collect", *flags, reference_config(root, name)],
                       capture_output=True, text=True, timeout=300, env=env)
    text = p.stdout + p.stderr
    return p.returncode, set(re.findall(r"blob eligible for deletion: (sha256:[0-9a-f]{64})", text)), text


def blob_files(root):
    """Every blob's digest on disk, and those whose bytes do not match it."""
    found, bad = set(), []
    base = os.path.join(root, V2, "blobs", "sha256")
    if not os.path.isdir(base):
        return found, bad
    for prefix in os.listdir(base):
        try:  # a collection running now may take it away meanwhile
            names = os.listdir(os.path.join(base, prefix))
        except FileNotFoundError:
            continue
        for hexd in names:
            h = hashlib.sha256()
            try:
                with open(os.path.join(base, prefix, hexd, "data"), "rb") as f:
                    for chunk in iter(lambda: f.read(1 << 20), b""):
                        h.update(chunk)
            except (FileNotFoundError, NotADirectoryError):
                continue
            found.add("sha256:" + hexd)
            if h.hexdigest() != hexd:
                bad.append(hexd)
    return found, bad


def skopeo_pull(port, repo, tag, all_images=False):
    dest = tempfile.mkdtemp(dir=TMP)
    try:
        p = subprocess.run(["skopeo", "copy", "-q", "--src-tls-verify=false", *(["--all"] if all_images else []),
                            f"docker://127.0.0.1:{port}/{repo}:{tag}", "dir:" + dest],
                           capture_output=True, text=True, timeout=120)
        return p.returncode == 0, p.stderr[-500:]
    finally:
        shutil.rmtree(dest, ignore_errors=True)


def layer(name, size=2000):
    """Bytes made of a name: the same name is the same layer."""
    seed = hashlib.sha256(name.encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


def interop():
    """A root as our server writes it; ours and docker-registry's garbage-collect compared."""
    for untagged in (False, True):
        mode = "--delete-untagged" if untagged else "default"
        root = os.path.join(TMP, "interop-" + ("untagged" if untagged else "default"))
        server = Server("interop-" + mode, root)
        c = Client(server.port)
        c.image("lib/a", "v1", [layer("shared"), layer("a only")], b'{"a":1}')
        b = c.image("lib/b", "v1", [layer("shared"), layer("b only")], b'{"b":1}')
        check(f"{mode}: DELETE of b's manifest", c.delete("lib/b", b[0]) == 202)
        # A tag moved away leaves an untagged revision (the old image's own layer with it).
        c.image("lib/moved", "t", [layer("moved old")], b'{"m":1}')
        c.image("lib/moved", "t", [layer("moved new")], b'{"m":2}')
        if not untagged:
            # registry:2 takes an index's untagged children with --delete-untagged (#3178),
            # we keep them: the index is compared without that flag only.
            amd = c.image("lib/multi", "amd64", [layer("amd")], b'{"arch":"amd64"}')
            arm = c.image("lib/multi", None, [layer("arm")], b'{"arch":"arm64"}')
            c.index("lib/multi", "latest", [amd, arm])
        c.upload("lib/a", layer("uploaded, never referenced"))
        server.stop()
        theirs = root + "-theirs"
        shutil.copytree(root, theirs, symlinks=True)
        flags = ["--delete-untagged"] if untagged else []
        rc, report, err = gc_json(root, "--grace", "0s", *flags)
        check(f"{mode}: gc runs (exit 0)", rc == 0 and report is not None, err)
        rrc, _, text = reference_gc(theirs, "theirs-" + mode, *flags)
        check(f"{mode}: docker-registry garbage-collect runs", rrc == 0, text[-800:])
        ours_kept, ours_bad = blob_files(root)
        theirs_kept, _ = blob_files(theirs)
        check(f"{mode}: gc deleted something", report and report["deleted"]["blobs"] > 0, report)
        check(f"{mode}: the blobs we keep are the blobs docker-registry keeps, file by file",
              ours_kept == theirs_kept,
              f"only ours: {sorted(ours_kept - theirs_kept)}\nonly theirs: {sorted(theirs_kept - ours_kept)}")
        check(f"{mode}: every kept blob's bytes match its digest", not ours_bad, ours_bad)
        rrc, eligible, text = reference_gc(root, "after-" + mode, "--dry-run", *flags)
        check(f"{mode}: after ours, docker-registry garbage-collect --dry-run finds nothing to delete",
              rrc == 0 and not eligible, text[-800:])
        if not untagged:
            # docker-registry serves what our gc left.
            port = subprocess.run(["python3", "-c", "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); "
                                   "print(s.getsockname()[1])"], capture_output=True, text=True).stdout.strip()
            cfg = reference_config(root, "serve")
            with open(cfg) as f:
                text = f.read().replace("127.0.0.1:0", "127.0.0.1:" + port)
            with open(cfg, "w") as f:
                f.write(text)
            env = {k: v for k, v in os.environ.items() if k != "REGISTRY_AUTH_FILE"}
            ref = subprocess.Popen(["docker-registry", "serve", cfg], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, env=env)
            started.append(ref)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                try:
                    if Client(int(port)).request("GET", "/v2/")[0] == 200:
                        break
                except OSError:
                    time.sleep(0.1)
            ok_a, err_a = skopeo_pull(int(port), "lib/a", "v1")
            ok_m, err_m = skopeo_pull(int(port), "lib/multi", "latest", all_images=True)
            check("docker-registry serves the root after our gc (skopeo pulls lib/a:v1, lib/multi:latest --all)",
                  ok_a and ok_m, err_a + err_m)
            ref.terminate()
            ref.wait(15)


def lifecycle():
    """Multi-arch, referrers, rm -rf by hand and re-push, against a live server."""
    root = os.path.join(TMP, "lifecycle")
    server = Server("lifecycle", root)
    c = Client(server.port)
    amd = c.image("multi", "amd64", [layer("amd64 layer")], b'{"arch":"amd64"}')
    arm = c.image("multi", None, [layer("arm64 layer")], b'{"arch":"arm64"}')
    idx = c.index("multi", "latest", [amd, arm])
    kamd = c.image("kept", None, [layer("kept amd64")], b'{"k":"amd64"}')
    karm = c.image("kept", None, [layer("kept arm64")], b'{"k":"arm64"}')
    c.index("kept", "latest", [kamd, karm])
    check("the index goes (DELETE)", c.delete("multi", idx[0]) == 202)
    rc, report, err = gc_json(root, "--grace", "0s", "--delete-untagged")
    check("gc --delete-untagged while serving (exit 0)", rc == 0, err)
    check("the deleted index's untagged child is gone", c.manifest_status("multi", arm[0]) == 404)
    check("its tagged child stays", c.manifest_status("multi", amd[0]) == 200)
    ok, e = skopeo_pull(server.port, "multi", "amd64")
    check("and pulls", ok, e)
    check("a tagged index keeps its untagged children", c.manifest_status("kept", kamd[0]) == 200 and
          c.manifest_status("kept", karm[0]) == 200)
    ok, e = skopeo_pull(server.port, "kept", "latest", all_images=True)
    check("and pulls with every platform", ok, e)
    on_disk, _ = blob_files(root)
    check("exactly the right blobs: the index, arm64's manifest, config and layer gone; amd64's kept",
          {idx[0], arm[0], sha(layer("arm64 layer")), sha(b'{"arch":"arm64"}')}.isdisjoint(on_disk) and
          {amd[0], sha(layer("amd64 layer")), kamd[0], karm[0], sha(layer("kept arm64"))} <= on_disk)

    subject = c.image("signed", "v1", [layer("signed layer")], b'{"s":1}')
    sig = c.image("signed", None, [layer("signature payload", 300)], b'{"sig":1}', subject=subject)
    gc(root, "--grace", "0s", "--delete-untagged")
    status, _, body = c.request("GET", f"/v2/signed/referrers/{subject[0]}")
    check("a signature survives gc while its subject lives",
          c.manifest_status("signed", sig[0]) == 200 and sig[0] in body.decode())
    check("DELETE of the subject", c.delete("signed", subject[0]) == 202)
    rc, report, err = gc_json(root, "--grace", "0s")  # also without --delete-untagged
    on_disk, _ = blob_files(root)
    check("after its subject is deleted, the signature goes (manifest and payload)",
          rc == 0 and c.manifest_status("signed", sig[0]) == 404 and
          sha(layer("signature payload", 300)) not in on_disk and sig[0] not in on_disk, (rc, err))
    check("the emptied repository leaves the catalog", "signed" not in c.catalog(), c.catalog())

    gone = c.image("gone/app", "v1", [layer("gone only")], b'{"gone":1}')
    check("a repository to remove by hand is listed", "gone/app" in c.catalog())
    shutil.rmtree(os.path.join(root, V2, "repositories", "gone"))
    check("rm -rf repositories/NAME: the running server's catalog drops it at once", "gone/app" not in c.catalog())
    check("its tags and manifests are gone at once",
          c.request("GET", "/v2/gone/app/tags/list")[0] == 404 and c.manifest_status("gone/app", "v1") == 404 and
          c.manifest_status("gone/app", gone[0]) == 404)
    gc(root, "--grace", "0s")
    on_disk, _ = blob_files(root)
    check("the next gc frees its blobs", gone[0] not in on_disk and sha(layer("gone only")) not in on_disk)
    again = c.image("gone/app", "v1", [layer("gone only")], b'{"gone":1}')
    ok, e = skopeo_pull(server.port, "gone/app", "v1")
    check("a re-push after gc works (no stale cache says a blob is there)", again == gone and ok, e)

    # rm: the supported form of rm -rf, while the server serves.
    v1 = c.image("rmme/app", "v1", [layer("rm v1")], b'{"rm":1}')
    v2 = c.image("rmme/app", "v2", [layer("rm v2")], b'{"rm":2}')
    nested = c.image("rmme/app/nested", "v1", [layer("rm nested")], b'{"rm":3}')

    def rm(*what):
        p = subprocess.run([BIN, "rm", "--root", root, *what], capture_output=True, text=True, timeout=60)
        return p.returncode, p.stdout + p.stderr

    rc, out = rm("--dry-run", "rmme/app:v1")
    check("rm --dry-run says what would go and changes nothing",
          rc == 0 and "would remove tag rmme/app:v1" in out and c.manifest_status("rmme/app", "v1") == 200, out)
    rc, out = rm("rmme/app:v1")
    check("rm NAME:TAG removes the tag; its manifest stays (untagged)",
          rc == 0 and c.manifest_status("rmme/app", "v1") == 404 and c.manifest_status("rmme/app", v1[0]) == 200, out)
    rc, out = rm("rmme/app@" + v2[0])
    check("rm NAME@DIGEST removes the manifest and its tags",
          rc == 0 and c.manifest_status("rmme/app", v2[0]) == 404 and c.manifest_status("rmme/app", "v2") == 404, out)
    rc, out = rm("rmme/app")
    check("rm NAME removes the repository at once; a nested one stays",
          rc == 0 and "rmme/app" not in c.catalog() and "rmme/app/nested" in c.catalog() and
          c.manifest_status("rmme/app", v1[0]) == 404, (out, c.catalog()))
    rc, out = rm("rmme/nosuch")
    check("rm of what is not there: exit 2, named", rc == 2 and "rmme/nosuch" in out, (rc, out))
    rc, out = rm("Not A Name", "rmme/app/nested")
    check("rm of a bad name: exit 1 before anything goes",
          rc == 1 and "rmme/app/nested" in c.catalog(), (rc, out))
    gc(root, "--grace", "0s")
    on_disk, _ = blob_files(root)
    check("the next gc frees the removed repository's blobs, not the nested one's",
          {v1[0], v2[0], sha(layer("rm v1")), sha(layer("rm v2"))}.isdisjoint(on_disk) and
          {nested[0], sha(layer("rm nested"))} <= on_disk)

    # du: unique and shared bytes per repository, what gc would free.
    cfg = os.path.join(TMP, "du.yml")
    with open(cfg, "w") as f:
        f.write(f"root: {root}\ngc: {{enabled: false, grace: 0s}}\n")
    a = c.image("du/a", "v1", [layer("du shared", 3000), layer("du a", 1000)], b'{"du":"a"}')
    b = c.image("du/b", "v1", [layer("du shared", 3000), layer("du b", 500)], b'{"du":"b"}')
    check("DELETE of du/b's manifest", c.delete("du/b", b[0]) == 202)

    def du():
        p = subprocess.run([BIN, "du", "--config", cfg, "--json"], capture_output=True, text=True, timeout=60)
        return p.returncode, (json.loads(p.stdout) if p.returncode == 0 else p.stderr)

    rc, usage = du()
    rows = {r["name"]: r for r in usage["repositories"]} if rc == 0 else {}
    check("du: a repository's unique bytes are its own blobs, the shared layer counted as shared",
          rc == 0 and rows["du/a"]["unique_bytes"] == a[1] + 1000 + len(b'{"du":"a"}') and
          rows["du/a"]["shared_bytes"] == 3000 and rows["du/a"]["tags"] == 1, usage)
    check("du: reclaimable now is what gc would free (du/b's own blobs, its manifest)",
          rc == 0 and usage["reclaimable_bytes"] == b[1] + 500 + len(b'{"du":"b"}'), usage)
    p = subprocess.run([BIN, "du", "--root", root], capture_output=True, text=True, timeout=60)
    check("du prints a table and a summary line", p.returncode == 0 and "REPOSITORY" in p.stdout and
          "reclaimable now by gc" in p.stdout, p.stdout + p.stderr)
    server.stop()


def retention():
    """Retention rules: reported by a dry run, applied by the server's schedule, then freed."""
    root = os.path.join(TMP, "retention")
    rules = ('retention:\n  - {repository: "ret/**", keep_last: 2, keep: [latest]}\n'
             '  - {repository: "old/**", older_than: 1h}\n')
    cfg = os.path.join(TMP, "retention-cli.yml")
    with open(cfg, "w") as f:
        f.write(f"root: {root}\ngc: {{enabled: false, grace: 0s, delete_untagged: true}}\n" + rules)
    server = Server("retention-push", root)
    c = Client(server.port)
    pushed = {}
    for tag in ("latest", "t1", "t2", "t3", "t4"):
        pushed[tag] = c.image("ret/app", tag, [layer("ret " + tag)], json.dumps({"ret": tag}).encode())
        time.sleep(0.02)
    c.image("old/app", "young", [layer("old young")], b'{"old":1}')
    c.image("keep/app", "t1", [layer("keep t1")], b'{"keep":1}')
    server.stop()
    p = subprocess.run([BIN, "gc", "--config", cfg, "--retention", "--dry-run"], capture_output=True, text=True)
    check("gc --retention --dry-run lists the tags the rules would drop, and nothing else",
          p.returncode == 0 and "would drop tag ret/app:t1" in p.stdout and "would drop tag ret/app:t2" in p.stdout and
          p.stdout.count("would drop tag") == 2, p.stdout + p.stderr)
    server = Server("retention", root, "gc: {interval: 1s, grace: 0s, delete_untagged: true}\n" + rules)
    c = Client(server.port)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and "retention: drops tag" not in server.text():
        time.sleep(0.1)
    time.sleep(1.5)  # and a collection after it
    check("the schedule logs each tag it drops", "retention: drops tag ret/app:t1" in server.text(), server.text()[-800:])
    check("the two oldest tags are gone, the two newest and the kept glob stay",
          [c.manifest_status("ret/app", t) for t in ("t1", "t2", "t3", "t4", "latest")] == [404, 404, 200, 200, 200])
    check("other rules and unmatched repositories keep their tags (young, no rule)",
          c.manifest_status("old/app", "young") == 200 and c.manifest_status("keep/app", "t1") == 200)
    on_disk, _ = blob_files(root)
    check("the collection freed what only the dropped tags kept",
          sha(layer("ret t1")) not in on_disk and pushed["t1"][0] not in on_disk and sha(layer("ret t3")) in on_disk)
    ok, e = skopeo_pull(server.port, "ret/app", "t3")
    check("a kept tag pulls", ok, e)
    server.stop()


def loop():
    """GC in a loop (grace 2 s) while 8 clients push and 2 delete."""
    grace = 2
    root = os.path.join(TMP, "loop")
    server = Server("loop", root)
    stop = threading.Event()
    errors, pushed, lock = [], {}, threading.Lock()
    pool = [layer("pool %d" % i, 4000) for i in range(24)]

    def pusher(n):
        c, rng, i = Client(server.port), random.Random(n), 0
        while not stop.is_set():
            repo, tag = f"load/p{n % 4}", f"t{n}-{i % 6}"
            layers = rng.sample(pool, 3) + [layer(f"own {n} {i}", 1000)]
            try:
                d = c.image(repo, tag, layers, json.dumps({"n": n, "i": i}).encode())
                with lock:
                    pushed[(repo, tag)] = d[0]
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(f"push {repo}:{tag}: {e!r}")
            i += 1

    def deleter(n):
        c, rng = Client(server.port), random.Random(100 + n)
        while not stop.is_set():
            with lock:
                victims = list(pushed.items())
            if victims:
                (repo, tag), digest = rng.choice(victims)
                status = c.delete(repo, digest)
                if status == 202:
                    with lock:
                        if pushed.get((repo, tag)) == digest:
                            del pushed[(repo, tag)]
            time.sleep(0.02)

    threads = [threading.Thread(target=pusher, args=(n,)) for n in range(8)]
    threads += [threading.Thread(target=deleter, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    runs = deleted = revived = 0
    gc_failures = []
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        rc, report, err = gc_json(root, "--grace", f"{grace}s", "--delete-untagged")
        if rc != 0 or report is None:
            gc_failures.append(err)
        else:
            runs += 1
            deleted += report["deleted"]["blobs"]
            revived += report["revived"]
    stop.set()
    for t in threads:
        t.join()
    print(f"loop: {runs} gc runs, {deleted} blobs deleted, {revived} put back, {len(pushed)} tags",
          flush=True)
    check("gc ran again and again during the load, every run fine", runs >= 5 and not gc_failures, gc_failures[:3])
    check("and deleted blobs of deleted images while they were pushed again", deleted > 0)
    check("every push ended with its manifest stored", not errors, errors[:5])
    c = Client(server.port)
    broken = [f"{repo}:{tag}" for (repo, tag), d in pushed.items() if c.manifest_status(repo, tag) != 200]
    check("every tag still resolves", not broken, broken[:5])
    pull_failures = []
    for (repo, tag) in sorted(pushed):
        ok, e = skopeo_pull(server.port, repo, tag)
        if not ok:
            pull_failures.append(f"{repo}:{tag}: {e}")
    check(f"every tag pulls completely with skopeo ({len(pushed)} tags)", not pull_failures, pull_failures[:3])
    _, bad = blob_files(root)
    check("every blob file's bytes match its digest", not bad, bad[:5])
    time.sleep(grace + 0.5)
    rc, _, err = gc(root, "--grace", f"{grace}s", "--delete-untagged")
    rc2, plan, err2 = gc_json(root, "--dry-run", "--grace", "0s", "--delete-untagged")
    check("nothing unreferenced older than the grace window is left",
          rc == 0 and rc2 == 0 and plan and not plan["garbage"] and not plan["revisions"],
          (err, err2, plan and plan["garbage"][:3]))
    server.stop()


def plant_garbage(root, n, salt=b""):
    """`n` blobs nobody references, an hour old: a sweep with work to do."""
    old = time.time() - 7200
    for i in range(n):
        data = salt + b"garbage %d" % i
        hexd = hashlib.sha256(data).hexdigest()
        d = os.path.join(root, V2, "blobs", "sha256", hexd[:2], hexd)
        path = os.path.join(d, "data")
        for attempt in range(10):  # a collection running now may tidy the new directory away
            try:
                os.makedirs(d, exist_ok=True)
                with open(path, "wb") as f:
                    f.write(data)
                os.utime(path, (old, old))
                break
            except FileNotFoundError:
                time.sleep(0.001)


def runs_in(log_text):
    """The collections a server's log reports: (lock taken, lock released) in unix ms."""
    return [(int(a), int(b)) for a, b in
            re.findall(r"gc: storage lock held by \S+ from (\d+) to (\d+) \(unix ms\)", log_text)]


def shared_root():
    """Two scheduled servers and a command-line gc on one root; a held lock; kill -9."""
    root = os.path.join(TMP, "shared")
    plant_garbage(root, 1000)
    # A lock another process holds for 4 s more.
    os.makedirs(os.path.join(root, V2, "_gc"))
    with open(os.path.join(root, V2, "_gc", "lock"), "w") as f:
        json.dump({"owner": "test-holder", "expires": int(time.time()) + 4, "acquired": int(time.time())}, f)
    config = "log: {level: info}\ngc: {interval: 1s, grace: 0s, lock_ttl: 5s}\n"
    one, two = Server("shared-1", root, config), Server("shared-2", root, config)
    rc, _, err = gc(root, "--grace", "0s")
    check("a held lock: the command-line gc says who holds it and exits 3", rc == 3 and "test-holder" in err, (rc, err))
    time.sleep(1.5)
    check("the scheduled runs wait for it too", "not now: storage locked by test-holder" in one.text() + two.text(),
          one.text()[-500:])
    check("nothing was swept while it was held", len(blob_files(root)[0]) == 1000)
    # Rounds of new garbage while all three collect: each round goes, one sweep at a time.
    cli_runs, rounds = [], 0
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline and rounds < 4:
        rc, report, err = gc_json(root, "--grace", "0s")
        if rc == 0 and report:
            cli_runs.append((report["lock"]["taken_unix_ms"], report["lock"]["released_unix_ms"]))
        elif rc != 3:
            check("a command-line gc beside the servers either runs or finds the lock held", False, (rc, err))
        if not blob_files(root)[0]:
            rounds += 1
            plant_garbage(root, 1000, salt=b"round %d " % rounds)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and blob_files(root)[0]:
        time.sleep(0.2)
    one.stop()
    two.stop()
    server_runs = runs_in(one.text()) + runs_in(two.text())
    runs = sorted(server_runs + cli_runs)
    overlaps = [(a, b) for a, b in zip(runs, runs[1:]) if b[0] < a[1]]
    check("the expired lock was taken over and every round of garbage swept", rounds == 4 and not blob_files(root)[0],
          (rounds, len(blob_files(root)[0])))
    check("the servers and the command line all collected", runs_in(one.text()) and runs_in(two.text()) and cli_runs,
          (len(runs_in(one.text())), len(runs_in(two.text())), len(cli_runs)))
    check(f"only one collects at a time: {len(runs)} collections, none overlapping", runs and not overlaps,
          overlaps[:3])

    # kill -9 in the middle of a sweep.
    root = os.path.join(TMP, "killed")
    server = Server("killed", root)
    c = Client(server.port)
    keep = c.image("app", "v1", [layer("kept layer")], b'{"keep":1}')
    plant_garbage(root, 8000)
    proc = subprocess.Popen([BIN, "gc", "--root", root, "--grace", "0s", "--lock-ttl", "3s"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started.append(proc)
    trash = os.path.join(root, V2, "_gc", "trash")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not os.path.isdir(trash) and proc.poll() is None:
        time.sleep(0.005)
    time.sleep(0.2)
    mid = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    left = len(blob_files(root)[0])
    check("kill -9 landed mid-sweep", mid and 1 < left < 8001, left)
    rc, _, err = gc(root, "--grace", "0s")
    check("right after, the dead holder's lock refuses another gc (exit 3)", rc == 3, (rc, err))
    time.sleep(3.5)
    rc, report, err = gc_json(root, "--grace", "0s")
    check("once it expired, gc takes over and finishes (exit 0)", rc == 0 and report, err)
    on_disk, bad = blob_files(root)
    check("the store is consistent: only the image's blobs, all matching their digests",
          on_disk == {keep[0], sha(layer("kept layer")), sha(b'{"keep":1}')} and not bad, sorted(on_disk)[:5])
    check("no trash and no lock left", not os.path.exists(trash) and
          not os.path.exists(os.path.join(root, V2, "_gc", "lock")))
    ok, e = skopeo_pull(server.port, "app", "v1")
    check("the image pulls", ok, e)
    rrc, eligible, text = reference_gc(root, "killed", "--dry-run")
    check("docker-registry garbage-collect --dry-run finds nothing either", rrc == 0 and not eligible, text[-500:])
    server.stop()


def main():
    only = os.environ.get("RS_GC_PARTS", "").split()  # e.g. "loop shared_root"
    try:
        for part in (interop, lifecycle, retention, loop, shared_root):
            if only and part.__name__ not in only:
                continue
            t0 = time.monotonic()
            part()
            print(f"{part.__name__}: {time.monotonic() - t0:.1f} s", flush=True)
    finally:
        for p in started:
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(TMP, ignore_errors=True)
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


main()
