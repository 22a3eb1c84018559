/* fuzz/harness_chat_template.c: the chat-template formatter on any
 * conversation, with a real tokenizer. Input: byte 0 picks the template
 * (ChatML, Llama-2, Vicuna, Llama-3), byte 1 the tokenizer (SmolLM2,
 * Llama-2, Llama-3: a mismatch must fail cleanly), byte 2 flags (bit 0:
 * add_generation_prompt; bit 1: the first part is the tokenizer's Jinja
 * chat template, as a model file would carry it, for template detection
 * and the default system message); then NUL-separated messages, each a role
 * byte ('s'ystem, 'u'ser, 'a'ssistant, other: an unknown role) and its text. The
 * whole conversation is rendered, then built piece by piece as a live chat
 * builds it; every count must be the same with any buffer. */
#include "harness.h"

#include "tokenizer/tokenizer_internal.h"

#include <stdlib.h>
#include <string.h>

#define MAX_MESSAGES 32

/* The role byte: 's', 'u', 'a', anything else an unknown role. */
static const char *role_of(char c) {
    return c == 's' ? "system" : c == 'u' ? "user" : c == 'a' ? "assistant" : "tool";
}

/* One rendering call: which function, and its arguments. */
typedef enum { RENDER, BEGIN, USER, ASSISTANT, END } piece;

typedef struct {
    piece what;
    const si_tokenizer *t;
    si_template tpl;
    const si_chat_message *msgs;
    int n;
    bool gen;
    const char *system, *text;
    bool first;
} call;

static int64_t render(const call *c, int32_t *out, int64_t cap) {
    switch (c->what) {
    case RENDER: return si_chat_render(c->t, c->tpl, c->msgs, c->n, c->gen, out, cap);
    case BEGIN: return si_chat_begin(c->t, c->tpl, c->system, out, cap);
    case USER: return si_chat_user_turn(c->t, c->tpl, c->system, c->text, c->first, out, cap);
    case ASSISTANT: return si_chat_assistant_turn(c->t, c->tpl, c->text, out, cap);
    default: return si_chat_assistant_end(c->t, c->tpl, out, cap);
    }
}

/* Runs the call twice (counting, then into exactly that room, then into half
 * of it) and checks the ids; -1 when the call refused. */
static int64_t checked(call c, piece what) {
    c.what = what;
    int64_t n = render(&c, NULL, 0);
    if (n < 0) return -1;
    int32_t *ids = malloc((size_t)(n ? n : 1) * sizeof *ids);
    if (!ids) si_fuzz_fail("out of memory");
    SI_FUZZ_CHECK(render(&c, ids, n) == n, "the count depends on the buffer");
    if (n > 1) SI_FUZZ_CHECK(render(&c, ids, n / 2) == n, "the count depends on the buffer");
    for (int64_t i = 0; i < n; i++)
        SI_FUZZ_CHECK(ids[i] >= 0 && ids[i] < si_tokenizer_n_vocab(c.t), "id %d outside the vocabulary", ids[i]);
    si_fuzz_check_decode(c.t, ids, n, SI_DECODE_SPECIAL);
    free(ids);
    return n;
}

/* A model file's Jinja template in place of the tokenizer's own (restored after). */
static void with_jinja(const si_tokenizer *t, char *jinja) {
    si_tokenizer *mt = (si_tokenizer *)t;
    char *saved = mt->chat_template;
    mt->chat_template = jinja;
    si_template tpl = si_template_detect(t);
    call c = {.t = t, .tpl = SI_TEMPLATE_CHATML};
    checked(c, BEGIN); /* ChatML's default system message comes from the Jinja text */
    if (tpl != SI_TEMPLATE_AUTO) {
        c.tpl = tpl;
        checked(c, BEGIN);
    }
    mt->chat_template = saved;
}

static void piecewise(call c, const si_chat_message *msgs, int n) {
    int i = 0;
    c.system = n > 0 && !strcmp(msgs[0].role, "system") ? msgs[i++].content : NULL;
    if (checked(c, BEGIN) < 0) return;
    c.first = true;
    for (; i < n; i++) {
        c.text = msgs[i].content;
        if (!strcmp(msgs[i].role, "user")) {
            if (checked(c, USER) < 0) return;
            c.first = false;
        } else if (!strcmp(msgs[i].role, "assistant")) {
            if (checked(c, ASSISTANT) < 0) return;
            checked(c, END);
        }
    }
    int32_t end = si_chat_end_of_turn(c.t, c.tpl);
    SI_FUZZ_CHECK(end >= -1 && end < si_tokenizer_n_vocab(c.t), "end of turn %d", end);
}

int si_fuzz_chat_template(const uint8_t *data, size_t size) {
    if (size < 3) return 0;
    si_template tpl = (si_template)(1 + data[0] % 4);
    const si_tokenizer *t = si_fuzz_tokenizer((si_fuzz_tok)(data[1] % SI_FUZZ_N_TOK));
    if (!t) return 0;
    bool gen = data[2] & 1, jinja = data[2] & 2;
    char *text = malloc(size - 3 + 1);
    if (!text) si_fuzz_fail("out of memory");
    memcpy(text, data + 3, size - 3);
    text[size - 3] = '\0';
    si_chat_message msgs[MAX_MESSAGES];
    int n = 0;
    char *p = text, *end = text + (size - 3);
    if (jinja) {
        with_jinja(t, p);
        p += strlen(p) + 1;
    }
    /* Messages: a role byte, then the text up to the next NUL. */
    while (p < end && n < MAX_MESSAGES) {
        msgs[n].role = role_of(*p);
        msgs[n].content = *p ? p + 1 : p; /* an empty part: an empty message */
        n++;
        p += strlen(p) + 1;
    }
    call c = {.t = t, .tpl = tpl, .msgs = msgs, .n = n, .gen = gen};
    if (checked(c, RENDER) >= 0) si_fuzz_accepted++;
    piecewise(c, msgs, n);
    free(text);
    return 0;
}
