/* tests/test_cuda_host.c: the GPU backend's host side, without a GPU.
 *  - attention rows (gpu_layout.h) against the cache policy of kvcache.h as
 *    the CPU attention walks it, including what a chunk's writes leave in
 *    the ring when its queries read it;
 *  - planar repacking of every quantized type against si_dequantize_row;
 *  - the argmax op and si_session_feed_greedy against the logits, and
 *    si_session_feed_sample (specs through the forward pass to the sample
 *    op) against si_sampler_sample, and a conversation whose replies' first
 *    tokens are picked in the prefill's pass against one picking them from
 *    the logits;
 *  - `synth`: the tiny arch loads with our Hugging Face loader, runs, and its
 *    bytes depend on the seed but not on the thread count;
 *  - device "cuda" without a GPU fails cleanly ("no CUDA device: ...");
 *  - the per-operation time table of SWIFTINFER_CUDA_PROFILE (op_profile.h). */
#include "backend/gpu_layout.h"
#include "backend/op_profile.h"
#include "engine/engine.h"
#include "testutil.h"
#include "util/half.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define next_u32 si_test_rand

/* The visible slots of row t the way backend/cpu/attention.c enumerates them. */
static int cpu_visible(const si_kvcache *c, int64_t t, int *slots) {
    int n = 0, ns = si_cache_visible_sinks(c, t);
    for (int s = 0; s < ns; s++) slots[n++] = s;
    for (int64_t u = si_cache_window_begin(c, t); u <= t; u++) slots[n++] = si_cache_slot(c, u);
    return n;
}

static void test_attn_rows(void) {
    int configs[][3] = {{4, 64, 1}, {4, 64, 7}, {4, 64, 64}, {0, 64, 7}, {4, 1020, 64}, {1, 5, 3}, {0, 1, 1}, {16, 3, 9}};
    for (size_t ci = 0; ci < sizeof configs / sizeof configs[0]; ci++) {
        si_kvcache c = {.cfg = {.sinks = configs[ci][0], .window = configs[ci][1], .chunk = configs[ci][2]}};
        c.slots = c.cfg.sinks + c.cfg.window + c.cfg.chunk;
        c.k = (void *)0x1000;
        c.v = (void *)0x2000;
        int64_t *held = malloc(sizeof(int64_t) * c.slots); /* which stream index each slot holds */
        int *want = malloc(sizeof(int) * (c.cfg.sinks + c.cfg.window + 2));
        si_gpu_attn_row *rows = malloc(sizeof *rows * c.cfg.chunk);
        si_gpu_attn_group *groups = malloc(sizeof *groups * c.cfg.chunk);
        for (int s = 0; s < c.slots; s++) held[s] = -1;
        int bad = 0;
        for (int64_t t0 = 0; t0 < 3 * (c.cfg.sinks + c.cfg.window) + 40;) {
            int n = 1 + (int)(next_u32() % c.cfg.chunk);
            si_attn_run run = {.cache = &c, .t0 = t0, .first = 0, .n = n};
            CHECK(si_gpu_attn_rows(&run, 1, rows, n) == 0);
            /* a pass stores all its keys first, then every row attends */
            for (int i = 0; i < n; i++) held[rows[i].store_slot] = t0 + i;
            for (int i = 0; i < n; i++) {
                int64_t t = t0 + i;
                const si_gpu_attn_row *r = &rows[i];
                int nv = cpu_visible(&c, t, want);
                bad += r->k != c.k || r->v != c.v || r->slots != c.slots || r->sinks != c.cfg.sinks;
                bad += r->n_sinks + r->n_win != nv || r->store_slot != si_cache_slot(&c, t);
                for (int j = 0; j < nv && j < r->n_sinks + r->n_win; j++) {
                    int slot = si_gpu_visible_slot(r, j);
                    bad += slot != want[j] || slot < 0 || slot >= c.slots;
                    /* the slot still holds the key this row should see */
                    int64_t expect = j < r->n_sinks ? j : si_cache_window_begin(&c, t) + (j - r->n_sinks);
                    bad += held[slot] != expect;
                }
            }
            /* groups of up to 8 rows: each row sees, through its group's view, exactly its own keys in
             * its own order; a chunk of one session always groups */
            int ng = si_gpu_attn_groups(rows, n, 8, groups), covered = 0;
            bad += ng != (n + 7) / 8;
            for (int g = 0; g < ng; g++) {
                const si_gpu_attn_row *v = &groups[g].view;
                bad += groups[g].row0 != covered || v->n_sinks + v->n_win > c.cfg.sinks + c.slots;
                for (int i = groups[g].row0; i < groups[g].row0 + groups[g].n_rows; i++) {
                    const si_gpu_attn_row *r = &rows[i];
                    int k = 0;
                    for (int j = 0; j < v->n_sinks + v->n_win; j++)
                        if (si_gpu_group_sees(v, r, j)) bad += k >= r->n_sinks + r->n_win || si_gpu_visible_slot(v, j) != si_gpu_visible_slot(r, k++);
                    bad += k != r->n_sinks + r->n_win;
                }
                covered += groups[g].n_rows;
            }
            bad += covered != n;
            t0 += n;
        }
        CHECKF(bad == 0, "S=%d W=%d C=%d: %d mismatches", c.cfg.sinks, c.cfg.window, c.cfg.chunk, bad);
        free(groups);
        free(held);
        free(want);
        free(rows);
    }
    /* several runs in one pass land at their own rows */
    si_kvcache a = {.cfg = {.sinks = 4, .window = 8, .chunk = 4}, .slots = 16, .n_seen = 30};
    si_kvcache b = {.cfg = {.sinks = 0, .window = 3, .chunk = 4}, .slots = 7, .n_seen = 2};
    si_attn_run runs[2] = {{.cache = &a, .t0 = 30, .first = 0, .n = 1}, {.cache = &b, .t0 = 2, .first = 1, .n = 3}};
    si_gpu_attn_row rows[4];
    CHECK(si_gpu_attn_rows(runs, 2, rows, 4) == 0);
    CHECK(rows[0].store_slot == si_cache_slot(&a, 30) && rows[0].n_sinks == 4 && rows[0].n_win == 9);
    CHECK(rows[3].store_slot == si_cache_slot(&b, 4) && rows[3].n_sinks == 0 && rows[3].n_win == 4);
    CHECK(si_gpu_attn_rows(runs, 2, rows, 3) != 0); /* a run past the pass's rows */
    /* rows of two caches never share a group */
    si_gpu_attn_group groups[4];
    CHECK(si_gpu_attn_groups(rows, 4, 8, groups) == 2 && groups[1].row0 == 1 && groups[1].n_rows == 3);
}

/* Every quantized type from random bytes (all codes, negative Q6_K scales,
 * every 6-bit K scale and minimum), with sane f16 scales: random f16 bits
 * may be NaN or huge. */
static void test_planar(void) {
    for (int ti = 0; ti < SI_DTYPE_COUNT; ti++) {
        const si_dtype t = (si_dtype)ti;
        if (si_dtype_block_elems(t) == 1) continue;
        const int64_t rows = 5, cols = si_dtype_block_elems(t) == SI_QK ? 768 : 96;
        const size_t bytes = (size_t)rows * si_dtype_row_bytes(t, cols), bb = si_dtype_block_bytes(t);
        unsigned char *src = malloc(bytes);
        for (size_t i = 0; i < bytes; i++) src[i] = (unsigned char)next_u32();
        /* where the block's f16 fields sit: d first, then m or dmin, except Q6_K's d at the end */
        const bool two = t == SI_DTYPE_Q4_1 || t == SI_DTYPE_Q5_1 || t == SI_DTYPE_Q4_K || t == SI_DTYPE_Q5_K;
        const size_t d_at = t == SI_DTYPE_Q6_K ? bb - 2 : 0;
        for (size_t b = 0; b < bytes / bb; b++) {
            uint16_t d = si_f32_to_f16((float)(next_u32() % 1000) / 997.0f - 0.5f),
                     m = si_f32_to_f16((float)(next_u32() % 1000) / 3000.0f - 0.2f);
            memcpy(src + b * bb + d_at, &d, 2);
            if (two) memcpy(src + b * bb + 2, &m, 2);
        }
        si_gpu_planar p;
        CHECK(si_gpu_planar_layout(t, rows, cols, &p) == 0);
        CHECK(p.qh % 16 == 0 && p.sc % 16 == 0 && p.d % 16 == 0 && p.m % 16 == 0 && p.row_qs % 16 == 0);
        CHECK(p.bytes < bytes * 12 / 10 + 64); /* about the GGUF size: the planes add only padding */
        unsigned char *dst = malloc(p.bytes);
        si_gpu_planar_pack(t, src, rows, cols, &p, dst);
        float ref[768];
        int bad = 0;
        for (int64_t r = 0; r < rows; r++) {
            si_dequantize_row(t, src + r * si_dtype_row_bytes(t, cols), ref, cols);
            for (int64_t c = 0; c < cols; c++) bad += si_gpu_planar_get(t, dst, &p, cols, r, c) != ref[c];
        }
        CHECKF(bad == 0, "%s: %d elements differ", si_dtype_name(t), bad);
        free(src);
        free(dst);
    }
    si_gpu_planar p;
    CHECK(si_gpu_planar_layout(SI_DTYPE_F16, 4, 64, &p) != 0);
    CHECK(si_gpu_planar_layout(SI_DTYPE_Q4_0, 4, 48, &p) != 0);
    CHECK(si_gpu_planar_layout(SI_DTYPE_Q4_K, 4, 96, &p) != 0); /* not whole super-blocks */
}

static void test_argmax_op(void) {
    si_backend *be = si_backend_cpu_create(1, false);
    float logits[3][5] = {{1, 3, 3, -1, 2}, {NAN, -INFINITY, NAN, -INFINITY, -5}, {NAN, NAN, NAN, NAN, NAN}};
    int32_t ids[3] = {-1, -1, -1};
    be->argmax(be, ids, &logits[0][0], 3, 5);
    CHECK(ids[0] == 1 && ids[1] == 4 && ids[2] == 0);
    be->destroy(be);
}

static int synth(const char *dir, uint64_t seed, int threads) {
    si_synth_params p = si_synth_default_params();
    p.arch = "tiny";
    p.seed = seed;
    p.n_threads = threads;
    p.tokenizer = si_test_shared_path("tokenizers/llama2/tokenizer.model");
    int rc = si_synth_model(dir, &p);
    if (rc) fprintf(stderr, "synth: %s\n", si_last_error());
    return rc;
}

static bool same_file(const char *a, const char *b) {
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    bool same = fa && fb;
    while (same) {
        int ca = fgetc(fa), cb = fgetc(fb);
        same = ca == cb;
        if (ca == EOF) break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return same;
}

/* si_conversation_user with the reply's sampler picks the first token in
 * the prefill's pass (no logits kept); the reply is the one picked from the
 * logits when the sampler comes only with si_conversation_next. */
static void test_conversation_first_token(si_model *m, const si_sampler_params *settings) {
    const char *turns[] = {"Tell me about the sea.", "And the mountains?", "Thanks."};
    for (int k = 0; k < SI_TEST_SAMPLER_SETTINGS; k++) {
        si_conversation_params cp = si_conversation_default_params();
        cp.tpl = SI_TEMPLATE_LLAMA2;
        cp.ignore_eos = true; /* random weights: no early end */
        si_conversation *host = si_conversation_create(m, &cp), *dev = si_conversation_create(m, &cp);
        si_sampler *sh = si_sampler_create(&settings[k]), *sd = si_sampler_create(&settings[k]);
        CHECKF(host && dev && sh && sd, "%s", si_last_error());
        if (!host || !dev || !sh || !sd) return;
        int same = 0, total = 0;
        for (int r = 0; r < 3; r++) {
            int64_t nh = 0, nd = 0;
            CHECK(si_conversation_user(host, turns[r], NULL, &nh) == 0);
            CHECK(si_conversation_user(dev, turns[r], sd, &nd) == 0);
            CHECK(nh == nd && nh > 0);
            CHECK(si_session_logits(si_conversation_session(host)) != NULL);
            CHECK(si_session_logits(si_conversation_session(dev)) == NULL);
            for (int t = 0; t < 5; t++, total++) {
                int32_t a = si_conversation_next(host, sh), b = si_conversation_next(dev, sd);
                CHECKF(a >= 0 && b >= 0, "%s", si_last_error());
                same += a == b;
            }
        }
        printf("conversation, settings %d: %d/%d reply tokens with the first picked in the prefill as from its logits\n",
               k, same, total);
        CHECK(same == total);
        si_conversation_free(host);
        si_conversation_free(dev);
        si_sampler_free(sh);
        si_sampler_free(sd);
    }
}

static void test_synth_and_greedy(void) {
    if (!si_test_shared_path("tokenizers/llama2/tokenizer.model")) {
        printf("skipping synth checks: ../shared/tokenizers/llama2/tokenizer.model not found\n");
        return;
    }
    char d1[600], d2[600], d3[600], f1[700], f2[700], f3[700];
    snprintf(d1, sizeof d1, "%s/tiny1", si_test_tmpdir());
    snprintf(d2, sizeof d2, "%s/tiny2", si_test_tmpdir());
    snprintf(d3, sizeof d3, "%s/tiny3", si_test_tmpdir());
    CHECK(synth(d1, 42, 1) == 0 && synth(d2, 42, 3) == 0 && synth(d3, 43, 2) == 0);
    snprintf(f1, sizeof f1, "%s/model.safetensors", d1);
    snprintf(f2, sizeof f2, "%s/model.safetensors", d2);
    snprintf(f3, sizeof f3, "%s/model.safetensors", d3);
    CHECK(same_file(f1, f2));
    CHECK(!same_file(f1, f3));
    si_synth_params bad = si_synth_default_params();
    bad.arch = "llama2-70b";
    CHECK(si_synth_model(d3, &bad) != 0 && strstr(si_last_error(), "unknown arch"));

    si_model *m = si_model_load(d1, NULL);
    CHECKF(m != NULL, "%s", si_last_error());
    if (!m) return;
    si_model_info info;
    si_model_get_info(m, &info);
    CHECK(info.dim == 128 && info.n_layers == 2 && info.n_heads == 2 && info.n_kv_heads == 1 && info.head_dim == 64);
    CHECK(info.ffn_dim == 256 && info.n_vocab == 32000 && strcmp(info.weight_type, "F16") == 0 && !info.tied_output);
    /* a norm is exactly 1 and a matrix has the synthetic spread */
    const si_tensor *norm = m->llama->layers[0].attn_norm, *wq = m->llama->layers[0].wq;
    float v[128];
    si_dequantize_row(norm->dtype, norm->data, v, 128);
    CHECK(v[0] == 1.0f && v[127] == 1.0f);
    double ss = 0;
    for (int r = 0; r < 128; r++) {
        si_dequantize_row(wq->dtype, (const char *)wq->data + (size_t)r * 128 * 2, v, 128);
        for (int c = 0; c < 128; c++) ss += (double)v[c] * v[c];
    }
    double sd = sqrt(ss / (128.0 * 128.0));
    CHECKF(sd > 0.019 && sd < 0.021, "weight spread %g, want 0.02", sd);

    /* si_session_feed_greedy agrees with the argmax of the logits */
    int32_t ids[24];
    for (int i = 0; i < 24; i++) ids[i] = 3 + (int32_t)(next_u32() % 31990);
    si_session *a = si_session_create(m, NULL), *g = si_session_create(m, NULL);
    int32_t tok_g = -1;
    for (int step = 0; a && g && step < 6; step++) {
        const int32_t *in = step == 0 ? ids : &tok_g;
        int64_t n = step == 0 ? 24 : 1;
        CHECK(si_session_feed(a, in, n) == 0);
        const float *lg = si_session_logits(a);
        int32_t best = 0;
        for (int j = 1; j < 32000; j++)
            if (lg[j] > lg[best]) best = j;
        tok_g = si_session_feed_greedy(g, in, n);
        CHECKF(tok_g == best, "step %d: greedy %d, argmax of logits %d", step, tok_g, best);
        CHECK(si_session_logits(g) == NULL);
    }
    si_session_free(a);
    si_session_free(g);

    /* si_session_feed_sample (the backend's sample op, fed specs through the
     * forward pass) picks what si_sampler_sample picks from the logits */
    si_sampler_params settings[SI_TEST_SAMPLER_SETTINGS];
    si_test_sampler_settings(settings);
    for (int k = 0; k < SI_TEST_SAMPLER_SETTINGS; k++) {
        si_session *ref = si_session_create(m, NULL), *dev = si_session_create(m, NULL);
        si_sampler *sr = si_sampler_create(&settings[k]), *sd = si_sampler_create(&settings[k]);
        int32_t tok = -1, same = 0;
        for (int step = 0; step < 8; step++) {
            const int32_t *in = step == 0 ? ids : &tok;
            int64_t n = step == 0 ? 24 : 1;
            CHECK(si_session_feed(ref, in, n) == 0);
            int32_t want = si_sampler_sample(sr, si_session_logits(ref), 32000);
            tok = si_session_feed_sample(dev, in, n, sd);
            same += tok == want;
            tok = want;
        }
        printf("feed_sample, settings %d: %d/8 tokens as si_sampler_sample\n", k, same);
        CHECK(same == 8);
        si_session_free(ref);
        si_session_free(dev);
        si_sampler_free(sr);
        si_sampler_free(sd);
    }
    /* si_decode_batch_sample: three sessions, one setting each, in one pass */
    {
        si_session *bs[3], *rs[3];
        si_sampler *bsm[3], *rsm[3];
        int32_t tok[3], next[3];
        int same = 0;
        for (int i = 0; i < 3; i++) {
            bs[i] = si_session_create(m, NULL), rs[i] = si_session_create(m, NULL);
            bsm[i] = si_sampler_create(&settings[i]), rsm[i] = si_sampler_create(&settings[i]);
            CHECK(si_session_feed(bs[i], ids + i, 20) == 0 && si_session_feed(rs[i], ids + i, 20) == 0);
            tok[i] = 5 + i;
        }
        for (int step = 0; step < 6; step++) {
            CHECKF(si_decode_batch_sample(m, bs, tok, 3, bsm, next) == 0, "%s", si_last_error());
            for (int i = 0; i < 3; i++) {
                CHECK(si_session_feed(rs[i], &tok[i], 1) == 0);
                int32_t want = si_sampler_sample(rsm[i], si_session_logits(rs[i]), 32000);
                same += next[i] == want;
                tok[i] = want;
            }
        }
        printf("decode_batch_sample: %d/18 tokens as si_sampler_sample\n", same);
        CHECK(same == 18);
        for (int i = 0; i < 3; i++) {
            si_session_free(bs[i]);
            si_session_free(rs[i]);
            si_sampler_free(bsm[i]);
            si_sampler_free(rsm[i]);
        }
    }
    test_conversation_first_token(m, settings);
    si_model_free(m);

    /* the CUDA device, when there is none */
    si_model_params mp = si_model_default_params();
    mp.device = "cuda";
    si_model *cm = si_model_load(d1, &mp);
#ifdef SI_HAVE_CUDA
    if (cm) {
        printf("a CUDA device is present: the no-device check does not apply\n");
    } else {
        printf("device cuda: %s\n", si_last_error());
        CHECKF(strstr(si_last_error(), "no CUDA device: ") != NULL, "%s", si_last_error());
    }
#else
    CHECK(cm == NULL && strstr(si_last_error(), "no CUDA backend"));
#endif
    si_model_free(cm);
}

/* Sums per (kind, label), the overflow label, and the printed order and
 * per-pass figures. */
static void test_op_profile(void) {
    si_op_profile *p = si_op_profile_create();
    CHECK(p != NULL);
    if (!p) return;
    for (int pass = 0; pass < 4; pass++) {
        for (int layer = 0; layer < 3; layer++) {
            si_op_profile_add(p, SI_OP_DECODE, "matrix-vector product [12288x4096 f16]", 30e-6);
            si_op_profile_add(p, SI_OP_DECODE, "attention", 10e-6);
        }
        si_op_profile_pass(p, SI_OP_DECODE, 125e-6);
    }
    si_op_profile_add(p, SI_OP_PREFILL, "attention", 1e-3);
    si_op_profile_pass(p, SI_OP_PREFILL, 1e-3);
    long calls = 0;
    CHECK(fabs(si_op_profile_seconds(p, SI_OP_DECODE, "attention", &calls) - 120e-6) < 1e-12 && calls == 12);
    CHECK(fabs(si_op_profile_seconds(p, SI_OP_PREFILL, "attention", &calls) - 1e-3) < 1e-12 && calls == 1);
    CHECK(si_op_profile_seconds(p, SI_OP_PREFILL, "matrix-vector product [12288x4096 f16]", &calls) == 0 && calls == 0);
    /* labels past the table's room share one entry */
    char label[32];
    for (int i = 0; i < SI_OP_PROFILE_LABELS + 5; i++) {
        snprintf(label, sizeof label, "op %d", i);
        si_op_profile_add(p, SI_OP_PREFILL, label, 1e-6);
    }
    CHECK(si_op_profile_seconds(p, SI_OP_PREFILL, "op 0", &calls) > 0 && calls == 1);
    CHECK(si_op_profile_seconds(p, SI_OP_PREFILL, "op 46", &calls) > 0 && calls == 1);
    CHECK(si_op_profile_seconds(p, SI_OP_PREFILL, "op 47", &calls) == 0 && calls == 0);
    si_op_profile_seconds(p, SI_OP_PREFILL, "(other operations)", &calls);
    CHECK(calls == 6); /* "attention" took one place: labels 47..52 overflow */
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    si_op_profile_print(p, f);
    fclose(f);
    /* decode: 4 passes of 125 us; the products first (90 us a pass, 75%) */
    const char *d = strstr(text, "decode passes (1-8 rows): 4, 125.0 us each (operations: 120.0 us)");
    const char *mv = strstr(text, "90.0       3.00  75.0%  matrix-vector product [12288x4096 f16]");
    const char *at = strstr(text, "30.0       3.00  25.0%  attention");
    CHECKF(d && mv && at && d < mv && mv < at, "%s", text);
    CHECKF(strstr(text, "prefill passes (more rows): 1, 1000.0 us each") != NULL, "%s", text);
    free(text);
    si_op_profile_free(p);
}

int main(void) {
    test_op_profile();
    test_attn_rows();
    test_planar();
    test_argmax_op();
    test_synth_and_greedy();
    return si_test_finish("test_cuda_host");
}
