/* format/safetensors_writer.c: writes one .safetensors file. Tensors are
 * declared first (so the JSON header with every offset can be written up
 * front), then their bytes are streamed through in declaration order: a
 * multi-GB model never has to be in memory at once. */
#include "safetensors.h"

#include "name_index.h"

#include "../util/error.h"

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    char *name;
    si_dtype dtype;
    int n_dims;
    int64_t shape[SI_MAX_DIMS]; /* PyTorch order: outermost first */
    size_t nbytes;
} st_entry;

struct si_safetensors_writer {
    char *path;
    FILE *f;
    st_entry *entries;
    size_t n, cap;
    uint64_t total, written;
    bool writing;
};

si_safetensors_writer *si_safetensors_writer_create(const char *path) {
    si_safetensors_writer *w = si_calloc(1, sizeof *w);
    if (!w) return NULL;
    size_t len = strlen(path);
    w->path = si_malloc(len + 1);
    if (w->path) memcpy(w->path, path, len + 1);
    if (w->path && !(w->f = fopen(path, "wb"))) si_set_error("%s: cannot create: %s", path, strerror(errno));
    if (!w->f) {
        free(w->path);
        free(w);
        return NULL;
    }
    return w;
}

static int entry_bytes(si_dtype dtype, int n_dims, const int64_t *shape, size_t *out) {
    if (dtype != SI_DTYPE_F32 && dtype != SI_DTYPE_F16 && dtype != SI_DTYPE_BF16)
        return si_fail("dtype %s cannot be written (only F32, F16 and BF16)", si_dtype_name(dtype));
    if (n_dims < 0 || n_dims > SI_MAX_DIMS) return si_fail("%d dimensions (0 to %d supported)", n_dims, SI_MAX_DIMS);
    size_t bytes = si_dtype_block_bytes(dtype);
    for (int d = 0; d < n_dims; d++) {
        if (shape[d] < 1 || shape[d] > SI_SAFETENSORS_MAX_DIM) return si_fail("shape[%d] is not from 1 to 2^40", d);
        if (si_mul_overflows(bytes, (size_t)shape[d], &bytes)) return -1;
    }
    *out = bytes;
    return 0;
}

static int add_entry(si_safetensors_writer *w, const char *name, si_dtype dtype, int n_dims, const int64_t *shape) {
    if (w->writing) return si_fail("declared after the data began");
    if (!*name || strcmp(name, "__metadata__") == 0) return si_fail("reserved or empty tensor name");
    if (w->n >= SI_SAFETENSORS_MAX_TENSORS) return si_fail("more than %d tensors", SI_SAFETENSORS_MAX_TENSORS);
    size_t nbytes = 0;
    if (entry_bytes(dtype, n_dims, shape, &nbytes)) return -1;
    if (nbytes > (uint64_t)INT64_MAX - w->total) return si_fail("file size overflows");
    if (w->n == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 64;
        st_entry *e = realloc(w->entries, cap * sizeof *e);
        if (!e) return si_fail("out of memory");
        w->entries = e;
        w->cap = cap;
    }
    st_entry *e = &w->entries[w->n];
    size_t len = strlen(name);
    if (!(e->name = si_malloc(len + 1))) return -1;
    memcpy(e->name, name, len + 1);
    e->dtype = dtype;
    e->n_dims = n_dims;
    memcpy(e->shape, shape, (size_t)n_dims * sizeof *shape);
    e->nbytes = nbytes;
    w->total += nbytes;
    w->n++;
    return 0;
}

int si_safetensors_writer_add(si_safetensors_writer *w, const char *name, si_dtype dtype, int n_dims,
                              const int64_t *shape) {
    if (add_entry(w, name, dtype, n_dims, shape) == 0) return 0;
    si_error_prefix("%s: tensor '%.200s'", w->path, name);
    return -1;
}

static json_t *entry_json(const st_entry *e, uint64_t begin) {
    json_t *shape = json_array();
    for (int d = 0; shape && d < e->n_dims; d++) json_array_append_new(shape, json_integer(e->shape[d]));
    return json_pack("{s:s, s:o, s:[I, I]}", "dtype", si_dtype_name(e->dtype), "shape", shape, "data_offsets",
                     (json_int_t)begin, (json_int_t)(begin + e->nbytes));
}

/* The JSON header, padded with spaces to a multiple of 8 bytes so that the data starts aligned. */
static char *header_text(const si_safetensors_writer *w, size_t *len) {
    json_t *root = json_pack("{s:{s:s}}", "__metadata__", "format", "pt");
    uint64_t offset = 0;
    for (size_t i = 0; root && i < w->n; i++) {
        if (json_object_set_new(root, w->entries[i].name, entry_json(&w->entries[i], offset))) {
            json_decref(root);
            root = NULL;
        }
        offset += w->entries[i].nbytes;
    }
    char *text = root ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    if (!text) {
        si_set_error("cannot build the JSON header (a name that is not UTF-8?)");
        return NULL;
    }
    size_t n = strlen(text), padded = (n + 7) & ~(size_t)7;
    char *out = realloc(text, padded + 1);
    if (!out) {
        free(text);
        si_set_error("out of memory");
        return NULL;
    }
    memset(out + n, ' ', padded - n);
    out[padded] = '\0';
    *len = padded;
    return out;
}

static int check_unique_names(const si_safetensors_writer *w) {
    si_name_index ix;
    if (si_name_index_init(&ix, w->n)) return -1;
    int rc = 0;
    int64_t first;
    for (size_t i = 0; rc == 0 && i < w->n; i++)
        if (si_name_index_add(&ix, w->entries[i].name, (int64_t)i, &first))
            rc = si_fail("tensor '%.200s' declared twice", w->entries[i].name);
    si_name_index_free(&ix);
    return rc;
}

int si_safetensors_writer_begin_data(si_safetensors_writer *w) {
    if (w->writing) return si_fail("%s: data already begun", w->path);
    size_t len = 0;
    char *text = NULL;
    int rc = check_unique_names(w);
    if (rc == 0 && !(text = header_text(w, &len))) rc = -1;
    if (rc == 0 && len > SI_SAFETENSORS_MAX_HEADER)
        rc = si_fail("header of %zu bytes exceeds the limit %u", len, SI_SAFETENSORS_MAX_HEADER);
    unsigned char prefix[8];
    for (int i = 0; i < 8; i++) prefix[i] = (unsigned char)((uint64_t)len >> (8 * i));
    if (rc == 0 && (fwrite(prefix, 1, 8, w->f) != 8 || fwrite(text, 1, len, w->f) != len))
        rc = si_fail("write error: %s", strerror(errno));
    free(text);
    if (rc) {
        si_error_prefix("%s", w->path);
        return -1;
    }
    w->writing = true;
    return 0;
}

int si_safetensors_writer_write(si_safetensors_writer *w, const void *data, size_t nbytes) {
    if (!w->writing) return si_fail("%s: data written before begin_data", w->path);
    if (nbytes > w->total - w->written)
        return si_fail("%s: %llu bytes written past the %llu declared", w->path,
                       (unsigned long long)(w->written + nbytes - w->total), (unsigned long long)w->total);
    if (fwrite(data, 1, nbytes, w->f) != nbytes) return si_fail("%s: write error: %s", w->path, strerror(errno));
    w->written += nbytes;
    return 0;
}

int si_safetensors_writer_finish(si_safetensors_writer *w) {
    int rc = 0;
    if (!w->writing)
        rc = si_fail("%s: finished before begin_data", w->path);
    else if (w->written != w->total)
        rc = si_fail("%s: %llu of %llu declared data bytes written", w->path, (unsigned long long)w->written,
                     (unsigned long long)w->total);
    if (fclose(w->f) != 0 && rc == 0) rc = si_fail("%s: write error: %s", w->path, strerror(errno));
    /* A partial file would look like a model with garbage weights. */
    if (rc) unlink(w->path);
    for (size_t i = 0; i < w->n; i++) free(w->entries[i].name);
    free(w->entries);
    free(w->path);
    free(w);
    return rc;
}
