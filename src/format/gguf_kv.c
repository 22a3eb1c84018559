/* format/gguf_kv.c: GGUF metadata: parsing the key/value section (every
 * length bounded by the limits and by the bytes left) and the typed getters. */
#include "gguf_internal.h"

#include <stdlib.h>
#include <string.h>

static size_t scalar_size(uint32_t type) {
    switch (type) {
    case SI_GGUF_UINT8:
    case SI_GGUF_INT8:
    case SI_GGUF_BOOL: return 1;
    case SI_GGUF_UINT16:
    case SI_GGUF_INT16: return 2;
    case SI_GGUF_UINT32:
    case SI_GGUF_INT32:
    case SI_GGUF_FLOAT32: return 4;
    case SI_GGUF_UINT64:
    case SI_GGUF_INT64:
    case SI_GGUF_FLOAT64: return 8;
    default: return 0;
    }
}

size_t si_gguf_type_size(si_gguf_type type) { return scalar_size(type); }

static const char *value_type_name(uint32_t type) {
    static const char *const names[] = {"uint8", "int8",  "uint16", "int16",  "uint32", "int32",  "float32",
                                        "bool",  "string", "array", "uint64", "int64", "float64"};
    return type < sizeof names / sizeof names[0] ? names[type] : "unknown";
}

static int skip_value(si_cursor *c, uint32_t type, int depth);

/* An array's header and elements. String elements get their offsets recorded
 * when str_offsets is given; nested arrays are only walked (bounded by depth). */
static int walk_array(si_cursor *c, int depth, uint32_t *elem_type, uint64_t *count, size_t **str_offsets) {
    if (depth > SI_GGUF_MAX_NESTING) return si_fail("arrays nested deeper than %d levels", SI_GGUF_MAX_NESTING);
    uint32_t et;
    uint64_t n;
    if (si_cursor_u32(c, &et) || si_cursor_u64(c, &n)) return -1;
    if (n > SI_GGUF_MAX_ARRAY)
        return si_fail("array of %llu elements exceeds the limit %u", (unsigned long long)n, SI_GGUF_MAX_ARRAY);
    *elem_type = et;
    *count = n;
    size_t size = scalar_size(et);
    if (size) return si_cursor_skip(c, n * size);
    if (et != SI_GGUF_STRING && et != SI_GGUF_ARRAY) return si_fail("array of unknown element type %u", et);
    /* Each string or array element takes at least 8 bytes: a count the file
     * cannot hold is refused before the offsets are allocated. */
    if (si_cursor_need(c, n * 8)) return -1;
    size_t *offsets = NULL;
    if (et == SI_GGUF_STRING && str_offsets && !(offsets = si_malloc((size_t)n * sizeof *offsets))) return -1;
    for (uint64_t i = 0; i < n; i++) {
        if (offsets) offsets[i] = c->pos;
        if (skip_value(c, et, depth + 1)) {
            free(offsets);
            return -1;
        }
    }
    if (str_offsets) *str_offsets = offsets;
    return 0;
}

static int skip_value(si_cursor *c, uint32_t type, int depth) {
    size_t size = scalar_size(type);
    if (size) return si_cursor_skip(c, size);
    if (type == SI_GGUF_STRING) {
        const unsigned char *s;
        uint64_t n;
        return si_gguf_read_string(c, SI_GGUF_MAX_STRING, &s, &n);
    }
    if (type == SI_GGUF_ARRAY) {
        uint32_t et;
        uint64_t n;
        return walk_array(c, depth, &et, &n, NULL);
    }
    return si_fail("unknown value type %u", type);
}

static int parse_entry(si_cursor *c, si_gguf_kv *kv) {
    if (!(kv->key = si_gguf_read_name(c))) return -1;
    uint32_t type;
    if (si_cursor_u32(c, &type)) return -1;
    kv->type = (si_gguf_type)type;
    size_t start = c->pos;
    if (type == SI_GGUF_STRING) return si_gguf_read_string(c, SI_GGUF_MAX_STRING, &kv->value, &kv->count);
    if (type == SI_GGUF_ARRAY) {
        uint32_t et;
        if (walk_array(c, 1, &et, &kv->count, &kv->str_offsets)) return -1;
        kv->elem_type = (si_gguf_type)et;
        kv->value = c->data + start + 12; /* past the element type and count */
        return 0;
    }
    if (!scalar_size(type)) return si_fail("unknown value type %u", type);
    kv->value = c->data + start;
    return si_cursor_skip(c, scalar_size(type));
}

int si_gguf_parse_kv(si_gguf *g, si_cursor *c) {
    g->kv = si_calloc((size_t)g->n_kv, sizeof *g->kv);
    if (!g->kv || si_name_index_init(&g->kv_index, (size_t)g->n_kv)) return -1;
    for (int64_t i = 0; i < g->n_kv; i++) {
        si_gguf_kv *kv = &g->kv[i];
        int rc = parse_entry(c, kv);
        if (si_gguf_index_entry(&g->kv_index, "metadata key", kv->key, i, rc)) return -1;
    }
    return 0;
}

void si_gguf_free_kv(si_gguf *g) {
    for (int64_t i = 0; g->kv && i < g->n_kv; i++) {
        free(g->kv[i].key);
        free(g->kv[i].str_offsets);
    }
    free(g->kv);
    g->kv = NULL;
    si_name_index_free(&g->kv_index);
}

static const si_gguf_kv *find_kv(const si_gguf *g, const char *key) {
    int64_t i = si_name_index_find(&g->kv_index, key);
    return i < 0 ? NULL : &g->kv[i];
}

/* Integer values: 0 for a value >= 0 (in *u), 1 for a negative one (in *s),
 * -1 when the entry is not an integer. */
static int integer_value(const si_gguf_kv *kv, uint64_t *u, int64_t *s) {
    const unsigned char *p = kv->value;
    switch (kv->type) {
    case SI_GGUF_UINT8: *u = p[0]; return 0;
    case SI_GGUF_UINT16: *u = (uint64_t)p[0] | (uint64_t)p[1] << 8; return 0;
    case SI_GGUF_UINT32: *u = si_load_le32(p); return 0;
    case SI_GGUF_UINT64: *u = si_load_le64(p); return 0;
    case SI_GGUF_INT8: *s = (int8_t)p[0]; break;
    case SI_GGUF_INT16: *s = (int16_t)(uint16_t)(p[0] | p[1] << 8); break;
    case SI_GGUF_INT32: *s = (int32_t)si_load_le32(p); break;
    case SI_GGUF_INT64: *s = (int64_t)si_load_le64(p); break;
    default: return -1;
    }
    if (*s < 0) return 1;
    *u = (uint64_t)*s;
    return 0;
}

static int wrong_type(const si_gguf *g, const si_gguf_kv *kv, const char *expected) {
    return si_fail("%s: metadata key '%s' has type %s, expected %s", g->path, kv->key, value_type_name(kv->type),
                   expected);
}

static int out_of_range(const si_gguf *g, const si_gguf_kv *kv, const char *target) {
    return si_fail("%s: metadata key '%s' has a value out of range for %s", g->path, kv->key, target);
}

int si_gguf_read_alignment(si_gguf *g) {
    g->alignment = 32;
    const si_gguf_kv *kv = find_kv(g, "general.alignment");
    if (!kv) return 0;
    uint64_t u;
    int64_t s;
    int kind = integer_value(kv, &u, &s);
    if (kind < 0) return si_fail("general.alignment has type %s, expected uint32", value_type_name(kv->type));
    if (kind > 0 || u == 0 || u > UINT32_MAX || (u & (u - 1)))
        return si_fail("general.alignment %lld is not a power of two up to 2^31",
                       kind > 0 ? (long long)s : (long long)u);
    g->alignment = (size_t)u;
    return 0;
}

/* An integer entry of any integer type whose value lies in lo..hi. */
static int get_integer(const si_gguf *g, const char *key, int64_t lo, int64_t hi, const char *target, int64_t *out) {
    const si_gguf_kv *kv = find_kv(g, key);
    if (!kv) return 1;
    uint64_t u;
    int64_t s;
    int kind = integer_value(kv, &u, &s);
    if (kind < 0) return wrong_type(g, kv, "an integer");
    if (kind == 0 ? u > (uint64_t)hi : s < lo) return out_of_range(g, kv, target);
    *out = kind > 0 ? s : (int64_t)u;
    return 0;
}

int si_gguf_get_u32(const si_gguf *g, const char *key, uint32_t *out) {
    int64_t v = 0;
    int rc = get_integer(g, key, 0, UINT32_MAX, "uint32", &v);
    if (rc == 0) *out = (uint32_t)v;
    return rc;
}

int si_gguf_get_i64(const si_gguf *g, const char *key, int64_t *out) {
    return get_integer(g, key, INT64_MIN, INT64_MAX, "int64", out);
}

int si_gguf_get_f32(const si_gguf *g, const char *key, float *out) {
    const si_gguf_kv *kv = find_kv(g, key);
    if (!kv) return 1;
    if (kv->type == SI_GGUF_FLOAT32) {
        uint32_t bits = si_load_le32(kv->value);
        memcpy(out, &bits, sizeof bits);
        return 0;
    }
    if (kv->type == SI_GGUF_FLOAT64) {
        uint64_t bits = si_load_le64(kv->value);
        double d;
        memcpy(&d, &bits, sizeof d);
        *out = (float)d;
        return 0;
    }
    /* Some converters store float hyperparameters that happen to be whole as integers. */
    uint64_t u;
    int64_t s;
    int kind = integer_value(kv, &u, &s);
    if (kind < 0) return wrong_type(g, kv, "a float");
    *out = kind > 0 ? (float)s : (float)u;
    return 0;
}

int si_gguf_get_bool(const si_gguf *g, const char *key, bool *out) {
    const si_gguf_kv *kv = find_kv(g, key);
    if (!kv) return 1;
    if (kv->type != SI_GGUF_BOOL) return wrong_type(g, kv, "bool");
    if (kv->value[0] > 1) return si_fail("%s: metadata key '%s' has invalid bool byte %u", g->path, kv->key, kv->value[0]);
    *out = kv->value[0] == 1;
    return 0;
}

int si_gguf_get_str(const si_gguf *g, const char *key, const char **s, size_t *len) {
    const si_gguf_kv *kv = find_kv(g, key);
    if (!kv) return 1;
    if (kv->type != SI_GGUF_STRING) return wrong_type(g, kv, "string");
    *s = (const char *)kv->value;
    *len = (size_t)kv->count;
    return 0;
}

int si_gguf_get_arr(const si_gguf *g, const char *key, si_gguf_type *elem_type, uint64_t *count, const void **data) {
    const si_gguf_kv *kv = find_kv(g, key);
    if (!kv) return 1;
    if (kv->type != SI_GGUF_ARRAY) return wrong_type(g, kv, "array");
    *elem_type = kv->elem_type;
    *count = kv->count;
    /* Only packed numeric elements can be addressed directly. */
    *data = scalar_size(kv->elem_type) ? kv->value : NULL;
    return 0;
}

int si_gguf_arr_str(const si_gguf *g, const char *key, uint64_t i, const char **s, size_t *len) {
    const si_gguf_kv *kv = find_kv(g, key);
    if (!kv) return 1;
    if (kv->type != SI_GGUF_ARRAY || kv->elem_type != SI_GGUF_STRING) return wrong_type(g, kv, "array of strings");
    if (i >= kv->count)
        return si_fail("%s: index %llu past the end of metadata array '%s' (%llu strings)", g->path,
                       (unsigned long long)i, kv->key, (unsigned long long)kv->count);
    const unsigned char *p = g->map.data + kv->str_offsets[i];
    *len = (size_t)si_load_le64(p);
    *s = (const char *)(p + 8);
    return 0;
}

int64_t si_gguf_n_kv(const si_gguf *g) { return g->n_kv; }

const char *si_gguf_kv_key(const si_gguf *g, int64_t i) { return i >= 0 && i < g->n_kv ? g->kv[i].key : NULL; }

si_gguf_type si_gguf_kv_type(const si_gguf *g, int64_t i) {
    return i >= 0 && i < g->n_kv ? g->kv[i].type : (si_gguf_type)-1;
}
