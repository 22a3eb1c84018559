/* tokenizer/vocab.c: the token table (texts in one arena, scores, types) and
 * its text -> id hash map. */
#include "tokenizer_internal.h"
#include "util/error.h"

#include <stdlib.h>
#include <string.h>

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a: vocabulary entries are short */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h ^ (h >> 29);
}

static bool entry_equals(const si_vocab *v, int32_t id, const char *s, size_t len) {
    const si_token *t = &v->tok[id];
    return t->len == len && memcmp(v->text + t->off, s, len) == 0;
}

/* Index of the slot holding text s, or of the empty slot where it would go. */
static size_t find_slot(const si_vocab *v, const char *s, size_t len) {
    size_t i = (size_t)hash_bytes(s, len) & v->slot_mask;
    while (v->slot[i] >= 0 && !entry_equals(v, v->slot[i], s, len)) i = (i + 1) & v->slot_mask;
    return i;
}

/* Keeps the load factor under 1/2 so probes stay short. */
static int grow_slots(si_vocab *v) {
    size_t n_slot = v->slot ? (v->slot_mask + 1) * 2 : 1024;
    int32_t *slot = si_malloc(n_slot * sizeof *slot);
    if (!slot) return -1;
    memset(slot, 0xff, n_slot * sizeof *slot);
    int32_t *old = v->slot;
    v->slot = slot;
    v->slot_mask = n_slot - 1;
    for (int32_t id = 0; id < v->n; id++) {
        const si_token *t = &v->tok[id];
        size_t i = find_slot(v, v->text + t->off, t->len);
        if (v->slot[i] < 0) v->slot[i] = id;
    }
    free(old);
    return 0;
}

static int reserve_text(si_vocab *v, size_t extra) {
    if (v->text_len + extra <= v->text_cap) return 0;
    size_t cap = v->text_cap ? v->text_cap : 1 << 16;
    while (cap < v->text_len + extra) cap *= 2;
    if (cap > UINT32_MAX) return si_fail("vocabulary text exceeds 4 GiB");
    char *p = realloc(v->text, cap);
    if (!p) return si_fail("out of memory growing the vocabulary text to %zu bytes", cap);
    v->text = p;
    v->text_cap = cap;
    return 0;
}

int32_t si_vocab_add(si_vocab *v, const char *s, size_t len, float score, int type) {
    if (v->n >= SI_TOKENIZER_MAX_VOCAB)
        return si_fail("more than %d tokens", SI_TOKENIZER_MAX_VOCAB);
    if (len > SI_TOKEN_MAX_BYTES)
        return si_fail("token %d is %zu bytes long (limit %d)", v->n, len, SI_TOKEN_MAX_BYTES);
    if (v->n == v->cap) {
        int32_t cap = v->cap ? v->cap * 2 : 1024;
        si_token *p = realloc(v->tok, (size_t)cap * sizeof *p);
        if (!p) return si_fail("out of memory growing the vocabulary to %d tokens", cap);
        v->tok = p;
        v->cap = cap;
    }
    if ((size_t)(v->n + 1) * 2 > (v->slot ? v->slot_mask + 1 : 0) && grow_slots(v) != 0) return -1;
    if (reserve_text(v, len + 1) != 0) return -1;
    int32_t id = v->n++;
    si_token *t = &v->tok[id];
    t->off = (uint32_t)v->text_len;
    t->len = (uint32_t)len;
    t->score = score;
    t->type = type;
    if (len) memcpy(v->text + v->text_len, s, len);
    v->text[v->text_len + len] = '\0';
    v->text_len += len + 1;
    size_t i = find_slot(v, s, len);
    if (v->slot[i] < 0)
        v->slot[i] = id;
    else
        v->n_duplicates++;
    return id;
}

int32_t si_vocab_find(const si_vocab *v, const char *s, size_t len) {
    if (!v->slot) return -1;
    return v->slot[find_slot(v, s, len)];
}

const char *si_vocab_text(const si_vocab *v, int32_t id, size_t *len) {
    if (id < 0 || id >= v->n) return NULL;
    if (len) *len = v->tok[id].len;
    return v->text + v->tok[id].off;
}

void si_vocab_free(si_vocab *v) {
    free(v->tok);
    free(v->text);
    free(v->slot);
    memset(v, 0, sizeof *v);
}
