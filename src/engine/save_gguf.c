/* engine/save_gguf.c: si_model_save_gguf: a loaded model (GGUF or Hugging
 * Face) written as a llama-architecture GGUF in a chosen weight type: which
 * tensors in which types, and their rows streamed one by one (the metadata
 * is in save_gguf_meta.c). */
#include "save_gguf.h"

#include "../format/gguf_writer.h"
#include "../format/quantize.h"
#include "../util/error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name;
    si_dtype dtype;
    uint32_t file_type; /* llama.cpp's general.file_type for files mostly of this type */
} save_type;

static const save_type SAVE_TYPES[] = {
    {"f32", SI_DTYPE_F32, 0},   {"f16", SI_DTYPE_F16, 1},   {"bf16", SI_DTYPE_BF16, 32},
    {"q8_0", SI_DTYPE_Q8_0, 7}, {"q4_0", SI_DTYPE_Q4_0, 2}, {"q4_1", SI_DTYPE_Q4_1, 3},
    {"q5_0", SI_DTYPE_Q5_0, 8}, {"q5_1", SI_DTYPE_Q5_1, 9}, {"q4_k", SI_DTYPE_Q4_K, 14},
    {"q5_k", SI_DTYPE_Q5_K, 16}, {"q6_k", SI_DTYPE_Q6_K, 18},
};
#define N_SAVE_TYPES (sizeof SAVE_TYPES / sizeof SAVE_TYPES[0])

typedef struct {
    const si_tensor *src; /* NULL: values below */
    const float *values;
    char name[64];
    si_dtype dtype;
    int n_dims;
    int64_t ne[SI_MAX_DIMS];
    int permute_heads; /* > 0: Hugging Face Q/K rows into llama.cpp's order for this many heads */
} save_item;

typedef struct {
    const si_model *m;
    bool keep;      /* every weight in its source type */
    si_dtype dtype; /* otherwise: the 2-D weights' type */
    save_item *items;
    int n;
    float *rope_factors; /* [head_dim / 2] when the model has per-frequency scaling */
} save_plan;

/* The policy: norms (1-D) are F32; the 2-D weights take the requested type,
 * except that with a 4-bit type the embeddings and the output head stay
 * Q8_0 (llama.cpp's convention: they are the weights most sensitive to
 * error); a row length that does not fill whole 256-blocks takes a K type's
 * 32-block fallback (llama.cpp's: Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0),
 * and one that does not fill whole 32-blocks falls back to F16. "keep"
 * leaves every weight in its source type. */
static si_dtype item_dtype(const save_plan *p, const si_tensor *src, bool embedding_or_head) {
    if (src->n_dims < 2) return SI_DTYPE_F32;
    if (p->keep) return src->dtype;
    si_dtype t = p->dtype;
    if (embedding_or_head && (t == SI_DTYPE_Q4_0 || t == SI_DTYPE_Q4_1 || t == SI_DTYPE_Q4_K)) t = SI_DTYPE_Q8_0;
    if (si_dtype_row_bytes(t, src->ne[0]) == 0) {
        if (t == SI_DTYPE_Q4_K) t = SI_DTYPE_Q5_0;
        else if (t == SI_DTYPE_Q5_K) t = SI_DTYPE_Q5_1;
        else if (t == SI_DTYPE_Q6_K) t = SI_DTYPE_Q8_0;
    }
    if (si_dtype_row_bytes(t, src->ne[0]) == 0) t = SI_DTYPE_F16;
    return t;
}

static void add_item(save_plan *p, const si_tensor *src, const char *name, bool embedding_or_head, int perm) {
    save_item *it = &p->items[p->n++];
    it->src = src;
    snprintf(it->name, sizeof it->name, "%s", name);
    it->dtype = item_dtype(p, src, embedding_or_head);
    it->n_dims = src->n_dims;
    memcpy(it->ne, src->ne, sizeof it->ne);
    it->permute_heads = perm;
}

/* Llama-3.1 style scaling as GGUF stores it: rope_freqs.weight holds, per
 * rotary pair, the factor the base frequency is divided by (besides the
 * linear scale). Recovered from the loaded frequencies. */
static int plan_rope_factors(save_plan *p) {
    const si_llama *l = p->m->llama;
    const si_hparams *h = &l->hp;
    int half = h->head_dim / 2;
    if (!(p->rope_factors = si_malloc((size_t)half * sizeof(float)))) return -1;
    for (int i = 0; i < half; i++)
        p->rope_factors[i] =
            (float)(pow((double)h->rope_theta, -2.0 * i / h->head_dim) / h->rope_linear_scale / l->inv_freq[i]);
    save_item *it = &p->items[p->n++];
    it->values = p->rope_factors;
    snprintf(it->name, sizeof it->name, "rope_freqs.weight");
    it->dtype = SI_DTYPE_F32;
    it->n_dims = 1;
    it->ne[0] = half;
    it->ne[1] = it->ne[2] = it->ne[3] = 1;
    return 0;
}

static int plan_items(save_plan *p) {
    const si_llama *l = p->m->llama;
    const si_hparams *h = &l->hp;
    if (!(p->items = si_calloc((size_t)(4 + 9 * h->n_layers), sizeof *p->items))) return -1;
    /* A Hugging Face folder rotates halves; GGUF files rotate adjacent pairs
     * on rows permuted to match, and a GGUF source has them permuted already. */
    bool half = h->rope_style == SI_ROPE_HALF;
    add_item(p, l->tok_embd, "token_embd.weight", true, 0);
    for (int i = 0; i < h->n_layers; i++) {
        const si_layer_weights *w = &l->layers[i];
        struct {
            const si_tensor *t;
            const char *what;
            int perm;
        } parts[9] = {{w->attn_norm, "attn_norm", 0},
                      {w->wq, "attn_q", half ? h->n_heads : 0},
                      {w->wk, "attn_k", half ? h->n_kv_heads : 0},
                      {w->wv, "attn_v", 0},
                      {w->wo, "attn_output", 0},
                      {w->ffn_norm, "ffn_norm", 0},
                      {w->w_gate, "ffn_gate", 0},
                      {w->w_up, "ffn_up", 0},
                      {w->w_down, "ffn_down", 0}};
        for (int k = 0; k < 9; k++) {
            char name[64];
            snprintf(name, sizeof name, "blk.%d.%s.weight", i, parts[k].what);
            add_item(p, parts[k].t, name, false, parts[k].perm);
        }
    }
    add_item(p, l->out_norm, "output_norm.weight", false, 0);
    /* A tied head has no tensor of its own: the loader reuses token_embd. */
    if (!h->tied_output) add_item(p, l->output, "output.weight", true, 0);
    return h->rope_has_freq_factors ? plan_rope_factors(p) : 0;
}

/* Row r of a GGUF Q/K tensor, within its head, holds pair element j of
 * rotary pair i (r = 2i + j); Hugging Face keeps that row at j * half + i. */
static int64_t hf_row_of(int64_t r, int heads, int64_t rows) {
    if (heads <= 0) return r;
    int64_t hd = rows / heads, half = hd / 2, in_head = r % hd;
    return r - in_head + (in_head % 2) * half + in_head / 2;
}

static int write_item(si_gguf_writer *w, const save_item *it, float *f32, void *out) {
    int64_t cols = it->ne[0], rows = it->ne[1] * it->ne[2] * it->ne[3];
    size_t out_bytes = si_dtype_row_bytes(it->dtype, cols);
    if (!it->src) {
        for (int64_t r = 0; r < rows; r++)
            if (si_quantize_row(it->dtype, it->values + r * cols, out, cols) || si_gguf_writer_write(w, out, out_bytes))
                return -1;
        return 0;
    }
    size_t src_bytes = si_dtype_row_bytes(it->src->dtype, cols);
    for (int64_t r = 0; r < rows; r++) {
        const char *row = (const char *)it->src->data + (size_t)hf_row_of(r, it->permute_heads, rows) * src_bytes;
        /* Same type: the bytes as they are (no second rounding of quantized weights). */
        if (it->dtype == it->src->dtype) {
            if (si_gguf_writer_write(w, row, src_bytes)) return -1;
            continue;
        }
        si_dequantize_row(it->src->dtype, row, f32, cols);
        if (si_quantize_row(it->dtype, f32, out, cols)) {
            si_error_prefix("tensor %s, row %lld", it->name, (long long)r);
            return -1;
        }
        if (si_gguf_writer_write(w, out, out_bytes)) return -1;
    }
    return 0;
}

/* general.file_type of a "keep" file: that of its attention weights' type. */
static uint32_t file_type_of(si_dtype t) {
    for (size_t i = 0; i < N_SAVE_TYPES; i++)
        if (SAVE_TYPES[i].dtype == t) return SAVE_TYPES[i].file_type;
    return 0;
}

static int write_file(const save_plan *p, si_gguf_writer *w, uint32_t file_type) {
    bool quantized = false;
    for (int i = 0; i < p->n; i++) quantized |= si_dtype_block_elems(p->items[i].dtype) > 1;
    if (si_save_gguf_metadata(w, p->m, file_type, quantized)) return -1;
    int64_t widest = 1;
    for (int i = 0; i < p->n; i++) {
        const save_item *it = &p->items[i];
        if (si_gguf_writer_add_tensor(w, it->name, it->dtype, it->n_dims, it->ne)) return -1;
        if (it->ne[0] > widest) widest = it->ne[0];
    }
    float *f32 = si_malloc((size_t)widest * sizeof *f32);
    void *out = si_malloc((size_t)widest * sizeof *f32); /* F32 is the widest row encoding */
    int rc = f32 && out ? si_gguf_writer_begin_data(w) : -1;
    for (int i = 0; rc == 0 && i < p->n; i++) rc = write_item(w, &p->items[i], f32, out);
    free(f32);
    free(out);
    return rc;
}

int si_model_save_gguf(const si_model *m, const char *path, const char *type) {
    si_clear_error();
    save_plan p = {.m = m};
    uint32_t file_type = 0;
    const save_type *st = NULL;
    for (size_t i = 0; type && i < N_SAVE_TYPES; i++)
        if (strcmp(type, SAVE_TYPES[i].name) == 0) st = &SAVE_TYPES[i];
    p.keep = type && strcmp(type, "keep") == 0;
    if (!st && !p.keep)
        return si_fail("unknown weight type '%s' (f32, f16, bf16, q8_0, q4_0, q4_1 or keep)", type ? type : "(null)");
    if (st) {
        p.dtype = st->dtype;
        file_type = st->file_type;
    }
    /* Written beside the target and renamed at the end: the source, which may
     * be the very file being replaced, stays mapped and intact until then. */
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.part", path) >= sizeof tmp) return si_fail("%s: path too long", path);
    int rc = plan_items(&p);
    if (rc == 0 && p.keep) file_type = file_type_of(p.items[2].dtype); /* blk.0.attn_q */
    si_gguf_writer *w = rc == 0 ? si_gguf_writer_create(tmp) : NULL;
    if (!w) rc = -1;
    if (rc == 0 && write_file(&p, w, file_type)) {
        si_gguf_writer_discard(w);
        rc = -1;
    } else if (rc == 0) {
        rc = si_gguf_writer_finish(w);
    }
    if (rc == 0 && rename(tmp, path) != 0) {
        rc = si_fail("%s: cannot rename the finished file to %s", tmp, path);
        remove(tmp);
    }
    free(p.items);
    free(p.rope_factors);
    if (rc) si_error_prefix("saving %s", path);
    return rc;
}
