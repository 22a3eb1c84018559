/* tokenizer/encode.c: si_tokenizer_encode: BOS, splitting out special-token
 * strings, and handing the plain text between them to the model's encoder. */
#include "tokenizer_internal.h"
#include "utf8.h"
#include "util/error.h"

#include <stdlib.h>
#include <string.h>

int si_encode_reserve_buf(si_encode_ctx *c, size_t n) {
    if (n <= c->buf_cap) return 0;
    size_t cap = c->buf_cap ? c->buf_cap : 256;
    while (cap < n) cap *= 2;
    unsigned char *p = realloc(c->buf, cap);
    if (!p) return si_fail("out of memory for a %zu-byte encoding buffer", cap);
    c->buf = p;
    c->buf_cap = cap;
    return 0;
}

static int encode_plain(si_encode_ctx *c, const unsigned char *s, size_t n) {
    if (n == 0) return 0;
    return c->t->kind == SI_TOKENIZER_BPE ? si_bytelevel_encode(c, s, n) : si_spm_encode(c, s, n);
}

/* The special string starting at s, longest first, or NULL. */
static const si_special *special_at(const si_tokenizer *t, const unsigned char *s, size_t n) {
    for (int32_t j = t->special_start[s[0]]; j < t->special_start[s[0] + 1]; j++) {
        const si_special *sp = &t->special[j];
        if (sp->len <= n && memcmp(t->vocab.text + t->vocab.tok[sp->id].off, s, sp->len) == 0) return sp;
    }
    return NULL;
}

/* Length of the whitespace character ending at s[end-1] (0 if none). */
static size_t whitespace_before(const unsigned char *s, size_t begin, size_t end) {
    size_t i = end;
    while (i > begin && end - i < 4 && (s[i - 1] & 0xC0) == 0x80) i--;
    if (i == begin) return 0;
    i--;
    int k = si_utf8_scan(s + i, end - i);
    return k > 0 && (size_t)k == end - i && si_unicode_is_whitespace(si_utf8_decode(s + i, k)) ? end - i : 0;
}

static size_t whitespace_at(const unsigned char *s, size_t n) {
    int k = si_utf8_scan(s, n);
    return k > 0 && si_unicode_is_whitespace(si_utf8_decode(s, k)) ? (size_t)k : 0;
}

/* As Hugging Face's added tokens: leftmost-longest occurrences become single
 * ids; lstrip/rstrip tokens swallow the whitespace beside them. */
static int encode_with_specials(si_encode_ctx *c, const unsigned char *s, size_t n) {
    const si_tokenizer *t = c->t;
    size_t seg = 0, i = 0;
    while (i < n) {
        const si_special *sp = special_at(t, s + i, n - i);
        if (!sp) {
            i++;
            continue;
        }
        size_t seg_end = i, next = i + sp->len, k;
        if (sp->lstrip)
            while ((k = whitespace_before(s, seg, seg_end)) > 0) seg_end -= k;
        if (sp->rstrip)
            while (next < n && (k = whitespace_at(s + next, n - next)) > 0) next += k;
        if (encode_plain(c, s + seg, seg_end - seg) != 0) return -1;
        si_emit_id(&c->emit, sp->id);
        seg = i = next;
    }
    return encode_plain(c, s + seg, n - seg);
}

int64_t si_tokenizer_encode(const si_tokenizer *t, const char *text, size_t len, int flags, int32_t *out,
                            int64_t cap) {
    if (!t || (!text && len) || cap < 0 || (!out && cap > 0)) return si_fail("si_tokenizer_encode: bad arguments");
    si_encode_ctx c = {.t = t, .flags = flags, .emit = {out, cap, 0}};
    int rc = 0;
    for (int s = 0; s < t->pre.n && rc == 0; s++) {
        c.md[s] = pcre2_match_data_create_from_pattern(t->pre.st[s].re, NULL);
        if (!c.md[s]) rc = si_fail("out of memory for regex match data");
    }
    if (rc == 0) {
        if ((flags & SI_ENCODE_BOS) && t->bos >= 0) si_emit_id(&c.emit, t->bos);
        const unsigned char *s = (const unsigned char *)text;
        rc = (flags & SI_ENCODE_SPECIAL) && t->n_special ? encode_with_specials(&c, s, len) : encode_plain(&c, s, len);
    }
    for (int s = 0; s < t->pre.n; s++) pcre2_match_data_free(c.md[s]);
    si_bpe_work_free(&c.bpe);
    free(c.buf);
    free(c.merged);
    if (rc != 0) {
        si_error_prefix("%s: encoding", t->source);
        return -1;
    }
    return c.emit.n;
}
