/* format/safetensors_header.c: one shard: the 8-byte header length, the JSON
 * header (jansson) and each tensor's dtype, shape and byte range checked
 * against the shard before the tensor is recorded. */
#include "safetensors_internal.h"

#include "byte_cursor.h"

#include "../util/error.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static int dtype_of(const json_t *dtype, si_dtype *out) {
    if (!json_is_string(dtype)) return si_fail("dtype is missing or not a string");
    const si_dtype readable[] = {SI_DTYPE_F32, SI_DTYPE_F16, SI_DTYPE_BF16};
    for (size_t i = 0; i < sizeof readable / sizeof readable[0]; i++) {
        if (strcmp(json_string_value(dtype), si_dtype_name(readable[i])) == 0) {
            *out = readable[i];
            return 0;
        }
    }
    return si_fail("unsupported dtype %.32s (only F32, F16 and BF16 are read)", json_string_value(dtype));
}

/* PyTorch lists the outermost dimension first; ne[0] is the innermost. */
static int read_shape(const json_t *shape, si_tensor *t) {
    if (!json_is_array(shape)) return si_fail("shape is missing or not an array");
    size_t n = json_array_size(shape);
    if (n > SI_MAX_DIMS) return si_fail("%zu dimensions (at most %d supported)", n, SI_MAX_DIMS);
    t->n_dims = (int)n;
    for (int d = 0; d < SI_MAX_DIMS; d++) t->ne[d] = 1;
    int64_t total = 1;
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_array_get(shape, i);
        json_int_t len = json_is_integer(v) ? json_integer_value(v) : -1;
        /* Empty tensors are legal safetensors, but every consumer here assumes ne >= 1. */
        if (len < 1 || len > SI_SAFETENSORS_MAX_DIM)
            return si_fail("shape[%zu] is not an integer from 1 to 2^40", i);
        if (len > INT64_MAX / total) return si_fail("element count overflows");
        total *= len;
        t->ne[n - 1 - i] = len;
    }
    return 0;
}

static int place_data(const json_t *offsets, const unsigned char *data, size_t data_size, si_tensor *t) {
    const json_t *b = json_array_get(offsets, 0), *e = json_array_get(offsets, 1);
    if (!json_is_array(offsets) || json_array_size(offsets) != 2 || !json_is_integer(b) || !json_is_integer(e))
        return si_fail("data_offsets is not an array of two integers");
    json_int_t begin = json_integer_value(b), end = json_integer_value(e);
    if (begin < 0 || begin > end) return si_fail("data_offsets [%lld, %lld] are not in order", begin, end);
    if ((unsigned long long)end > data_size)
        return si_fail("data_offsets [%lld, %lld] run past the data section (%zu bytes)", begin, end, data_size);
    size_t want;
    if (si_mul_overflows((size_t)si_tensor_nelems(t), si_dtype_block_bytes(t->dtype), &want)) return -1;
    if ((size_t)(end - begin) != want)
        return si_fail("data_offsets [%lld, %lld] hold %lld bytes, but the dtype and shape need %zu", begin, end,
                       end - begin, want);
    t->data = data + begin;
    t->nbytes = want;
    return 0;
}

static int read_entry(const json_t *entry, const unsigned char *data, size_t data_size, si_tensor *t) {
    if (!json_is_object(entry)) return si_fail("entry is not an object");
    if (dtype_of(json_object_get(entry, "dtype"), &t->dtype) || read_shape(json_object_get(entry, "shape"), t))
        return -1;
    return place_data(json_object_get(entry, "data_offsets"), data, data_size, t);
}

static int grow_tables(si_safetensors *s, size_t more) {
    if (more > (size_t)(SI_SAFETENSORS_MAX_TENSORS - s->n_tensors))
        return si_fail("more than %d tensors", SI_SAFETENSORS_MAX_TENSORS);
    size_t n = (size_t)s->n_tensors + more;
    si_tensor *t = realloc(s->tensors, (n ? n : 1) * sizeof *t);
    if (t) s->tensors = t;
    int *k = realloc(s->tensor_shard, (n ? n : 1) * sizeof *k);
    if (k) s->tensor_shard = k;
    if (!t || !k) return si_fail("out of memory for %zu tensors", n);
    return 0;
}

static int read_tensors(si_safetensors *s, int shard, const json_t *root, const unsigned char *data, size_t data_size) {
    if (!json_is_object(root)) return si_fail("header is not a JSON object");
    if (grow_tables(s, json_object_size(root))) return -1;
    const char *name;
    const json_t *entry;
    json_object_foreach((json_t *)root, name, entry) {
        if (strcmp(name, "__metadata__") == 0) continue;
        si_tensor *t = &s->tensors[s->n_tensors];
        memset(t, 0, sizeof *t);
        size_t len = strlen(name);
        char *copy = si_malloc(len + 1);
        if (!copy) return -1;
        memcpy(copy, name, len + 1);
        t->name = copy;
        s->tensor_shard[s->n_tensors++] = shard; /* counted now so that close frees the name */
        if (read_entry(entry, data, data_size, t)) {
            si_error_prefix("tensor '%s'", name);
            return -1;
        }
    }
    return 0;
}

static int parse_header(si_safetensors *s, int shard) {
    const si_mapped_file *m = &s->shards[shard].map;
    if (m->size < 8) return si_fail("too small for a safetensors header (%zu bytes)", m->size);
    uint64_t n = si_load_le64(m->data);
    if (n > SI_SAFETENSORS_MAX_HEADER)
        return si_fail("header length %llu exceeds the limit %u", (unsigned long long)n, SI_SAFETENSORS_MAX_HEADER);
    if (n > m->size - 8)
        return si_fail("header length %llu runs past the end of the file (%zu bytes)", (unsigned long long)n, m->size);
    json_error_t err;
    json_t *root = json_loadb((const char *)m->data + 8, (size_t)n, JSON_REJECT_DUPLICATES, &err);
    if (!root) return si_fail("invalid JSON header: %s (at byte %d of the header)", err.text, err.position);
    int rc = read_tensors(s, shard, root, m->data + 8 + n, m->size - 8 - (size_t)n);
    json_decref(root);
    return rc;
}

int si_st_load_shard(si_safetensors *s, int shard) {
    si_st_shard *sh = &s->shards[shard];
    if (!sh->borrowed && si_map_file(sh->path, &sh->map)) return -1;
    if (parse_header(s, shard)) {
        si_error_prefix("%s", sh->path);
        return -1;
    }
    return 0;
}
