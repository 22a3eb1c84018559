/* tokenizer/bpe_merges.c: the byte-level merge list as loaders fill it:
 * merges in rank order (kept for saving) and the pair map the encoder uses. */
#include "tokenizer_internal.h"
#include "util/error.h"

#include <string.h>

int si_tokenizer_reserve_merges(si_tokenizer *t, uint64_t n) {
    if (n > SI_TOKENIZER_MAX_MERGES)
        return si_fail("%llu merges (limit %d)", (unsigned long long)n, SI_TOKENIZER_MAX_MERGES);
    t->merges = si_malloc((size_t)n * sizeof *t->merges);
    t->n_merges = 0;
    return t->merges ? 0 : -1;
}

static int32_t find_part(const si_tokenizer *t, const char *s, size_t len, const char *what) {
    int32_t id = si_vocab_find(&t->vocab, s, len);
    if (id < 0)
        si_set_error("merge %lld: %s \"%.*s\" is not in the vocabulary", (long long)t->n_merges, what,
                     (int)(len > 40 ? 40 : len), s);
    return id;
}

int si_tokenizer_add_merge(si_tokenizer *t, const char *a, size_t la, const char *b, size_t lb) {
    char joined[2 * SI_TOKEN_MAX_BYTES];
    if (la > SI_TOKEN_MAX_BYTES || lb > SI_TOKEN_MAX_BYTES)
        return si_fail("merge %lld is too long", (long long)t->n_merges);
    memcpy(joined, a, la);
    memcpy(joined + la, b, lb);
    int32_t left = find_part(t, a, la, "left token");
    int32_t right = left < 0 ? -1 : find_part(t, b, lb, "right token");
    int32_t result = right < 0 ? -1 : find_part(t, joined, la + lb, "merged token");
    if (result < 0) return -1;
    /* rank r merges before r + 1: priority -r (exact in a float below 2^24) */
    if (si_merge_map_put(&t->pairs, left, right, -(float)t->n_merges, result) != 0) return -1;
    t->merges[t->n_merges][0] = left;
    t->merges[t->n_merges][1] = right;
    t->n_merges++;
    return 0;
}

int si_split_merge_text(const char *s, size_t len, size_t *left_len) {
    const char *sp = memchr(s, ' ', len);
    if (!sp || memchr(sp + 1, ' ', len - (size_t)(sp - s) - 1))
        return si_fail("merge %.*s is not two tokens separated by one space", (int)(len > 40 ? 40 : len), s);
    *left_len = (size_t)(sp - s);
    return 0;
}
