/* engine/conversation.c: one endless chat in one session. User turns are
 * wrapped in the chat template and prefilled; replies are sampled token by
 * token; the cache is never reset between rounds (old tokens simply leave
 * the StreamingLLM window). */
#include "engine.h"

#include "../util/error.h"

#include <stdlib.h>
#include <string.h>

struct si_conversation {
    si_model *model;
    si_session *session;
    si_conversation_params p;
    char *system;
    int32_t end_of_turn;
    bool begun;       /* the conversation's opening (BOS, system) is fed */
    bool had_user;    /* a user turn was fed (Llama-2 puts the system message in the first) */
    bool in_reply;    /* a reply is being generated */
    /* The reply's next token, picked as the one before it was fed
     * (si_session_feed_pick: on the backend, no logits); -1: none yet. */
    int32_t pending;
    int32_t *ids;     /* scratch for one turn's tokens */
    int64_t ids_cap;
};

si_conversation_params si_conversation_default_params(void) {
    si_conversation_params p = {.session = si_session_default_params(), .tpl = SI_TEMPLATE_AUTO, .system = NULL,
                                .max_input_tokens = 2048, .ignore_eos = false};
    return p;
}

si_conversation *si_conversation_create(si_model *m, const si_conversation_params *params) {
    si_clear_error();
    si_conversation_params p = params ? *params : si_conversation_default_params();
    if (p.max_input_tokens < 1) {
        si_set_error("max_input_tokens must be positive");
        return NULL;
    }
    if (p.tpl == SI_TEMPLATE_AUTO) p.tpl = si_template_detect(m->tok);
    if (p.tpl == SI_TEMPLATE_AUTO) {
        si_set_error("%s: the model names no chat template that is known; choose one", m->llama->path);
        return NULL;
    }
    si_conversation *c = si_calloc(1, sizeof *c);
    if (!c) return NULL;
    c->model = m;
    c->p = p;
    c->pending = -1;
    c->end_of_turn = si_chat_end_of_turn(m->tok, p.tpl);
    c->system = p.system ? strdup(p.system) : NULL;
    c->p.system = c->system;
    c->session = si_session_create(m, &p.session);
    if (!c->session || c->end_of_turn < 0 || (p.system && !c->system)) {
        if (c->session && c->end_of_turn < 0)
            si_set_error("%s: template %s has no end-of-turn token in this vocabulary", m->llama->path, si_template_name(p.tpl));
        si_conversation_free(c);
        return NULL;
    }
    return c;
}

void si_conversation_free(si_conversation *c) {
    if (!c) return;
    si_session_free(c->session);
    free(c->system);
    free(c->ids);
    free(c);
}

int si_conversation_reset(si_conversation *c) {
    si_session_reset(c->session);
    c->begun = c->had_user = c->in_reply = false;
    c->pending = -1;
    return 0;
}

si_session *si_conversation_session(si_conversation *c) { return c->session; }
si_template si_conversation_template(const si_conversation *c) { return c->p.tpl; }

typedef enum { PIECE_BEGIN, PIECE_USER, PIECE_CLOSE } piece_kind;

static int64_t fill(si_conversation *c, piece_kind k, const char *user, int32_t *out, int64_t cap) {
    const si_tokenizer *t = c->model->tok;
    switch (k) {
    case PIECE_BEGIN: return si_chat_begin(t, c->p.tpl, c->p.system, out, cap);
    case PIECE_USER: return si_chat_user_turn(t, c->p.tpl, c->p.system, user, !c->had_user, out, cap);
    default: return si_chat_assistant_end(t, c->p.tpl, out, cap);
    }
}

/* Tokenizes one piece of the template into the scratch buffer (grown as
 * needed) and feeds it; keep_last > 0 truncates it from the left. With a
 * sampler, the pass that feeds it also picks the reply's first token
 * (c->pending). */
static int feed_piece(si_conversation *c, piece_kind k, const char *user, int64_t *fed, int64_t keep_last,
                      si_sampler *pick) {
    int64_t n = fill(c, k, user, c->ids, c->ids_cap);
    if (n > c->ids_cap) {
        int32_t *grown = realloc(c->ids, sizeof(int32_t) * (size_t)n);
        if (!grown) return si_fail("out of memory for %lld tokens", (long long)n);
        c->ids = grown;
        c->ids_cap = n;
        n = fill(c, k, user, c->ids, c->ids_cap);
    }
    if (n < 0) return -1;
    int64_t skip = keep_last > 0 && n > keep_last ? n - keep_last : 0;
    if (pick && n - skip > 0) {
        c->pending = si_session_feed_pick(c->session, c->ids + skip, n - skip, pick);
        if (c->pending < 0) return -1;
    } else if (n - skip > 0 && si_session_feed(c->session, c->ids + skip, n - skip)) {
        return -1;
    }
    if (fed) *fed += n - skip;
    return 0;
}

int si_conversation_end_reply(si_conversation *c) {
    if (!c->in_reply) return 0;
    c->in_reply = false;
    c->pending = -1;
    if (si_session_feed(c->session, &c->end_of_turn, 1)) return -1;
    return feed_piece(c, PIECE_CLOSE, NULL, NULL, 0, NULL);
}

int si_conversation_user(si_conversation *c, const char *text, si_sampler *s, int64_t *prompt_tokens) {
    si_clear_error();
    int64_t fed = 0;
    if (si_conversation_end_reply(c)) return -1;
    if (!c->begun) {
        if (feed_piece(c, PIECE_BEGIN, NULL, &fed, 0, NULL)) return -1;
        c->begun = true;
    }
    c->pending = -1;
    if (feed_piece(c, PIECE_USER, text, &fed, c->p.max_input_tokens, s)) return -1;
    c->had_user = true;
    c->in_reply = true;
    if (prompt_tokens) *prompt_tokens = fed;
    return 0;
}

int32_t si_conversation_next(si_conversation *c, si_sampler *s) {
    if (!c->in_reply) return si_fail("no reply in progress: add a user message first");
    int32_t tok = c->pending;
    if (tok < 0) { /* the reply's first token, from the prompt's logits (no sampler given with the prompt) */
        const float *logits = si_session_logits(c->session);
        if (!logits) return si_fail("no logits yet");
        tok = si_sampler_pick(s, logits, c->model->llama->hp.n_vocab);
        if (tok < 0) return -1;
    }
    si_sampler_accept(s, tok);
    if (!c->p.ignore_eos && (tok == c->end_of_turn || si_tokenizer_is_eog(c->model->tok, tok))) {
        if (si_conversation_end_reply(c)) return -1;
        return SI_REPLY_END;
    }
    c->pending = si_session_feed_pick(c->session, &tok, 1, s);
    if (c->pending < 0) return -1;
    return tok;
}
