/* tokenizer/load_gguf.c: a tokenizer from GGUF metadata (tokenizer.ggml.*):
 * "gpt2" (byte-level BPE: tokens, merges, pre-tokenizer name) or "llama"
 * (SentencePiece: tokens, scores, token types, add_space_prefix). */
#include "format/gguf.h"
#include "tokenizer_internal.h"
#include "util/error.h"

#include <stdlib.h>
#include <string.h>

/* A numeric array of exactly n elements of the given type, or absent (1). */
static int get_numeric_arr(const si_gguf *g, const char *key, si_gguf_type want, uint64_t n, const void **data) {
    si_gguf_type type;
    uint64_t count;
    int rc = si_gguf_get_arr(g, key, &type, &count, data);
    if (rc != 0) return rc;
    if (type != want || !*data) return si_fail("%s: %s has element type %d, expected %d", si_gguf_path(g), key, type, want);
    if (count != n) return si_fail("%s: %s has %llu elements for %llu tokens", si_gguf_path(g), key,
                                   (unsigned long long)count, (unsigned long long)n);
    return 0;
}

/* A string array's element count; absent is an error when required. */
static int string_arr(const si_gguf *g, const char *key, uint64_t *n) {
    si_gguf_type type;
    const void *unused;
    int rc = si_gguf_get_arr(g, key, &type, n, &unused);
    if (rc == 1) return si_fail("%s: no %s", si_gguf_path(g), key);
    if (rc != 0) return -1;
    if (type != SI_GGUF_STRING) return si_fail("%s: %s is not a string array", si_gguf_path(g), key);
    return 0;
}

static int load_tokens(si_tokenizer *t, const si_gguf *g) {
    const char *path = si_gguf_path(g);
    uint64_t n;
    int rc;
    if (string_arr(g, "tokenizer.ggml.tokens", &n) != 0) return -1;
    if (n == 0 || n > SI_TOKENIZER_MAX_VOCAB)
        return si_fail("%s: %llu tokens (limit %d)", path, (unsigned long long)n, SI_TOKENIZER_MAX_VOCAB);
    const unsigned char *types = NULL, *scores = NULL;
    if ((rc = get_numeric_arr(g, "tokenizer.ggml.token_type", SI_GGUF_INT32, n, (const void **)&types)) < 0 ||
        (rc = get_numeric_arr(g, "tokenizer.ggml.scores", SI_GGUF_FLOAT32, n, (const void **)&scores)) < 0)
        return -1;
    for (uint64_t i = 0; i < n; i++) {
        const char *s;
        size_t len;
        if (si_gguf_arr_str(g, "tokenizer.ggml.tokens", i, &s, &len) != 0) return -1;
        int32_t type_i = SI_TOKEN_NORMAL;
        float score = 0;
        if (types) memcpy(&type_i, types + 4 * i, 4); /* elements need not be aligned */
        if (scores) memcpy(&score, scores + 4 * i, 4);
        if (type_i == 0) type_i = SI_TOKEN_NORMAL; /* llama.cpp's "undefined" */
        if (type_i < SI_TOKEN_NORMAL || type_i > SI_TOKEN_BYTE)
            return si_fail("%s: token %llu has invalid type %d", path, (unsigned long long)i, type_i);
        if (si_vocab_add(&t->vocab, s, len, score, type_i) < 0) {
            si_error_prefix("%s", path);
            return -1;
        }
    }
    return 0;
}

static int load_merges(si_tokenizer *t, const si_gguf *g, uint64_t n) {
    if (si_tokenizer_reserve_merges(t, n) != 0) return -1;
    for (uint64_t i = 0; i < n; i++) {
        const char *s;
        size_t len, la;
        if (si_gguf_arr_str(g, "tokenizer.ggml.merges", i, &s, &len) != 0) return -1;
        if (si_split_merge_text(s, len, &la) != 0 || si_tokenizer_add_merge(t, s, la, s + la + 1, len - la - 1) != 0) {
            si_error_prefix("%s", si_gguf_path(g));
            return -1;
        }
    }
    return 0;
}

static int get_id(const si_gguf *g, const char *key, int32_t *out) {
    uint32_t v;
    int rc = si_gguf_get_u32(g, key, &v);
    if (rc < 0) return -1;
    if (rc == 0) {
        if (v >= SI_TOKENIZER_MAX_VOCAB) return si_fail("%s: %s = %u is not a token id", si_gguf_path(g), key, v);
        *out = (int32_t)v;
    }
    return 0;
}

static int get_flag(const si_gguf *g, const char *key, bool *out) {
    return si_gguf_get_bool(g, key, out) < 0 ? -1 : 0; /* absent: keep the default */
}

static int load_settings(si_tokenizer *t, const si_gguf *g) {
    if (get_id(g, "tokenizer.ggml.bos_token_id", &t->bos) || get_id(g, "tokenizer.ggml.eos_token_id", &t->eos) ||
        get_id(g, "tokenizer.ggml.unknown_token_id", &t->unk) ||
        get_id(g, "tokenizer.ggml.padding_token_id", &t->pad) || get_id(g, "tokenizer.ggml.eot_token_id", &t->eot) ||
        get_id(g, "tokenizer.ggml.eom_token_id", &t->eom))
        return -1;
    /* Defaults where the file says nothing: SentencePiece models want BOS
     * and the dummy prefix, byte-level ones neither. */
    t->add_bos = t->kind == SI_TOKENIZER_SPM;
    t->add_dummy_prefix = true;
    t->escape_whitespaces = true;
    if (get_flag(g, "tokenizer.ggml.add_bos_token", &t->add_bos) ||
        get_flag(g, "tokenizer.ggml.add_space_prefix", &t->add_dummy_prefix) ||
        get_flag(g, "tokenizer.ggml.remove_extra_whitespaces", &t->remove_extra_whitespaces))
        return -1;
    const char *s;
    size_t len;
    int rc = si_gguf_get_str(g, "tokenizer.chat_template", &s, &len);
    if (rc < 0) return -1;
    if (rc == 0 && !(t->chat_template = si_strndup(s, len))) return -1;
    return 0;
}

static int load_pre(si_tokenizer *t, const si_gguf *g) {
    const char *s = "default";
    size_t len = strlen(s);
    if (si_gguf_get_str(g, "tokenizer.ggml.pre", &s, &len) < 0) return -1;
    if (si_pretok_set_known(&t->pre, s, len, &t->ignore_merges) != 0) {
        si_error_prefix("%s: tokenizer.ggml.pre", si_gguf_path(g));
        return -1;
    }
    return 0;
}

si_tokenizer *si_tokenizer_from_gguf(const si_gguf *g) {
    const char *path = si_gguf_path(g);
    const char *model;
    size_t len;
    int rc = si_gguf_get_str(g, "tokenizer.ggml.model", &model, &len);
    if (rc != 0) {
        if (rc == 1) si_set_error("%s: no tokenizer.ggml.model", path);
        return NULL;
    }
    si_tokenizer_kind kind;
    if (len == 4 && memcmp(model, "gpt2", 4) == 0) {
        kind = SI_TOKENIZER_BPE;
    } else if (len == 5 && memcmp(model, "llama", 5) == 0) {
        kind = SI_TOKENIZER_SPM;
    } else {
        si_set_error("%s: tokenizer model \"%.*s\" is not supported (gpt2, llama)", path, (int)(len > 32 ? 32 : len),
                     model);
        return NULL;
    }
    si_tokenizer *t = si_tokenizer_alloc(kind, path);
    if (!t) return NULL;
    if (load_tokens(t, g) != 0 || load_settings(t, g) != 0) goto fail;
    uint64_t n_merges;
    if (kind == SI_TOKENIZER_BPE && (string_arr(g, "tokenizer.ggml.merges", &n_merges) != 0 ||
                                     load_merges(t, g, n_merges) != 0 || load_pre(t, g) != 0))
        goto fail;
    if (kind == SI_TOKENIZER_SPM) {
        /* llama.cpp falls back to <0xXX> pieces whenever the vocabulary has them. */
        for (int32_t id = 0; id < t->vocab.n && !t->byte_fallback; id++)
            t->byte_fallback = t->vocab.tok[id].type == SI_TOKEN_BYTE;
        /* Without unknown_token_id, the piece typed UNKNOWN stands for
         * unknown text (si_tokenizer_finish refuses a vocabulary with none). */
        for (int32_t id = 0; id < t->vocab.n && t->unk < 0; id++)
            if (t->vocab.tok[id].type == SI_TOKEN_UNKNOWN) t->unk = id;
    }
    if (si_tokenizer_finish(t) != 0) goto fail;
    return t;
fail:
    si_tokenizer_free(t);
    return NULL;
}
