/* backend/gpu_layout.c: attention row tables and planar quantized weights
 * (see gpu_layout.h). */
#include "gpu_layout.h"

#include "../util/error.h"
#include "../util/half.h"

#include <string.h>

int si_gpu_attn_rows(const si_attn_run *runs, int n_runs, si_gpu_attn_row *rows, int n_rows) {
    for (int r = 0; r < n_runs; r++) {
        const si_attn_run *run = &runs[r];
        const si_kvcache *c = run->cache;
        if (run->first < 0 || run->n < 0 || run->first + run->n > n_rows)
            return si_fail("attention run %d (rows %d..%d) outside the %d rows of the pass", r, run->first,
                           run->first + run->n - 1, n_rows);
        for (int i = 0; i < run->n; i++) {
            int64_t t = run->t0 + i;
            int64_t wb = si_cache_window_begin(c, t);
            int64_t n_win = t - wb + 1 > 0 ? t - wb + 1 : 0;
            rows[run->first + i] = (si_gpu_attn_row){
                .k = c->k,
                .v = c->v,
                .slots = c->slots,
                .sinks = c->cfg.sinks,
                .store_slot = si_cache_slot(c, t),
                .n_sinks = si_cache_visible_sinks(c, t),
                .win_slot = n_win ? si_cache_slot(c, wb) : 0,
                .n_win = (int32_t)n_win,
            };
        }
    }
    return 0;
}

/* Adds row r to the group view v if it fits (si_gpu_attn_groups). */
static bool group_take(si_gpu_attn_row *v, const si_gpu_attn_row *r) {
    if (r->k != v->k || r->v != v->v || r->slots != v->slots || r->sinks != v->sinks) return false;
    if (r->n_win > 0) {
        if (v->n_win == 0) {
            v->win_slot = r->win_slot; /* the rows so far see sinks only */
            v->n_win = r->n_win;
        } else {
            const int ring = v->slots - v->sinks;
            const int start = (r->win_slot - v->win_slot + ring) % ring;
            if (start > v->n_win || start + r->n_win > ring) return false;
            if (start + r->n_win > v->n_win) v->n_win = start + r->n_win;
        }
    } else if (v->n_win > 0) {
        return false; /* a sink-only row after windowed ones: not a chunk's order */
    }
    if (r->n_sinks > v->n_sinks) v->n_sinks = r->n_sinks;
    return true;
}

int si_gpu_attn_groups(const si_gpu_attn_row *rows, int n_rows, int max_rows, si_gpu_attn_group *groups) {
    int n = 0;
    for (int i = 0; i < n_rows;) {
        si_gpu_attn_group g = {.row0 = i, .n_rows = 1, .view = rows[i]};
        while (i + g.n_rows < n_rows && g.n_rows < max_rows && group_take(&g.view, &rows[i + g.n_rows])) g.n_rows++;
        groups[n++] = g;
        i += g.n_rows;
    }
    return n;
}

bool si_gpu_native_dtype(si_dtype t) { return (unsigned)t < (unsigned)SI_DTYPE_COUNT; }

static size_t align16(size_t n) { return (n + 15) & ~(size_t)15; }

int si_gpu_planar_layout(si_dtype t, int64_t rows, int64_t cols, si_gpu_planar *p) {
    const int per = si_dtype_block_elems(t);
    if (!si_gpu_native_dtype(t) || per == 1) return si_fail("%s is not a block-quantized type", si_dtype_name(t));
    if (cols % per || cols < 1 || rows < 1)
        return si_fail("a %lld x %lld matrix cannot hold %s blocks", (long long)rows, (long long)cols,
                       si_dtype_name(t));
    const size_t blocks = (size_t)rows * (size_t)(cols / SI_QBLOCK);
    const size_t n_d = si_gpu_k_type(t) ? blocks / (SI_QK / SI_QBLOCK) : blocks; /* scales d (and m) */
    const bool has_m = si_gpu_has_m(t);
    p->row_qs = (size_t)(t == SI_DTYPE_Q8_0 ? cols : cols / 2); /* a multiple of 16 */
    p->qs = 0;
    p->qh = (size_t)rows * p->row_qs;
    p->sc = p->qh + align16(blocks * 4 * (size_t)si_gpu_high_words(t));
    p->d = p->sc + align16(si_gpu_k_type(t) ? blocks * sizeof(uint16_t) : 0);
    p->m = p->d + (has_m ? align16(n_d * sizeof(uint16_t)) : 0);
    p->bytes = (has_m ? p->m : p->d) + align16(n_d * sizeof(uint16_t));
    return 0;
}

/* The fields of one GGUF block (32 or 256 weights) that the planes take. */
typedef struct {
    uint8_t code[SI_QK];   /* unsigned codes */
    uint16_t d, m;         /* f16 bits */
    uint16_t sc[SI_QK / SI_QBLOCK];
} gguf_fields;

static void fields_of(si_dtype t, const uint8_t *blk, gguf_fields *f) {
    f->m = 0;
    if (t == SI_DTYPE_Q8_0) {
        const si_block_q8_0 *b = (const si_block_q8_0 *)(const void *)blk;
        memcpy(f->code, b->qs, SI_QBLOCK);
        f->d = b->d;
        return;
    }
    if (t == SI_DTYPE_Q4_0 || t == SI_DTYPE_Q4_1) {
        const uint8_t *qs = t == SI_DTYPE_Q4_0 ? ((const si_block_q4_0 *)(const void *)blk)->qs
                                               : ((const si_block_q4_1 *)(const void *)blk)->qs;
        for (int j = 0; j < SI_QBLOCK / 2; j++) {
            f->code[j] = qs[j] & 15;
            f->code[j + 16] = qs[j] >> 4;
        }
        memcpy(&f->d, blk, 2);
        if (t == SI_DTYPE_Q4_1) memcpy(&f->m, blk + 2, 2);
        return;
    }
    /* the others through the reference unpacker: its codes are centred */
    si_qunpacked u;
    const int n = si_unpack_block(t, blk, &u);
    for (int e = 0; e < n; e++) f->code[e] = (uint8_t)(u.q[e] + si_gpu_centre(t));
    if (t == SI_DTYPE_Q5_0 || t == SI_DTYPE_Q5_1) {
        memcpy(&f->d, blk, 2);
        if (t == SI_DTYPE_Q5_1) memcpy(&f->m, blk + 2, 2);
    } else if (t == SI_DTYPE_Q6_K) {
        const si_block_q6_k *b = (const si_block_q6_k *)(const void *)blk;
        f->d = b->d;
        for (int k = 0; k < 8; k++)
            f->sc[k] = (uint16_t)((uint8_t)b->scales[2 * k] | (uint8_t)b->scales[2 * k + 1] << 8);
    } else { /* Q4_K, Q5_K: d, dmin, then the packed 6-bit scales and minima */
        memcpy(&f->d, blk, 2);
        memcpy(&f->m, blk + 2, 2);
        for (int k = 0; k < 8; k++) {
            int sc, mn;
            si_k_scale_min(blk + 4, k, &sc, &mn);
            f->sc[k] = (uint16_t)(sc | mn << 8);
        }
    }
}

void si_gpu_planar_pack(si_dtype t, const void *src, int64_t rows, int64_t cols, const si_gpu_planar *p, void *dst) {
    const int per = si_dtype_block_elems(t), hw = si_gpu_high_words(t);
    const size_t bb = si_dtype_block_bytes(t), nb = (size_t)(cols / SI_QBLOCK); /* blocks of 32 per row */
    unsigned char *base = dst;
    uint32_t *qh = (uint32_t *)(void *)(base + p->qh);
    uint16_t *sc = (uint16_t *)(void *)(base + p->sc), *d = (uint16_t *)(void *)(base + p->d),
             *m = (uint16_t *)(void *)(base + p->m);
    gguf_fields f;
    for (int64_t r = 0; r < rows; r++)
        for (size_t g = 0; g < (size_t)cols / (size_t)per; g++) {
            const size_t gi = (size_t)r * ((size_t)cols / (size_t)per) + g; /* GGUF block index */
            fields_of(t, (const uint8_t *)src + gi * bb, &f);
            d[gi] = f.d;
            if (p->m != p->d) m[gi] = f.m;
            for (int k = 0; k < per / SI_QBLOCK; k++) {
                const size_t in_row = g * (size_t)(per / SI_QBLOCK) + (size_t)k, b = (size_t)r * nb + in_row;
                const uint8_t *code = f.code + SI_QBLOCK * k;
                unsigned char *q = base + p->qs + (size_t)r * p->row_qs + in_row * (t == SI_DTYPE_Q8_0 ? 32 : 16);
                if (t == SI_DTYPE_Q8_0) {
                    memcpy(q, code, SI_QBLOCK);
                    continue;
                }
                uint32_t h4 = 0, h5 = 0;
                for (int j = 0; j < SI_QBLOCK / 2; j++)
                    q[j] = (unsigned char)((code[j] & 15) | (code[j + 16] & 15) << 4);
                for (int e = 0; e < SI_QBLOCK; e++) {
                    h4 |= (uint32_t)(code[e] >> 4 & 1) << e;
                    h5 |= (uint32_t)(code[e] >> 5 & 1) << e;
                }
                if (hw >= 1) qh[b * (size_t)hw] = h4;
                if (hw == 2) qh[b * 2 + 1] = h5;
                if (si_gpu_k_type(t)) sc[b] = f.sc[k];
            }
        }
}

float si_gpu_planar_get(si_dtype t, const void *planar, const si_gpu_planar *p, int64_t cols, int64_t r, int64_t c) {
    const unsigned char *base = planar;
    const size_t b = (size_t)(r * (cols / SI_QBLOCK) + c / SI_QBLOCK); /* block of 32 */
    const int e = (int)(c % SI_QBLOCK), hw = si_gpu_high_words(t);
    const size_t di = si_gpu_k_type(t) ? b / (SI_QK / SI_QBLOCK) : b;
    const float d = si_f16_to_f32(((const uint16_t *)(const void *)(base + p->d))[di]);
    const unsigned char *q = base + p->qs + (size_t)r * p->row_qs;
    if (t == SI_DTYPE_Q8_0) return d * (float)(int8_t)q[c];
    const uint32_t *qh = (const uint32_t *)(const void *)(base + p->qh);
    const int code = si_gpu_code(t, q[(c / SI_QBLOCK) * (SI_QBLOCK / 2) + (e & 15)], hw >= 1 ? qh[b * (size_t)hw] : 0,
                                 hw == 2 ? qh[b * 2 + 1] : 0, e);
    const float m = p->m != p->d ? si_f16_to_f32(((const uint16_t *)(const void *)(base + p->m))[di]) : 0.0f;
    const unsigned sc = si_gpu_k_type(t) ? ((const uint16_t *)(const void *)(base + p->sc))[b] : 0;
    float lo, hi, offset;
    si_gpu_block_scales(t, d, m, sc, &lo, &hi, &offset);
    /* the reference's rounding: the product, then the offset (Q4_0 has
     * none to add: + 0.0f would turn a -0 into +0) */
    const float v = (e < 16 ? lo : hi) * (float)(code - si_gpu_centre(t));
    return t == SI_DTYPE_Q4_0 ? v : v + offset;
}
