#!/usr/bin/env python3
"""Load test for `swiftinfer serve` (standard library only; loopback only).

  throughput: N concurrent streaming chat requests, each worker sending a new
  request as soon as its last one ends, for a fixed time; prints requests,
  errors, generated tokens per second, time to first token and the server's
  resident memory before and after.
      load_server.py --port P --streams 4 --duration 60 [--pid PID]

  rounds: one conversation of R rounds (the client sends the whole history
  each time, as OpenAI clients do); prints the time to first token of each
  round, then the last round again with a history the server has not cached.
      load_server.py --port P --rounds 10
"""
import argparse
import http.client
import json
import statistics
import sys
import threading
import time

TOPICS = ["a lighthouse keeper", "a lost robot", "a dragon who bakes", "a city under the sea", "a clockmaker",
          "a fox and a crow", "a train at midnight", "a garden on the moon", "a silent orchestra", "a paper boat",
          "a mountain village", "a library of maps", "a snow leopard", "a river that ran uphill", "a glass forest",
          "a kite festival"]


def stream_chat(args, messages, max_tokens, seed):
    """One streamed chat completion: (ok, completion tokens, ttft s, total s, text, error)."""
    body = {"model": args.model, "messages": messages, "max_tokens": max_tokens, "temperature": 0.7, "seed": seed,
            "stream": True, "stream_options": {"include_usage": True}}
    headers = {"Content-Type": "application/json"}
    if args.key:
        headers["Authorization"] = "Bearer " + args.key
    t0 = time.time()
    conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=600)
    try:
        conn.request("POST", "/v1/chat/completions", json.dumps(body), headers)
        r = conn.getresponse()
        if r.status != 200:
            return False, 0, 0, time.time() - t0, "", f"HTTP {r.status}: {r.read()[:200]!r}"
        ttft, text, tokens, done = None, "", 0, False
        for raw in r:
            line = raw.decode().strip()
            if not line.startswith("data: "):
                continue
            data = line[6:]
            if data == "[DONE]":
                done = True
                break
            ev = json.loads(data)
            if "error" in ev:
                return False, 0, 0, time.time() - t0, text, str(ev["error"])
            if ev.get("usage"):
                tokens = ev["usage"]["completion_tokens"]
            for c in ev["choices"]:
                piece = c["delta"].get("content")
                if piece:
                    if ttft is None:
                        ttft = time.time() - t0
                    text += piece
        if not done:
            return False, tokens, ttft or 0, time.time() - t0, text, "stream ended without [DONE]"
        return True, tokens, ttft if ttft is not None else time.time() - t0, time.time() - t0, text, None
    except Exception as e:  # noqa: BLE001 - any failure counts as an error
        return False, 0, 0, time.time() - t0, "", repr(e)
    finally:
        conn.close()


def rss_mib(pid):
    if not pid:
        return float("nan")
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def throughput(args):
    stop_at = time.time() + args.duration
    results, lock = [], threading.Lock()

    def worker(w):
        i = 0
        while time.time() < stop_at:
            topic = TOPICS[(w + i) % len(TOPICS)]
            msgs = [{"role": "user", "content": f"Write a long story about {topic}."}]
            res = stream_chat(args, msgs, args.max_tokens, seed=w * 1000 + i)
            with lock:
                results.append(res)
            i += 1

    rss0 = rss_mib(args.pid)
    t0 = time.time()
    threads = [threading.Thread(target=worker, args=(w,)) for w in range(args.streams)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.time() - t0
    rss1 = rss_mib(args.pid)
    ok = [r for r in results if r[0]]
    errors = [r[5] for r in results if not r[0]]
    tokens = sum(r[1] for r in ok)
    ttfts = [r[2] for r in ok]
    print(f"streams={args.streams} duration={wall:.1f}s requests={len(results)} errors={len(errors)} "
          f"tokens={tokens} tok/s={tokens / wall:.2f} "
          f"ttft_median={statistics.median(ttfts) if ttfts else float('nan'):.2f}s "
          f"rss_before={rss0:.1f}MiB rss_after={rss1:.1f}MiB")
    for e in errors[:5]:
        print("  error:", e)
    return 1 if errors else 0


def rounds(args):
    system = {"role": "system", "content": "You are a helpful assistant. Answer in two sentences."}
    msgs = [system]
    ttfts = []
    for i in range(args.rounds):
        msgs.append({"role": "user", "content": f"Tell me something about {TOPICS[i % len(TOPICS)]}."})
        ok, tokens, ttft, total, text, err = stream_chat(args, msgs, args.max_tokens, seed=i)
        if not ok:
            print("error:", err)
            return 1
        ttfts.append(ttft)
        print(f"round {i + 1:2d}: ttft {ttft:.2f}s, {tokens} tokens in {total:.2f}s")
        msgs.append({"role": "assistant", "content": text})
    # The same last round with a history the server has not cached (one
    # character of the system message changed): everything is prefilled.
    cold = [dict(system, content=system["content"] + " ")] + msgs[1:-1]
    ok, tokens, ttft, total, _, err = stream_chat(args, cold, args.max_tokens, seed=99)
    if not ok:
        print("error:", err)
        return 1
    print(f"round {args.rounds} again, history not cached: ttft {ttft:.2f}s")
    print(f"summary: ttft round 1 {ttfts[0]:.2f}s, round {args.rounds} {ttfts[-1]:.2f}s (cached), {ttft:.2f}s (not cached)")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--model", default="SmolLM2-135M-Instruct.Q4_1")
    ap.add_argument("--key", default=None)
    ap.add_argument("--pid", type=int, default=0, help="server pid, to report its resident memory")
    ap.add_argument("--streams", type=int, default=1)
    ap.add_argument("--duration", type=float, default=60, help="seconds to keep sending (at most 600)")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=0, help="run the conversation test instead")
    args = ap.parse_args()
    if not 1 <= args.streams <= 64 or not 0 < args.duration <= 600:
        ap.error("streams must be 1..64 and duration 0..600 s")
    return rounds(args) if args.rounds else throughput(args)


if __name__ == "__main__":
    sys.exit(main())
