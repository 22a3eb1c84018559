/* fuzz/harness_server_request.c: an HTTP request body as the server meets
 * it. Byte 0: bit 0 picks the endpoint (chat or completions), bits 1-2 the
 * model the server runs (SmolLM2 with ChatML, Llama-2 with its template or
 * Vicuna's, the Llama-3 tokenizer with Llama-3's); the rest is the body. A
 * body that parses must respect the server's limits, and is translated into
 * the prompt's tokens as the scheduler would; the stop sequences are run
 * over the messages, and every reply and error must format as valid JSON. */
#include "harness.h"

#include "server/api.h"
#include "server/prompt.h"
#include "tokenizer/tokenizer.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define MODEL_ID "SmolLM2-135M-Instruct"
#define MAX_MESSAGES 64
#define MAX_MESSAGE_BYTES 4096
#define CAPACITY 1024 /* tokens the served cache holds (sinks + window) */

static const struct {
    si_fuzz_tok tok;
    si_template tpl;
} SERVED[] = {{SI_FUZZ_TOK_SMOLLM2, SI_TEMPLATE_CHATML},
              {SI_FUZZ_TOK_LLAMA2, SI_TEMPLATE_LLAMA2},
              {SI_FUZZ_TOK_LLAMA2, SI_TEMPLATE_VICUNA},
              {SI_FUZZ_TOK_LLAMA3, SI_TEMPLATE_LLAMA3}};

/* Formatted output is one JSON document (after the SSE "data: " prefix). */
static void check_json(char *s, const char *what) {
    SI_FUZZ_CHECK(s != NULL, "%s did not format", what);
    const char *body = strncmp(s, "data: ", 6) == 0 ? s + 6 : s;
    json_error_t je;
    json_t *v = json_loads(body, JSON_DISABLE_EOF_CHECK, &je);
    SI_FUZZ_CHECK(v != NULL, "%s is not JSON: %s", what, je.text);
    json_decref(v);
    free(s);
}

static void check_request(const srv_request *r) {
    SI_FUZZ_CHECK(r->n_stop >= 0 && r->n_stop <= SRV_MAX_STOP, "%d stops", r->n_stop);
    for (int i = 0; i < r->n_stop; i++) {
        size_t n = strlen(r->stop[i]);
        SI_FUZZ_CHECK(n >= 1 && n <= SRV_MAX_STOP_BYTES, "stop of %zu bytes", n);
    }
    SI_FUZZ_CHECK(!r->session || (strlen(r->session) >= 1 && strlen(r->session) <= SRV_MAX_NAME_BYTES), "session");
    SI_FUZZ_CHECK(r->max_tokens >= 0 && r->max_tokens <= 4096, "max_tokens %d", r->max_tokens);
    SI_FUZZ_CHECK(!r->has_temperature || (r->temperature >= 0 && r->temperature <= 2), "temperature");
    SI_FUZZ_CHECK(!r->has_top_p || (r->top_p > 0 && r->top_p <= 1), "top_p");
    if (r->kind == SRV_COMPLETION) {
        SI_FUZZ_CHECK(r->prompt && r->prompt_len >= 1 && r->prompt_len <= MAX_MESSAGE_BYTES, "prompt");
        return;
    }
    SI_FUZZ_CHECK(r->n_messages >= 1 && r->n_messages <= MAX_MESSAGES, "%d messages", r->n_messages);
    SI_FUZZ_CHECK(r->messages[r->n_messages - 1].role == SRV_ROLE_USER, "last message not from the user");
    for (int i = 0; i < r->n_messages; i++) {
        const srv_message *m = &r->messages[i];
        SI_FUZZ_CHECK(m->content && m->len <= MAX_MESSAGE_BYTES && strlen(m->content) == m->len, "message %d", i);
        SI_FUZZ_CHECK(m->role != SRV_ROLE_SYSTEM || i == 0, "system message %d", i);
    }
}

/* Replies echo the request's text; stop sequences cut it where they match. */
static void check_outputs(const srv_request *r) {
    srv_reply_meta meta = {"chatcmpl-fuzz", MODEL_ID, 1700000000, r->kind};
    srv_usage u = {1, 0, 1};
    for (int i = -1; i < r->n_messages; i++) {
        const char *text = i < 0 ? r->prompt : r->messages[i].content;
        size_t len = i < 0 ? r->prompt_len : r->messages[i].len;
        if (!text) continue;
        bool stopped;
        size_t sent = len / 3, release = srv_stop_scan(text, len, sent, r->stop, r->n_stop, &stopped);
        SI_FUZZ_CHECK(release <= len, "stop scan released %zu of %zu bytes", release, len);
        check_json(srv_format_chunk(&meta, "assistant", text, release, stopped ? "stop" : NULL), "a chunk");
        check_json(srv_format_reply(&meta, text, len, "length", &u), "a reply");
    }
}

static void translate(const srv_request *r, unsigned served) {
    const si_tokenizer *t = si_fuzz_tokenizer(SERVED[served].tok);
    if (!t) return;
    srv_tokens toks;
    srv_error err;
    int rc = r->kind == SRV_CHAT ? srv_prompt_chat(t, SERVED[served].tpl, r, NULL, 0, CAPACITY, &toks, &err)
                                 : srv_prompt_completion(t, r, CAPACITY, &toks, &err);
    if (rc != 0) {
        SI_FUZZ_CHECK(err.status == 400, "prompt failed with %d: %s", err.status, err.message);
        check_json(srv_format_error(&err), "the prompt's error");
        return;
    }
    SI_FUZZ_CHECK(toks.n >= 1 && toks.n <= CAPACITY, "%lld prompt tokens", (long long)toks.n);
    for (int64_t i = 0; i < toks.n; i++)
        SI_FUZZ_CHECK(toks.ids[i] >= 0 && toks.ids[i] < si_tokenizer_n_vocab(t), "id %d", toks.ids[i]);
    srv_tokens_free(&toks);
}

int si_fuzz_server_request(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    srv_limits lim = {MODEL_ID, MAX_MESSAGES, MAX_MESSAGE_BYTES, 4096};
    srv_request r;
    srv_error err;
    const char *body = (const char *)data + 1;
    int rc = data[0] & 1 ? srv_parse_completion_request(body, size - 1, &lim, &r, &err)
                         : srv_parse_chat_request(body, size - 1, &lim, &r, &err);
    if (rc != 0) {
        SI_FUZZ_CHECK(err.status == 400 || err.status == 404, "status %d", err.status);
        check_json(srv_format_error(&err), "the error");
        return 0;
    }
    si_fuzz_accepted++;
    check_request(&r);
    check_outputs(&r);
    translate(&r, (data[0] >> 1) & 3);
    srv_request_free(&r);
    return 0;
}
