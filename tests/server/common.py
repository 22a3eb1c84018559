"""Helpers shared by the server tests: where the server is (from the
environment test_server.sh sets), plain HTTP requests, raw sockets, and
reading /metrics."""
import http.client
import json
import os
import socket
import time

PORT = int(os.environ["SI_PORT"])
KEY = os.environ["SI_KEY"]
MODEL = os.environ["SI_MODEL_ID"]
PID = int(os.environ.get("SI_PID", "0"))
TIMEOUT = int(os.environ.get("SI_TIMEOUT", "3"))
MAX_CONNECTIONS = int(os.environ.get("SI_MAX_CONNECTIONS", "8"))
MAX_BODY = int(os.environ.get("SI_MAX_BODY", "65536"))
BASE = f"http://127.0.0.1:{PORT}"
# Set for the sanitizer build, where the model runs many times slower: the
# same checks with fewer rounds and shorter replies.
QUICK = os.environ.get("SI_SERVER_TEST_QUICK") == "1"


def request(method, path, body=None, key=KEY, headers=None, timeout=600):
    """One request on a fresh connection: (status, headers, body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=timeout)
    h = dict(headers or {})
    if key is not None:
        h["Authorization"] = f"Bearer {key}"
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        h.setdefault("Content-Type", "application/json")
    try:
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        conn.close()


def chat_body(content="Say hello.", **kw):
    body = {"model": MODEL, "messages": [{"role": "user", "content": content}], "max_tokens": 8, "temperature": 0}
    body.update(kw)
    return body


def connect():
    s = socket.create_connection(("127.0.0.1", PORT), timeout=900)
    return s


def read_all(sock, limit=1 << 20):
    """Reads until the server closes the connection (or limit bytes)."""
    data = b""
    while len(data) < limit:
        try:
            b = sock.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not b:
            break
        data += b
    return data


def status_of(raw):
    """The status code of a raw HTTP response, or None."""
    if not raw.startswith(b"HTTP/1."):
        return None
    return int(raw.split(b" ", 2)[1])


def body_of(raw):
    head, _, body = raw.partition(b"\r\n\r\n")
    if b"transfer-encoding: chunked" in head.lower():
        out, rest = b"", body
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            n = int(size_line.split(b";")[0], 16)
            if n == 0:
                break
            out += rest[:n]
            rest = rest[n + 2:]
        return out
    return body


def metrics():
    """/metrics as {sample name with labels: value}."""
    status, _, body = request("GET", "/metrics")
    assert status == 200, status
    out = {}
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def wait_idle(timeout=900):
    """Waits until no request is queued or running; returns the metrics."""
    end = time.time() + timeout
    while True:
        m = metrics()
        if m["swiftinfer_active_requests"] == 0 and m["swiftinfer_queue_length"] == 0:
            return m
        if time.time() > end:
            raise AssertionError(f"server still busy after {timeout} s: {m}")
        time.sleep(0.5)


def rss_kib(pid=PID):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0
