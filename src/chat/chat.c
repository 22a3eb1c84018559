/* chat/chat.c: chat templates (ChatML, Llama-2, Vicuna v1.1, Llama-3) as
 * token sequences, built piece by piece so that an endless conversation can
 * be extended without re-tokenizing what the cache already holds. Special
 * tokens are looked up as ids; message text is tokenized as plain text, so a
 * user cannot inject control tokens by typing them. */
#include "swiftinfer.h"

#include "../tokenizer/tokenizer.h"
#include "../util/error.h"

#include <stdlib.h>
#include <string.h>

static const char *const template_names[] = {"auto", "chatml", "llama2", "vicuna", "llama3"};

int si_template_parse(const char *name, si_template *out) {
    for (int i = 0; i < (int)(sizeof template_names / sizeof template_names[0]); i++)
        if (strcmp(name, template_names[i]) == 0) {
            *out = (si_template)i;
            return 0;
        }
    return si_fail("unknown chat template '%s' (expected auto, chatml, llama2, vicuna or llama3)", name);
}

const char *si_template_name(si_template t) {
    return (unsigned)t < sizeof template_names / sizeof template_names[0] ? template_names[t] : "?";
}

si_template si_template_detect(const si_tokenizer *t) {
    const char *jinja = si_tokenizer_chat_template(t);
    if (jinja) {
        if (strstr(jinja, "<|im_start|>")) return SI_TEMPLATE_CHATML;
        if (strstr(jinja, "<|start_header_id|>")) return SI_TEMPLATE_LLAMA3;
        if (strstr(jinja, "[INST]")) return SI_TEMPLATE_LLAMA2;
        if (strstr(jinja, "ASSISTANT:")) return SI_TEMPLATE_VICUNA;
    }
    /* No usable metadata: judge by the vocabulary's special tokens. */
    if (si_tokenizer_find(t, "<|im_start|>") >= 0) return SI_TEMPLATE_CHATML;
    if (si_tokenizer_find(t, "<|start_header_id|>") >= 0) return SI_TEMPLATE_LLAMA3;
    return SI_TEMPLATE_AUTO;
}

/* ---- building a token sequence ---- */

typedef struct {
    const si_tokenizer *tok;
    int32_t *out;
    int64_t cap, n;
    int failed;
} builder;

static void put_id(builder *b, int32_t id) {
    if (b->n < b->cap) b->out[b->n] = id;
    b->n++;
}

static void put_special(builder *b, const char *piece) {
    int32_t id = si_tokenizer_find(b->tok, piece);
    if (id < 0) {
        if (!b->failed) si_set_error("chat template needs the token %s, which this vocabulary lacks", piece);
        b->failed = 1;
        return;
    }
    put_id(b, id);
}

static void put_text(builder *b, const char *text, size_t len) {
    if (!len || b->failed) return;
    int64_t room = b->n < b->cap ? b->cap - b->n : 0;
    int64_t got = si_tokenizer_encode(b->tok, text, len, 0, room ? b->out + b->n : NULL, room);
    if (got < 0) {
        b->failed = 1;
        return;
    }
    b->n += got;
}

static void put_str(builder *b, const char *s) { put_text(b, s, strlen(s)); }

/* Concatenates up to four strings and tokenizes them as one text, since the
 * reference tokenizes the rendered template in one piece between specials. */
static void put_joined(builder *b, const char *a, const char *c, const char *d, const char *e) {
    const char *parts[4] = {a, c, d, e};
    size_t len = 0;
    for (int i = 0; i < 4; i++) len += parts[i] ? strlen(parts[i]) : 0;
    char *buf = si_malloc(len + 1);
    if (!buf) {
        b->failed = 1;
        return;
    }
    size_t at = 0;
    for (int i = 0; i < 4; i++)
        if (parts[i]) {
            size_t l = strlen(parts[i]);
            memcpy(buf + at, parts[i], l);
            at += l;
        }
    put_text(b, buf, at);
    free(buf);
}

static int64_t finish(builder *b) { return b->failed ? -1 : b->n; }

static int32_t bos_id(const si_tokenizer *t) { return si_tokenizer_bos(t); }

/* ChatML's default system message is part of the model's own template (SmolLM2's
 * names itself); it is taken from the metadata when the template has one. */
static char *chatml_default_system(const si_tokenizer *t) {
    const char *jinja = si_tokenizer_chat_template(t);
    const char *key = "<|im_start|>system\n";
    const char *p = jinja ? strstr(jinja, key) : NULL;
    if (!p) return NULL;
    p += strlen(key);
    const char *end = strstr(p, "<|im_end|>");
    /* A Jinja expression there (e.g. messages[0]['content']) is not a literal default. */
    if (!end || memchr(p, '{', (size_t)(end - p)) || memchr(p, '\'', (size_t)(end - p))) return NULL;
    char *s = si_malloc((size_t)(end - p) + 1);
    if (!s) return NULL;
    memcpy(s, p, (size_t)(end - p));
    s[end - p] = '\0';
    return s;
}

#define VICUNA_SYSTEM                                                                                      \
    "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, " \
    "detailed, and polite answers to the user's questions."

int64_t si_chat_begin(const si_tokenizer *t, si_template tpl, const char *system, int32_t *out, int64_t cap) {
    builder b = {t, out, cap, 0, 0};
    switch (tpl) {
    case SI_TEMPLATE_CHATML: {
        char *def = system ? NULL : chatml_default_system(t);
        const char *sys = system ? system : def;
        if (sys) {
            put_special(&b, "<|im_start|>");
            put_joined(&b, "system\n", sys, NULL, NULL);
            put_special(&b, "<|im_end|>");
            put_str(&b, "\n");
        }
        free(def);
        break;
    }
    case SI_TEMPLATE_LLAMA2: break; /* BOS and the system message open the first user turn */
    case SI_TEMPLATE_VICUNA:
        if (bos_id(t) >= 0) put_id(&b, bos_id(t));
        put_str(&b, system ? system : VICUNA_SYSTEM);
        break;
    case SI_TEMPLATE_LLAMA3:
        put_special(&b, "<|begin_of_text|>");
        if (system) {
            put_special(&b, "<|start_header_id|>");
            put_str(&b, "system");
            put_special(&b, "<|end_header_id|>");
            put_joined(&b, "\n\n", system, NULL, NULL);
            put_special(&b, "<|eot_id|>");
        }
        break;
    default: return si_fail("no chat template chosen");
    }
    return finish(&b);
}

int64_t si_chat_user_turn(const si_tokenizer *t, si_template tpl, const char *system, const char *user, bool first,
                          int32_t *out, int64_t cap) {
    builder b = {t, out, cap, 0, 0};
    switch (tpl) {
    case SI_TEMPLATE_CHATML:
        put_special(&b, "<|im_start|>");
        put_joined(&b, "user\n", user, NULL, NULL);
        put_special(&b, "<|im_end|>");
        put_str(&b, "\n");
        put_special(&b, "<|im_start|>");
        put_str(&b, "assistant\n");
        break;
    case SI_TEMPLATE_LLAMA2:
        if (bos_id(t) >= 0) put_id(&b, bos_id(t));
        if (first && system)
            put_joined(&b, "[INST] <<SYS>>\n", system, "\n<</SYS>>\n\n", user);
        else
            put_joined(&b, "[INST] ", user, NULL, NULL);
        put_str(&b, " [/INST]");
        break;
    case SI_TEMPLATE_VICUNA: put_joined(&b, " USER: ", user, " ASSISTANT:", NULL); break;
    case SI_TEMPLATE_LLAMA3:
        put_special(&b, "<|start_header_id|>");
        put_str(&b, "user");
        put_special(&b, "<|end_header_id|>");
        put_joined(&b, "\n\n", user, NULL, NULL);
        put_special(&b, "<|eot_id|>");
        put_special(&b, "<|start_header_id|>");
        put_str(&b, "assistant");
        put_special(&b, "<|end_header_id|>");
        put_str(&b, "\n\n");
        break;
    default: return si_fail("no chat template chosen");
    }
    return finish(&b);
}

int64_t si_chat_assistant_end(const si_tokenizer *t, si_template tpl, int32_t *out, int64_t cap) {
    builder b = {t, out, cap, 0, 0};
    if (tpl == SI_TEMPLATE_CHATML) put_str(&b, "\n");
    return finish(&b);
}

int64_t si_chat_assistant_turn(const si_tokenizer *t, si_template tpl, const char *content, int32_t *out, int64_t cap) {
    builder b = {t, out, cap, 0, 0};
    if (tpl == SI_TEMPLATE_LLAMA2)
        put_joined(&b, " ", content, " ", NULL); /* the template strips and pads the reply */
    else
        put_str(&b, content);
    int32_t end = si_chat_end_of_turn(t, tpl);
    if (end < 0) return si_fail("template %s has no end-of-turn token in this vocabulary", si_template_name(tpl));
    put_id(&b, end);
    int64_t head = b.n;
    int64_t tail = si_chat_assistant_end(t, tpl, head < cap ? out + head : NULL, head < cap ? cap - head : 0);
    if (tail < 0 || b.failed) return -1;
    return head + tail;
}

int32_t si_chat_end_of_turn(const si_tokenizer *t, si_template tpl) {
    switch (tpl) {
    case SI_TEMPLATE_CHATML: return si_tokenizer_find(t, "<|im_end|>");
    case SI_TEMPLATE_LLAMA3: return si_tokenizer_find(t, "<|eot_id|>");
    default: return si_tokenizer_eos(t);
    }
}
