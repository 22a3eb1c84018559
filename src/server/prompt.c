/* server/prompt.c: request messages -> the tokens to feed, built piece by
 * piece with the chat template functions so that nothing the cache already
 * holds (in particular tokens the model sampled) is ever re-tokenized. */
#include "prompt.h"

#include <stdlib.h>
#include <string.h>

typedef enum { P_BEGIN, P_USER, P_ASSISTANT, P_CLOSE } piece;

typedef struct {
    const si_tokenizer *tok;
    si_template tpl;
    const char *system;
} ctx;

void srv_tokens_free(srv_tokens *t) {
    free(t->ids);
    memset(t, 0, sizeof *t);
}

static int reserve(srv_tokens *t, int64_t extra) {
    if (t->n + extra <= t->cap) return 0;
    int64_t cap = t->cap * 2 > t->n + extra ? t->cap * 2 : t->n + extra;
    int32_t *ids = realloc(t->ids, (size_t)cap * sizeof *ids);
    if (!ids) return -1;
    t->ids = ids;
    t->cap = cap;
    return 0;
}

static int64_t render(const ctx *c, piece k, const char *text, bool first, int32_t *out, int64_t cap) {
    switch (k) {
    case P_BEGIN: return si_chat_begin(c->tok, c->tpl, c->system, out, cap);
    case P_USER: return si_chat_user_turn(c->tok, c->tpl, c->system, text, first, out, cap);
    case P_ASSISTANT: return si_chat_assistant_turn(c->tok, c->tpl, text, out, cap);
    default: return si_chat_assistant_end(c->tok, c->tpl, out, cap);
    }
}

/* Appends a piece: rendered once into the spare room, again if it did not fit. */
static int append(const ctx *c, srv_tokens *t, piece k, const char *text, bool first) {
    if (reserve(t, 256)) return -1;
    int64_t room = t->cap - t->n;
    int64_t n = render(c, k, text, first, t->ids + t->n, room);
    if (n > room) {
        if (reserve(t, n)) return -1;
        n = render(c, k, text, first, t->ids + t->n, n);
    }
    if (n < 0) return -1;
    t->n += n;
    return 0;
}

static int push(srv_tokens *t, int32_t id) {
    if (reserve(t, 1)) return -1;
    t->ids[t->n++] = id;
    return 0;
}

static int internal(srv_error *err) {
    srv_error_set(err, 500, "server_error", NULL, NULL, "building the prompt: %.200s", si_last_error());
    return -1;
}

static int too_long(srv_error *err, int64_t n, int64_t capacity) {
    srv_error_set(err, 400, "invalid_request_error", "context_length_exceeded", "messages",
                  "the last message needs %lld tokens; this server's cache holds %lld (sinks + window)", (long long)n,
                  (long long)capacity);
    return -1;
}

int srv_prompt_chat(const si_tokenizer *tok, si_template tpl, const srv_request *r, const srv_sess *sess, int matched,
                    int64_t capacity, srv_tokens *out, srv_error *err) {
    memset(out, 0, sizeof *out);
    bool has_system = r->messages[0].role == SRV_ROLE_SYSTEM;
    ctx c = {tok, tpl, has_system ? r->messages[0].content : NULL};
    int64_t *round_start = malloc(sizeof(int64_t) * (size_t)(r->n_messages + 1));
    int n_rounds = 0, i = matched;
    bool had_user = matched > 0 && sess->had_user, awaiting = false;
    if (!round_start) goto fail;
    if (matched == 0) {
        if (append(&c, out, P_BEGIN, NULL, false)) goto fail;
        if (has_system) i = 1;
    } else if (sess->reply_open) {
        /* The reply the client echoes back is in the cache already; only its
         * last sampled token (at a length limit) and its closing are not. */
        if (sess->tail_token >= 0 && push(out, sess->tail_token)) goto fail;
        if (push(out, si_chat_end_of_turn(tok, tpl)) || append(&c, out, P_CLOSE, NULL, false)) goto fail;
    }
    int64_t head = out->n;
    for (; i < r->n_messages; i++) {
        const srv_message *m = &r->messages[i];
        if (m->role == SRV_ROLE_USER) {
            /* Two user messages in a row: close an empty reply between them. */
            if (awaiting && append(&c, out, P_ASSISTANT, "", false)) goto fail;
            round_start[n_rounds++] = out->n;
            if (append(&c, out, P_USER, m->content, !had_user)) goto fail;
            had_user = awaiting = true;
        } else {
            if (append(&c, out, P_ASSISTANT, m->content, false)) goto fail;
            awaiting = false;
        }
    }
    if (out->n > capacity) {
        int k = 0;
        while (k < n_rounds && head + (out->n - round_start[k]) > capacity) k++;
        if (k == n_rounds) {
            int64_t last = n_rounds ? out->n - round_start[n_rounds - 1] : out->n;
            free(round_start);
            srv_tokens_free(out);
            return too_long(err, last, capacity);
        }
        memmove(out->ids + head, out->ids + round_start[k], sizeof(int32_t) * (size_t)(out->n - round_start[k]));
        out->n = head + (out->n - round_start[k]);
    }
    free(round_start);
    return 0;
fail:
    free(round_start);
    srv_tokens_free(out);
    return internal(err);
}

int srv_prompt_completion(const si_tokenizer *tok, const srv_request *r, int64_t capacity, srv_tokens *out,
                          srv_error *err) {
    memset(out, 0, sizeof *out);
    int flags = si_tokenizer_wants_bos(tok) ? SI_ENCODE_BOS : 0;
    int64_t n = si_tokenize(tok, r->prompt, r->prompt_len, flags, NULL, 0);
    if (n < 0 || reserve(out, n + 1)) {
        srv_tokens_free(out);
        return internal(err);
    }
    if (n > capacity) {
        srv_tokens_free(out);
        srv_error_set(err, 400, "invalid_request_error", "context_length_exceeded", "prompt",
                      "the prompt is %lld tokens; this server's cache holds %lld (sinks + window)", (long long)n,
                      (long long)capacity);
        return -1;
    }
    out->n = si_tokenize(tok, r->prompt, r->prompt_len, flags, out->ids, out->cap);
    if (out->n != n) {
        srv_tokens_free(out);
        return internal(err);
    }
    return 0;
}
