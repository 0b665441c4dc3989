#!/usr/bin/env python3
"""The server's connection limits against real sockets, as an attacker on the network
would try them: silent and slow connections, one address holding many, bodies held in
memory, few file descriptors, malformed HTTP, and one slow commit beside small requests.

Usage: registry_limits_test.py PATH-TO-registry-setup. Talks to 127.0.0.x only (the whole
127/8 is loopback: other addresses there stand for other clients). Prints each check and
"N passed, N failed"; exits 1 when anything failed.
"""
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

BIN = os.path.realpath(sys.argv[1])
TMP = tempfile.mkdtemp(prefix="rs-limits.", dir=os.environ.get("TMPDIR", "/var/tmp"))
passed = failed = 0


def check(what, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print("ok:", what)
    else:
        failed += 1
        print("FAIL:", what)
        if detail:
            print("      " + str(detail).replace("\n", "\n      "))


class Server:
    """Our server on 127.0.0.1, port 0, with a config; stopped by its own PID."""

    def __init__(self, name, config, prefix=()):
        self.root = os.path.join(TMP, name)
        self.log_path = os.path.join(TMP, name + ".log")
        cfg = os.path.join(TMP, name + ".yml")
        with open(cfg, "w") as f:
            f.write(config)
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [*prefix, BIN, "serve", "--listen", "127.0.0.1:0", "--root", self.root, "--config", cfg],
            stderr=self.log, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
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
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


def connect(port, client="127.0.0.1", timeout=10):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((client, 0))
    s.connect(("127.0.0.1", port))
    return s


def read_answer(s):
    """The status of the first answer on `s`, or 'closed' / 'timeout'."""
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                return "closed"
            data += chunk
    except socket.timeout:
        return "timeout"
    except ConnectionResetError:
        return "closed"
    return data.split(b" ", 2)[1].decode()


def read_all(s):
    data = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    return data


def get(port, path="/v2/", client="127.0.0.1", extra=""):
    s = connect(port, client)
    try:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n{extra}Connection: close\r\n\r\n".encode())
        return read_answer(s)
    except (ConnectionResetError, BrokenPipeError):
        return "closed"
    finally:
        s.close()


def closed_within(s, seconds):
    """Seconds until the server closed `s` (it sends nothing), or None past `seconds`."""
    t0 = time.monotonic()
    s.settimeout(seconds)
    try:
        while s.recv(4096):
            pass
    except socket.timeout:
        return None
    except ConnectionResetError:
        pass
    return time.monotonic() - t0


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def upload_start(port, client="127.0.0.1", repo="limits/x"):
    """Opens a PATCH of 1 MB of which only the first bytes are sent: a busy connection."""
    s = connect(port, client)
    s.sendall(f"POST /v2/{repo}/blobs/uploads/ HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode())
    head = s.recv(4096).decode()
    location = re.search(r"Location: (\S+)", head).group(1)
    s.sendall(f"PATCH {location} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n".encode() + b"x" * 1000)
    return s


# ---- 1. Silent connections, one address holding many, a full server ----
srv = Server("conn", "limits:\n  header_timeout_s: 1\n  idle_timeout_s: 30\n  max_connections_per_ip: 3\n")
silent = connect(srv.port, "127.0.0.2")
took = closed_within(silent, 5)
check("a silent new connection is closed after the header timeout (1 s), not the idle one (30 s)",
      took is not None and took < 4, f"closed after {took} s")

s = connect(srv.port)
s.sendall(b"GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n")
first = read_answer(s)
time.sleep(2)
try:
    s.sendall(b"GET /v2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    second = read_answer(s)
except (BrokenPipeError, ConnectionResetError):
    second = "closed"
s.close()
check("a keep-alive connection waits for its next request for the idle timeout, past the header timeout",
      (first, second) == ("200", "200"), f"{first} then {second}")

busy = [upload_start(srv.port, "127.0.0.2") for _ in range(3)]
time.sleep(0.3)  # until the server has read each PATCH's header: busy, not idle
fourth = get(srv.port, client="127.0.0.2")
other = get(srv.port, client="127.0.0.3")
check("an address with max_connections_per_ip (3) busy connections gets 503 for a fourth", fourth == "503", fourth)
check("... while another address is served", other == "200", other)
for b in busy:
    b.close()
srv.stop()

srv = Server("full", "limits:\n  header_timeout_s: 30\n  max_connections: 4\n")
silent = [connect(srv.port, f"127.0.0.{10 + i}") for i in range(4)]
time.sleep(0.3)
t0 = time.monotonic()
answer = get(srv.port, client="127.0.0.20")
waited = time.monotonic() - t0
check("4 silent connections fill max_connections 4: a new client is served at once (the longest idle closed)",
      answer == "200" and waited < 5, f"{answer} after {waited:.1f} s")
gone = [closed_within(c, 0.5) for c in silent]
check("... and exactly the oldest silent connection was closed for it", gone[0] is not None and
      all(g is None for g in gone[1:]), gone)
for c in silent:
    c.close()
srv.stop()

# ---- 2. Bodies held in memory: a budget, a whole-body deadline, buffers freed ----
srv = Server("memory", "limits:\n  max_buffered_body_bytes: 1048576\n  buffered_body_timeout_s: 2\n"
                       "  io_timeout_s: 60\n")
s = connect(srv.port)
s.sendall(b"PUT /v2/limits/m/manifests/a HTTP/1.1\r\nHost: x\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\n"
          b"Content-Length: 900000\r\n\r\n{")
time.sleep(0.3)
t = connect(srv.port)
t.sendall(b"PUT /v2/limits/m/manifests/b HTTP/1.1\r\nHost: x\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\n"
          b"Content-Length: 900000\r\n\r\n{")
second = read_all(t).decode(errors="replace")
t.close()
check("a manifest PUT beyond max_buffered_body_bytes (1 MiB) held by another answers 503 with Retry-After",
      second.startswith("HTTP/1.1 503") and "Retry-After: 1" in second, second[:200])
# The first one trickles a byte each 0.3 s: every read makes progress, the whole body does not.
t0 = time.monotonic()
end = None
try:
    while time.monotonic() - t0 < 8:
        s.sendall(b" ")
        time.sleep(0.3)
except (BrokenPipeError, ConnectionResetError):
    end = time.monotonic() - t0
s.close()
check("a manifest body trickling in is cut at buffered_body_timeout (2 s) though each byte comes in time",
      end is not None and end < 5, f"cut after {end} s")
t = connect(srv.port, timeout=1)
t.sendall(b"PUT /v2/limits/m/manifests/c HTTP/1.1\r\nHost: x\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\n"
          b"Content-Length: 900000\r\n\r\n{")
again = read_answer(t)
t.close()
check("... and its budget is given back: the next 900 KB manifest PUT is read, not refused", again == "timeout", again)

before = rss_kib(srv.proc.pid)
conns = []
for i in range(200):
    c = connect(srv.port)
    body = b"x" * 300000
    c.sendall(b"POST /v2/limits/r/blobs/uploads/ HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
    head = c.recv(4096).decode()
    location = re.search(r"Location: (\S+)", head).group(1)
    # Chunked: the body passes through the connection's own buffers (a sized one need not).
    c.sendall(f"PATCH {location} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
              f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n")
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += c.recv(4096)
    conns.append(c)
grown = (rss_kib(srv.proc.pid) - before) / 1024
# (Holding each connection's buffers, the old server grew by 27 MiB here.)
check("200 idle keep-alive connections after a chunked 300 KB PATCH each hold no body buffer (RSS +%.1f MiB < 10)"
      % grown, grown < 10, f"{grown:.1f} MiB")
for c in conns:
    c.close()

# A storm of manifest PUTs refused for the budget: each is answered 503 and its body read
# and dropped for a while before the close, without a body buffer of its own.
holder = connect(srv.port)
holder.sendall(b"PUT /v2/limits/m/manifests/h HTTP/1.1\r\nHost: x\r\n"
               b"Content-Type: application/vnd.oci.image.manifest.v1+json\r\nContent-Length: 900000\r\n\r\n{")
time.sleep(0.3)
before = rss_kib(srv.proc.pid)
refused, storm = 0, []
for i in range(100):
    c = connect(srv.port)
    c.sendall(b"PUT /v2/limits/m/manifests/s HTTP/1.1\r\nHost: x\r\n"
              b"Content-Type: application/vnd.oci.image.manifest.v1+json\r\nContent-Length: 900000\r\n\r\n{")
    try:
        c.sendall(b" " * 200000)
    except OSError:
        pass
    storm.append(c)
time.sleep(0.3)
for c in storm:
    if read_answer(c) == "503":
        refused += 1
grown = (rss_kib(srv.proc.pid) - before) / 1024
# (The old server read each refused body into a 256 KiB chunk of its own: +25 MiB here.)
check("100 manifest PUTs refused for the budget (503) while their bodies are drained: RSS +%.1f MiB < 8"
      % grown, refused == 100 and grown < 8, f"{refused} answered 503, {grown:.1f} MiB")
for c in storm + [holder]:
    c.close()
srv.stop()

# ---- 3. Few file descriptors: connections fitted under the limit, the soft limit raised ----
if shutil.which("prlimit"):
    srv = Server("fds", "limits:\n  header_timeout_s: 30\n", prefix=("prlimit", "--nofile=200:200"))
    lowered = re.search(r"max_connections 4096 lowered to (\d+)", srv.text())
    check("under an open-file limit of 200, max_connections 4096 is lowered (and says so)",
          lowered is not None and int(lowered.group(1)) <= 100, srv.text()[-400:])
    digest = "sha256:" + hashlib.sha256(b"fd test").hexdigest()
    s = connect(srv.port)
    s.sendall(f"POST /v2/limits/f/blobs/uploads/?digest={digest} HTTP/1.1\r\nHost: x\r\n"
              f"Content-Length: 7\r\nConnection: close\r\n\r\nfd test".encode())
    pushed = read_answer(s)
    s.close()
    idle = [connect(srv.port, f"127.0.1.{i % 250 + 1}") for i in range(150)]
    time.sleep(0.5)
    answers = [get(srv.port, f"/v2/limits/f/blobs/{digest}", client="127.0.2.1") for _ in range(5)]
    check("150 idle connections under that limit: blob GETs are still served (200, never 500)",
          pushed == "201" and answers == ["200"] * 5, f"push {pushed}, GETs {answers}")
    check("... and no request was answered 5xx", not re.search(r'" 5\d\d in=', srv.text()), "")
    for c in idle:
        c.close()
    srv.stop()
    srv = Server("fds-soft", "", prefix=("prlimit", "--nofile=256:4096"))
    with open(f"/proc/{srv.proc.pid}/limits") as f:
        limits = f.read()
    check("the soft open-file limit is raised to the hard one at start (256 -> 4096)",
          re.search(r"Max open files\s+4096\s+4096", limits) is not None, limits)
    srv.stop()
else:
    print("skip: prlimit (util-linux) is not installed")

# ---- 4. HTTP framing: chunk sizes, Host, absolute-form targets ----
srv = Server("http", "")
s = connect(srv.port)
s.sendall(b"PUT /v2/limits/c/manifests/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
answer = read_answer(s)
s.close()
check("a malformed chunk size gets 400 (RFC 9112), not a bare close", answer == "400", answer)
s = connect(srv.port)
s.sendall(b"GET /v2/ HTTP/1.1\r\nConnection: close\r\n\r\n")
check("an HTTP/1.1 request without Host gets 400", read_answer(s) == "400")
s.close()
s = connect(srv.port)
s.sendall(b"GET /v2/ HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n")
check("an HTTP/1.1 request with two Host fields gets 400", read_answer(s) == "400")
s.close()
s = connect(srv.port)
s.sendall(b"GET /v2/ HTTP/1.0\r\n\r\n")
check("an HTTP/1.0 request without Host is served", read_answer(s) == "200")
s.close()
check("an absolute-form target is served as its path",
      get(srv.port, f"http://127.0.0.1:{srv.port}/v2/") == "200" and get(srv.port, "HTTP://x/v2/_catalog") == "200")
srv.stop()

# ---- 5. A commit that hashes a large upload does not hold small requests (one I/O thread) ----
srv = Server("slow-commit", "threads: 1\n")
size = 256 * 1024 * 1024
block = os.urandom(1 << 20)
h = hashlib.sha512()
for _ in range(size >> 20):
    h.update(block)
digest = "sha512:" + h.hexdigest()
s = connect(srv.port, timeout=60)
s.sendall(b"POST /v2/limits/big/blobs/uploads/ HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
location = re.search(r"Location: (\S+)", s.recv(4096).decode()).group(1)
s.sendall(f"PUT {location}?digest={digest} HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\n\r\n".encode())
for _ in range(size >> 20):
    s.sendall(block)
# The whole body is sent: the server now re-hashes it with sha512 (the upload hashed sha256).
order = []
lock = threading.Lock()


def commit():
    a = read_answer(s)
    with lock:
        order.append("commit " + a)


waiter = threading.Thread(target=commit)
waiter.start()
small = get(srv.port)
with lock:
    order.append("GET " + small)
waiter.join(120)
s.close()
check("a GET sent while a 256 MiB sha512 commit runs on the only I/O thread is answered first",
      order == ["GET 200", "commit 201"], order)
srv.stop()

shutil.rmtree(TMP, ignore_errors=True)
print(f"registry_limits_test.py: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
