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

bool si_gpu_native_dtype(si_dtype t) {
    return t == SI_DTYPE_F32 || t == SI_DTYPE_F16 || t == SI_DTYPE_BF16 || t == SI_DTYPE_Q8_0 || t == SI_DTYPE_Q4_0 ||
           t == SI_DTYPE_Q4_1;
}

int si_gpu_planar_layout(si_dtype t, int64_t rows, int64_t cols, si_gpu_planar *p) {
    if (!si_gpu_native_dtype(t) || si_dtype_block_elems(t) == 1)
        return si_fail("%s is not a block-quantized type", si_dtype_name(t));
    if (cols % SI_QBLOCK || rows < 1) return si_fail("a %lld x %lld matrix cannot hold %s blocks", (long long)rows, (long long)cols, si_dtype_name(t));
    size_t blocks = (size_t)rows * (size_t)(cols / SI_QBLOCK);
    p->row_qs = (size_t)(t == SI_DTYPE_Q8_0 ? cols : cols / 2);
    p->qs = 0;
    p->d = (size_t)rows * p->row_qs; /* a multiple of 16: cols is a multiple of 32 */
    size_t scales = (blocks * sizeof(uint16_t) + 15) & ~(size_t)15;
    p->m = p->d;
    p->bytes = p->d + scales;
    if (t == SI_DTYPE_Q4_1) {
        p->m = p->d + scales;
        p->bytes = p->m + scales;
    }
    return 0;
}

void si_gpu_planar_pack(si_dtype t, const void *src, int64_t rows, int64_t cols, const si_gpu_planar *p, void *dst) {
    int64_t nb = cols / SI_QBLOCK;
    unsigned char *qs = (unsigned char *)dst + p->qs;
    uint16_t *d = (uint16_t *)((char *)dst + p->d), *m = (uint16_t *)((char *)dst + p->m);
    size_t qbytes = t == SI_DTYPE_Q8_0 ? SI_QBLOCK : SI_QBLOCK / 2;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t b = 0; b < nb; b++) {
            size_t i = (size_t)(r * nb + b);
            unsigned char *q = qs + (size_t)r * p->row_qs + (size_t)b * qbytes;
            if (t == SI_DTYPE_Q8_0) {
                const si_block_q8_0 *blk = (const si_block_q8_0 *)src + i;
                memcpy(q, blk->qs, qbytes);
                d[i] = blk->d;
            } else if (t == SI_DTYPE_Q4_0) {
                const si_block_q4_0 *blk = (const si_block_q4_0 *)src + i;
                memcpy(q, blk->qs, qbytes);
                d[i] = blk->d;
            } else {
                const si_block_q4_1 *blk = (const si_block_q4_1 *)src + i;
                memcpy(q, blk->qs, qbytes);
                d[i] = blk->d;
                m[i] = blk->m;
            }
        }
}

float si_gpu_planar_get(si_dtype t, const void *planar, const si_gpu_planar *p, int64_t cols, int64_t r, int64_t c) {
    const unsigned char *q = (const unsigned char *)planar + p->qs + (size_t)r * p->row_qs;
    size_t blk = (size_t)(r * (cols / SI_QBLOCK) + c / SI_QBLOCK);
    float d = si_f16_to_f32(((const uint16_t *)((const char *)planar + p->d))[blk]);
    int e = (int)(c % SI_QBLOCK);
    if (t == SI_DTYPE_Q8_0) return d * (float)(int8_t)q[c];
    /* Q4: byte j of a block holds element j (low nibble) and j + 16 (high). */
    unsigned char byte = q[(c / SI_QBLOCK) * (SI_QBLOCK / 2) + (e & 15)];
    int nib = e < 16 ? byte & 15 : byte >> 4;
    if (t == SI_DTYPE_Q4_0) return d * (float)(nib - 8);
    float m = si_f16_to_f32(((const uint16_t *)((const char *)planar + p->m))[blk]);
    return d * (float)nib + m;
}
