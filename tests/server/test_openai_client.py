"""The official openai Python client against the running server: models,
a chat completion, a streamed one, a legacy completion, stop sequences and
seeds, and a 10-round conversation whose later rounds prefill only the new
message (checked through usage.prompt_tokens_details.cached_tokens and
/metrics)."""
import os
import time
import unittest

import openai

from common import BASE, KEY, MODEL, QUICK, metrics, wait_idle

ROUNDS = int(os.environ.get("SI_TEST_ROUNDS", "3" if QUICK else "10"))
N = 4 if QUICK else 12  # reply length of most requests

client = openai.OpenAI(base_url=BASE + "/v1", api_key=KEY, timeout=900, max_retries=0)


def streamed(messages, **kw):
    """Streams a chat completion: (text, finish_reason, usage, seconds to the first content, chunks)."""
    t0 = time.time()
    ttft = None
    text, finish, usage, chunks = "", None, None, []
    stream = client.chat.completions.create(model=MODEL, messages=messages, stream=True,
                                            stream_options={"include_usage": True}, **kw)
    for ch in stream:
        chunks.append(ch)
        if ch.usage:
            usage = ch.usage
        for c in ch.choices:
            if c.delta.content:
                if ttft is None:
                    ttft = time.time() - t0
                text += c.delta.content
            if c.finish_reason:
                finish = c.finish_reason
    return text, finish, usage, ttft if ttft is not None else time.time() - t0, chunks


class OpenAIClient(unittest.TestCase):
    def test_models(self):
        ids = [m.id for m in client.models.list()]
        print(f"  models: {ids}")
        self.assertEqual(ids, [MODEL])

    def test_chat(self):
        r = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "What is the capital of France?"}],
                                           max_tokens=N, temperature=0)
        c = r.choices[0]
        print(f"  chat: {c.message.content!r} finish={c.finish_reason} usage={r.usage.model_dump()}")
        self.assertEqual(r.object, "chat.completion")
        self.assertEqual(c.message.role, "assistant")
        self.assertTrue(c.message.content)
        self.assertIn(c.finish_reason, ("stop", "length"))
        self.assertLessEqual(r.usage.completion_tokens, N)
        self.assertGreater(r.usage.prompt_tokens, 10)
        self.assertEqual(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens)

    def test_chat_stream(self):
        msgs = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Name a color."}]
        text, finish, usage, ttft, chunks = streamed(msgs, max_tokens=N, temperature=0)
        print(f"  stream: {len(chunks)} chunks, {text!r} finish={finish} usage={usage.model_dump() if usage else None}")
        self.assertTrue(text)
        self.assertEqual(chunks[0].choices[0].delta.role, "assistant")
        self.assertTrue(all(ch.object == "chat.completion.chunk" for ch in chunks))
        self.assertEqual(len({ch.id for ch in chunks}), 1)
        self.assertIn(finish, ("stop", "length"))
        self.assertIsNotNone(usage)
        self.assertEqual(usage.completion_tokens, N if finish == "length" else usage.completion_tokens)
        # Greedy decoding: the same request unstreamed gives the same text.
        r = client.chat.completions.create(model=MODEL, messages=msgs, max_tokens=N, temperature=0)
        self.assertEqual(r.choices[0].message.content, text)

    def test_completion(self):
        r = client.completions.create(model=MODEL, prompt="The three primary colors are", max_tokens=N, temperature=0)
        print(f"  completion: {r.choices[0].text!r} usage={r.usage.model_dump()}")
        self.assertEqual(r.object, "text_completion")
        self.assertTrue(r.choices[0].text)
        self.assertEqual(r.usage.completion_tokens, N if r.choices[0].finish_reason == "length" else r.usage.completion_tokens)

    def test_stop_and_seed(self):
        msgs = [{"role": "user", "content": "List five fruits, separated by commas."}]
        r = client.chat.completions.create(model=MODEL, messages=msgs, max_tokens=8 if QUICK else 40, temperature=0, stop=[","])
        text = r.choices[0].message.content
        print(f"  stop=',': {text!r} finish={r.choices[0].finish_reason}")
        self.assertNotIn(",", text)
        # A stop sequence taken from the middle of the greedy reply: the
        # same request with it must end right before its first occurrence.
        q = [{"role": "user", "content": "What is the capital of France?"}]
        base = client.chat.completions.create(model=MODEL, messages=q, max_tokens=N, temperature=0).choices[0].message.content
        self.assertGreaterEqual(len(base), 3, base)
        stop = base[len(base) // 2:len(base) // 2 + 2]
        r = client.chat.completions.create(model=MODEL, messages=q, max_tokens=N, temperature=0, stop=[stop])
        print(f"  reply {base!r}, again with stop={stop!r}: {r.choices[0].message.content!r} finish={r.choices[0].finish_reason}")
        self.assertEqual(r.choices[0].finish_reason, "stop")
        self.assertEqual(r.choices[0].message.content, base[:base.find(stop)])
        a = client.chat.completions.create(model=MODEL, messages=msgs, max_tokens=N, temperature=1.0, seed=1234)
        b = client.chat.completions.create(model=MODEL, messages=msgs, max_tokens=N, temperature=1.0, seed=1234)
        print(f"  seed 1234 twice: {a.choices[0].message.content!r}")
        self.assertEqual(a.choices[0].message.content, b.choices[0].message.content)

    def test_conversation_rounds(self):
        """A conversation of ROUNDS rounds: from round 2 on only the new message is prefilled."""
        wait_idle()
        before = metrics()
        msgs = [{"role": "system", "content": "You are a helpful assistant. Answer in one sentence."}]
        topics = ["cats", "the sea", "mountains", "bread", "music", "trains", "the moon", "gardens", "rain", "books",
                  "bees", "clocks"]
        rows, fed_total = [], 0
        for i in range(ROUNDS):
            msgs.append({"role": "user", "content": f"Tell me one fact about {topics[i % len(topics)]}."})
            text, finish, usage, ttft, _ = streamed(msgs, max_tokens=N, temperature=0)
            cached = usage.prompt_tokens_details.cached_tokens
            new = usage.prompt_tokens - cached
            fed_total += new
            rows.append((i + 1, usage.prompt_tokens, cached, new, ttft))
            msgs.append({"role": "assistant", "content": text})
        print("  round  prompt_tokens  cached  prefilled  ttft_s")
        for r in rows:
            print(f"  {r[0]:5d}  {r[1]:13d}  {r[2]:6d}  {r[3]:9d}  {r[4]:6.2f}")
        self.assertEqual(rows[0][2], 0)
        for rnd, prompt, cached, new, _ in rows[1:]:
            # Everything before the new user message came from the cache:
            # the new message (about 15 tokens with the template) and the
            # previous reply's closing tokens are all that was prefilled.
            self.assertGreater(cached, 0, f"round {rnd} reused nothing")
            self.assertLess(new, 40, f"round {rnd} prefilled {new} tokens")
        for prev, cur in zip(rows, rows[1:]):
            self.assertGreater(cur[1], prev[1])  # the conversation grows; the prefill does not
        after = wait_idle()
        hits = after["swiftinfer_session_hits_total"] - before["swiftinfer_session_hits_total"]
        fed = after["swiftinfer_prompt_tokens_total"] - before["swiftinfer_prompt_tokens_total"]
        print(f"  /metrics: {hits:.0f} session hits, {fed:.0f} prompt tokens prefilled (usage says {fed_total})")
        self.assertEqual(hits, ROUNDS - 1)
        self.assertEqual(fed, fed_total)

    def test_rebuilt_conversation(self):
        """A history the server never saw (or evicted) is rebuilt from what the request carries."""
        msgs = [{"role": "user", "content": "My name is Ada."},
                {"role": "assistant", "content": "Nice to meet you, Ada."},
                {"role": "user", "content": "What is my name?"}]
        r = client.chat.completions.create(model=MODEL, messages=msgs, max_tokens=N, temperature=0)
        print(f"  rebuilt: {r.choices[0].message.content!r} usage={r.usage.model_dump()}")
        self.assertEqual(r.usage.prompt_tokens_details.cached_tokens, 0)
        self.assertTrue(r.choices[0].message.content)


if __name__ == "__main__":
    unittest.main()
