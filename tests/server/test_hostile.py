"""Hostile clients against the running server, over raw sockets and plain
HTTP: each must get the right status with an OpenAI-style JSON error, and
the server must keep serving everyone else. Every case prints what it got,
for the table in docs/server.md."""
import json
import socket
import threading
import time
import unittest

from common import (KEY, MAX_BODY, MAX_CONNECTIONS, MODEL, QUICK, TIMEOUT, body_of, chat_body, connect, metrics, read_all,
                    request, status_of, wait_idle)


class Hostile(unittest.TestCase):
    def expect_error(self, what, status, headers, body, want_status, want_code=None):
        print(f"  {what}: {status} {body[:160].decode(errors='replace')}")
        self.assertEqual(status, want_status, body)
        err = json.loads(body)["error"]
        self.assertEqual(set(err), {"message", "type", "param", "code"})
        self.assertTrue(err["message"])
        if want_code:
            self.assertEqual(err["code"], want_code)
        return err

    def post(self, body, key=KEY, headers=None, path="/v1/chat/completions"):
        return request("POST", path, body, key=key, headers=headers)

    def test_malformed_json(self):
        self.expect_error("malformed JSON", *self.post(b'{"model": "x", "messages": [', headers={"Content-Type": "application/json"}),
                          400, "invalid_json")
        self.expect_error("not an object", *self.post(b'[1, 2, 3]'), 400, "invalid_json")
        self.expect_error("empty body", *self.post(b''), 400, "invalid_json")

    def test_wrong_types(self):
        err = self.expect_error("temperature as a string", *self.post(chat_body(temperature="hot")), 400, "invalid_type")
        self.assertEqual(err["param"], "temperature")
        self.expect_error("messages as a string", *self.post({"model": MODEL, "messages": "hi"}), 400, "invalid_type")
        self.expect_error("max_tokens 0", *self.post(chat_body(max_tokens=0)), 400, "invalid_value")
        self.expect_error("content as a number", *self.post({"model": MODEL, "messages": [{"role": "user", "content": 5}]}),
                          400, "invalid_type")

    def test_unknown_model(self):
        self.expect_error("unknown model", *self.post(chat_body(model="gpt-4o")), 404, "model_not_found")

    def test_empty_and_oversized_messages(self):
        self.expect_error("empty messages", *self.post({"model": MODEL, "messages": []}), 400, "empty_array")
        self.expect_error("empty content", *self.post(chat_body(content="")), 400, "invalid_value")
        self.expect_error("oversized message (20 KiB)", *self.post(chat_body(content="x" * 20000)), 400,
                          "string_above_max_length")

    def test_body_over_limit(self):
        big = json.dumps(chat_body(content="y" * (MAX_BODY + 1000))).encode()
        self.expect_error("body over --max-body", *self.post(big), 413, "request_too_large")
        # The same without a Content-Length: chunked transfer encoding.
        s = connect()
        head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n"
                "Transfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n").encode()
        s.sendall(head)
        for i in range(0, len(big), 8192):
            part = big[i:i + 8192]
            try:
                s.sendall(b"%x\r\n%s\r\n" % (len(part), part))
            except BrokenPipeError:
                break
        try:
            s.sendall(b"0\r\n\r\n")
        except BrokenPipeError:
            pass
        raw = read_all(s)
        s.close()
        self.expect_error("chunked body over --max-body", status_of(raw), {}, body_of(raw), 413, "request_too_large")

    def test_auth(self):
        self.expect_error("no API key", *self.post(chat_body(), key=None), 401, "invalid_api_key")
        self.expect_error("wrong API key", *self.post(chat_body(), key=KEY + "x"), 401, "invalid_api_key")
        self.expect_error("wrong key on /v1/models", *request("GET", "/v1/models", key="nope"), 401, "invalid_api_key")
        status, _, body = request("GET", "/health", key=None)
        print(f"  /health without a key: {status} {body.decode()}")
        self.assertEqual(status, 200)

    def test_routing(self):
        self.expect_error("unknown path", *request("GET", "/v1/nothing"), 404, "not_found")
        self.expect_error("GET on a POST endpoint", *request("GET", "/v1/chat/completions"), 405, "method_not_allowed")

    def test_slowloris(self):
        """Headers dribbled a byte a second: 408 after --timeout, while others are served."""
        s = connect()
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
        start = time.time()
        served = []
        closed_after = None
        raw = b""
        s.settimeout(1.0)
        while time.time() - start < TIMEOUT + 10:
            try:
                s.sendall(b"X")
            except (BrokenPipeError, ConnectionResetError):
                closed_after = time.time() - start
                break
            try:
                got = s.recv(65536)
                raw += got
                if not got:
                    closed_after = time.time() - start
                    break
            except socket.timeout:
                pass
            t0 = time.time()
            st, _, _ = request("GET", "/health", key=None, timeout=5)
            served.append((st, time.time() - t0))
        s.close()
        print(f"  slowloris: closed after {closed_after} s, got {raw[:12]!r}; /health meanwhile: {served[:3]}")
        self.assertIsNotNone(closed_after, "the server never closed a connection dribbling headers")
        self.assertLess(closed_after, TIMEOUT + 3)
        if raw:
            self.expect_error("slowloris", status_of(raw), {}, body_of(raw), 408, "request_timeout")
        self.assertTrue(served and all(st == 200 and dt < 2 for st, dt in served), served)

    def test_slow_body(self):
        s = connect()
        body = json.dumps(chat_body()).encode()
        s.sendall((f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n"
                   f"Content-Length: {len(body)}\r\n\r\n").encode() + body[:10])
        t0 = time.time()
        raw = read_all(s)
        s.close()
        print(f"  body stalls after 10 bytes: answered after {time.time() - t0:.1f} s")
        self.expect_error("stalled body", status_of(raw), {}, body_of(raw), 408, "request_timeout")
        self.assertLess(time.time() - t0, TIMEOUT + 3)

    def test_disconnect_mid_stream(self):
        wait_idle()
        before = metrics()
        s = connect()
        body = json.dumps(chat_body(content="Write a very long story about the sea.", max_tokens=200, stream=True)).encode()
        s.sendall((f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n"
                   f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body)
        got = b""
        while got.count(b"data: ") < 3:
            b = s.recv(4096)
            self.assertTrue(b, "stream ended early")
            got += b
        s.close()  # leave mid-stream
        t0 = time.time()
        after = wait_idle(timeout=60)
        made = after["swiftinfer_completion_tokens_total"] - before["swiftinfer_completion_tokens_total"]
        print(f"  client left mid-stream: slot free after {time.time() - t0:.1f} s, {made:.0f} of 200 tokens made")
        self.assertLess(made, 200)
        st, _, body = request("POST", "/v1/chat/completions", chat_body())
        self.assertEqual(st, 200, body)

    def test_too_many_connections(self):
        wait_idle()
        socks = []
        try:
            for _ in range(MAX_CONNECTIONS + 2):
                socks.append(connect())
            time.sleep(0.3)
            extra = socks[-1]
            extra.sendall(b"GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + KEY.encode() + b"\r\n\r\n")
            raw = read_all(extra)
            self.expect_error(f"connection {MAX_CONNECTIONS + 2} of {MAX_CONNECTIONS}", status_of(raw), {}, body_of(raw),
                              503, "too_many_connections")
        finally:
            for s in socks:
                s.close()
        time.sleep(0.5)
        st, _, _ = request("GET", "/v1/models")
        self.assertEqual(st, 200)

    def test_queue_full(self):
        """More concurrent requests than slots + queue: the excess gets 429."""
        wait_idle()
        results = []

        def one(i):
            st, _, body = request("POST", "/v1/chat/completions",
                                  chat_body(content=f"Count to {20 + i}.", max_tokens=4 if QUICK else 24, temperature=0.5, seed=i))
            results.append((st, body))

        threads = [threading.Thread(target=one, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
            time.sleep(0.05)
        for t in threads:
            t.join()
        codes = sorted(st for st, _ in results)
        print(f"  6 requests at once (2 slots, queue of 2): {codes}")
        self.assertIn(429, codes)
        self.assertIn(200, codes)
        for st, body in results:
            if st == 429:
                self.expect_error("over the queue", st, {}, body, 429, "queue_full")
            else:
                self.assertEqual(st, 200, body)

    def test_zz_still_serving(self):
        wait_idle()
        st, _, body = request("POST", "/v1/chat/completions", chat_body())
        self.assertEqual(st, 200, body)
        self.assertTrue(json.loads(body)["choices"][0]["message"]["content"])


if __name__ == "__main__":
    unittest.main()
