/* tests/test_session_io.c: si_session_save / si_session_load on the default
 * model. A session saved after a stream longer than its window and loaded
 * into a fresh session continues exactly as the original (same logits, bit
 * for bit); files for another cache shape, truncated, padded, foreign or
 * missing are refused and leave the session untouched. */
#include "engine/engine.h"
#include "testutil.h"

#include <stdio.h>
#include <string.h>

static si_session *make(si_model *m, int window) {
    si_session_params p = si_session_default_params();
    p.sink_tokens = 4;
    p.window = window;
    p.chunk = 16;
    si_session *s = si_session_create(m, &p);
    CHECKF(s != NULL, "%s", si_last_error());
    return s;
}

static long file_size(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n;
}

static void copy_prefix(const char *from, const char *to, long n, int extra) {
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    for (long i = 0; i < n; i++) fputc(fgetc(a), b);
    for (int i = 0; i < extra; i++) fputc(0, b);
    fclose(a);
    fclose(b);
}

int main(void) {
    const char *path = si_test_require_model();
    si_model_params mp = si_model_default_params();
    mp.max_batch = 16;
    si_model *m = si_model_load(path, &mp);
    if (!m) {
        fprintf(stderr, "%s\n", si_last_error());
        return 1;
    }
    int nv = si_model_n_vocab(m);
    int32_t ids[100];
    for (int i = 0; i < 100; i++) ids[i] = (int32_t)((i * 7919 + 13) % nv);

    si_session *a = make(m, 60);
    CHECK(si_session_feed(a, ids, 90) == 0); /* past sinks + window: some tokens evicted */
    char file[512], bad[512];
    snprintf(file, sizeof file, "%s/a.session", si_test_tmpdir());
    CHECKF(si_session_save(a, file) == 0, "%s", si_last_error());

    si_session *b = make(m, 60);
    CHECKF(si_session_load(b, file) == 0, "%s", si_last_error());
    si_session_stats sa, sb;
    si_session_get_stats(a, &sa);
    si_session_get_stats(b, &sb);
    CHECK(sa.n_seen == 90 && sb.n_seen == 90 && sb.evicted == sa.evicted && sa.evicted > 0);
    CHECK(memcmp(si_session_logits(a), si_session_logits(b), (size_t)nv * sizeof(float)) == 0);
    /* Both continue the same way. */
    CHECK(si_session_feed(a, ids + 90, 10) == 0 && si_session_feed(b, ids + 90, 10) == 0);
    CHECK(memcmp(si_session_logits(a), si_session_logits(b), (size_t)nv * sizeof(float)) == 0);

    /* Refusals leave the session as it was. */
    si_session *c = make(m, 32);
    CHECK(si_session_feed(c, ids, 5) == 0);
    CHECK(si_session_load(c, file) == -1); /* another window */
    fprintf(stderr, "expected refusal: %s\n", si_last_error());
    long n = file_size(file);
    snprintf(bad, sizeof bad, "%s/truncated.session", si_test_tmpdir());
    copy_prefix(file, bad, n - 1, 0);
    CHECK(si_session_load(b, bad) == -1);
    fprintf(stderr, "expected refusal: %s\n", si_last_error());
    copy_prefix(file, bad, n, 3);
    CHECK(si_session_load(b, bad) == -1);
    copy_prefix(file, bad, 10, 0);
    CHECK(si_session_load(b, bad) == -1);
    CHECK(si_test_write_file(bad, "not a session file at all, just some text of some length", 56) == 0);
    CHECK(si_session_load(b, bad) == -1);
    snprintf(bad, sizeof bad, "%s/missing.session", si_test_tmpdir());
    CHECK(si_session_load(b, bad) == -1);
    si_session_get_stats(c, &sa);
    si_session_get_stats(b, &sb);
    CHECK(sa.n_seen == 5 && sb.n_seen == 100);

    si_session_free(a);
    si_session_free(b);
    si_session_free(c);
    si_model_free(m);
    return si_test_finish("test_session_io");
}
