"""--state-dir across a restart. `save`: a two-round conversation, written to
a file. `resume` (after the server was stopped and started again with the
same --state-dir): its third round must continue the restored cache."""
import json
import sys

from common import MODEL, metrics, request


def chat(msgs):
    st, _, body = request("POST", "/v1/chat/completions",
                          {"model": MODEL, "messages": msgs, "max_tokens": 4, "temperature": 0})
    assert st == 200, body
    return json.loads(body)


def main(phase, path):
    if phase == "save":
        msgs = [{"role": "system", "content": "Be brief."}]
        for q in ("Name a planet.", "Name a star."):
            msgs.append({"role": "user", "content": q})
            msgs.append(chat(msgs)["choices"][0]["message"])
        with open(path, "w") as f:
            json.dump(msgs, f)
        print("state: saved a two-round conversation")
        return 0
    with open(path) as f:
        msgs = json.load(f)
    msgs.append({"role": "user", "content": "Name a moon."})
    r = chat(msgs)
    cached = r["usage"]["prompt_tokens_details"]["cached_tokens"]
    hits = metrics()["swiftinfer_session_hits_total"]
    print(f"state: round 3 after the restart: usage {r['usage']}, session hits {hits:.0f}")
    if cached <= 0 or hits != 1:
        print("state: the conversation was not restored")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
