/* tests/test_tokenizer_stream.c: decoding and the streaming detokenizer:
 * characters split across byte tokens, U+FFFD repair (per byte for
 * SentencePiece, per maximal subpart for byte-level, as the references do),
 * SentencePiece's leading-space rule, and streaming == whole decode on the
 * golden cases and on random id sequences. */
#include "test_tokenizer_common.h"

#define FFFD "\xEF\xBF\xBD"

/* Streams ids through the detokenizer; returns the concatenated text. */
static char *stream(const si_tokenizer *t, const int32_t *ids, int64_t n, int flags, size_t *len) {
    si_detok_state st;
    si_detok_init(&st, flags);
    size_t cap = 64, k = 0;
    char *all = malloc(cap), piece[SI_DETOK_MIN_CAP];
    for (int64_t i = 0; i <= n; i++) {
        size_t m = i < n ? si_detok_push(t, &st, ids[i], piece, sizeof piece) : si_detok_flush(&st, piece, sizeof piece);
        CHECK(m < sizeof piece && piece[m] == '\0');
        while (k + m + 1 > cap) all = realloc(all, cap *= 2);
        memcpy(all + k, piece, m);
        k += m;
    }
    all[k] = '\0';
    *len = k;
    return all;
}

static char *decode(const si_tokenizer *t, const int32_t *ids, int64_t n, int flags, size_t *len) {
    int64_t total = si_tokenizer_decode(t, ids, n, flags, NULL, 0);
    CHECK(total >= 0);
    char *out = malloc((size_t)(total < 0 ? 0 : total) + 1);
    CHECK(si_tokenizer_decode(t, ids, n, flags, out, (size_t)(total < 0 ? 0 : total) + 1) == total);
    *len = total < 0 ? 0 : (size_t)total;
    return out;
}

static bool stream_equals_decode(const si_tokenizer *t, const int32_t *ids, int64_t n, int flags) {
    size_t a, b;
    char *x = stream(t, ids, n, flags, &a), *y = decode(t, ids, n, flags, &b);
    bool same = a == b && memcmp(x, y, a) == 0;
    if (!same) fprintf(stderr, "stream \"%.80s\" != decode \"%.80s\"\n", x, y);
    free(x);
    free(y);
    return same;
}

/* The text each push returns, checked against want[i] ("" = nothing yet). */
static void expect_pushes(const si_tokenizer *t, const int32_t *ids, int n, const char *const *want,
                          const char *flush_want) {
    si_detok_state st;
    si_detok_init(&st, 0);
    char out[SI_DETOK_MIN_CAP];
    for (int i = 0; i < n; i++) {
        si_detok_push(t, &st, ids[i], out, sizeof out);
        CHECKF(strcmp(out, want[i]) == 0, "push %d of id %d gave \"%s\", want \"%s\"", i, ids[i], out, want[i]);
    }
    si_detok_flush(&st, out, sizeof out);
    CHECKF(strcmp(out, flush_want) == 0, "flush gave \"%s\", want \"%s\"", out, flush_want);
}

/* The single token for a lone byte: an invalid byte is encoded on its own. */
static int32_t byte_id(const si_tokenizer *t, unsigned char b) {
    char s[1] = {(char)b};
    int32_t ids[8];
    int64_t n = si_tokenizer_encode(t, s, 1, 0, ids, 8);
    CHECKF(n == 1 || n == 2, "byte 0x%02X gave %lld ids", b, (long long)n);
    return ids[n - 1]; /* SentencePiece: after the dummy-prefix piece */
}

static void check_golden_streams(const si_tokenizer *t, const char *name) {
    golden_set s = golden_load(name);
    size_t ok = 0;
    for (size_t i = 0; i < s.n; i++)
        ok += stream_equals_decode(t, s.c[i].ids, s.c[i].n_ids, 0) &&
              stream_equals_decode(t, s.c[i].ids, s.c[i].n_ids, SI_DECODE_SPECIAL);
    printf("%s: streaming == decode on %zu/%zu golden cases\n", name, ok, s.n);
    CHECK(ok == s.n);
    golden_free(&s);
}

/* Random id sequences decoded by the reference library (golden text). */
static void check_golden_decode(const si_tokenizer *t, const char *name) {
    golden_set s = golden_load(name);
    size_t ok = 0, streamed = 0;
    for (size_t i = 0; i < s.n; i++) {
        const golden_case *g = &s.c[i];
        int flags = g->special ? SI_DECODE_SPECIAL : 0;
        size_t len;
        char *text = decode(t, g->ids, g->n_ids, flags, &len);
        bool same = len == g->len && memcmp(text, g->text, len) == 0;
        if (!same && ok + 3 > i) fprintf(stderr, "%s: case %zu decodes to \"%.60s\", reference \"%.60s\"\n", name, i, text, g->text);
        ok += same;
        streamed += stream_equals_decode(t, g->ids, g->n_ids, flags);
        free(text);
    }
    printf("%s: %zu/%zu decodes exact, streaming == decode on %zu\n", name, ok, s.n, streamed);
    CHECK(ok == s.n);
    CHECK(streamed == s.n);
    golden_free(&s);
}

/* Random ids (byte tokens over-represented, to hit invalid UTF-8 often). */
static void check_random_streams(const si_tokenizer *t, const char *name) {
    uint64_t state = 0x9E3779B97F4A7C15ull;
    int32_t ids[40], bytes[16];
    for (int b = 0; b < 16; b++) bytes[b] = byte_id(t, (unsigned char)(0x80 + 8 * b));
    int ok = 0, n_seq = 2000;
    for (int k = 0; k < n_seq; k++) {
        int n = 1 + k % 40;
        for (int i = 0; i < n; i++) {
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            uint32_t r = (uint32_t)(state >> 33);
            ids[i] = r % 3 == 0 ? bytes[r % 16] : (int32_t)(r % (uint32_t)si_tokenizer_n_vocab(t));
        }
        ok += stream_equals_decode(t, ids, n, k & 1 ? SI_DECODE_SPECIAL : 0);
    }
    printf("%s: streaming == decode on %d/%d random sequences\n", name, ok, n_seq);
    CHECK(ok == n_seq);
}

static void check_smollm2(const si_tokenizer *t) {
    /* "日" is E6 97 A5: three byte tokens, one character at the third. */
    int32_t ri[] = {byte_id(t, 0xE6), byte_id(t, 0x97), byte_id(t, 0xA5)};
    const char *rw[] = {"", "", "\xE6\x97\xA5"};
    expect_pushes(t, ri, 3, rw, "");
    /* Incomplete at the end: one U+FFFD for the maximal subpart (from_utf8_lossy). */
    expect_pushes(t, ri, 2, rw, FFFD);
    /* A bad continuation: U+FFFD, then the next character. */
    int32_t bad[] = {byte_id(t, 0xE6), si_tokenizer_find(t, "A")};
    const char *bw[] = {"", FFFD "A"};
    expect_pushes(t, bad, 2, bw, "");
    /* Control tokens: skipped unless SI_DECODE_SPECIAL. */
    int32_t chat[] = {si_tokenizer_find(t, "<|im_start|>"), si_tokenizer_find(t, "user"), si_tokenizer_find(t, "<|im_end|>")};
    char out[64];
    CHECK(si_tokenizer_decode(t, chat, 3, 0, out, sizeof out) == 4 && strcmp(out, "user") == 0);
    CHECK(si_tokenizer_decode(t, chat, 3, SI_DECODE_SPECIAL, out, sizeof out) == 26 &&
          strcmp(out, "<|im_start|>user<|im_end|>") == 0);
    /* Too small a buffer: the full length, text cut before a whole character. */
    CHECK(si_tokenizer_decode(t, ri, 3, 0, out, 3) == 3 && out[0] == '\0');
    CHECK(si_tokenizer_decode(t, chat, 3, SI_DECODE_SPECIAL, out, 8) == 26 && strcmp(out, "<|im_st") == 0);
}

static void check_llama2(const si_tokenizer *t) {
    /* "😀" encodes as the dummy prefix and four byte pieces. */
    int32_t emoji[] = {29871, 243, 162, 155, 131};
    const char *ew[] = {"", "", "", "", "\xF0\x9F\x98\x80"};
    expect_pushes(t, emoji, 5, ew, "");
    /* Incomplete at the end: sentencepiece gives one U+FFFD per byte. */
    expect_pushes(t, emoji, 3, ew, FFFD FFFD);
    char out[64];
    int32_t hello[] = {1, 22172}, unk_hello[] = {0, 22172}, spaces[] = {29871, 29871, 22172};
    CHECK(si_tokenizer_decode(t, hello, 2, 0, out, sizeof out) == 5 && strcmp(out, "hello") == 0);
    CHECK(si_tokenizer_decode(t, hello, 2, SI_DECODE_SPECIAL, out, sizeof out) == 9 &&
          strcmp(out, "<s> hello") == 0);
    /* As sentencepiece: the unknown piece is " ⁇ " and keeps its space. */
    CHECK(si_tokenizer_decode(t, unk_hello, 2, 0, out, sizeof out) == 11 &&
          strcmp(out, " \xE2\x81\x87  hello") == 0);
    CHECK(si_tokenizer_decode(t, spaces, 3, 0, out, sizeof out) == 7 && strcmp(out, "  hello") == 0);
    int32_t bad[] = {0xE6 + 3, 0x97 + 3, 0x41 + 3};
    CHECK(si_tokenizer_decode(t, bad, 3, 0, out, sizeof out) == 7 && strcmp(out, FFFD FFFD "A") == 0);
}

int main(void) {
    si_tokenizer *smol = load_smollm2(), *llama = load_llama2();
    if (!smol && !llama) si_test_skip("neither the default model nor ../shared/tokenizers/llama2 is present");
    if (smol) {
        check_smollm2(smol);
        check_golden_streams(smol, "smollm2");
        check_golden_decode(smol, "decode_smollm2");
        check_random_streams(smol, "smollm2");
    }
    if (llama) {
        check_llama2(llama);
        check_golden_streams(llama, "llama2");
        check_golden_decode(llama, "decode_llama2");
        check_random_streams(llama, "llama2");
    }
    const si_tokenizer *any = smol ? smol : llama;
    int32_t bad_id = si_tokenizer_n_vocab(any);
    char out[16];
    CHECK(si_tokenizer_decode(any, &bad_id, 1, 0, out, sizeof out) == -1);
    CHECK(strstr(si_error_message(), "outside the vocabulary") != NULL);
    si_tokenizer_free(smol);
    si_tokenizer_free(llama);
    return si_test_finish("test_tokenizer_stream");
}
