#!/usr/bin/env python3
"""A minimal v2 registry client for bench/registry_bench.sh (standard library only).

usage: registry_client.py push LAYOUT REPO TAG BASE_URL
           Pushes the image that LAYOUT's index.json tags TAG (blobs via POST + PUT
           ?digest=, then the manifest) into REPO. Prints the manifest digest.
       registry_client.py chunked FILE DIGEST REPO BASE_URL CHUNK_BYTES
           Uploads FILE as DIGEST with POST, PATCH chunks (Content-Range start-end,
           following each Location) and a closing PUT ?digest=, on one keep-alive
           connection. Prints the seconds it took, from the POST to the 201.
       registry_client.py digest FILE
           Prints sha256:<hex> of FILE.

Talks plain HTTP to 127.0.0.1 only; any unexpected status is an error (exit 1).
"""
import hashlib
import http.client
import json
import os
import sys
import time
import urllib.parse


def fail(msg):
    print(f"registry_client: {msg}", file=sys.stderr)
    sys.exit(1)


class Conn:
    def __init__(self, base):
        u = urllib.parse.urlsplit(base)
        if u.hostname not in ("127.0.0.1", "localhost"):
            fail(f"refusing to talk to '{u.hostname}': the benchmark stays on 127.0.0.1")
        self.host, self.port = u.hostname, u.port
        self.c = http.client.HTTPConnection(self.host, self.port, timeout=120)

    def request(self, method, target, body=None, headers=None, expect=(200,)):
        headers = dict(headers or {})
        if body is None and method in ("PUT", "PATCH", "POST"):
            headers.setdefault("Content-Length", "0")
        self.c.request(method, target, body=body, headers=headers)
        r = self.c.getresponse()
        data = r.read()
        if r.status not in expect:
            fail(f"{method} {target}: {r.status} {data[:300]!r}")
        return r, data

    @staticmethod
    def target_of(location):
        # docker-registry answers absolute URLs, we answer paths: keep path + query.
        u = urllib.parse.urlsplit(location)
        return u.path + ("?" + u.query if u.query else "")

    @staticmethod
    def with_digest(target, digest):
        return target + ("&" if "?" in target else "?") + "digest=" + urllib.parse.quote(digest, safe=":")


def file_digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(8 << 20)
            if not b:
                break
            h.update(b)
    return "sha256:" + h.hexdigest()


def push(layout, repo, tag, base):
    with open(os.path.join(layout, "index.json")) as f:
        index = json.load(f)
    desc = None
    for m in index["manifests"]:
        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag:
            desc = m
    if desc is None:
        fail(f"layout '{layout}' has no image tagged '{tag}'")

    def blob_bytes(digest):
        with open(os.path.join(layout, "blobs", *digest.split(":", 1)), "rb") as f:
            return f.read()

    manifest_bytes = blob_bytes(desc["digest"])
    manifest = json.loads(manifest_bytes)
    if "layers" not in manifest:
        fail("only single-image manifests are pushed by this helper")
    c = Conn(base)
    for b in [manifest["config"]] + manifest["layers"]:
        r, _ = c.request("POST", f"/v2/{repo}/blobs/uploads/", expect=(202,))
        target = Conn.with_digest(Conn.target_of(r.getheader("Location")), b["digest"])
        c.request("PUT", target, body=blob_bytes(b["digest"]),
                  headers={"Content-Type": "application/octet-stream"}, expect=(201,))
    c.request("PUT", f"/v2/{repo}/manifests/{tag}", body=manifest_bytes,
              headers={"Content-Type": desc["mediaType"]}, expect=(201,))
    print(desc["digest"])


def chunked(path, digest, repo, base, chunk):
    size = os.path.getsize(path)
    c = Conn(base)
    with open(path, "rb") as f:
        started = time.monotonic()
        r, _ = c.request("POST", f"/v2/{repo}/blobs/uploads/", expect=(202,))
        target = Conn.target_of(r.getheader("Location"))
        offset = 0
        while offset < size:
            data = f.read(chunk)
            headers = {
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{offset}-{offset + len(data) - 1}",
                "Content-Length": str(len(data)),
            }
            r, _ = c.request("PATCH", target, body=data, headers=headers, expect=(202,))
            target = Conn.target_of(r.getheader("Location"))
            offset += len(data)
        c.request("PUT", Conn.with_digest(target, digest), expect=(201,))
        elapsed = time.monotonic() - started
    print(f"{elapsed:.6f}")


def main(argv):
    if len(argv) >= 2 and argv[1] == "push" and len(argv) == 6:
        push(argv[2], argv[3], argv[4], argv[5])
    elif len(argv) >= 2 and argv[1] == "chunked" and len(argv) == 7:
        chunked(argv[2], argv[3], argv[4], argv[5], int(argv[6]))
    elif len(argv) == 3 and argv[1] == "digest":
        print(file_digest(argv[2]))
    else:
        print(__doc__, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
