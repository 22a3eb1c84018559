/* test_cuda_emulated: the CUDA kernels (src/backend/cuda/ *.cu, compiled as
 * C++ against the CPU emulator of tests/emu/include) run here, without a
 * GPU, through their launchers (kernels.h), each against a float64
 * reference written from its definition:
 *   - GEMV, every weight type (quantized ones packed planar as the backend
 *     packs them), 1 to 12 activation rows, the three epilogues, and the
 *     cp.async and wide kernels for F16/BF16;
 *   - attention, every kernel, f16 and f32 caches, head sizes 64 and 128,
 *     1 to 8 query heads per KV head, with and without sinks, windows that
 *     wrap the ring, 1 to 64 splits (empty ones too), several rows per
 *     launch, prefill chunks served in row groups; the stored key and value,
 *     and the split counters left at zero;
 *   - RMSNorm, SwiGLU, add, f16/bf16 rounding, embedding rows, argmax,
 *     quantized rows expanded to f16;
 *   - sampling: the token each spec picks equals the CPU sampler's
 *     (si_sampler_sample, the reference) for greedy, top-k from 1 to 256,
 *     top-p, temperatures, repetition penalties, ties, NaN and signed zeros.
 * What only a GPU can show (speed, the memory model, programmatic dependent
 * launch, CUDA graphs, cuBLAS) is test_cuda_kernels' and test_cuda's. */
#include "backend/cuda/kernels.h"
#include "format/quantize.h"
#include "kvcache/kvcache.h"
#include "sampling/sample_spec.h"
#include "swiftinfer.h"
#include "../testutil.h"
#include "util/half.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static float frand(float lo, float hi) { return lo + (hi - lo) * (float)(si_test_rand() % 1000001) / 1000000.0f; }

static float *rand_vec(size_t n, float lo, float hi) {
    float *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = frand(lo, hi);
    return v;
}

/* max |got - want| / (1 + |want|); NaN counts as infinite */
static double max_err(const float *got, const double *want, size_t n) {
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs(got[i] - want[i]) / (1 + fabs(want[i]));
        if (!(e <= worst)) worst = isnan(e) ? INFINITY : e;
    }
    return worst;
}

/* ---- weight matrices as the backend uploads them ---- */

typedef struct {
    si_cu_matrix m;
    void *mem;
    float *ref; /* dequantized [rows][cols] */
} matrix;

static void make_matrix(matrix *M, si_dtype t, int rows, int cols) {
    size_t row_bytes = si_dtype_row_bytes(t, cols);
    uint8_t *gguf = malloc(row_bytes * rows);
    M->ref = malloc((size_t)rows * cols * sizeof(float));
    for (int r = 0; r < rows; r++) {
        float *x = rand_vec(cols, -1, 1);
        si_quantize_row(t, x, gguf + r * row_bytes, cols);
        si_dequantize_row(t, gguf + r * row_bytes, M->ref + (size_t)r * cols, cols);
        free(x);
    }
    memset(&M->m, 0, sizeof M->m);
    M->m.dtype = t;
    M->m.rows = rows;
    M->m.cols = cols;
    si_gpu_planar p;
    if (si_gpu_planar_layout(t, rows, cols, &p) == 0) {
        M->mem = malloc(p.bytes);
        si_gpu_planar_pack(t, gguf, rows, cols, &p, M->mem);
        M->m.qs = (uint8_t *)M->mem + p.qs;
        M->m.qh = (uint8_t *)M->mem + p.qh;
        M->m.sc = (uint8_t *)M->mem + p.sc;
        M->m.d = (uint8_t *)M->mem + p.d;
        M->m.m = (uint8_t *)M->mem + p.m;
        free(gguf);
    } else {
        M->mem = gguf; /* F32 / F16 / BF16: the rows as they are */
        M->m.data = gguf;
    }
}

static void free_matrix(matrix *M) {
    free(M->mem);
    free(M->ref);
}

static double dot_ref(const float *w, const float *x, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)w[i] * x[i];
    return s;
}

/* ---- GEMV ---- */

/* norm: the product of rmsnorm(x) with a random norm weight, folded in */
static void test_gemv(si_dtype t, int cols, int n, int epilogue, int kernel, bool norm) {
    int nw = epilogue == SI_CU_SWIGLU ? 2 : epilogue == SI_CU_ADD ? 1 : 3;
    int rows[3] = {40, epilogue == SI_CU_SWIGLU ? 40 : 24, 16};
    matrix M[3];
    float *x = rand_vec((size_t)n * cols, -1, 1), *y[3] = {0}, *y0[3] = {0};
    float *g = norm ? rand_vec(cols, 0.5f, 1.5f) : NULL, *xn = x;
    si_cu_gemv_job job = {.n_w = nw, .epilogue = epilogue, .kernel = kernel, .norm = g, .eps = 1e-5f};
    if (norm) { /* the reference multiplies the normed rows, as the CPU's rmsnorm writes them */
        xn = malloc((size_t)n * cols * sizeof(float));
        for (int tk = 0; tk < n; tk++) {
            double ss = 0;
            for (int c = 0; c < cols; c++) ss += (double)x[tk * cols + c] * x[tk * cols + c];
            float scale = 1.0f / sqrtf((float)(ss / cols) + 1e-5f);
            for (int c = 0; c < cols; c++) xn[tk * cols + c] = x[tk * cols + c] * scale * g[c];
        }
    }
    for (int j = 0; j < nw; j++) {
        make_matrix(&M[j], t, rows[j], cols);
        y[j] = rand_vec((size_t)n * rows[j], -1, 1);
        y0[j] = malloc((size_t)n * rows[j] * sizeof(float));
        memcpy(y0[j], y[j], (size_t)n * rows[j] * sizeof(float));
        job.w[j] = &M[j].m;
        job.y[j] = y[j];
    }
    CHECK(si_cu_gemv(&job, x, n, NULL) == cudaSuccess);
    double worst = 0;
    for (int j = 0; j < (epilogue == SI_CU_SWIGLU ? 1 : nw); j++) {
        double *want = malloc((size_t)n * rows[j] * sizeof(double));
        for (int tk = 0; tk < n; tk++)
            for (int r = 0; r < rows[j]; r++) {
                const float *xt = xn + (size_t)tk * cols;
                double v = dot_ref(M[j].ref + (size_t)r * cols, xt, cols);
                if (epilogue == SI_CU_ADD) v += y0[j][(size_t)tk * rows[j] + r];
                if (epilogue == SI_CU_SWIGLU) v = v / (1 + exp(-v)) * dot_ref(M[1].ref + (size_t)r * cols, xt, cols);
                want[(size_t)tk * rows[j] + r] = v;
            }
        double e = max_err(y[j], want, (size_t)n * rows[j]);
        worst = e > worst ? e : worst;
        free(want);
    }
    /* f32 sums of up to 4448 products of size ~1 (Q8_0's ~100); SwiGLU
     * multiplies two of them */
    double tol = (t == SI_DTYPE_Q8_0 ? 2e-4 : 3e-5) * (epilogue == SI_CU_SWIGLU ? 4 : 1);
    static const char *epi[] = {"store (3 matrices)", "add", "silu(gate) * up"};
    printf("gemv %-4s%s%s cols %4d, %2d rows, %-18s: %.2e\n", si_dtype_name(t),
           kernel == SI_CU_GEMV_ASYNC ? " (cp.async)" : kernel == SI_CU_GEMV_WIDE ? " (wide)" : "",
           norm ? " of rmsnorm(x)" : "", cols, n, epi[epilogue], worst);
    CHECKF(worst <= tol, "gemv %s cols %d n %d epilogue %d kernel %d norm %d", si_dtype_name(t), cols, n, epilogue,
           kernel, norm);
    for (int j = 0; j < nw; j++) {
        free_matrix(&M[j]);
        free(y[j]);
        free(y0[j]);
    }
    if (norm) free(xn);
    free(g);
    free(x);
}

/* ---- attention ---- */

typedef struct {
    int kernel, head_dim, n_heads, n_kv_heads;
    bool f16;
    int n_rows, slots, sinks, splits, style;
    /* chunk: the rows are a prefill chunk at stream position t0 of a cache
     * with window slots - sinks - n_rows (kvcache.h's policy), served in row
     * groups (si_gpu_attn_groups) by the kernels that take them; otherwise
     * every row has its own, unrelated window */
    bool chunk;
    int t0;
} attn_case;

static void rotate_ref(const float *x, const double *cs, int hd, int style, float *out) {
    for (int p = 0; p < hd / 2; p++) {
        int i0 = style == SI_ROPE_ADJACENT ? 2 * p : p, i1 = style == SI_ROPE_ADJACENT ? 2 * p + 1 : p + hd / 2;
        double c = cs[p], s = cs[hd / 2 + p];
        out[i0] = (float)((double)x[i0] * c - (double)x[i1] * s);
        out[i1] = (float)((double)x[i0] * s + (double)x[i1] * c);
    }
}

static void test_attention(attn_case c) {
    const int hd = c.head_dim, q_dim = c.n_heads * hd, kv_dim = c.n_kv_heads * hd, layer = 1;
    const size_t cache_n = (size_t)2 * c.slots * kv_dim;
    const size_t elem = c.f16 ? 2 : 4;
    /* the cache: random old keys and values; `shadow` holds them as floats */
    uint8_t *kc = malloc(cache_n * elem), *vc = malloc(cache_n * elem);
    float *ks = malloc(cache_n * sizeof(float)), *vs = malloc(cache_n * sizeof(float));
    for (size_t i = 0; i < cache_n; i++) {
        float a = frand(-2, 2), b = frand(-1, 1);
        if (c.f16) {
            uint16_t ha = si_f32_to_f16(a), hb = si_f32_to_f16(b);
            memcpy(kc + 2 * i, &ha, 2);
            memcpy(vc + 2 * i, &hb, 2);
            a = si_f16_to_f32(ha);
            b = si_f16_to_f32(hb);
        } else {
            memcpy(kc + 4 * i, &a, 4);
            memcpy(vc + 4 * i, &b, 4);
        }
        ks[i] = a;
        vs[i] = b;
    }
    int n = c.n_rows, ring = c.slots - c.sinks;
    si_gpu_attn_row *rows = calloc(n, sizeof *rows);
    si_gpu_attn_group *groups = calloc(n, sizeof *groups);
    int n_groups = 0, group_rows = 1;
    if (c.chunk) {
        si_kvcache cache = {.cfg = {.sinks = c.sinks, .window = ring - n, .chunk = n}, .slots = c.slots, .k = kc, .v = vc};
        si_attn_run run = {.cache = &cache, .t0 = c.t0, .first = 0, .n = n};
        CHECK(si_gpu_attn_rows(&run, 1, rows, n) == 0);
        group_rows = si_cu_attn_group_rows(c.kernel, c.n_heads, c.n_kv_heads);
        if (group_rows > 1) n_groups = si_gpu_attn_groups(rows, n, group_rows, groups);
        CHECK(group_rows == 1 || n_groups == (n + group_rows - 1) / group_rows); /* a chunk always groups */
    }
    for (int i = 0; i < n && !c.chunk; i++) {
        si_gpu_attn_row *r = &rows[i];
        r->k = kc;
        r->v = vc;
        r->slots = c.slots;
        r->sinks = c.sinks;
        r->n_sinks = c.sinks;
        r->n_win = ring - 3 * i - 1 > 0 ? ring - 3 * i - 1 : 1;
        r->win_slot = c.sinks + (37 * (i + 1)) % ring; /* windows that wrap the ring */
        int last = r->win_slot + r->n_win - 1;
        r->store_slot = last >= c.slots ? last - ring : last;
    }
    float *q = rand_vec((size_t)n * q_dim, -1, 1), *k = rand_vec((size_t)n * kv_dim, -1, 1);
    float *v = rand_vec((size_t)n * kv_dim, -1, 1);
    double *rope = malloc((size_t)n * 3 * hd * sizeof(double));
    for (int i = 0; i < n; i++)
        for (int s = 0; s < 3; s++)
            for (int p = 0; p < hd / 2; p++) {
                double ang = (i * 7 + s * 3 + 1) * pow(10000.0, -2.0 * p / hd);
                rope[((size_t)i * 3 + s) * hd + p] = cos(ang);
                rope[((size_t)i * 3 + s) * hd + hd / 2 + p] = sin(ang);
            }
    float *out = malloc((size_t)n * q_dim * sizeof(float)), *qrot = malloc((size_t)n * 2 * q_dim * sizeof(float));
    float *part = malloc((size_t)n * c.n_heads * c.splits * (hd + 2) * sizeof(float));
    unsigned *count = calloc((size_t)n * c.n_heads, sizeof(unsigned));
    si_cu_attn a = {.layer = layer, .n_tokens = n, .n_heads = c.n_heads, .n_kv_heads = c.n_kv_heads,
                    .head_dim = hd, .rope_style = c.style, .kv_f16 = c.f16, .rows = rows, .q = q, .k = k, .v = v,
                    .rope = rope, .qrot = qrot, .out = out, .splits = c.splits, .kernel = c.kernel, .part = part,
                    .count = count, .groups = n_groups ? groups : NULL, .n_groups = n_groups};
    CHECK(si_cu_attention(&a, NULL) == cudaSuccess);

    /* reference: every row's key and value stored first (as the kernels do), then attention */
    double store_err = 0;
    for (int i = 0; i < n; i++) {
        size_t dst = ((size_t)layer * c.slots + rows[i].store_slot) * kv_dim;
        for (int h = 0; h < c.n_kv_heads; h++) rotate_ref(k + (size_t)i * kv_dim + h * hd, rope + (size_t)i * 3 * hd, hd, c.style, ks + dst + h * hd);
        memcpy(vs + dst, v + (size_t)i * kv_dim, kv_dim * sizeof(float));
        for (int d = 0; d < kv_dim; d++) {
            float gk, gv, wk = ks[dst + d], wv = vs[dst + d];
            if (c.f16) {
                uint16_t hk, hv;
                memcpy(&hk, kc + 2 * (dst + d), 2);
                memcpy(&hv, vc + 2 * (dst + d), 2);
                gk = si_f16_to_f32(hk), gv = si_f16_to_f32(hv);
                wk = si_f16_to_f32(si_f32_to_f16(wk)), wv = si_f16_to_f32(si_f32_to_f16(wv));
                ks[dst + d] = wk, vs[dst + d] = wv;
            } else {
                memcpy(&gk, kc + 4 * (dst + d), 4);
                memcpy(&gv, vc + 4 * (dst + d), 4);
            }
            double e = fmax(fabs(gk - wk), fabs(gv - wv));
            store_err = e > store_err ? e : store_err;
        }
    }
    double *want = malloc((size_t)n * q_dim * sizeof(double));
    int n_vis_max = ring + c.sinks;
    double *sc = malloc(n_vis_max * sizeof(double));
    float *qw = malloc(hd * sizeof(float)), *qs = malloc(hd * sizeof(float));
    for (int i = 0; i < n; i++) {
        const si_gpu_attn_row *r = &rows[i];
        int n_vis = r->n_sinks + r->n_win;
        for (int h = 0; h < c.n_heads; h++) {
            rotate_ref(q + (size_t)i * q_dim + h * hd, rope + ((size_t)i * 3 + 1) * hd, hd, c.style, qw);
            rotate_ref(q + (size_t)i * q_dim + h * hd, rope + ((size_t)i * 3 + 2) * hd, hd, c.style, qs);
            int kvh = h / (c.n_heads / c.n_kv_heads);
            double mx = -INFINITY, l = 0;
            for (int j = 0; j < n_vis; j++) {
                const float *kr = ks + ((size_t)layer * c.slots + si_gpu_visible_slot(r, j)) * kv_dim + kvh * hd;
                sc[j] = dot_ref(kr, j < r->n_sinks ? qs : qw, hd) / sqrt((double)hd);
                mx = sc[j] > mx ? sc[j] : mx;
            }
            for (int j = 0; j < n_vis; j++) l += (sc[j] = exp(sc[j] - mx));
            for (int d = 0; d < hd; d++) {
                double o = 0;
                for (int j = 0; j < n_vis; j++)
                    o += sc[j] * vs[((size_t)layer * c.slots + si_gpu_visible_slot(r, j)) * kv_dim + kvh * hd + d];
                want[(size_t)i * q_dim + h * hd + d] = o / l;
            }
        }
    }
    double e = max_err(out, want, (size_t)n * q_dim);
    bool counters_zero = true;
    for (size_t i = 0; i < (size_t)n * c.n_heads; i++) counters_zero &= count[i] == 0;
    const int group = si_cu_attn_group(c.kernel, c.n_heads, c.n_kv_heads);
    printf("attention %-7s (%d heads x %d rows per block) hd %3d heads %2d/%-2d %s rows %2d slots %4d sinks %d splits %2d "
           "%s: %.2e (store %.1e)\n",
           c.kernel == SI_CU_ATTN_TILED ? "tiled" : c.kernel == SI_CU_ATTN_WARP ? "warp" : "perhead", group,
           n_groups ? group_rows : 1, hd, c.n_heads, c.n_kv_heads, c.f16 ? "f16" : "f32", n,
           c.slots, c.sinks, c.splits, c.style == SI_ROPE_HALF ? "half" : "adjacent", e, store_err);
    CHECK(e < 1e-5 && store_err == 0 && counters_zero);
    free(groups);
    free(kc), free(vc), free(ks), free(vs), free(rows), free(q), free(k), free(v), free(rope), free(out);
    free(qrot), free(part), free(count), free(want), free(sc), free(qw), free(qs);
}

/* ---- element-wise kernels, embedding, argmax ---- */

static void test_elementwise(void) {
    const int n = 3, dim = 200;
    float *x = rand_vec((size_t)n * dim, -3, 3), *w = rand_vec(dim, 0.5f, 1.5f), *y = malloc((size_t)n * dim * 4);
    double *want = malloc((size_t)n * dim * sizeof(double));
    CHECK(si_cu_rmsnorm(y, x, w, n, dim, 1e-5f, NULL) == cudaSuccess);
    for (int i = 0; i < n; i++) {
        double ss = 0;
        for (int j = 0; j < dim; j++) ss += (double)x[i * dim + j] * x[i * dim + j];
        float scale = 1.0f / sqrtf((float)(ss / dim) + 1e-5f);
        for (int j = 0; j < dim; j++) want[i * dim + j] = x[i * dim + j] * scale * w[j];
    }
    double e = max_err(y, want, (size_t)n * dim);
    printf("rmsnorm: %.2e\n", e);
    CHECK(e < 1e-6);

    float *g = rand_vec((size_t)n * dim, -4, 4), *u = rand_vec((size_t)n * dim, -2, 2);
    for (int i = 0; i < n * dim; i++) want[i] = g[i] / (1 + exp(-g[i])) * u[i];
    CHECK(si_cu_swiglu(g, u, (size_t)n * dim, NULL) == cudaSuccess);
    e = max_err(g, want, (size_t)n * dim);
    printf("swiglu: %.2e\n", e);
    CHECK(e < 1e-6);

    for (int i = 0; i < n * dim; i++) want[i] = x[i] + u[i]; /* a float sum, as the kernel's */
    CHECK(si_cu_add(x, u, (size_t)n * dim, NULL) == cudaSuccess);
    e = max_err(x, want, (size_t)n * dim);
    printf("add: %.2e\n", e);
    CHECK(e == 0);

    uint16_t *h = malloc((size_t)n * dim * 2);
    for (int bf = 0; bf < 2; bf++) {
        x[5] = NAN, x[6] = 65520.0f, x[7] = -1e-8f; /* NaN, f16 overflow, f16 underflow */
        CHECK(si_cu_to_half(h, x, (size_t)n * dim, bf, NULL) == cudaSuccess);
        int bad = 0;
        for (int i = 0; i < n * dim; i++) {
            uint16_t ref = bf ? si_f32_to_bf16(x[i]) : si_f32_to_f16(x[i]);
            bool both_nan = bf ? isnan(si_bf16_to_f32(h[i])) && isnan(si_bf16_to_f32(ref))
                               : isnan(si_f16_to_f32(h[i])) && isnan(si_f16_to_f32(ref));
            bad += h[i] != ref && !both_nan;
        }
        printf("to %s: %d of %d differ from util/half.h\n", bf ? "bf16" : "f16", bad, n * dim);
        CHECK(bad == 0);
    }

    /* embedding rows of every weight type */
    for (int t = 0; t < SI_DTYPE_COUNT; t++) {
        const int cols = si_dtype_block_elems((si_dtype)t) == SI_QK ? 512 : 96;
        matrix M;
        make_matrix(&M, (si_dtype)t, 50, cols);
        int32_t tok[4] = {0, 49, 17, 17};
        float *rowsf = malloc(4 * (size_t)cols * sizeof(float));
        CHECK(si_cu_embed(rowsf, &M.m, tok, 4, NULL) == cudaSuccess);
        int bad = 0;
        for (int i = 0; i < 4; i++)
            for (int c = 0; c < cols; c++) bad += rowsf[i * cols + c] != M.ref[(size_t)tok[i] * cols + c];
        printf("embed %s: %d elements differ\n", si_dtype_name((si_dtype)t), bad);
        CHECK(bad == 0);
        free(rowsf);
        free_matrix(&M);
    }

    /* quantized matrices expanded to f16 for cuBLAS: rows 2..7 of 9, each
     * value the dequantized weight rounded once */
    for (int i = 0; i < SI_DTYPE_COUNT; i++) {
        if (si_dtype_block_elems((si_dtype)i) == 1) continue;
        const si_dtype qt = (si_dtype)i;
        matrix M;
        const int rows = 9, cols = si_dtype_block_elems(qt) == SI_QK ? 512 : 160, row0 = 2, nr = 6;
        make_matrix(&M, qt, rows, cols);
        uint16_t *f16 = calloc((size_t)rows * cols, 2);
        CHECK(si_cu_dequant_f16(f16, &M.m, row0, nr, NULL) == cudaSuccess);
        int bad = 0;
        for (int k = 0; k < nr * cols; k++) bad += f16[k] != si_f32_to_f16(M.ref[(size_t)row0 * cols + k]);
        for (int k = nr * cols; k < rows * cols; k++) bad += f16[k] != 0; /* nothing past the slice */
        printf("dequant %s to f16: %d of %d differ\n", si_dtype_name(qt), bad, rows * cols);
        CHECK(bad == 0);
        CHECK(si_cu_dequant_f16(f16, &M.m, 4, 6, NULL) == cudaErrorInvalidValue); /* past the last row */
        free(f16);
        free_matrix(&M);
    }

    /* argmax: ties go to the lowest index, NaN never wins, all-NaN gives 0 */
    const int vocab = 3000;
    float *logits = rand_vec(4 * (size_t)vocab, -5, 5);
    logits[100] = logits[2500] = 9;          /* row 0: tie */
    logits[vocab] = logits[vocab + 7] = NAN; /* row 1: NaNs (one first in its thread) and the max */
    logits[vocab + 2999] = 8;
    for (int i = 0; i < vocab; i++) logits[2 * vocab + i] = NAN; /* row 2: all NaN */
    logits[3 * vocab + 1234] = INFINITY;     /* row 3 */
    int32_t ids[4];
    CHECK(si_cu_argmax(ids, logits, 4, vocab, NULL) == cudaSuccess);
    printf("argmax: %d %d %d %d\n", ids[0], ids[1], ids[2], ids[3]);
    CHECK(ids[0] == 100 && ids[1] == 2999 && ids[2] == 0 && ids[3] == 1234);
    free(logits), free(x), free(w), free(y), free(want), free(g), free(u), free(h);
}

/* ---- sampling ---- */

/* Logits on a coarse grid (many ties), with some NaN, -inf and signed zeros;
 * in every fourth variant zeros of both signs are the largest values. */
static void sampling_logits(float *row, int vocab, int variant) {
    for (int i = 0; i < vocab; i++) row[i] = variant % 2 ? (float)(si_test_rand() % 41) * 0.25f - 5 : frand(-8, 8);
    if (variant % 4 == 2)
        for (int i = 0; i < vocab; i++) row[i] = si_test_rand() % 2 ? -0.0f : -(float)(si_test_rand() % 9) * 0.25f;
    for (int i = 0; i < 6; i++) row[si_test_rand() % vocab] = NAN;
    row[si_test_rand() % vocab] = -INFINITY;
    row[si_test_rand() % vocab] = -0.0f;
    row[si_test_rand() % vocab] = 0.0f;
}

/* The same decision on the device and in the CPU sampler: two samplers with
 * equal settings, seed and history; one samples on the host, the other
 * hands its spec to the kernel. Several rows (different specs) per launch. */
static int test_sampling_case(const si_sampler_params *sp, int vocab, int variant) {
    enum { ROWS = 3 };
    si_sampler *host = si_sampler_create(sp), *dev = si_sampler_create(sp);
    float *logits = malloc(sizeof(float) * ROWS * (size_t)vocab);
    si_sample_spec *specs = malloc(sizeof(si_sample_spec) * ROWS);
    int32_t want[ROWS], got[ROWS];
    for (int h = 0; h < 100; h++) { /* history with repeats */
        int32_t t = (int32_t)(si_test_rand() % 60) * (vocab / 60);
        si_sampler_accept(host, t);
        si_sampler_accept(dev, t);
    }
    for (int r = 0; r < ROWS; r++) {
        float *row = logits + (size_t)r * vocab;
        sampling_logits(row, vocab, variant + r);
        /* the history's ids among the best, so that the penalty matters */
        if ((variant + r) % 4 != 2)
            for (int i = 0; i < 60; i += 7) row[i * (vocab / 60)] = 7.5f - (float)(i % 3);
        want[r] = si_sampler_sample(host, row, vocab);
        si_sampler_next_spec(dev, &specs[r]);
        CHECK(si_sample_spec_fits(&specs[r], vocab, SI_CU_SAMPLE_TOP_K_MAX));
        si_sampler_accept(dev, want[r]); /* the host's pick, so both histories stay equal */
    }
    /* the kernel sees the rows as they were (si_sampler_sample does not change them) */
    CHECK(si_cu_sample(got, logits, ROWS, vocab, specs, NULL) == cudaSuccess);
    int same = 0;
    for (int r = 0; r < ROWS; r++) same += got[r] == want[r];
    if (same != ROWS)
        printf("sampling mismatch: T %g top_k %d top_p %g penalty %g variant %d: got %d %d %d want %d %d %d\n",
               sp->temperature, sp->top_k, sp->top_p, sp->repeat_penalty, variant, got[0], got[1], got[2], want[0],
               want[1], want[2]);
    CHECK(same == ROWS);
    free(logits);
    free(specs);
    si_sampler_free(host);
    si_sampler_free(dev);
    return same;
}

static void test_sampling(void) {
    const float temps[] = {0, 0.25f, 1, 3};
    const int ks[] = {1, 2, 40, 255, 256};
    const float ps[] = {1, 0.9f, 0.3f};
    int cases = 0, rows = 0;
    for (int ti = 0; ti < 4; ti++)
        for (int ki = 0; ki < 5; ki++)
            for (int pi = 0; pi < 3; pi++) {
                if (temps[ti] == 0 && (ki || pi)) continue; /* greedy ignores k and p */
                si_sampler_params sp = si_sampler_default_params();
                sp.temperature = temps[ti];
                sp.top_k = ks[ki];
                sp.top_p = ps[pi];
                sp.repeat_penalty = (ki + pi) % 2 ? 1.3f : 1.0f;
                sp.seed = 1000 + (uint64_t)cases;
                rows += test_sampling_case(&sp, cases % 3 ? 3000 : 257, cases);
                cases++;
            }
    printf("sampling: %d rows in %d launches pick the CPU sampler's token\n", rows, cases);

    /* what the kernel does not take is left to the host */
    si_sample_spec spec = {.temperature = 0.7f, .top_k = 40, .top_p = 1};
    CHECK(si_sample_spec_fits(&spec, 3000, SI_CU_SAMPLE_TOP_K_MAX));
    spec.top_k = 0; /* all candidates */
    CHECK(!si_sample_spec_fits(&spec, 3000, SI_CU_SAMPLE_TOP_K_MAX) && si_sample_spec_fits(&spec, 3000, SI_SAMPLE_ANY_K));
    spec.top_k = 257; /* over the limit */
    CHECK(!si_sample_spec_fits(&spec, 3000, SI_CU_SAMPLE_TOP_K_MAX));
    spec.top_k = 200; /* not below the vocabulary */
    CHECK(!si_sample_spec_fits(&spec, 200, SI_CU_SAMPLE_TOP_K_MAX));
    spec.temperature = 0; /* greedy: any k */
    CHECK(si_sample_spec_fits(&spec, 200, SI_CU_SAMPLE_TOP_K_MAX));
}

int main(void) {
    /* GEMV: cols 352 ends inside a step of loads, 4448 takes several steps;
     * 3 rows run as groups of 2 and 1, 12 rows as 8 and 4 */
    for (int t = 0; t < SI_DTYPE_COUNT; t++)
        for (int e = 0; e < 3; e++) {
            /* the K types' rows are whole super-blocks of 256: 256 ends
             * inside the first step, 4352 (136 blocks) in the second */
            const bool k_type = si_dtype_block_elems((si_dtype)t) == SI_QK;
            /* the cp.async and wide kernels serve F16 and BF16; the others ignore the choice */
            for (int k = 0; k < (t == SI_DTYPE_F16 || t == SI_DTYPE_BF16 ? 3 : 1); k++) {
                test_gemv((si_dtype)t, k_type ? 256 : 352, 1, e, k, false);
                test_gemv((si_dtype)t, k_type ? 4352 : 4448, 3, e, k, false);
                if (t == SI_DTYPE_F16 || t == SI_DTYPE_Q4_1 || t == SI_DTYPE_Q6_K)
                    test_gemv((si_dtype)t, k_type ? 1024 : 1056, 12, e, k, false);
                /* the norm folded in: 1 or 2 rows of F16/BF16, register and wide kernels */
                if (si_cu_gemv_norm_fits((si_dtype)t, 1, k)) {
                    test_gemv((si_dtype)t, 352, 1, e, k, true);
                    test_gemv((si_dtype)t, 4448, 2, e, k, true);
                }
            }
        }
    /* the warp kernel serves the GQA cases with one block per KV head, perhead with one per query head */
    for (int kn = 0; kn < 3; kn++) {
        int kernel = (int[]){SI_CU_ATTN_WARP, SI_CU_ATTN_TILED, SI_CU_ATTN_WARP_PER_HEAD}[kn];
        test_attention((attn_case){kernel, 128, 4, 4, true, 1, 4 + 300, 4, 1, SI_ROPE_HALF, false, 0});
        test_attention((attn_case){kernel, 128, 4, 2, true, 2, 4 + 300, 4, 7, SI_ROPE_ADJACENT, false, 0});
        test_attention((attn_case){kernel, 64, 6, 2, false, 3, 4 + 200, 4, 3, SI_ROPE_HALF, false, 0});
        test_attention((attn_case){kernel, 64, 3, 3, true, 1, 0 + 150, 0, 64, SI_ROPE_ADJACENT, false, 0}); /* no sinks; empty splits */
        test_attention((attn_case){kernel, 128, 2, 1, false, 1, 1 + 40, 1, 9, SI_ROPE_HALF, false, 0});
        test_attention((attn_case){kernel, 64, 2, 2, true, 1, 4 + 3, 4, 2, SI_ROPE_HALF, false, 0}); /* a tiny window */
        test_attention((attn_case){kernel, 64, 8, 2, true, 2, 4 + 260, 4, 5, SI_ROPE_HALF, false, 0});    /* 4 per KV head */
        test_attention((attn_case){kernel, 128, 8, 1, false, 1, 4 + 90, 4, 3, SI_ROPE_ADJACENT, false, 0}); /* 8 per KV head */
        /* prefill chunks: a full window around the ring, a session's start (sink rows), no sinks */
        test_attention((attn_case){kernel, 64, 4, 4, true, 20, 4 + 64 + 20, 4, 3, SI_ROPE_HALF, true, 150});
        test_attention((attn_case){kernel, 128, 6, 2, false, 7, 4 + 16 + 7, 4, 2, SI_ROPE_ADJACENT, true, 0});
        test_attention((attn_case){kernel, 64, 8, 4, true, 13, 0 + 40 + 13, 0, 1, SI_ROPE_HALF, true, 40});
        test_attention((attn_case){kernel, 64, 8, 2, true, 9, 4 + 30 + 9, 4, 4, SI_ROPE_HALF, true, 71});
    }
    /* one wave: 32 heads x 24 splits = 768 blocks <= 6 x 132; 25 would leave 8 blocks for a second */
    CHECK(si_cu_attn_splits(1, 32, 3073, 132, 6, 64) == 24);
    CHECK(si_cu_attn_splits(1, 32, 3073, 132, 5, 64) == 20);
    CHECK(si_cu_attn_splits(1, 32, 100, 132, 6, 64) == 2);  /* ranges of at least 64 keys */
    CHECK(si_cu_attn_splits(64, 32, 3073, 132, 6, 64) == 1); /* more than a wave already */
    CHECK(si_cu_attn_splits(1, 1, 1 << 20, 132, 6, 64) == 64);
    test_elementwise();
    test_sampling();
    return si_test_finish("test_cuda_emulated");
}
