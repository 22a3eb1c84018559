/* tokenizer/decode.c: ids -> text: each token's bytes (byte-level mapping or
 * SentencePiece spelling), UTF-8 repair as the reference library does it, and
 * the streaming detokenizer that holds back incomplete characters. */
#include "tokenizer_internal.h"
#include "utf8.h"
#include "util/error.h"

#include <string.h>

#define WS_ESCAPED "\xE2\x96\x81"

/* Byte-level: every character maps back to a byte; a token with a character
 * outside the mapping is passed through as it is (Hugging Face's ByteLevel
 * decoder does the same, per token). */
static size_t bytelevel_bytes(const char *text, size_t len, unsigned char *out) {
    const unsigned char *s = (const unsigned char *)text;
    size_t k = 0;
    for (size_t i = 0; i < len;) {
        int n = si_utf8_scan(s + i, len - i);
        int b = n > 0 ? si_bytelevel_byte(si_utf8_decode(s + i, n)) : -1;
        if (b < 0) {
            memcpy(out, text, len);
            return len;
        }
        out[k++] = (unsigned char)b;
        i += (size_t)n;
    }
    return k;
}

static size_t spm_bytes(const si_tokenizer *t, int32_t id, int flags, bool *at_start, unsigned char *out) {
    size_t len;
    const char *text = si_vocab_text(&t->vocab, id, &len);
    switch (t->vocab.tok[id].type) {
    case SI_TOKEN_CONTROL:
        if (!(flags & SI_DECODE_SPECIAL)) return 0; /* control pieces decode to nothing */
        memcpy(out, text, len);
        *at_start = false;
        return len;
    case SI_TOKEN_UNKNOWN:
        len = strlen(t->unk_surface);
        memcpy(out, t->unk_surface, len);
        *at_start = false;
        return len;
    case SI_TOKEN_BYTE:
        for (int b = 0; b < 256; b++) {
            if (t->byte_token[b] != id) continue;
            out[0] = (unsigned char)b;
            *at_start = false;
            return 1;
        }
        break; /* a BYTE piece not spelled <0xXX>: treat as text */
    default:
        break;
    }
    size_t i = 0, k = 0;
    /* The dummy prefix added at encoding is dropped again: one leading space
     * of the first piece that is text. */
    if (*at_start && t->add_dummy_prefix && t->escape_whitespaces && len >= 3 && memcmp(text, WS_ESCAPED, 3) == 0)
        i = 3;
    else if (*at_start && t->add_dummy_prefix && !t->escape_whitespaces && len >= 1 && text[0] == ' ')
        i = 1;
    *at_start = false;
    while (i < len) {
        if (t->escape_whitespaces && i + 3 <= len && memcmp(text + i, WS_ESCAPED, 3) == 0) {
            out[k++] = ' ';
            i += 3;
        } else {
            out[k++] = (unsigned char)text[i++];
        }
    }
    return k;
}

size_t si_token_bytes(const si_tokenizer *t, int32_t id, int flags, bool *at_start, unsigned char *out) {
    if (t->kind == SI_TOKENIZER_SPM) return spm_bytes(t, id, flags, at_start, out);
    int type = t->vocab.tok[id].type;
    if ((type == SI_TOKEN_CONTROL || type == SI_TOKEN_UNKNOWN) && !(flags & SI_DECODE_SPECIAL)) return 0;
    size_t len;
    const char *text = si_vocab_text(&t->vocab, id, &len);
    return bytelevel_bytes(text, len, out);
}

/* Output that keeps the total length but writes only whole units that fit
 * (cap - 1 bytes, then a NUL): text is never cut inside a character. */
typedef struct {
    char *out;
    size_t cap, total, written;
    bool full;
} sink;

static void sink_put(sink *k, const void *p, size_t n) {
    if (!k->full && k->written + n < k->cap) {
        memcpy(k->out + k->written, p, n);
        k->written += n;
    } else {
        k->full = true;
    }
    k->total += n;
}

static void sink_end(sink *k) {
    if (k->cap) k->out[k->written] = '\0';
}

/* Emits the complete characters of pending + s; keeps an incomplete tail in
 * pending unless final. Invalid bytes become U+FFFD following repair. */
static void utf8_feed(si_utf8_repair repair, unsigned char *pending, int *n_pending, const unsigned char *s, size_t n,
                      bool final, sink *k) {
    unsigned char buf[SI_TOKEN_MAX_BYTES + 8];
    size_t m = (size_t)*n_pending;
    memcpy(buf, pending, m);
    if (n) memcpy(buf + m, s, n);
    m += n;
    *n_pending = 0;
    size_t i = 0;
    while (i < m) {
        int r = si_utf8_scan(buf + i, m - i);
        if (r > 0) {
            sink_put(k, buf + i, (size_t)r);
            i += (size_t)r;
            continue;
        }
        if (r == 0 && !final) {
            memcpy(pending, buf + i, m - i);
            *n_pending = (int)(m - i);
            return;
        }
        sink_put(k, SI_UTF8_REPLACEMENT, 3);
        if (repair == SI_UTF8_REPAIR_PER_BYTE)
            i++;
        else
            i = r == 0 ? m : i + (size_t)-r; /* an incomplete tail is one maximal subpart */
    }
}

static si_utf8_repair repair_of(const si_tokenizer *t) {
    return t->kind == SI_TOKENIZER_SPM ? SI_UTF8_REPAIR_PER_BYTE : SI_UTF8_REPAIR_MAXIMAL;
}

/* sentencepiece turns each run of byte pieces into text on its own: a
 * control piece between two byte pieces ends the run even though it decodes
 * to nothing. (Hugging Face drops skipped special tokens before decoding, so
 * bytes on both sides of one still join.) */
static void feed_token(const si_tokenizer *t, int32_t id, int flags, bool *at_start, unsigned char *pending,
                       int *n_pending, sink *k) {
    unsigned char bytes[SI_TOKEN_MAX_BYTES];
    if (t->kind == SI_TOKENIZER_SPM && t->vocab.tok[id].type == SI_TOKEN_CONTROL)
        utf8_feed(SI_UTF8_REPAIR_PER_BYTE, pending, n_pending, NULL, 0, true, k);
    size_t len = si_token_bytes(t, id, flags, at_start, bytes);
    utf8_feed(repair_of(t), pending, n_pending, bytes, len, false, k);
}

int64_t si_tokenizer_decode(const si_tokenizer *t, const int32_t *ids, int64_t n, int flags, char *out, size_t cap) {
    if (!t || (!ids && n > 0) || n < 0 || (!out && cap > 0)) return si_fail("si_tokenizer_decode: bad arguments");
    sink k = {out, cap, 0, 0, false};
    unsigned char pending[8];
    int n_pending = 0;
    bool at_start = true;
    for (int64_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= t->vocab.n) {
            sink_end(&k);
            return si_fail("%s: decoding: token id %d is outside the vocabulary (%d tokens)", t->source, ids[i],
                           t->vocab.n);
        }
        feed_token(t, ids[i], flags, &at_start, pending, &n_pending, &k);
    }
    utf8_feed(repair_of(t), pending, &n_pending, NULL, 0, true, &k);
    sink_end(&k);
    return (int64_t)k.total;
}

void si_detok_init(si_detok_state *st, int flags) {
    memset(st, 0, sizeof *st);
    st->at_start = true;
    st->flags = flags;
}

size_t si_detok_push(const si_tokenizer *t, si_detok_state *st, int32_t id, char *out, size_t cap) {
    sink k = {out, cap, 0, 0, false};
    if (id < 0 || id >= t->vocab.n) {
        si_set_error("%s: detokenizing: token id %d is outside the vocabulary", t->source, id);
        sink_end(&k);
        return 0;
    }
    st->repair = (int)repair_of(t);
    feed_token(t, id, st->flags, &st->at_start, st->pending, &st->n_pending, &k);
    sink_end(&k);
    return k.written;
}

size_t si_detok_flush(si_detok_state *st, char *out, size_t cap) {
    sink k = {out, cap, 0, 0, false};
    utf8_feed((si_utf8_repair)st->repair, st->pending, &st->n_pending, NULL, 0, true, &k);
    sink_end(&k);
    return k.written;
}
