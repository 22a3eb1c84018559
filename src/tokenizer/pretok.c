/* tokenizer/pretok.c: the regex pre-tokenizer: a list of PCRE2 split stages
 * (Hugging Face's Split/Digits/ByteLevel pre-tokenizers in a Sequence) and the
 * table of known pre-tokenizer names used by GGUF files. */
#include "tokenizer_internal.h"
#include "utf8.h"
#include "util/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* GPT-2's regex as Hugging Face's ByteLevel pre-tokenizer uses it. */
static const char GPT2_PATTERN[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
/* Llama-3's Split regex (tokenizer.json of Meta-Llama-3). */
static const char LLAMA3_PATTERN[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
/* Digits(individual_digits): Rust's char::is_numeric is the N category. */
static const char DIGIT_PATTERN[] = "\\p{N}";
static const char DIGITS_PATTERN[] = "\\p{N}+";

typedef struct {
    const char *names[3]; /* GGUF tokenizer.ggml.pre spellings */
    const char *patterns[3];
    bool ignore_merges;
} known_pretok;

static const known_pretok KNOWN[] = {
    {{"gpt2", "default", NULL}, {GPT2_PATTERN, NULL, NULL}, false},
    {{"smollm", NULL, NULL}, {DIGIT_PATTERN, GPT2_PATTERN, NULL}, false},
    {{"llama-bpe", "llama3", NULL}, {LLAMA3_PATTERN, NULL, NULL}, true},
};
#define N_KNOWN (sizeof KNOWN / sizeof KNOWN[0])

const char *si_pretok_gpt2_pattern(void) { return GPT2_PATTERN; }
const char *si_pretok_digits_pattern(bool individual) { return individual ? DIGIT_PATTERN : DIGITS_PATTERN; }

int si_pretok_add(si_pretok *p, const char *pattern, size_t len, bool literal, si_split_behavior b) {
    if (p->n == SI_PRETOK_MAX_STAGES) return si_fail("more than %d pre-tokenizer stages", SI_PRETOK_MAX_STAGES);
    int err;
    PCRE2_SIZE at;
    uint32_t opts = PCRE2_UTF | PCRE2_UCP | (literal ? PCRE2_LITERAL : 0);
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, len, opts, &err, &at, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        return si_fail("pre-tokenizer regex /%.*s/ does not compile at offset %zu: %s", (int)(len > 200 ? 200 : len),
                       pattern, (size_t)at, (const char *)msg);
    }
    /* JIT makes matching several times faster; without it PCRE2 interprets. */
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    char *copy = si_strndup(pattern, len);
    if (!copy) {
        pcre2_code_free(re);
        return -1;
    }
    p->st[p->n++] = (si_pretok_stage){copy, re, b};
    return 0;
}

int si_pretok_set_known(si_pretok *p, const char *name, size_t len, bool *ignore_merges) {
    for (size_t k = 0; k < N_KNOWN; k++) {
        for (int j = 0; j < 3 && KNOWN[k].names[j]; j++) {
            const char *nm = KNOWN[k].names[j];
            if (strlen(nm) != len || memcmp(nm, name, len) != 0) continue;
            for (int s = 0; s < 3 && KNOWN[k].patterns[s]; s++)
                if (si_pretok_add(p, KNOWN[k].patterns[s], strlen(KNOWN[k].patterns[s]), false, SI_SPLIT_ISOLATED))
                    return -1;
            snprintf(p->name, sizeof p->name, "%s", KNOWN[k].names[0]);
            *ignore_merges = KNOWN[k].ignore_merges;
            return 0;
        }
    }
    return si_fail("unknown pre-tokenizer \"%.*s\" (known: gpt2/default, smollm, llama-bpe/llama3)",
                   (int)(len > 64 ? 64 : len), name);
}

void si_pretok_detect_name(si_pretok *p) {
    snprintf(p->name, sizeof p->name, "custom");
    for (size_t k = 0; k < N_KNOWN; k++) {
        int n = 0;
        while (n < 3 && KNOWN[k].patterns[n]) n++;
        if (n != p->n) continue;
        bool same = true;
        for (int s = 0; s < n && same; s++)
            same = p->st[s].behavior == SI_SPLIT_ISOLATED && strcmp(p->st[s].pattern, KNOWN[k].patterns[s]) == 0;
        if (same) {
            snprintf(p->name, sizeof p->name, "%s", KNOWN[k].names[0]);
            return;
        }
    }
}

void si_pretok_free(si_pretok *p) {
    for (int i = 0; i < p->n; i++) {
        pcre2_code_free(p->st[i].re);
        free(p->st[i].pattern);
    }
    p->n = 0;
}

/* Hugging Face's Split: the text between matches is a piece of its own too
 * (Isolated keeps the matches as pieces, Removed drops them). Every stage works
 * on one piece of the stage before, so a regex never looks across pieces. */
static int split_stage(const si_pretok *p, pcre2_match_data **md, int stage, const unsigned char *s, size_t n,
                       si_chunk_fn fn, void *ctx) {
    if (n == 0) return 0;
    if (stage == p->n) return fn(ctx, s, n);
    const si_pretok_stage *st = &p->st[stage];
    size_t gap = 0, from = 0;
    while (from < n) {
        int rc = pcre2_match(st->re, s, n, from, PCRE2_NO_UTF_CHECK, md[stage], NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return si_fail("pre-tokenizer regex failed: %s", (const char *)msg);
        }
        const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md[stage]);
        size_t ms = ov[0], me = ov[1];
        if (me == ms) { /* an empty match splits nothing: search again one character on */
            if (ms >= n) break;
            int k = si_utf8_scan(s + ms, n - ms);
            from = ms + (size_t)(k > 0 ? k : 1);
            continue;
        }
        if (ms > gap && split_stage(p, md, stage + 1, s + gap, ms - gap, fn, ctx)) return -1;
        if (st->behavior == SI_SPLIT_ISOLATED && split_stage(p, md, stage + 1, s + ms, me - ms, fn, ctx)) return -1;
        gap = from = me;
    }
    return gap < n ? split_stage(p, md, stage + 1, s + gap, n - gap, fn, ctx) : 0;
}

int si_pretok_split(const si_pretok *p, pcre2_match_data **md, const unsigned char *s, size_t n, si_chunk_fn fn,
                    void *ctx) {
    return split_stage(p, md, 0, s, n, fn, ctx);
}
