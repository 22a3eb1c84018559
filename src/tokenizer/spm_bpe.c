/* tokenizer/spm_bpe.c: SentencePiece BPE encoding: the normalizer (dummy
 * prefix, whitespace escaping, extra-whitespace removal), character
 * segmentation, merges by piece score, unused-piece resegmentation, byte
 * fallback and unknown pieces. */
#include "tokenizer_internal.h"
#include "utf8.h"

#include <stdlib.h>
#include <string.h>

#define WS_ESCAPED "\xE2\x96\x81" /* U+2581, SentencePiece's visible space */

static size_t ws_len(const si_tokenizer *t) { return t->escape_whitespaces ? 3 : 1; }

static bool is_ws_at(const si_tokenizer *t, const unsigned char *s, size_t n) {
    if (t->escape_whitespaces) return n >= 3 && memcmp(s, WS_ESCAPED, 3) == 0;
    return n >= 1 && s[0] == ' ';
}

/* Writes the normalized text into c->buf and returns its length (or -1).
 * Invalid UTF-8 becomes U+FFFD, one per byte, as SentencePiece does. Only ' '
 * counts as whitespace here (the identity normalization has no other rule). */
static int64_t normalize(si_encode_ctx *c, const unsigned char *s, size_t n) {
    const si_tokenizer *t = c->t;
    if (si_encode_reserve_buf(c, 3 * n + 3) != 0) return -1;
    unsigned char *out = c->buf;
    size_t i = 0, k = 0, ws = ws_len(t);
    const unsigned char *ws_text = (const unsigned char *)(t->escape_whitespaces ? WS_ESCAPED : " ");
    if (t->remove_extra_whitespaces)
        while (i < n && s[i] == ' ') i++;
    if (i == n) return 0; /* nothing but whitespace (or nothing): no tokens, not even the prefix */
    /* A continuation of text tokenized earlier is not the start of a text:
     * it gets no dummy prefix. */
    bool prefix = t->add_dummy_prefix && !(c->flags & SI_ENCODE_CONTINUE);
    if (prefix) {
        memcpy(out, ws_text, ws);
        k = ws;
    }
    bool prev_space = prefix;
    while (i < n) {
        int len = si_utf8_scan(s + i, n - i);
        if (len <= 0) {
            memcpy(out + k, SI_UTF8_REPLACEMENT, 3);
            k += 3;
            i++;
            prev_space = false;
            continue;
        }
        if (s[i] == ' ') {
            i++;
            if (t->remove_extra_whitespaces && prev_space) continue;
            memcpy(out + k, ws_text, ws);
            k += ws;
            prev_space = true;
            continue;
        }
        memcpy(out + k, s + i, (size_t)len);
        k += (size_t)len;
        i += (size_t)len;
        prev_space = false;
    }
    if (t->remove_extra_whitespaces)
        while (k >= ws && memcmp(out + k - ws, ws_text, ws) == 0) k -= ws;
    return (int64_t)k;
}

/* Longest user-defined piece starting at s (SentencePiece keeps those whole
 * and never merges them), or -1. */
static int32_t user_defined_at(const si_tokenizer *t, const unsigned char *s, size_t n, size_t *len) {
    for (int32_t j = t->special_start[s[0]]; j < t->special_start[s[0] + 1]; j++) {
        const si_special *sp = &t->special[j];
        if (t->vocab.tok[sp->id].type != SI_TOKEN_USER_DEFINED || sp->len > n) continue;
        if (memcmp(t->vocab.text + t->vocab.tok[sp->id].off, s, sp->len) == 0) {
            *len = sp->len;
            return sp->id;
        }
    }
    return -1;
}

static void record_merge(void *ctx, int32_t result, int32_t left, int32_t right) {
    si_encode_ctx *c = ctx;
    if (c->t->vocab.tok[result].type != SI_TOKEN_UNUSED) return;
    if (c->n_merged == c->cap_merged) {
        size_t cap = c->cap_merged ? c->cap_merged * 2 : 64;
        si_merge_record *p = realloc(c->merged, cap * sizeof *p);
        if (!p) return; /* only loses the resegmentation of an unused piece */
        c->merged = p;
        c->cap_merged = cap;
    }
    c->merged[c->n_merged++] = (si_merge_record){result, left, right};
}

/* An unused piece is not emitted: it is split back into the two pieces the
 * merge joined (the latest such merge, as SentencePiece's reverse map). */
static void emit_piece(si_encode_ctx *c, int32_t id, int depth) {
    if (c->t->vocab.tok[id].type == SI_TOKEN_UNUSED && depth < 64) {
        for (size_t j = c->n_merged; j-- > 0;) {
            if (c->merged[j].result != id) continue;
            emit_piece(c, c->merged[j].left, depth + 1);
            emit_piece(c, c->merged[j].right, depth + 1);
            return;
        }
    }
    si_emit_id(&c->emit, id);
}

static void emit_unknown(si_encode_ctx *c, const unsigned char *s, size_t n, bool *last_unk) {
    const si_tokenizer *t = c->t;
    if (t->byte_fallback) {
        for (size_t i = 0; i < n; i++) si_emit_id(&c->emit, t->byte_token[s[i]] >= 0 ? t->byte_token[s[i]] : t->unk);
        *last_unk = false;
        return;
    }
    /* SentencePiece fuses a run of unknown pieces into one. */
    if (!*last_unk) si_emit_id(&c->emit, t->unk);
    *last_unk = true;
}

static int encode_segment(si_encode_ctx *c, const unsigned char *s, size_t n, bool *last_unk) {
    const si_tokenizer *t = c->t;
    if (si_bpe_reserve(&c->bpe, n) != 0) return -1;
    si_bpe_work *w = &c->bpe;
    w->n_sym = 0;
    for (size_t i = 0; i < n;) {
        size_t len = 0;
        int32_t id = t->has_user_defined ? user_defined_at(t, s + i, n - i, &len) : -1;
        bool frozen = id >= 0;
        if (!frozen) {
            int k = si_utf8_scan(s + i, n - i); /* valid: normalize() repaired the text */
            len = (size_t)(k > 0 ? k : 1);
            id = si_vocab_find(&t->vocab, (const char *)s + i, len);
            if (id >= 0 && !si_token_is_piece(t->vocab.tok[id].type)) id = -1;
        }
        int32_t j = (int32_t)w->n_sym++;
        w->sym[j] = (si_bpe_sym){id, j - 1, -1, (uint32_t)i, (uint32_t)len, frozen};
        if (j > 0) w->sym[j - 1].next = j;
        i += len;
    }
    if (w->n_sym == 0) return 0;
    c->n_merged = 0;
    si_bpe_merge(&t->pairs, w, t->has_unused ? record_merge : NULL, c);
    for (int32_t j = 0; j >= 0; j = w->sym[j].next) {
        const si_bpe_sym *sym = &w->sym[j];
        if (sym->id >= 0) {
            emit_piece(c, sym->id, 0);
            *last_unk = false;
        } else {
            emit_unknown(c, s + sym->start, sym->len, last_unk);
        }
    }
    return 0;
}

int si_spm_encode(si_encode_ctx *c, const unsigned char *s, size_t n) {
    const si_tokenizer *t = c->t;
    int64_t len = normalize(c, s, n);
    if (len <= 0) return (int)len;
    const unsigned char *text = c->buf;
    size_t total = (size_t)len, start = 0, ws = ws_len(t);
    bool last_unk = false;
    /* SentencePiece merges over the whole text. When no piece has a
     * whitespace mark right after another character (t->spm_word_split), no
     * merge can cross the start of a word, so each word is merged on its own:
     * the same result in memory bounded by the longest word. */
    if (t->spm_word_split) {
        for (size_t i = ws; i < total; i++) {
            if (!is_ws_at(t, text + i, total - i) || is_ws_at(t, text + i - ws, ws)) continue;
            if (encode_segment(c, text + start, i - start, &last_unk) != 0) return -1;
            start = i;
        }
    }
    return encode_segment(c, text + start, total - start, &last_unk);
}
