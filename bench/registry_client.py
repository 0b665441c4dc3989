#!/usr/bin/env python3
"""A minimal v2 registry client for bench/registry_bench.sh (standard library only).

usage: registry_client.py push LAYOUT REPO TAG BASE_URL
           Pushes the image that LAYOUT's index.json tags TAG (blobs via POST + PUT
           ?digest=, then the manifest) into REPO. Prints the manifest digest.
       registry_client.py chunked FILE DIGEST REPO BASE_URL CHUNK_BYTES
           Uploads FILE as DIGEST with POST, PATCH chunks (Content-Range start-end,
           following each Location) and a closing PUT ?digest=, on one keep-alive
           connection. Prints the seconds it took, from the POST to the 201.
       registry_client.py digest FILE [ALGORITHM]
           Prints <algorithm>:<hex> of FILE (sha256 by default).
       registry_client.py stage FILE REPO BASE_URL CHUNK_BYTES
           Uploads FILE with POST and PATCH chunks, without the closing PUT: prints the
           session's target (the commit, PUT <target>&digest=, is the caller's to time).
       registry_client.py hold BASE_URL N idle|put
           Opens N connections (from 127.0.0.1, 127.0.0.2, ... at most 250 each) and holds
           them: idle sends nothing; put sends a manifest PUT announcing 4 MiB - 1 bytes and
           all but its last byte. Prints "held H refused R" once all are set up (refused: the
           server answered or closed), then holds them until its stdin closes.

Talks plain HTTP to 127.0.0.1 only; any unexpected status is an error (exit 1).
"""
import hashlib
import http.client
import json
import os
import resource
import select
import socket
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


def file_digest(path, algorithm="sha256"):
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while True:
            b = f.read(8 << 20)
            if not b:
                break
            h.update(b)
    return f"{algorithm}:{h.hexdigest()}"


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


def stage(path, repo, base, chunk):
    size = os.path.getsize(path)
    c = Conn(base)
    with open(path, "rb") as f:
        r, _ = c.request("POST", f"/v2/{repo}/blobs/uploads/", expect=(202,))
        target = Conn.target_of(r.getheader("Location"))
        offset = 0
        while offset < size:
            data = f.read(chunk)
            headers = {"Content-Type": "application/octet-stream",
                       "Content-Range": f"{offset}-{offset + len(data) - 1}", "Content-Length": str(len(data))}
            r, _ = c.request("PATCH", target, body=data, headers=headers, expect=(202,))
            target = Conn.target_of(r.getheader("Location"))
            offset += len(data)
    print(target)


def answered_or_closed(sock):
    readable, _, _ = select.select([sock], [], [], 0)
    return bool(readable)   # an answer, or the end of the connection


def hold(base, n, kind):
    u = urllib.parse.urlsplit(base)
    if u.hostname != "127.0.0.1":
        fail(f"refusing to talk to '{u.hostname}': the benchmark stays on 127.0.0.1")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, n + 64)), hard))
    body_size = 4 * 1024 * 1024 - 1
    body = b"{" + b" " * (body_size - 2)   # all but the last byte
    socks, refused = [], 0
    for i in range(n):
        s = socket.socket()
        s.bind((f"127.0.0.{1 + i // 250}", 0))
        s.settimeout(10)
        try:
            s.connect((u.hostname, u.port))
            if kind == "put":
                s.sendall(f"PUT /v2/bench/slow/manifests/t{i} HTTP/1.1\r\nHost: {u.netloc}\r\n"
                          f"Content-Type: application/vnd.oci.image.manifest.v1+json\r\n"
                          f"Content-Length: {body_size}\r\n\r\n".encode())
                s.sendall(body)
        except OSError:
            refused += 1
            s.close()
            continue
        socks.append(s)
    time.sleep(0.5)   # let the server answer the ones it refuses
    held = [s for s in socks if not answered_or_closed(s)]
    refused += len(socks) - len(held)
    print(f"held {len(held)} refused {refused}", flush=True)
    sys.stdin.read()
    for s in socks:
        s.close()


def main(argv):
    if len(argv) >= 2 and argv[1] == "push" and len(argv) == 6:
        push(argv[2], argv[3], argv[4], argv[5])
    elif len(argv) >= 2 and argv[1] == "chunked" and len(argv) == 7:
        chunked(argv[2], argv[3], argv[4], argv[5], int(argv[6]))
    elif len(argv) in (3, 4) and argv[1] == "digest":
        print(file_digest(*argv[2:]))
    elif len(argv) == 6 and argv[1] == "stage":
        stage(argv[2], argv[3], argv[4], int(argv[5]))
    elif len(argv) == 5 and argv[1] == "hold" and argv[4] in ("idle", "put"):
        hold(argv[2], int(argv[3]), argv[4])
    else:
        print(__doc__, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
