/* fuzz/fuzz_tokenizer_checks.c: the invariants every tokenizer must keep,
 * whatever the text, the ids or the vocabulary: counts that do not depend on
 * the buffer, ids inside the vocabulary, decoded text that is valid UTF-8 and
 * the same whole, cut short or streamed, and exact round trips where the
 * tokenizer promises them. Shared by the tokenizer and tokenize harnesses. */
#include "harness.h"

#include "tokenizer/tokenizer_internal.h"
#include "tokenizer/utf8.h"

#include <stdlib.h>
#include <string.h>

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) si_fuzz_fail("out of memory (%zu bytes)", n);
    return p;
}

/* Whole, cut short and streamed decodes of ids agree; returns the whole text
 * (malloc'd, NUL-terminated) and its length, or NULL when decoding refused. */
static char *decode_checked(const si_tokenizer *t, const int32_t *ids, int64_t n, int flags, int64_t *len_out) {
    int64_t len = si_tokenizer_decode(t, ids, n, flags, NULL, 0);
    bool in_range = true;
    for (int64_t i = 0; i < n; i++) in_range = in_range && ids[i] >= 0 && ids[i] < si_tokenizer_n_vocab(t);
    SI_FUZZ_CHECK((len >= 0) == in_range, "decode returned %lld for ids %s the vocabulary", (long long)len,
                  in_range ? "inside" : "outside");
    if (len < 0) return NULL;
    char *text = xmalloc((size_t)len + 1);
    SI_FUZZ_CHECK(si_tokenizer_decode(t, ids, n, flags, text, (size_t)len + 1) == len, "second decode differs");
    SI_FUZZ_CHECK(text[len] == '\0', "decoded text not NUL-terminated");
    SI_FUZZ_CHECK(si_utf8_valid_run((const unsigned char *)text, (size_t)len) == (size_t)len,
                  "decoded text is not valid UTF-8");

    /* A short buffer gets whole characters only, then a NUL. */
    size_t cap = (size_t)len / 2 + 1;
    char *part = xmalloc(cap);
    SI_FUZZ_CHECK(si_tokenizer_decode(t, ids, n, flags, part, cap) == len, "decode into a short buffer");
    size_t got = strnlen(part, cap);
    SI_FUZZ_CHECK(got < cap && memcmp(part, text, got) == 0, "short decode is not a prefix of the whole");
    free(part);

    /* Streamed, token by token: the same bytes. */
    char *stream = xmalloc((size_t)len + 1 + SI_DETOK_MIN_CAP);
    size_t at = 0;
    si_detok_state st;
    si_detok_init(&st, flags);
    char piece[SI_DETOK_MIN_CAP];
    for (int64_t i = 0; i < n; i++) {
        size_t k = si_detok_push(t, &st, ids[i], piece, sizeof piece);
        SI_FUZZ_CHECK(k < sizeof piece && piece[k] == '\0', "detok piece of %zu bytes", k);
        SI_FUZZ_CHECK(at + k <= (size_t)len, "streamed text longer than the whole decode");
        memcpy(stream + at, piece, k);
        at += k;
    }
    size_t k = si_detok_flush(&st, piece, sizeof piece);
    SI_FUZZ_CHECK(at + k == (size_t)len, "streamed %zu bytes, decoded %lld", at + k, (long long)len);
    memcpy(stream + at, piece, k);
    SI_FUZZ_CHECK(memcmp(stream, text, (size_t)len) == 0, "streamed text differs from the whole decode");
    free(stream);
    *len_out = len;
    return text;
}

void si_fuzz_check_decode(const si_tokenizer *t, const int32_t *ids, int64_t n, int dec_flags) {
    int64_t len;
    free(decode_checked(t, ids, n, dec_flags, &len));
}

bool si_fuzz_round_trips(const si_tokenizer *t, const uint8_t *text, size_t n, int enc_flags, int dec_flags) {
    if (enc_flags & SI_ENCODE_SPECIAL) return false; /* special strings decode to nothing */
    if ((enc_flags & SI_ENCODE_BOS) && (dec_flags & SI_DECODE_SPECIAL)) return false; /* BOS decodes to "<s>" */
    if (si_utf8_valid_run(text, n) != n) return false; /* bad bytes become U+FFFD */
    for (int b = 0; b < 256; b++)
        if (t->byte_token[b] < 0) return false; /* unknown characters become <unk> or vanish */
    if (t->kind == SI_TOKENIZER_BPE) return true;
    /* SentencePiece: the dummy prefix and U+2581 are whitespace marks, and
     * extra whitespace may be normalized away. */
    if (!t->byte_fallback || t->remove_extra_whitespaces || !t->escape_whitespaces) return false;
    if ((enc_flags & SI_ENCODE_CONTINUE) && t->add_dummy_prefix) return false;
    for (size_t i = 0; i + 3 <= n; i++)
        if (!memcmp(text + i, "\xE2\x96\x81", 3)) return false;
    return true;
}

void si_fuzz_check_encode(const si_tokenizer *t, const uint8_t *text, size_t n, int enc_flags, int dec_flags,
                          bool strict, bool round_trip) {
    int64_t count = si_tokenizer_encode(t, (const char *)text, n, enc_flags, NULL, 0);
    if (count < 0) {
        SI_FUZZ_CHECK(!strict, "encoding %zu bytes failed: %s", n, si_last_error());
        return;
    }
    int32_t *ids = xmalloc((size_t)count * sizeof *ids);
    SI_FUZZ_CHECK(si_tokenizer_encode(t, (const char *)text, n, enc_flags, ids, count) == count,
                  "the count depends on the buffer");
    for (int64_t i = 0; i < count; i++)
        SI_FUZZ_CHECK(ids[i] >= 0 && ids[i] < si_tokenizer_n_vocab(t), "id %d outside the vocabulary", ids[i]);
    if (count > 1) {
        /* Half the room: the count stays, only the room is written (ASan watches the end). */
        int32_t *half = xmalloc((size_t)(count / 2) * sizeof *half);
        SI_FUZZ_CHECK(si_tokenizer_encode(t, (const char *)text, n, enc_flags, half, count / 2) == count,
                      "the count depends on the buffer");
        SI_FUZZ_CHECK(memcmp(half, ids, (size_t)(count / 2) * sizeof *ids) == 0, "a short buffer gets other ids");
        free(half);
    }
    int64_t len;
    char *back = decode_checked(t, ids, count, dec_flags, &len);
    SI_FUZZ_CHECK(back != NULL, "decoding the encoder's own ids failed: %s", si_last_error());
    if (round_trip)
        SI_FUZZ_CHECK((size_t)len == n && memcmp(back, text, n) == 0, "decode(encode(text)) is not the text (%zu -> %lld bytes)",
                      n, (long long)len);
    free(back);
    free(ids);
}

static const char *const SAMPLES[] = {
    "Hello world! It's 2024: 1234567 apples, don't they?",
    "  leading and   inner   spaces\n\ttabs\r\nand lines  ",
    "h\xC3\xA9llo w\xC3\xB6rld \xE2\x80\x94 \xE2\x98\x83 \xF0\x9F\x90\xA0 \xE4\xBD\xA0\xE5\xA5\xBD \xE2\x96\x81x",
    "bad \xFF\xFE bytes \xC3 cut \xE2\x82 and \xF0\x9F\x90",
};

/* Texts made of the vocabulary's own entries: its first and last tokens,
 * which hold the special ones in every real format. */
static size_t vocab_text(const si_tokenizer *t, char *out, size_t cap) {
    int32_t n = si_tokenizer_n_vocab(t), ids[] = {0, 1, 2, 3, n - 1, n - 2, 5, 0};
    size_t at = 0;
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        const char *s = si_tokenizer_token_text(t, ids[i]);
        size_t len = s ? strlen(s) : 0;
        if (!s || at + len + 2 > cap) continue;
        memcpy(out + at, s, len);
        at += len;
        out[at++] = i % 2 ? ' ' : 'x';
    }
    return at;
}

static void exercise_chat(const si_tokenizer *t) {
    si_template tpl = si_template_detect(t);
    if (tpl == SI_TEMPLATE_AUTO) return;
    si_chat_message msgs[] = {{"system", "Be brief."}, {"user", "Hi there"}, {"assistant", " Hello! "}, {"user", "Bye"}};
    int64_t n = si_chat_render(t, tpl, msgs, 4, true, NULL, 0);
    if (n < 0) return; /* e.g. a fuzzed vocabulary without the template's tokens */
    int32_t *ids = xmalloc((size_t)n * sizeof *ids);
    SI_FUZZ_CHECK(si_chat_render(t, tpl, msgs, 4, true, ids, n) == n, "chat render count depends on the buffer");
    si_fuzz_check_decode(t, ids, n, SI_DECODE_SPECIAL);
    free(ids);
    int32_t begin[64];
    si_chat_begin(t, tpl, NULL, begin, 64); /* the template's default system message */
}

void si_fuzz_exercise_tokenizer(const si_tokenizer *t) {
    static const int flags[][2] = {
        {0, 0}, {SI_ENCODE_BOS | SI_ENCODE_SPECIAL, SI_DECODE_SPECIAL}, {SI_ENCODE_CONTINUE | SI_ENCODE_SPECIAL, 0}};
    for (size_t s = 0; s < sizeof SAMPLES / sizeof SAMPLES[0]; s++)
        for (size_t f = 0; f < sizeof flags / sizeof flags[0]; f++) {
            const uint8_t *text = (const uint8_t *)SAMPLES[s];
            size_t n = strlen(SAMPLES[s]);
            si_fuzz_check_encode(t, text, n, flags[f][0], flags[f][1], false, false);
        }
    char buf[4 * SI_TOKEN_MAX_BYTES];
    size_t n = vocab_text(t, buf, sizeof buf);
    si_fuzz_check_encode(t, (const uint8_t *)buf, n, SI_ENCODE_SPECIAL, SI_DECODE_SPECIAL, false, false);
    si_fuzz_check_encode(t, (const uint8_t *)buf, n, 0, 0, false, false);

    int32_t nv = si_tokenizer_n_vocab(t), ids[40];
    int k = 0;
    for (int32_t i = 0; i < 16 && i < nv; i++) ids[k++] = i;
    for (int32_t i = nv - 1; i >= 16 && i >= nv - 16; i--) ids[k++] = i;
    si_fuzz_check_decode(t, ids, k, 0);
    si_fuzz_check_decode(t, ids, k, SI_DECODE_SPECIAL);
    ids[k++] = nv; /* one past the end: refused */
    si_fuzz_check_decode(t, ids, k, 0);
    exercise_chat(t);
}
