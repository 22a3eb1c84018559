/* format/gguf_writer.c: the GGUF writer's lifetime, tensor declarations, the
 * layout of the file (header, metadata, tensor table, aligned data) and the
 * streamed tensor data. Metadata encoding is in gguf_writer_kv.c. */
#include "gguf_writer_internal.h"

#include "name_index.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ALIGN_UP(x) (((x) + SI_GGUF_WRITER_ALIGNMENT - 1) & ~(uint64_t)(SI_GGUF_WRITER_ALIGNMENT - 1))

si_gguf_writer *si_gguf_writer_create(const char *path) {
    si_gguf_writer *w = si_calloc(1, sizeof *w);
    if (!w) return NULL;
    size_t len = strlen(path);
    if (!(w->path = si_malloc(len + 1))) {
        free(w);
        return NULL;
    }
    memcpy(w->path, path, len + 1);
    if (!(w->f = fopen(path, "wb"))) {
        si_set_error("%s: cannot create: %s", path, strerror(errno));
        free(w->path);
        free(w);
        return NULL;
    }
    /* Rows arrive in small pieces: a large buffer keeps the write calls few. */
    setvbuf(w->f, NULL, _IOFBF, 1 << 20);
    return w;
}

const char *si_gguf_writer_path(const si_gguf_writer *w) { return w->path; }

static uint32_t ggml_type_of(si_dtype t) {
    switch (t) {
    case SI_DTYPE_F16: return 1;
    case SI_DTYPE_Q4_0: return 2;
    case SI_DTYPE_Q4_1: return 3;
    case SI_DTYPE_Q5_0: return 6;
    case SI_DTYPE_Q5_1: return 7;
    case SI_DTYPE_Q8_0: return 8;
    case SI_DTYPE_Q4_K: return 12;
    case SI_DTYPE_Q5_K: return 13;
    case SI_DTYPE_Q6_K: return 14;
    case SI_DTYPE_BF16: return 30;
    default: return 0; /* F32 */
    }
}

static int tensor_bytes(const char *name, si_dtype dtype, int n_dims, const int64_t *ne, size_t *out) {
    if (si_gguf_writer_check_name(name, "tensor name")) return -1;
    if ((int)dtype < 0 || dtype >= SI_DTYPE_COUNT) return si_fail("unknown dtype %d", (int)dtype);
    if (n_dims < 1 || n_dims > SI_MAX_DIMS) return si_fail("%d dimensions (1 to %d supported)", n_dims, SI_MAX_DIMS);
    for (int d = 0; d < n_dims; d++)
        if (ne[d] < 1 || ne[d] > SI_GGUF_MAX_DIM) return si_fail("dimension %d is %lld (must be 1 to 2^40)", d, (long long)ne[d]);
    size_t bytes = si_dtype_row_bytes(dtype, ne[0]);
    if (bytes == 0)
        return si_fail("row length %lld is not a multiple of the %s block size %d", (long long)ne[0],
                       si_dtype_name(dtype), si_dtype_block_elems(dtype));
    for (int d = 1; d < n_dims; d++)
        if (si_mul_overflows(bytes, (size_t)ne[d], &bytes)) return -1;
    /* The padding after the tensor must not overflow either. */
    if (bytes > (size_t)INT64_MAX - SI_GGUF_WRITER_ALIGNMENT) return si_fail("tensor too large");
    *out = bytes;
    return 0;
}

static int add_tensor(si_gguf_writer *w, const char *name, si_dtype dtype, int n_dims, const int64_t *ne) {
    if (w->writing) return si_fail("declared after the data began");
    if (si_gguf_writer_check_no_open_array(w)) return -1;
    if (w->n_tensors >= SI_GGUF_MAX_TENSORS) return si_fail("more than %d tensors", SI_GGUF_MAX_TENSORS);
    size_t nbytes = 0;
    if (tensor_bytes(name, dtype, n_dims, ne, &nbytes)) return -1;
    uint64_t padded = ALIGN_UP((uint64_t)nbytes);
    if (padded > (uint64_t)INT64_MAX - w->data_size) return si_fail("file size overflows");
    if (w->n_tensors == w->cap_tensors) {
        int64_t cap = w->cap_tensors ? 2 * w->cap_tensors : 64;
        si_gguf_wtensor *t = realloc(w->tensors, (size_t)cap * sizeof *t);
        if (!t) return si_fail("out of memory");
        w->tensors = t;
        w->cap_tensors = cap;
    }
    si_gguf_wtensor *t = &w->tensors[w->n_tensors];
    size_t len = strlen(name);
    if (!(t->name = si_malloc(len + 1))) return -1;
    memcpy(t->name, name, len + 1);
    t->dtype = dtype;
    t->n_dims = n_dims;
    for (int d = 0; d < SI_MAX_DIMS; d++) t->ne[d] = d < n_dims ? ne[d] : 1;
    t->nbytes = nbytes;
    t->offset = w->data_size;
    w->payload += nbytes;
    w->data_size += padded;
    w->n_tensors++;
    return 0;
}

int si_gguf_writer_add_tensor(si_gguf_writer *w, const char *name, si_dtype dtype, int n_dims, const int64_t *ne) {
    if (add_tensor(w, name, dtype, n_dims, ne) == 0) return 0;
    si_error_prefix("%s: tensor '%.256s'", w->path, name);
    return -1;
}

/* Refuses a name given twice in a table (keys, or tensor names). */
static int check_unique(char *const *names, size_t stride, int64_t n, const char *what) {
    si_name_index ix;
    if (si_name_index_init(&ix, (size_t)n)) return -1;
    int rc = 0;
    int64_t first;
    for (int64_t i = 0; rc == 0 && i < n; i++) {
        const char *name = *(char *const *)((const char *)names + (size_t)i * stride);
        if (si_name_index_add(&ix, name, i, &first)) rc = si_fail("%s '%s' given twice", what, name);
    }
    si_name_index_free(&ix);
    return rc;
}

/* Header, metadata (with general.alignment last), tensor table and the padding before the data. */
static int build_head(const si_gguf_writer *w, si_wbuf *b) {
    if (si_wbuf_put(b, "GGUF", 4) || si_wbuf_le(b, 3, 4) || si_wbuf_le(b, (uint64_t)w->n_tensors, 8) ||
        si_wbuf_le(b, (uint64_t)w->n_kv + 1, 8) || si_wbuf_put(b, w->meta.p, w->meta.n) ||
        si_wbuf_str(b, "general.alignment", 17) || si_wbuf_le(b, SI_GGUF_UINT32, 4) ||
        si_wbuf_le(b, SI_GGUF_WRITER_ALIGNMENT, 4))
        return -1;
    for (int64_t i = 0; i < w->n_tensors; i++) {
        const si_gguf_wtensor *t = &w->tensors[i];
        if (si_wbuf_str(b, t->name, strlen(t->name)) || si_wbuf_le(b, (uint64_t)t->n_dims, 4)) return -1;
        for (int d = 0; d < t->n_dims; d++)
            if (si_wbuf_le(b, (uint64_t)t->ne[d], 8)) return -1;
        if (si_wbuf_le(b, ggml_type_of(t->dtype), 4) || si_wbuf_le(b, t->offset, 8)) return -1;
    }
    static const unsigned char zeros[SI_GGUF_WRITER_ALIGNMENT];
    return si_wbuf_put(b, zeros, (size_t)(ALIGN_UP((uint64_t)b->n) - b->n));
}

int si_gguf_writer_begin_data(si_gguf_writer *w) {
    if (w->writing) return si_fail("%s: data already begun", w->path);
    si_wbuf head = {0};
    int rc = si_gguf_writer_check_no_open_array(w);
    if (rc == 0) rc = check_unique(w->keys, sizeof *w->keys, w->n_kv, "metadata key");
    if (rc == 0 && w->n_tensors) rc = check_unique(&w->tensors[0].name, sizeof *w->tensors, w->n_tensors, "tensor");
    if (rc == 0) rc = build_head(w, &head);
    if (rc == 0 && fwrite(head.p, 1, head.n, w->f) != head.n) rc = si_fail("write error: %s", strerror(errno));
    si_wbuf_free(&head);
    if (rc) {
        w->failed = true;
        return si_gguf_writer_fail_here(w);
    }
    w->writing = true;
    return 0;
}

int si_gguf_writer_write(si_gguf_writer *w, const void *data, size_t nbytes) {
    static const unsigned char zeros[SI_GGUF_WRITER_ALIGNMENT];
    if (!w->writing || w->failed)
        return si_fail("%s: %s", w->path, w->failed ? "an earlier write failed" : "data written before begin_data");
    if (nbytes > w->payload - w->payload_written)
        return si_fail("%s: %llu bytes written past the declared tensors", w->path,
                       (unsigned long long)(nbytes - (w->payload - w->payload_written)));
    w->payload_written += nbytes;
    const unsigned char *p = data;
    while (nbytes > 0) {
        si_gguf_wtensor *t = &w->tensors[w->cur];
        size_t take = t->nbytes - w->cur_written;
        if (take > nbytes) take = nbytes;
        size_t pad = 0;
        if (w->cur_written + take == t->nbytes) pad = (size_t)(ALIGN_UP((uint64_t)t->nbytes) - t->nbytes);
        if (fwrite(p, 1, take, w->f) != take || (pad && fwrite(zeros, 1, pad, w->f) != pad)) {
            w->failed = true;
            return si_fail("%s: write error: %s", w->path, strerror(errno));
        }
        p += take;
        nbytes -= take;
        w->cur_written += take;
        if (w->cur_written == t->nbytes) {
            w->cur++;
            w->cur_written = 0;
        }
    }
    return 0;
}

static void free_writer(si_gguf_writer *w) {
    for (int64_t i = 0; i < w->n_kv; i++) free(w->keys[i]);
    free(w->keys);
    for (int64_t i = 0; i < w->n_tensors; i++) free(w->tensors[i].name);
    free(w->tensors);
    si_wbuf_free(&w->meta);
    free(w->path);
    free(w);
}

int si_gguf_writer_finish(si_gguf_writer *w) {
    int rc = 0;
    if (!w->writing)
        rc = si_fail("%s: finished before begin_data", w->path);
    else if (w->failed)
        rc = si_fail("%s: an earlier write failed", w->path);
    else if (w->cur < w->n_tensors)
        rc = si_fail("%s: tensor '%s' and %lld after it not written in full", w->path, w->tensors[w->cur].name,
                     (long long)(w->n_tensors - w->cur - 1));
    if (fclose(w->f) != 0 && rc == 0) rc = si_fail("%s: write error: %s", w->path, strerror(errno));
    /* A partial file would look like a model with garbage weights. */
    if (rc) unlink(w->path);
    free_writer(w);
    return rc;
}

void si_gguf_writer_discard(si_gguf_writer *w) {
    if (!w) return;
    fclose(w->f);
    unlink(w->path);
    free_writer(w);
}
