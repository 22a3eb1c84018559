/* format/gguf_writer_kv.c: GGUF metadata for the writer: every value type
 * encoded little-endian into an in-memory buffer, within the reader's limits. */
#include "gguf_writer_internal.h"

#include <stdlib.h>
#include <string.h>

int si_wbuf_put(si_wbuf *b, const void *data, size_t n) {
    if (n > b->cap - b->n) {
        size_t cap = b->cap ? b->cap : 4096;
        while (n > cap - b->n) {
            if (cap > (size_t)-1 / 2) return si_fail("metadata too large");
            cap *= 2;
        }
        unsigned char *p = realloc(b->p, cap);
        if (!p) return si_fail("out of memory allocating %zu bytes of metadata", cap);
        b->p = p;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, data, n);
    b->n += n;
    return 0;
}

int si_wbuf_le(si_wbuf *b, uint64_t v, size_t size) {
    unsigned char bytes[8];
    for (size_t i = 0; i < size; i++) bytes[i] = (unsigned char)(v >> (8 * i));
    return si_wbuf_put(b, bytes, size);
}

int si_wbuf_str(si_wbuf *b, const char *s, size_t len) {
    return si_wbuf_le(b, len, 8) || si_wbuf_put(b, s, len) ? -1 : 0;
}

void si_wbuf_free(si_wbuf *b) {
    free(b->p);
    *b = (si_wbuf){0};
}

/* One host-layout value of the given size as an integer of its bits. */
static uint64_t host_bits(const unsigned char *p, size_t size) {
    uint8_t u8;
    uint16_t u16;
    uint32_t u32;
    uint64_t u64;
    switch (size) {
    case 1: memcpy(&u8, p, 1); return u8;
    case 2: memcpy(&u16, p, 2); return u16;
    case 4: memcpy(&u32, p, 4); return u32;
    default: memcpy(&u64, p, 8); return u64;
    }
}

int si_gguf_writer_check_name(const char *name, const char *what) {
    size_t n = strlen(name);
    if (n == 0 || n > SI_GGUF_MAX_NAME) return si_fail("%s of %zu bytes (1 to %d allowed)", what, n, SI_GGUF_MAX_NAME);
    return 0;
}

int si_gguf_writer_check_no_open_array(const si_gguf_writer *w) {
    if (w->arr_left)
        return si_fail("array '%s' still needs %llu elements", w->keys[w->n_kv - 1], (unsigned long long)w->arr_left);
    return 0;
}

int si_gguf_writer_fail_here(const si_gguf_writer *w) {
    si_error_prefix("%s", w->path);
    return -1;
}

/* Starts an entry: the key and its type id (the value follows). */
static int begin_entry(si_gguf_writer *w, const char *key, si_gguf_type type) {
    if (w->writing) return si_fail("metadata '%.256s' added after the data began", key);
    if (si_gguf_writer_check_no_open_array(w) || si_gguf_writer_check_name(key, "key")) return -1;
    if (strcmp(key, "general.alignment") == 0) return si_fail("general.alignment is set by the writer");
    if (w->n_kv >= SI_GGUF_MAX_KV - 1) return si_fail("more than %d metadata keys", SI_GGUF_MAX_KV - 1);
    if (w->n_kv == w->cap_kv) {
        int64_t cap = w->cap_kv ? 2 * w->cap_kv : 64;
        char **k = realloc(w->keys, (size_t)cap * sizeof *k);
        if (!k) return si_fail("out of memory");
        w->keys = k;
        w->cap_kv = cap;
    }
    size_t len = strlen(key);
    char *copy = si_malloc(len + 1);
    if (!copy) return -1;
    memcpy(copy, key, len + 1);
    if (si_wbuf_str(&w->meta, key, len) || si_wbuf_le(&w->meta, (uint64_t)type, 4)) {
        free(copy);
        return -1;
    }
    w->keys[w->n_kv++] = copy;
    return 0;
}

/* A scalar of a numeric or bool type given as its bits. */
static int set_scalar(si_gguf_writer *w, const char *key, si_gguf_type type, uint64_t bits) {
    if (begin_entry(w, key, type) || si_wbuf_le(&w->meta, bits, si_gguf_type_size(type))) {
        si_error_prefix("%s: metadata '%.256s'", w->path, key);
        return -1;
    }
    return 0;
}

/* Numeric setters: the value's own bytes, stored little-endian. */
#define SCALAR_SETTER(suffix, ctype, gtype)                                               \
    int si_gguf_writer_set_##suffix(si_gguf_writer *w, const char *key, ctype v) {        \
        return set_scalar(w, key, gtype, host_bits((const unsigned char *)&v, sizeof v)); \
    }

SCALAR_SETTER(u8, uint8_t, SI_GGUF_UINT8)
SCALAR_SETTER(i8, int8_t, SI_GGUF_INT8)
SCALAR_SETTER(u16, uint16_t, SI_GGUF_UINT16)
SCALAR_SETTER(i16, int16_t, SI_GGUF_INT16)
SCALAR_SETTER(u32, uint32_t, SI_GGUF_UINT32)
SCALAR_SETTER(i32, int32_t, SI_GGUF_INT32)
SCALAR_SETTER(u64, uint64_t, SI_GGUF_UINT64)
SCALAR_SETTER(i64, int64_t, SI_GGUF_INT64)
SCALAR_SETTER(f32, float, SI_GGUF_FLOAT32)
SCALAR_SETTER(f64, double, SI_GGUF_FLOAT64)

int si_gguf_writer_set_bool(si_gguf_writer *w, const char *key, bool v) {
    return set_scalar(w, key, SI_GGUF_BOOL, v ? 1 : 0);
}

int si_gguf_writer_set_str(si_gguf_writer *w, const char *key, const char *s, size_t len) {
    int rc = 0;
    if (len > SI_GGUF_MAX_STRING)
        rc = si_fail("string of %zu bytes exceeds the limit %u", len, SI_GGUF_MAX_STRING);
    if (rc == 0) rc = begin_entry(w, key, SI_GGUF_STRING);
    if (rc == 0) rc = si_wbuf_str(&w->meta, s, len);
    if (rc) si_error_prefix("%s: metadata '%.256s'", w->path, key);
    return rc;
}

int si_gguf_writer_begin_arr(si_gguf_writer *w, const char *key, si_gguf_type elem_type, uint64_t count) {
    int rc = 0;
    if (!si_gguf_type_size(elem_type) && elem_type != SI_GGUF_STRING)
        rc = si_fail("arrays of value type %d are not written", (int)elem_type);
    else if (count > SI_GGUF_MAX_ARRAY)
        rc = si_fail("array of %llu elements exceeds the limit %u", (unsigned long long)count, SI_GGUF_MAX_ARRAY);
    if (rc == 0) rc = begin_entry(w, key, SI_GGUF_ARRAY);
    if (rc == 0 && (si_wbuf_le(&w->meta, (uint64_t)elem_type, 4) || si_wbuf_le(&w->meta, count, 8))) rc = -1;
    if (rc) {
        si_error_prefix("%s: metadata '%.256s'", w->path, key);
        return -1;
    }
    w->arr_type = elem_type;
    w->arr_left = count;
    return 0;
}

/* Room in the open array for n more elements of the expected kind. */
static int check_arr_room(const si_gguf_writer *w, uint64_t n, bool strings) {
    if (w->arr_left == 0) return si_fail("no array is open, or it already has all its elements");
    if (strings != (w->arr_type == SI_GGUF_STRING))
        return si_fail("array '%s' holds %s elements", w->keys[w->n_kv - 1], strings ? "numeric" : "string");
    if (n > w->arr_left)
        return si_fail("array '%s': %llu elements appended where %llu remain", w->keys[w->n_kv - 1],
                       (unsigned long long)n, (unsigned long long)w->arr_left);
    return 0;
}

int si_gguf_writer_arr_values(si_gguf_writer *w, const void *values, uint64_t n) {
    if (n == 0) return 0;
    if (check_arr_room(w, n, false)) return si_gguf_writer_fail_here(w);
    size_t size = si_gguf_type_size(w->arr_type);
    const unsigned char *p = values;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t bits = host_bits(p + i * size, size);
        /* A bool is stored as exactly 0 or 1, which the reader insists on. */
        if (w->arr_type == SI_GGUF_BOOL) bits = bits != 0;
        if (si_wbuf_le(&w->meta, bits, size)) return si_gguf_writer_fail_here(w);
    }
    w->arr_left -= n;
    return 0;
}

int si_gguf_writer_arr_str(si_gguf_writer *w, const char *s, size_t len) {
    if (check_arr_room(w, 1, true)) return si_gguf_writer_fail_here(w);
    if (len > SI_GGUF_MAX_STRING) {
        si_fail("array '%s': string of %zu bytes exceeds the limit %u", w->keys[w->n_kv - 1], len, SI_GGUF_MAX_STRING);
        return si_gguf_writer_fail_here(w);
    }
    if (si_wbuf_str(&w->meta, s, len)) return si_gguf_writer_fail_here(w);
    w->arr_left--;
    return 0;
}

int si_gguf_writer_set_arr(si_gguf_writer *w, const char *key, si_gguf_type elem_type, const void *values,
                           uint64_t count) {
    if (elem_type == SI_GGUF_STRING) {
        si_fail("metadata '%.256s': string arrays are appended one string at a time", key);
        return si_gguf_writer_fail_here(w);
    }
    if (si_gguf_writer_begin_arr(w, key, elem_type, count)) return -1;
    return si_gguf_writer_arr_values(w, values, count);
}
