/* tokenizer/bpe_bytelevel.c: byte-level BPE encoding (GPT-2 style): the
 * reversible byte <-> character mapping, pre-token chunks, merges by rank. */
#include "tokenizer_internal.h"
#include "utf8.h"

/* GPT-2 gives the 188 printable bytes their own code point and moves the other
 * 68 (controls, space, DEL..NBSP, soft hyphen) to U+0100.. in byte order, so
 * that every byte becomes a visible character. */
uint32_t si_bytelevel_char(unsigned char b) {
    if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE) return b;
    if (b <= 0x20) return 256u + b;
    if (b <= 0xA0) return 256u + 33u + (b - 0x7Fu);
    return 256u + 67u; /* 0xAD */
}

int si_bytelevel_byte(uint32_t cp) {
    if ((cp >= 0x21 && cp <= 0x7E) || (cp >= 0xA1 && cp <= 0xAC) || (cp >= 0xAE && cp <= 0xFF)) return (int)cp;
    if (cp >= 256 && cp < 256 + 33) return (int)(cp - 256);
    if (cp >= 256 + 33 && cp < 256 + 67) return (int)(0x7F + cp - 256 - 33);
    if (cp == 256 + 67) return 0xAD;
    return -1;
}

/* The vocabulary spelling of a chunk (each byte as its mapped character). */
static int map_chunk(si_encode_ctx *c, const unsigned char *s, size_t n, size_t *len) {
    if (si_encode_reserve_buf(c, 2 * n) != 0) return -1;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += (size_t)si_utf8_encode(si_bytelevel_char(s[i]), c->buf + k);
    *len = k;
    return 0;
}

static int encode_chunk(void *ctx, const unsigned char *s, size_t n) {
    si_encode_ctx *c = ctx;
    const si_tokenizer *t = c->t;
    if (n == 1 && t->byte_token[s[0]] >= 0) {
        si_emit_id(&c->emit, t->byte_token[s[0]]);
        return 0;
    }
    if (t->ignore_merges) { /* Llama-3: a pre-token that is a vocabulary entry stays whole */
        size_t len;
        if (map_chunk(c, s, n, &len) != 0) return -1;
        int32_t id = si_vocab_find(&t->vocab, (const char *)c->buf, len);
        if (id >= 0) {
            si_emit_id(&c->emit, id);
            return 0;
        }
    }
    if (si_bpe_reserve(&c->bpe, n) != 0) return -1;
    si_bpe_work *w = &c->bpe;
    w->n_sym = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t id = t->byte_token[s[i]];
        bool unknown = id < 0;
        if (unknown) {
            /* As Hugging Face's BPE: a character missing from the vocabulary
             * becomes the unknown token (runs fused if fuse_unk), or is
             * dropped when there is none. */
            if (t->unk < 0) continue;
            si_bpe_sym *last = w->n_sym ? &w->sym[w->n_sym - 1] : NULL;
            if (t->fuse_unk && last && last->frozen) {
                last->len++;
                continue;
            }
            id = t->unk;
        }
        int32_t k = (int32_t)w->n_sym++;
        w->sym[k] = (si_bpe_sym){id, k - 1, -1, (uint32_t)i, 1, unknown};
        if (k > 0) w->sym[k - 1].next = k;
    }
    if (w->n_sym == 0) return 0;
    si_bpe_merge(&t->pairs, w, NULL, NULL);
    for (int32_t k = 0; k >= 0; k = w->sym[k].next) si_emit_id(&c->emit, w->sym[k].id);
    return 0;
}

int si_bytelevel_encode(si_encode_ctx *c, const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        /* Hugging Face only ever sees valid UTF-8 (Rust strings). Valid runs go
         * through the regex stages; each invalid byte is a chunk of its own,
         * so it still round-trips through its byte token. */
        size_t run = si_utf8_valid_run(s + i, n - i);
        if (run) {
            if (si_pretok_split(&c->t->pre, c->md, s + i, run, encode_chunk, c) != 0) return -1;
            i += run;
        } else {
            if (encode_chunk(c, s + i, 1) != 0) return -1;
            i++;
        }
    }
    return 0;
}
