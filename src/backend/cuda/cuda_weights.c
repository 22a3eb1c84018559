/* backend/cuda/cuda_weights.c: the model's weights on the device, uploaded
 * once by prepare_model and found again by the si_tensor they came from.
 * F32/F16/BF16 matrices are copied as they are; quantized matrices (every
 * GGUF type we read) are rewritten in the planar layout of gpu_layout.h, at
 * about their file size; norm vectors become f32.
 * A model with quantized matrices also gets the f16 buffer its prefill
 * products expand them into (cuda_ops.c).
 * Uploads go through two page-locked staging buffers, so that copying the
 * mapped file into one overlaps the transfer of the other. */
#include "cuda_backend.h"

#include "../../util/error.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STAGE_BYTES ((size_t)32 << 20)

typedef struct {
    void *buf[2];
    cudaEvent_t done[2];
    int next;
} stager;

static size_t slot_of(const si_cu_backend *cb, const si_tensor *t) {
    uintptr_t h = (uintptr_t)t;
    h ^= h >> 17;
    h *= (uintptr_t)0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 7) & (cb->weights_cap - 1);
}

const si_cu_weight *si_cu_find(si_cu_backend *cb, const si_tensor *t) {
    if (cb->weights_cap) {
        for (size_t i = slot_of(cb, t);; i = (i + 1) & (cb->weights_cap - 1)) {
            if (cb->weights[i].t == t) return &cb->weights[i];
            if (!cb->weights[i].t) break;
        }
    }
    if (!cb->failed) {
        snprintf(cb->error, sizeof cb->error, "cuda: tensor %s was not prepared for the device", t->name ? t->name : "?");
        cb->failed = true;
    }
    return NULL;
}

void si_cu_free_weights(si_cu_backend *cb) {
    for (size_t i = 0; i < cb->weights_cap; i++)
        if (cb->weights[i].dev) cudaFree(cb->weights[i].dev);
    free(cb->weights);
    cb->weights = NULL;
    cb->n_weights = cb->weights_cap = 0;
    if (cb->deq) cudaFree(cb->deq);
    cb->deq = NULL;
    cb->deq_bytes = 0;
}

/* The f16 slice buffer for quantized matrices: as large as the largest one,
 * at most SI_CU_DEQ_BYTES (larger ones are expanded a slice at a time;
 * SI_CUDA_DEQ_BYTES lowers the bound so that tests can slice small ones). */
static int alloc_deq(si_cu_backend *cb) {
    size_t cap = SI_CU_DEQ_BYTES, want = 0;
    const char *env = getenv("SI_CUDA_DEQ_BYTES");
    long long asked = env ? atoll(env) : 0;
    if (asked > 0 && (size_t)asked < cap) cap = (size_t)asked;
    for (size_t i = 0; i < cb->weights_cap; i++) {
        const si_cu_matrix *m = &cb->weights[i].mat;
        if (!cb->weights[i].t || si_dtype_block_elems(m->dtype) == 1) continue;
        size_t bytes = (size_t)m->rows * (size_t)m->cols * 2;
        if (bytes > want) want = bytes;
    }
    if (want > cap) want = cap;
    if (!want) return 0;
    if (!(cb->deq = cb->base.alloc(&cb->base, want))) return -1;
    cb->deq_bytes = want;
    return 0;
}

static int stage_copy(si_cu_backend *cb, stager *s, void *dst, const void *src, size_t bytes) {
    for (size_t off = 0; off < bytes; off += STAGE_BYTES) {
        size_t n = bytes - off < STAGE_BYTES ? bytes - off : STAGE_BYTES;
        int k = s->next;
        s->next ^= 1;
        if (si_cu_check(cb, cudaEventSynchronize(s->done[k]), "uploading weights")) return si_cu_report(cb);
        memcpy(s->buf[k], (const char *)src + off, n);
        if (si_cu_check(cb, cudaMemcpyAsync((char *)dst + off, s->buf[k], n, cudaMemcpyHostToDevice, cb->stream), "uploading weights") ||
            si_cu_check(cb, cudaEventRecord(s->done[k], cb->stream), "uploading weights"))
            return si_cu_report(cb);
    }
    return 0;
}

/* Host bytes of a tensor as the device keeps it (a fresh buffer in *owned
 * when they differ from the file's), and its device descriptor. */
static const void *device_image(const si_tensor *t, bool vector, si_cu_matrix *mat, void **owned, size_t *bytes) {
    int64_t cols = t->ne[0], rows = t->n_dims >= 2 ? t->ne[1] : 1;
    *owned = NULL;
    *mat = (si_cu_matrix){.dtype = t->dtype, .rows = rows, .cols = cols};
    if (vector) {
        float *f = si_malloc((size_t)cols * sizeof(float));
        if (!f) return NULL;
        si_dequantize_row(t->dtype, t->data, f, cols);
        mat->dtype = SI_DTYPE_F32;
        *owned = f;
        *bytes = (size_t)cols * sizeof(float);
        return f;
    }
    if (t->dtype == SI_DTYPE_F32 || t->dtype == SI_DTYPE_F16 || t->dtype == SI_DTYPE_BF16) {
        int vec = t->dtype == SI_DTYPE_F32 ? 4 : 8;
        if (cols % vec) {
            si_set_error("%s: rows of %lld elements: the CUDA kernels need a multiple of %d", t->name, (long long)cols, vec);
            return NULL;
        }
        *bytes = (size_t)rows * (size_t)cols * si_dtype_block_bytes(t->dtype);
        return t->data;
    }
    si_gpu_planar pl;
    if (si_gpu_planar_layout(t->dtype, rows, cols, &pl)) {
        si_error_prefix("%s: the CUDA backend cannot hold it", t->name);
        return NULL;
    }
    void *buf = si_malloc(pl.bytes);
    if (!buf) return NULL;
    si_gpu_planar_pack(t->dtype, t->data, rows, cols, &pl, buf);
    *owned = buf;
    *bytes = pl.bytes;
    /* the part offsets, relative for now: made absolute once uploaded */
    mat->qs = (const void *)(uintptr_t)pl.qs;
    mat->qh = (const void *)(uintptr_t)pl.qh;
    mat->sc = (const void *)(uintptr_t)pl.sc;
    mat->d = (const void *)(uintptr_t)pl.d;
    mat->m = (const void *)(uintptr_t)pl.m;
    return buf;
}

static int add_weight(si_cu_backend *cb, stager *s, const si_tensor *t, bool vector) {
    size_t i = slot_of(cb, t);
    for (; cb->weights[i].t; i = (i + 1) & (cb->weights_cap - 1))
        if (cb->weights[i].t == t) return 0; /* shared, e.g. a tied output head */
    si_cu_weight *w = &cb->weights[i];
    void *owned;
    size_t bytes = 0;
    const void *img = device_image(t, vector, &w->mat, &owned, &bytes);
    if (!img) return -1;
    void *dev = cb->base.alloc(&cb->base, bytes);
    int rc = dev ? stage_copy(cb, s, dev, img, bytes) : -1;
    free(owned);
    if (rc) {
        if (dev) cudaFree(dev);
        si_error_prefix("%s (%zu bytes)", t->name ? t->name : "weight", bytes);
        return -1;
    }
    w->t = t;
    w->dev = dev;
    w->mat.data = dev;
    if (si_dtype_block_elems(w->mat.dtype) > 1 && !vector) {
        w->mat.qs = (const char *)dev + (uintptr_t)w->mat.qs;
        w->mat.qh = (const char *)dev + (uintptr_t)w->mat.qh;
        w->mat.sc = (const char *)dev + (uintptr_t)w->mat.sc;
        w->mat.d = (const char *)dev + (uintptr_t)w->mat.d;
        w->mat.m = (const char *)dev + (uintptr_t)w->mat.m;
    }
    cb->n_weights++;
    return 0;
}

static int upload_all(si_cu_backend *cb, stager *s, const si_llama *m) {
    const si_hparams *hp = &m->hp;
    if (add_weight(cb, s, m->tok_embd, false) || add_weight(cb, s, m->out_norm, true) ||
        add_weight(cb, s, m->output, false))
        return -1;
    for (int l = 0; l < hp->n_layers; l++) {
        const si_layer_weights *w = &m->layers[l];
        const si_tensor *mats[7] = {w->wq, w->wk, w->wv, w->wo, w->w_gate, w->w_up, w->w_down};
        if (add_weight(cb, s, w->attn_norm, true) || add_weight(cb, s, w->ffn_norm, true)) return -1;
        for (int j = 0; j < 7; j++)
            if (add_weight(cb, s, mats[j], false)) return -1;
    }
    return 0;
}

int si_cu_prepare_model(si_backend *be, const si_llama *m) {
    si_cu_backend *cb = si_cu(be);
    const si_hparams *hp = &m->hp;
    if (hp->head_dim != 64 && hp->head_dim != 128)
        return si_fail("%s: head dimension %d: the CUDA backend supports 64 and 128", m->path, hp->head_dim);
    si_cu_free_weights(cb);
    size_t want = 2 * (3 + 9 * (size_t)hp->n_layers), cap = 16;
    while (cap < want) cap *= 2;
    cb->weights = si_calloc(cap, sizeof *cb->weights);
    if (!cb->weights) return -1;
    cb->weights_cap = cap;
    cb->hp = hp;

    stager s = {.next = 0};
    int rc = 0;
    for (int k = 0; k < 2 && rc == 0; k++) {
        if (!(s.buf[k] = be->host_alloc(be, STAGE_BYTES)))
            rc = -1;
        else if (si_cu_check(cb, cudaEventCreateWithFlags(&s.done[k], cudaEventDisableTiming), "prepare"))
            rc = si_cu_report(cb);
    }
    if (rc == 0) rc = upload_all(cb, &s, m);
    if (rc == 0) rc = alloc_deq(cb);
    if (rc == 0 && si_cu_check(cb, cudaStreamSynchronize(cb->stream), "uploading weights")) rc = si_cu_report(cb);
    for (int k = 0; k < 2; k++) {
        if (s.done[k]) cudaEventDestroy(s.done[k]);
        if (s.buf[k]) cudaFreeHost(s.buf[k]);
    }
    if (rc) {
        si_cu_free_weights(cb);
        si_error_prefix("%s: preparing the weights for the GPU", m->path);
    }
    return rc;
}
