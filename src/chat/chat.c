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

/* ---- building a token sequence ----
 * Text accumulates until a special token (or the end) and is then tokenized
 * in one piece, as the reference tokenizes the rendered template between
 * special tokens. Text that continues text from an earlier piece (a reply
 * after its prompt) is tokenized without SentencePiece's dummy prefix. */

typedef struct {
    const si_tokenizer *tok;
    int32_t *out;
    int64_t cap, n;
    int failed;
    bool continues; /* the pending text continues earlier text */
    char *text;
    size_t len, text_cap;
} builder;

static builder builder_start(const si_tokenizer *t, int32_t *out, int64_t cap, bool continues) {
    builder b = {.tok = t, .out = out, .cap = cap, .continues = continues};
    return b;
}

static void flush_text(builder *b) {
    if (b->len && !b->failed) {
        int64_t room = b->n < b->cap ? b->cap - b->n : 0;
        int flags = b->continues ? SI_ENCODE_CONTINUE : 0;
        int64_t got = si_tokenizer_encode(b->tok, b->text, b->len, flags, room ? b->out + b->n : NULL, room);
        if (got < 0)
            b->failed = 1;
        else
            b->n += got;
    }
    b->len = 0;
}

static void put_id(builder *b, int32_t id) {
    flush_text(b);
    if (b->n < b->cap) b->out[b->n] = id;
    b->n++;
    b->continues = false;
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
    if (b->len + len + 1 > b->text_cap) {
        size_t cap = (b->len + len + 1) * 2;
        char *grown = realloc(b->text, cap);
        if (!grown) {
            si_set_error("out of memory for a %zu-byte chat message", cap);
            b->failed = 1;
            return;
        }
        b->text = grown;
        b->text_cap = cap;
    }
    memcpy(b->text + b->len, text, len);
    b->len += len;
}

static void put_str(builder *b, const char *s) { put_text(b, s, strlen(s)); }

/* Jinja's strip/trim: without leading and/or trailing whitespace. */
static void put_stripped_ends(builder *b, const char *s, bool lead, bool trail) {
    size_t len = strlen(s);
    while (trail && len && strchr(" \t\r\n\v\f", s[len - 1])) len--;
    while (lead && len && strchr(" \t\r\n\v\f", *s)) {
        s++;
        len--;
    }
    put_text(b, s, len);
}

static void put_stripped(builder *b, const char *s) { put_stripped_ends(b, s, true, true); }

static int64_t finish(builder *b) {
    flush_text(b);
    free(b->text);
    return b->failed ? -1 : b->n;
}

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

/* ---- the templates, one emitter per piece of a conversation ---- */

static void emit_begin(builder *bp, si_template tpl, const char *system) {
    builder b = *bp;
    const si_tokenizer *t = b.tok;
    switch (tpl) {
    case SI_TEMPLATE_CHATML: {
        char *def = system ? NULL : chatml_default_system(t);
        const char *sys = system ? system : def;
        if (sys) {
            put_special(&b, "<|im_start|>");
            put_str(&b, "system\n");
            put_str(&b, sys);
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
            put_str(&b, "\n\n");
            put_stripped(&b, system);
            put_special(&b, "<|eot_id|>");
        }
        break;
    default: break;
    }
    *bp = b;
}

static void emit_user(builder *bp, si_template tpl, const char *system, const char *user, bool first) {
    builder b = *bp;
    const si_tokenizer *t = b.tok;
    switch (tpl) {
    case SI_TEMPLATE_CHATML:
        put_special(&b, "<|im_start|>");
        put_str(&b, "user\n");
        put_str(&b, user);
        put_special(&b, "<|im_end|>");
        put_str(&b, "\n");
        put_special(&b, "<|im_start|>");
        put_str(&b, "assistant\n");
        break;
    case SI_TEMPLATE_LLAMA2:
        if (bos_id(t) >= 0) put_id(&b, bos_id(t));
        put_str(&b, "[INST] ");
        if (first && system) {
            put_str(&b, "<<SYS>>\n");
            put_str(&b, system);
            put_str(&b, "\n<</SYS>>\n\n");
            /* the template strips the combined content, so only the end of the user text */
            put_stripped_ends(&b, user, false, true);
        } else {
            put_stripped(&b, user);
        }
        put_str(&b, " [/INST]");
        break;
    case SI_TEMPLATE_VICUNA:
        put_str(&b, first ? " USER: " : "USER: ");
        put_str(&b, user);
        put_str(&b, " ASSISTANT:");
        break;
    case SI_TEMPLATE_LLAMA3:
        put_special(&b, "<|start_header_id|>");
        put_str(&b, "user");
        put_special(&b, "<|end_header_id|>");
        put_str(&b, "\n\n");
        put_stripped(&b, user);
        put_special(&b, "<|eot_id|>");
        put_special(&b, "<|start_header_id|>");
        put_str(&b, "assistant");
        put_special(&b, "<|end_header_id|>");
        put_str(&b, "\n\n");
        break;
    default: break;
    }
    *bp = b;
}

static void emit_close(builder *b, si_template tpl) {
    if (tpl == SI_TEMPLATE_CHATML) put_str(b, "\n");
}

static void emit_assistant(builder *bp, si_template tpl, const char *content) {
    builder b = *bp;
    int32_t end = si_chat_end_of_turn(b.tok, tpl);
    if (end < 0) {
        if (!b.failed) si_set_error("template %s has no end-of-turn token in this vocabulary", si_template_name(tpl));
        bp->failed = 1;
        return;
    }
    switch (tpl) {
    case SI_TEMPLATE_LLAMA2:
        put_str(&b, " ");
        put_stripped(&b, content);
        put_str(&b, " ");
        break;
    case SI_TEMPLATE_VICUNA:
        put_str(&b, " ");
        put_str(&b, content);
        break;
    case SI_TEMPLATE_LLAMA3: put_stripped(&b, content); break;
    default: put_str(&b, content); break;
    }
    put_id(&b, end);
    emit_close(&b, tpl);
    *bp = b;
}

/* ---- the public functions ---- */

static int check_template(si_template tpl) {
    return tpl > SI_TEMPLATE_AUTO && tpl <= SI_TEMPLATE_LLAMA3 ? 0 : si_fail("no chat template chosen");
}

int64_t si_chat_begin(const si_tokenizer *t, si_template tpl, const char *system, int32_t *out, int64_t cap) {
    if (check_template(tpl)) return -1;
    builder b = builder_start(t, out, cap, false);
    emit_begin(&b, tpl, system);
    return finish(&b);
}

int64_t si_chat_user_turn(const si_tokenizer *t, si_template tpl, const char *system, const char *user, bool first,
                          int32_t *out, int64_t cap) {
    if (check_template(tpl)) return -1;
    /* Vicuna's first user turn continues the system text. */
    builder b = builder_start(t, out, cap, tpl == SI_TEMPLATE_VICUNA && first);
    emit_user(&b, tpl, system, user, first);
    return finish(&b);
}

int64_t si_chat_assistant_turn(const si_tokenizer *t, si_template tpl, const char *content, int32_t *out, int64_t cap) {
    if (check_template(tpl)) return -1;
    /* A reply continues its prompt's text. */
    builder b = builder_start(t, out, cap, true);
    emit_assistant(&b, tpl, content);
    return finish(&b);
}

int64_t si_chat_assistant_end(const si_tokenizer *t, si_template tpl, int32_t *out, int64_t cap) {
    if (check_template(tpl)) return -1;
    builder b = builder_start(t, out, cap, false);
    emit_close(&b, tpl);
    return finish(&b);
}

int64_t si_chat_render(const si_tokenizer *t, si_template tpl, const si_chat_message *msgs, int n,
                       bool add_generation_prompt, int32_t *out, int64_t cap) {
    if (check_template(tpl)) return -1;
    if (n < 0) return si_fail("negative message count");
    const char *system = NULL;
    int i = 0;
    if (n > 0 && msgs[0].role && !strcmp(msgs[0].role, "system")) system = msgs[i++].content;
    builder b = builder_start(t, out, cap, false);
    emit_begin(&b, tpl, system);
    bool first = true, open_turn = false;
    for (; i < n && !b.failed; i++) {
        const char *role = msgs[i].role ? msgs[i].role : "", *content = msgs[i].content ? msgs[i].content : "";
        if (!strcmp(role, "user")) {
            if (open_turn) {
                si_set_error("message %d: two user messages in a row", i);
                b.failed = 1;
                break;
            }
            /* The reply that follows is rendered into the same text piece as
             * its prompt, as the reference renders the whole conversation. */
            emit_user(&b, tpl, system, content, first);
            first = false;
            open_turn = true;
        } else if (!strcmp(role, "assistant")) {
            if (!open_turn) {
                si_set_error("message %d: an assistant message must follow a user message", i);
                b.failed = 1;
                break;
            }
            emit_assistant(&b, tpl, content);
            open_turn = false;
        } else {
            si_set_error("message %d: unsupported role '%.32s' (system first, then user/assistant)", i, role);
            b.failed = 1;
        }
    }
    if (!b.failed && !add_generation_prompt && open_turn) {
        si_set_error("the conversation ends with a user message but no generation prompt was asked for");
        b.failed = 1;
    }
    return finish(&b);
}

int32_t si_chat_end_of_turn(const si_tokenizer *t, si_template tpl) {
    switch (tpl) {
    case SI_TEMPLATE_CHATML: return si_tokenizer_find(t, "<|im_end|>");
    case SI_TEMPLATE_LLAMA3: return si_tokenizer_find(t, "<|eot_id|>");
    default: return si_tokenizer_eos(t);
    }
}
