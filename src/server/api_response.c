/* server/api_response.c: OpenAI-shaped JSON out — errors, whole replies,
 * server-sent-event chunks, the model list — and the stop-sequence scan that
 * decides how much generated text may be released. JSON is built with
 * jansson so every string is escaped correctly. */
#include "api.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Steals the reference to root. */
static char *dump(json_t *root) {
    if (!root) return NULL;
    char *s = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return s;
}

/* Text from the model is valid UTF-8 (the streamer replaces bad bytes), but
 * a stop sequence may not be: fall back to an empty string, never NULL. */
static json_t *text_value(const char *text, size_t len) {
    json_t *s = json_stringn(text ? text : "", text ? len : 0);
    return s ? s : json_string("");
}

char *srv_format_error(const srv_error *e) {
    json_t *inner = json_pack("{s:s, s:s, s:o, s:o}", "message", e->message, "type", e->type ? e->type : "server_error",
                              "param", e->param[0] ? json_string(e->param) : json_null(), "code",
                              e->code ? json_string(e->code) : json_null());
    return dump(json_pack("{s:o}", "error", inner));
}

static json_t *usage_object(const srv_usage *u) {
    return json_pack("{s:I, s:I, s:I, s:{s:I}}", "prompt_tokens", (json_int_t)u->prompt_tokens, "completion_tokens",
                     (json_int_t)u->completion_tokens, "total_tokens",
                     (json_int_t)(u->prompt_tokens + u->completion_tokens), "prompt_tokens_details", "cached_tokens",
                     (json_int_t)u->cached_tokens);
}

static json_t *envelope(const srv_reply_meta *m, const char *object, json_t *choices) {
    return json_pack("{s:s, s:s, s:I, s:s, s:s, s:o}", "id", m->id, "object", object, "created", (json_int_t)m->created,
                     "model", m->model, "system_fingerprint", "swiftinfer", "choices", choices);
}

char *srv_format_reply(const srv_reply_meta *m, const char *text, size_t len, const char *finish,
                       const srv_usage *u) {
    json_t *choice;
    if (m->kind == SRV_CHAT)
        choice = json_pack("{s:i, s:{s:s, s:o, s:n}, s:n, s:s}", "index", 0, "message", "role", "assistant", "content",
                           text_value(text, len), "refusal", "logprobs", "finish_reason", finish);
    else
        choice = json_pack("{s:i, s:o, s:n, s:s}", "index", 0, "text", text_value(text, len), "logprobs",
                           "finish_reason", finish);
    json_t *root = envelope(m, m->kind == SRV_CHAT ? "chat.completion" : "text_completion", json_pack("[o]", choice));
    if (root) json_object_set_new(root, "usage", usage_object(u));
    return dump(root);
}

static char *sse(json_t *root) {
    char *js = dump(root);
    if (!js) return NULL;
    size_t n = strlen(js);
    char *out = malloc(n + 9);
    if (out) {
        memcpy(out, "data: ", 6);
        memcpy(out + 6, js, n);
        memcpy(out + 6 + n, "\n\n", 3);
    }
    free(js);
    return out;
}

char *srv_format_chunk(const srv_reply_meta *m, const char *role, const char *text, size_t len,
                       const char *finish) {
    json_t *fin = finish ? json_string(finish) : json_null(), *choice;
    if (m->kind == SRV_CHAT) {
        json_t *delta = json_object();
        if (role) json_object_set_new(delta, "role", json_string(role));
        if (text) json_object_set_new(delta, "content", text_value(text, len));
        choice = json_pack("{s:i, s:o, s:n, s:o}", "index", 0, "delta", delta, "logprobs", "finish_reason", fin);
    } else {
        choice = json_pack("{s:i, s:o, s:n, s:o}", "index", 0, "text", text_value(text, len), "logprobs",
                           "finish_reason", fin);
    }
    return sse(envelope(m, m->kind == SRV_CHAT ? "chat.completion.chunk" : "text_completion", json_pack("[o]", choice)));
}

char *srv_format_usage_chunk(const srv_reply_meta *m, const srv_usage *u) {
    json_t *root = envelope(m, m->kind == SRV_CHAT ? "chat.completion.chunk" : "text_completion", json_array());
    if (root) json_object_set_new(root, "usage", usage_object(u));
    return sse(root);
}

char *srv_format_models(const char *model_id, int64_t created) {
    json_t *model = json_pack("{s:s, s:s, s:I, s:s}", "id", model_id, "object", "model", "created", (json_int_t)created,
                              "owned_by", "swiftinfer");
    return dump(json_pack("{s:s, s:[o]}", "object", "list", "data", model));
}

size_t srv_stop_scan(const char *text, size_t len, size_t sent, char *const *stops, int n_stops, bool *stopped) {
    *stopped = false;
    size_t release = len;
    for (int i = 0; i < n_stops; i++) {
        size_t sl = strlen(stops[i]);
        if (!sl) continue;
        /* A match cannot start before `sent`: that text was scanned before. */
        for (size_t at = sent; at + sl <= len; at++)
            if (memcmp(text + at, stops[i], sl) == 0) {
                if (at < release) release = at;
                *stopped = true;
                break;
            }
    }
    if (*stopped) return release;
    /* Hold back a tail that could still grow into a stop sequence. */
    for (int i = 0; i < n_stops; i++) {
        size_t sl = strlen(stops[i]);
        for (size_t k = sl > 1 ? sl - 1 : 0; k > 0; k--) {
            if (k > len - sent) continue;
            if (memcmp(text + len - k, stops[i], k) == 0) {
                if (len - k < release) release = len - k;
                break;
            }
        }
    }
    return release;
}
