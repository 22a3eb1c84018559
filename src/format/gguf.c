/* format/gguf.c: opening a GGUF file: the header, then the metadata
 * (gguf_kv.c) and the tensor table (gguf_tensors.c); lifetime and lookups. */
#include "gguf_internal.h"

#include <stdlib.h>
#include <string.h>

/* The smallest encodings of one metadata entry (key length, a 1-byte key,
 * type, a 1-byte value) and one tensor entry (name length, 1-byte name, n_dims,
 * one dimension, type, offset): a header whose counts need more bytes than
 * the file has is refused before anything is allocated for them. */
#define MIN_KV_BYTES (8 + 1 + 4 + 1)
#define MIN_TENSOR_BYTES (8 + 1 + 4 + 8 + 4 + 8)

int si_gguf_read_string(si_cursor *c, uint64_t max_len, const unsigned char **s, uint64_t *len) {
    uint64_t n;
    if (si_cursor_u64(c, &n)) return -1;
    if (n > max_len)
        return si_fail("string length %llu at byte %zu exceeds the limit %llu", (unsigned long long)n,
                       c->pos - 8, (unsigned long long)max_len);
    *s = c->data + c->pos;
    *len = n;
    return si_cursor_skip(c, n);
}

char *si_gguf_read_name(si_cursor *c) {
    const unsigned char *s = NULL;
    uint64_t n = 0;
    if (si_gguf_read_string(c, SI_GGUF_MAX_NAME, &s, &n)) return NULL;
    /* An empty name or one with a NUL inside could not be looked up, or two
     * different names could collide once NUL-terminated. */
    if (n == 0 || memchr(s, 0, (size_t)n)) {
        si_set_error("empty name or name with a NUL byte at byte %zu", c->pos - (size_t)n);
        return NULL;
    }
    char *copy = si_malloc((size_t)n + 1);
    if (!copy) return NULL;
    memcpy(copy, s, (size_t)n);
    copy[n] = '\0';
    return copy;
}

int si_gguf_index_entry(si_name_index *ix, const char *kind, const char *name, int64_t i, int parse_rc) {
    if (parse_rc) {
        if (name)
            si_error_prefix("%s '%s'", kind, name);
        else
            si_error_prefix("%s #%lld", kind, (long long)i);
        return -1;
    }
    int64_t first;
    if (si_name_index_add(ix, name, i, &first))
        return si_fail("duplicate %s '%s' (entries %lld and %lld)", kind, name, (long long)first, (long long)i);
    return 0;
}

static int check_version(uint32_t version) {
    if (version == 2 || version == 3) return 0;
    if (version == 1) return si_fail("unsupported GGUF version 1 (only versions 2 and 3 are read)");
    /* A big-endian file shows its small version number byte-swapped. */
    if (version == 0x02000000u || version == 0x03000000u)
        return si_fail("big-endian GGUF files are not supported");
    return si_fail("unsupported GGUF version %u (only versions 2 and 3 are read)", version);
}

static int parse_header(si_gguf *g, si_cursor *c) {
    if (c->size < 4 || memcmp(c->data, "GGUF", 4) != 0) return si_fail("not a GGUF file (bad magic)");
    c->pos = 4;
    uint64_t n_tensors, n_kv;
    if (si_cursor_u32(c, &g->version) || check_version(g->version) || si_cursor_u64(c, &n_tensors) ||
        si_cursor_u64(c, &n_kv)) {
        si_error_prefix("header");
        return -1;
    }
    if (n_kv > SI_GGUF_MAX_KV)
        return si_fail("header claims %llu metadata entries (limit %d)", (unsigned long long)n_kv, SI_GGUF_MAX_KV);
    if (n_tensors > SI_GGUF_MAX_TENSORS)
        return si_fail("header claims %llu tensors (limit %d)", (unsigned long long)n_tensors,
                       SI_GGUF_MAX_TENSORS);
    if (n_kv * MIN_KV_BYTES + n_tensors * MIN_TENSOR_BYTES > si_cursor_left(c))
        return si_fail("header claims %llu metadata entries and %llu tensors, more than the %zu bytes left can hold",
                       (unsigned long long)n_kv, (unsigned long long)n_tensors, si_cursor_left(c));
    g->n_kv = (int64_t)n_kv;
    g->n_tensors = (int64_t)n_tensors;
    return 0;
}

static int parse(si_gguf *g) {
    si_cursor c = {g->map.data, g->map.size, 0};
    if (parse_header(g, &c) || si_gguf_parse_kv(g, &c) || si_gguf_read_alignment(g)) return -1;
    uint64_t *offsets = si_calloc((size_t)g->n_tensors, sizeof *offsets);
    if (!offsets) return -1;
    int rc = si_gguf_parse_tensor_table(g, &c, offsets);
    if (rc == 0) {
        /* alignment <= 2^32 and pos <= file size: no overflow on a 64-bit size_t */
        g->data_start = (c.pos + g->alignment - 1) & ~(g->alignment - 1);
        if (g->n_tensors > 0 && g->data_start > g->map.size)
            rc = si_fail("tensor data section starts at byte %zu, past the end of the file (%zu bytes)",
                         g->data_start, g->map.size);
    }
    if (rc == 0) rc = si_gguf_place_tensors(g, offsets);
    free(offsets);
    return rc;
}

/* A handle named after path (or the name of a buffer), not yet holding data. */
static si_gguf *alloc_handle(const char *path) {
    si_gguf *g = si_calloc(1, sizeof *g);
    if (!g) return NULL;
    g->path = si_malloc(strlen(path) + 1);
    if (!g->path) {
        free(g);
        return NULL;
    }
    strcpy(g->path, path);
    return g;
}

/* Parses g->map; on failure the error names the file and g is freed. */
static si_gguf *parse_or_close(si_gguf *g) {
    if (parse(g) != 0) {
        si_error_prefix("%s", g->path);
        si_gguf_close(g);
        return NULL;
    }
    return g;
}

si_gguf *si_gguf_open(const char *path) {
    si_gguf *g = alloc_handle(path);
    if (!g) return NULL;
    if (si_map_file(path, &g->map) != 0) {
        si_gguf_close(g);
        return NULL;
    }
    return parse_or_close(g);
}

si_gguf *si_gguf_open_memory(const void *data, size_t size, const char *name) {
    si_gguf *g = alloc_handle(name);
    if (!g) return NULL;
    g->map.data = data;
    g->map.size = data ? size : 0;
    g->borrowed = true;
    return parse_or_close(g);
}

void si_gguf_close(si_gguf *g) {
    if (!g) return;
    si_gguf_free_tensors(g);
    si_gguf_free_kv(g);
    if (!g->borrowed) si_unmap_file(&g->map);
    free(g->path);
    free(g);
}

const char *si_gguf_path(const si_gguf *g) { return g->path; }
uint32_t si_gguf_version(const si_gguf *g) { return g->version; }
int64_t si_gguf_n_tensors(const si_gguf *g) { return g->n_tensors; }

const si_tensor *si_gguf_tensor(const si_gguf *g, int64_t i) {
    return i >= 0 && i < g->n_tensors ? &g->tensors[i] : NULL;
}

const si_tensor *si_gguf_find_tensor(const si_gguf *g, const char *name) {
    return si_gguf_tensor(g, si_name_index_find(&g->tensor_index, name));
}
