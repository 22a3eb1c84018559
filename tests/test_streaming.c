/* tests/test_streaming.c: the StreamingLLM cache against a naive reference
 * written the way the original does it (tests/streaming_ref.c), on the real
 * default model: same logits within 1e-4 for chunk sizes 1, 7 and 64, with
 * S = 4 and S = 0, for a cache that never fills, and for absolute positions
 * starting at 10^10. */
#include "engine/engine.h"
#include "streaming_ref.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TOL 1e-4f

static const char *passage =
    "Well, Prince, so Genoa and Lucca are now just family estates of the Buonapartes. But I warn you, if you "
    "don't tell me that this means war, if you still try to defend the infamies and horrors perpetrated by that "
    "Antichrist, I really believe he is Antichrist, I will have nothing more to do with you and you are no longer "
    "my friend, no longer my faithful slave, as you call yourself! But how do you do? I see I have frightened "
    "you, sit down and tell me all the news. It was in July, 1805, and the speaker was the well-known Anna "
    "Pavlovna Scherer, maid of honor and favorite of the Empress Marya Fedorovna. With these words she greeted "
    "Prince Vasili Kuragin, a man of high rank and importance, who was the first to arrive at her reception. "
    "Anna Pavlovna had had a cough for some days. She was, as she said, suffering from la grippe; grippe being "
    "then a new word in St. Petersburg, used only by the elite.";

typedef struct {
    float *logits;
    int n_vocab;
} collect;

static int collect_cb(void *user, int64_t i, const float *logits, int n_vocab) {
    collect *c = user;
    memcpy(c->logits + (size_t)i * n_vocab, logits, (size_t)n_vocab * sizeof(float));
    return 0;
}

static float *fast_logits(si_model *m, int sinks, int window, int chunk, int64_t offset, const int32_t *ids, int n) {
    si_session_params p = si_session_default_params();
    p.sink_tokens = sinks;
    p.window = window;
    p.chunk = chunk;
    p.position_offset = offset;
    si_session *s = si_session_create(m, &p);
    CHECKF(s != NULL, "%s", si_last_error());
    collect c = {malloc((size_t)n * m->llama->hp.n_vocab * sizeof(float)), m->llama->hp.n_vocab};
    CHECKF(si_session_feed_all(s, ids, n, collect_cb, &c) == 0, "%s", si_last_error());
    si_session_stats st;
    si_session_get_stats(s, &st);
    CHECK(st.n_seen == n);
    CHECK(st.occupancy == (n < sinks + window ? n : sinks + window));
    si_session_free(s);
    return c.logits;
}

static float *ref_logits(si_model *m, int sinks, int window, const int32_t *ids, int n) {
    int nv = m->llama->hp.n_vocab;
    float *out = malloc((size_t)n * nv * sizeof(float));
    streaming_ref *r = streaming_ref_create(m->llama, m->be, sinks, window);
    for (int i = 0; i < n; i++) streaming_ref_step(r, ids[i], out + (size_t)i * nv);
    streaming_ref_free(r);
    return out;
}

static float max_diff(const float *a, const float *b, size_t n) {
    float d = 0;
    for (size_t i = 0; i < n; i++) {
        float e = fabsf(a[i] - b[i]);
        if (!(e <= d)) d = e; /* NaN counts as a failure */
    }
    return d;
}

int main(void) {
    const char *path = si_test_require_model();
    si_model_params mp = si_model_default_params();
    mp.max_batch = 64;
    /* 8-bit activations round in steps: tiny attention differences would move
     * logits far more than the arithmetic under test. */
    mp.precise = true;
    si_model *m = si_model_load(path, &mp);
    if (!m) {
        fprintf(stderr, "%s\n", si_last_error());
        return 1;
    }
    int nv = m->llama->hp.n_vocab;
    enum { W = 64, N = 3 * W };
    int32_t ids[2 * N];
    int64_t n_text = si_tokenize(si_model_tokenizer(m), passage, strlen(passage), 0, ids, 2 * N);
    CHECKF(n_text >= N, "passage gives %lld tokens, need %d", (long long)n_text, N);

    struct {
        int sinks, window;
    } configs[] = {{4, W}, {0, W}, {4, 1020}};
    /* SI_TEST_QUICK (the sanitizer build): the first configuration only */
    const char *quick = getenv("SI_TEST_QUICK");
    size_t n_configs = quick && atoi(quick) ? 1 : sizeof configs / sizeof configs[0];
    for (size_t c = 0; c < n_configs; c++) {
        int S = configs[c].sinks, Wc = configs[c].window;
        float *ref = ref_logits(m, S, Wc, ids, N);
        int chunks[] = {1, 7, 64};
        for (int k = 0; k < 3; k++) {
            float *fast = fast_logits(m, S, Wc, chunks[k], 0, ids, N);
            float d = max_diff(fast, ref, (size_t)N * nv);
            printf("S=%d W=%d chunk=%d over %d tokens: max |fast - reference| = %.3g\n", S, Wc, chunks[k], N, d);
            CHECKF(d <= TOL, "S=%d W=%d chunk=%d: %g > %g", S, Wc, chunks[k], d, TOL);
            free(fast);
        }
        free(ref);
    }

    /* Only distances inside the cache matter: positions from 10^10 give the same logits. */
    float *at0 = fast_logits(m, 4, W, 7, 0, ids, N);
    float *far = fast_logits(m, 4, W, 7, 10000000000LL, ids, N);
    float d = max_diff(at0, far, (size_t)N * nv);
    printf("positions from 10^10 vs from 0 (S=4 W=%d, %d tokens): max |diff| = %.3g\n", W, N, d);
    CHECKF(d <= TOL, "offset 1e10: %g > %g", d, TOL);
    free(at0);
    free(far);

    si_model_free(m);
    return si_test_finish("test_streaming");
}
