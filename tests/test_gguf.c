/* tests/test_gguf.c: the GGUF reader on the real model (metadata, tensor
 * table, dequantized rows against goldens from the reference Python package,
 * see scripts/gguf_golden.py; the block types the default model lacks, on
 * random blocks, see scripts/quant_golden.py), on small synthetic files covering every value
 * type, and on hostile files: each must fail with a one-line error naming the
 * path and the problem, without crashing or allocating absurd amounts. */
#include "testutil.h"

#include "format/gguf.h"
#include "util/error.h"
#include "util/half.h"

#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

/* ---- expectations ---- */

static void expect_open_fails(const char *path, const char *what, const char *needle) {
    si_clear_error();
    si_gguf *g = si_gguf_open(path);
    CHECKF(g == NULL, "%s: opened", what);
    if (g) {
        si_gguf_close(g);
        return;
    }
    const char *msg = si_error_message();
    CHECKF(strstr(msg, path) != NULL, "%s: error does not name the file: %s", what, msg);
    CHECKF(strchr(msg, '\n') == NULL, "%s: error is not one line: %s", what, msg);
    if (needle) CHECKF(strstr(msg, needle) != NULL, "%s: expected '%s' in: %s", what, needle, msg);
}

static int str_is(const si_gguf *g, const char *key, const char *want) {
    const char *s;
    size_t n;
    return si_gguf_get_str(g, key, &s, &n) == 0 && n == strlen(want) && memcmp(s, want, n) == 0;
}

static int arr_str_is(const si_gguf *g, const char *key, uint64_t i, const char *want) {
    const char *s;
    size_t n;
    return si_gguf_arr_str(g, key, i, &s, &n) == 0 && n == strlen(want) && memcmp(s, want, n) == 0;
}

/* ---- a tiny GGUF writer for synthetic files ---- */

typedef struct {
    unsigned char *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *d, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2;
        b->p = realloc(b->p, b->cap);
        if (!b->p) abort();
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void put_u8(buf *b, uint8_t v) { put(b, &v, 1); }
static void put_u16(buf *b, uint16_t v) { put(b, &v, 2); }
static void put_u32(buf *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(buf *b, uint64_t v) { put(b, &v, 8); }
static void put_f32(buf *b, float v) { put(b, &v, 4); }
static void put_str(buf *b, const char *s) {
    put_u64(b, strlen(s));
    put(b, s, strlen(s));
}
static void put_key(buf *b, const char *key, si_gguf_type type) {
    put_str(b, key);
    put_u32(b, type);
}
static void put_arr_head(buf *b, const char *key, si_gguf_type elem, uint64_t n) {
    put_key(b, key, SI_GGUF_ARRAY);
    put_u32(b, elem);
    put_u64(b, n);
}
static void put_tensor(buf *b, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t ggml_type,
                       uint64_t offset) {
    put_str(b, name);
    put_u32(b, n_dims);
    for (uint32_t d = 0; d < n_dims; d++) put_u64(b, ne[d]);
    put_u32(b, ggml_type);
    put_u64(b, offset);
}

enum fault {
    OK,
    VERSION_2,
    ALIGN_48,
    ALIGN_0,
    DUP_KEY,
    NESTED_TOO_DEEP,
    UNKNOWN_VALUE_TYPE,
    STRING_PAST_END,
    ARRAY_PAST_END,
    DUP_TENSOR,
    ZERO_DIMS,
    EMPTY_NAME,
    NUL_IN_NAME,
    Q8_ROW_16,
    NAME_TOO_LONG,
};

#define N_KV 17
#define ALIGN 64

static void build(buf *b, enum fault f) {
    b->n = 0;
    put(b, "GGUF", 4);
    put_u32(b, f == VERSION_2 ? 2 : 3);
    put_u64(b, 3);
    put_u64(b, N_KV + (f == DUP_KEY || f == NESTED_TOO_DEEP || f == UNKNOWN_VALUE_TYPE));

    put_key(b, "general.architecture", SI_GGUF_STRING);
    put_u64(b, f == STRING_PAST_END ? 100000 : 5);
    put(b, "llama", 5);
    put_key(b, "general.alignment", SI_GGUF_UINT32);
    put_u32(b, f == ALIGN_48 ? 48 : f == ALIGN_0 ? 0 : ALIGN);
    put_key(b, "t.u8", SI_GGUF_UINT8), put_u8(b, 200);
    put_key(b, "t.i8", SI_GGUF_INT8), put_u8(b, (uint8_t)-5);
    put_key(b, "t.u16", SI_GGUF_UINT16), put_u16(b, 60000);
    put_key(b, "t.i16", SI_GGUF_INT16), put_u16(b, (uint16_t)-300);
    put_key(b, "t.i32", SI_GGUF_INT32), put_u32(b, (uint32_t)-70000);
    put_key(b, "t.u64", SI_GGUF_UINT64), put_u64(b, (uint64_t)1 << 40);
    put_key(b, "t.big", SI_GGUF_UINT64), put_u64(b, ((uint64_t)1 << 63) + 1);
    put_key(b, "t.i64", SI_GGUF_INT64), put_u64(b, (uint64_t)-((int64_t)1 << 40));
    put_key(b, "t.f32", SI_GGUF_FLOAT32), put_f32(b, 0.5f);
    double d = 2.25;
    put_key(b, "t.f64", SI_GGUF_FLOAT64), put(b, &d, 8);
    put_key(b, "t.bool", SI_GGUF_BOOL), put_u8(b, 2); /* not 0/1: readable only as an error */
    put_arr_head(b, "t.strs", SI_GGUF_STRING, f == ARRAY_PAST_END ? 1000 : 3);
    put_str(b, "a"), put_str(b, "bc"), put_str(b, "");
    put_arr_head(b, "t.ints", SI_GGUF_INT32, 3);
    put_u32(b, 1), put_u32(b, (uint32_t)-2), put_u32(b, 3);
    put_arr_head(b, "t.nested", SI_GGUF_ARRAY, 2);
    put_u32(b, SI_GGUF_UINT8), put_u64(b, 2), put_u8(b, 1), put_u8(b, 2);
    put_u32(b, SI_GGUF_UINT8), put_u64(b, 1), put_u8(b, 3);
    put_arr_head(b, "t.nested_strs", SI_GGUF_ARRAY, 2);
    put_u32(b, SI_GGUF_STRING), put_u64(b, 1), put_str(b, "x");
    put_u32(b, SI_GGUF_STRING), put_u64(b, 2), put_str(b, "y"), put_str(b, "z");
    if (f == DUP_KEY) put_key(b, "t.u8", SI_GGUF_UINT8), put_u8(b, 1);
    if (f == UNKNOWN_VALUE_TYPE) put_key(b, "t.what", 13), put_u32(b, 0);
    if (f == NESTED_TOO_DEEP) {
        put_arr_head(b, "t.deep", SI_GGUF_ARRAY, 1);
        for (int i = 0; i < 9; i++) put_u32(b, SI_GGUF_ARRAY), put_u64(b, 1);
        put_u32(b, SI_GGUF_UINT8), put_u64(b, 0);
    }

    const char *f32_name = f == EMPTY_NAME ? "" : f == NAME_TOO_LONG ? NULL : "w.f32";
    char long_name[300];
    memset(long_name, 'n', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    uint64_t ne_f32[2] = {4, 2}, ne_q8[1] = {f == Q8_ROW_16 ? 16 : 32}, ne_f16[3] = {2, 1, 3};
    put_tensor(b, f32_name ? f32_name : long_name, f == ZERO_DIMS ? 0 : 2, ne_f32, 0, 0);
    if (f == NUL_IN_NAME) {
        put_u64(b, 4), put(b, "w\0q8", 4);
        put_u32(b, 1), put_u64(b, 32), put_u32(b, 8), put_u64(b, 64);
    } else {
        put_tensor(b, f == DUP_TENSOR ? "w.f32" : "w.q8", 1, ne_q8, 8, 64);
    }
    put_tensor(b, "w.f16", 3, ne_f16, 1, 128);

    while (b->n % ALIGN) put_u8(b, 0);
    for (int i = 0; i < 8; i++) put_f32(b, 0.5f * (float)i);
    while (b->n % ALIGN) put_u8(b, 0);
    put_u16(b, si_f32_to_f16(0.25f));
    for (int i = 0; i < 32; i++) put_u8(b, (uint8_t)(i - 16));
    while (b->n % ALIGN) put_u8(b, 0);
    for (int i = 1; i <= 6; i++) put_u16(b, si_f32_to_f16((float)i));
    /* the file ends exactly where the last tensor does: every shorter prefix is truncated */
}

static const char *write_synthetic(const char *name, enum fault f) {
    static char path[4096];
    static buf b;
    build(&b, f);
    snprintf(path, sizeof path, "%s/%s.gguf", si_test_tmpdir(), name);
    if (si_test_write_file(path, b.p, b.n) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
    return path;
}

static void check_synthetic_values(const si_gguf *g) {
    uint32_t u32;
    int64_t i64;
    float f;
    bool flag;
    CHECK(si_gguf_n_kv(g) == N_KV && si_gguf_n_tensors(g) == 3);
    CHECK(str_is(g, "general.architecture", "llama"));
    CHECK(si_gguf_get_u32(g, "t.u8", &u32) == 0 && u32 == 200);
    CHECK(si_gguf_get_i64(g, "t.i8", &i64) == 0 && i64 == -5);
    CHECK(si_gguf_get_u32(g, "t.i8", &u32) == -1); /* negative */
    CHECK(si_gguf_get_u32(g, "t.u16", &u32) == 0 && u32 == 60000);
    CHECK(si_gguf_get_i64(g, "t.i16", &i64) == 0 && i64 == -300);
    CHECK(si_gguf_get_i64(g, "t.i32", &i64) == 0 && i64 == -70000);
    CHECK(si_gguf_get_i64(g, "t.u64", &i64) == 0 && i64 == (int64_t)1 << 40);
    CHECK(si_gguf_get_u32(g, "t.u64", &u32) == -1); /* too large */
    CHECK(si_gguf_get_i64(g, "t.big", &i64) == -1);
    CHECK(si_gguf_get_i64(g, "t.i64", &i64) == 0 && i64 == -((int64_t)1 << 40));
    CHECK(si_gguf_get_f32(g, "t.f32", &f) == 0 && f == 0.5f);
    CHECK(si_gguf_get_f32(g, "t.f64", &f) == 0 && f == 2.25f);
    CHECK(si_gguf_get_f32(g, "t.u8", &f) == 0 && f == 200.0f);
    si_clear_error();
    CHECK(si_gguf_get_bool(g, "t.bool", &flag) == -1);
    CHECK(strstr(si_error_message(), si_gguf_path(g)) && strstr(si_error_message(), "t.bool"));
    CHECK(si_gguf_get_u32(g, "general.architecture", &u32) == -1);
    CHECK(si_gguf_get_str(g, "t.u8", &(const char *){0}, &(size_t){0}) == -1);
    CHECK(si_gguf_get_u32(g, "absent", &u32) == 1);

    si_gguf_type et;
    uint64_t n;
    const void *data;
    CHECK(si_gguf_get_arr(g, "t.strs", &et, &n, &data) == 0 && et == SI_GGUF_STRING && n == 3 && !data);
    CHECK(arr_str_is(g, "t.strs", 0, "a") && arr_str_is(g, "t.strs", 1, "bc") && arr_str_is(g, "t.strs", 2, ""));
    CHECK(si_gguf_arr_str(g, "t.strs", 3, &(const char *){0}, &(size_t){0}) == -1);
    CHECK(si_gguf_arr_str(g, "t.ints", 0, &(const char *){0}, &(size_t){0}) == -1);
    CHECK(si_gguf_get_arr(g, "t.ints", &et, &n, &data) == 0 && et == SI_GGUF_INT32 && n == 3 && data);
    int32_t ints[3];
    if (data) memcpy(ints, data, sizeof ints);
    CHECK(data && ints[0] == 1 && ints[1] == -2 && ints[2] == 3);
    CHECK(si_gguf_get_arr(g, "t.nested", &et, &n, &data) == 0 && et == SI_GGUF_ARRAY && n == 2 && !data);
    CHECK(si_gguf_get_arr(g, "t.nested_strs", &et, &n, &data) == 0 && et == SI_GGUF_ARRAY && n == 2);
    CHECK(si_gguf_get_arr(g, "t.u8", &et, &n, &data) == -1);
    CHECK(strcmp(si_gguf_kv_key(g, 2), "t.u8") == 0 && si_gguf_kv_type(g, 2) == SI_GGUF_UINT8);
    CHECK(si_gguf_kv_key(g, N_KV) == NULL && si_gguf_kv_key(g, -1) == NULL);

    const si_tensor *a = si_gguf_find_tensor(g, "w.f32"), *q = si_gguf_find_tensor(g, "w.q8"),
                    *h = si_gguf_find_tensor(g, "w.f16");
    CHECK(a && q && h && !si_gguf_find_tensor(g, "w") && si_gguf_tensor(g, 3) == NULL);
    if (!a || !q || !h) return;
    CHECK(a == si_gguf_tensor(g, 0) && a->n_dims == 2 && a->ne[0] == 4 && a->ne[1] == 2 && a->ne[2] == 1);
    CHECK(a->dtype == SI_DTYPE_F32 && a->nbytes == 32 && ((uintptr_t)a->data % ALIGN) == 0);
    CHECK(q->dtype == SI_DTYPE_Q8_0 && q->nbytes == 34 && ((uintptr_t)q->data % ALIGN) == 0);
    CHECK(h->dtype == SI_DTYPE_F16 && h->n_dims == 3 && h->ne[2] == 3 && si_tensor_nelems(h) == 6 && h->nbytes == 12);
    float row[32];
    si_dequantize_row(a->dtype, a->data, row, 8);
    CHECK(row[0] == 0.0f && row[7] == 3.5f);
    si_dequantize_row(q->dtype, q->data, row, 32);
    CHECK(row[0] == -4.0f && row[31] == 3.75f);
    si_dequantize_row(h->dtype, h->data, row, 6);
    CHECK(row[0] == 1.0f && row[5] == 6.0f);
}

static void test_synthetic(void) {
    for (enum fault f = OK; f <= VERSION_2; f++) {
        const char *path = write_synthetic(f == OK ? "ok" : "v2", f);
        si_gguf *g = si_gguf_open(path);
        CHECKF(g != NULL, "synthetic %d: %s", (int)f, si_error_message());
        if (!g) continue;
        CHECK(si_gguf_version(g) == (f == OK ? 3u : 2u));
        check_synthetic_values(g);
        si_gguf_close(g);
    }

    static const struct {
        enum fault f;
        const char *needle;
    } hostile[] = {
        {ALIGN_48, "not a power of two"},
        {ALIGN_0, "not a power of two"},
        {DUP_KEY, "duplicate metadata key 't.u8'"},
        {NESTED_TOO_DEEP, "nested deeper"},
        {UNKNOWN_VALUE_TYPE, "unknown value type 13"},
        {STRING_PAST_END, "unexpected end of file"},
        {ARRAY_PAST_END, "unexpected end of file"},
        {DUP_TENSOR, "duplicate tensor 'w.f32'"},
        {ZERO_DIMS, "0 dimensions"},
        {EMPTY_NAME, "empty name"},
        {NUL_IN_NAME, "NUL"},
        {Q8_ROW_16, "not a multiple of the Q8_0 block size"},
        {NAME_TOO_LONG, "exceeds the limit 256"},
    };
    for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "fault%d", (int)hostile[i].f);
        expect_open_fails(write_synthetic(name, hostile[i].f), name, hostile[i].needle);
    }

    /* Every strict prefix of the valid file is truncated somewhere. */
    buf b = {0};
    build(&b, OK);
    char path[4096];
    snprintf(path, sizeof path, "%s/prefix.gguf", si_test_tmpdir());
    for (size_t n = 0; n < b.n; n++) {
        si_test_write_file(path, b.p, n);
        char what[64];
        snprintf(what, sizeof what, "prefix of %zu bytes", n);
        expect_open_fails(path, what, n < 4 ? "bad magic" : NULL);
    }
    free(b.p);

    /* A file with metadata and no tensors needs no data section. */
    buf e = {0};
    put(&e, "GGUF", 4), put_u32(&e, 3), put_u64(&e, 0), put_u64(&e, 1);
    put_key(&e, "general.alignment", SI_GGUF_UINT32), put_u32(&e, 1u << 31);
    snprintf(path, sizeof path, "%s/empty.gguf", si_test_tmpdir());
    si_test_write_file(path, e.p, e.n);
    si_gguf *g = si_gguf_open(path);
    CHECKF(g && si_gguf_n_tensors(g) == 0, "no tensors: %s", si_error_message());
    si_gguf_close(g);
    free(e.p);
}


/* si_gguf_open_memory: a buffer reads as the file does, tensors point into
 * it, and a buffer cut short fails with an error naming it. */
static void test_memory(void) {
    buf b = {0};
    build(&b, OK);
    /* Page-aligned like a mapping, so that tensors keep the file's alignment. */
    unsigned char *copy = aligned_alloc(4096, (b.n + 4095) / 4096 * 4096);
    if (!copy) abort();
    memcpy(copy, b.p, b.n);
    free(b.p);
    b.p = copy;
    si_gguf *g = si_gguf_open_memory(b.p, b.n, "synthetic in memory");
    CHECKF(g != NULL, "open_memory: %s", si_error_message());
    if (g) {
        check_synthetic_values(g);
        CHECK(strcmp(si_gguf_path(g), "synthetic in memory") == 0);
        for (int64_t i = 0; i < si_gguf_n_tensors(g); i++) {
            const si_tensor *t = si_gguf_tensor(g, i);
            const unsigned char *p = t->data;
            CHECK(p >= b.p && p + t->nbytes <= b.p + b.n);
        }
        si_gguf_close(g);
    }
    si_clear_error();
    CHECK(si_gguf_open_memory(b.p, b.n - 1, "cut buffer") == NULL && strstr(si_error_message(), "cut buffer: "));
    CHECK(si_gguf_open_memory(NULL, 0, "no buffer") == NULL && strstr(si_error_message(), "bad magic"));
    free(b.p);
}

/* Reads every metadata entry through the getters, so that a file accepted
 * despite corruption is walked as a consumer would walk it. */
static void touch_everything(const si_gguf *g) {
    for (int64_t i = 0; i < si_gguf_n_kv(g); i++) {
        const char *key = si_gguf_kv_key(g, i), *s;
        size_t n;
        int64_t v;
        float f;
        bool b;
        si_gguf_type et;
        uint64_t count;
        const void *data;
        si_gguf_get_i64(g, key, &v), si_gguf_get_f32(g, key, &f), si_gguf_get_bool(g, key, &b);
        si_gguf_get_str(g, key, &s, &n);
        if (si_gguf_get_arr(g, key, &et, &count, &data) == 0 && et == SI_GGUF_STRING)
            for (uint64_t j = 0; j < count; j++) CHECK(si_gguf_arr_str(g, key, j, &s, &n) == 0);
    }
    for (int64_t i = 0; i < si_gguf_n_tensors(g); i++) {
        const si_tensor *t = si_gguf_tensor(g, i);
        volatile unsigned char last = t->nbytes ? ((const unsigned char *)t->data)[t->nbytes - 1] : 0;
        (void)last;
    }
}

/* Random single-byte corruptions of the synthetic file (fixed seed): each
 * either opens and reads cleanly, or fails with an error naming the file. */
static void test_corruptions(void) {
    buf b = {0};
    build(&b, OK);
    char path[4096];
    snprintf(path, sizeof path, "%s/corrupt.gguf", si_test_tmpdir());
    uint32_t seed = 12345;
    int opened = 0;
    for (int round = 0; round < 3000; round++) {
        unsigned char *copy = malloc(b.n);
        memcpy(copy, b.p, b.n);
        for (int k = 0; k < 1 + round % 3; k++) {
            seed = seed * 1664525u + 1013904223u;
            size_t at = (seed >> 8) % b.n;
            seed = seed * 1664525u + 1013904223u;
            copy[at] = (unsigned char)(seed >> 24);
        }
        si_test_write_file(path, copy, b.n);
        free(copy);
        si_clear_error();
        si_gguf *g = si_gguf_open(path);
        if (g) {
            opened++;
            touch_everything(g);
            si_gguf_close(g);
        } else {
            CHECKF(strstr(si_error_message(), path) != NULL, "corruption %d: %s", round, si_error_message());
        }
    }
    printf("corruptions: %d of 3000 still open\n", opened);
    free(b.p);
}

/* ---- the real model ---- */

/* From scripts/gguf_golden.py (the reference gguf package's dequantize). */
static const struct {
    const char *tensor;
    int64_t row;
    float head[8];
    double sum;
} golden[] = {
    {"token_embd.weight", 1, {-0.0238037109f, -0.0158691406f, -0.0396728516f, 0.0158691406f, -0.111083984f, -0.00793457031f, -0.0634765625f, 0.0714111328f}, 0.35922718},
    {"token_embd.weight", 49151, {0.011505127f, 0.00575256348f, 0.0977935791f, -0.0977935791f, 0.0862884521f, -0.0460205078f, 0.172576904f, 0.0517730713f}, -0.466220856},
    {"blk.0.ffn_down.weight", 3, {-0.215820312f, -0.0494384766f, -0.215820312f, -0.215820312f, 0.116943359f, -0.215820312f, -0.382202148f, -0.548583984f}, 2.21902466},
    {"blk.29.attn_q.weight", 575, {0.0589294434f, -0.0644836426f, 0.0280761719f, 0.0589294434f, -0.00277709961f, 0.244049072f, 0.0280761719f, -0.00277709961f}, 0.110717773},
    {"output_norm.weight", 0, {1.7578125f, 1.8203125f, 1.78125f, 1.6015625f, 1.7421875f, 1.71875f, 1.828125f, 1.75f}, 1038.33203},
};

#define REAL_DATA_START 1785664 /* the reference reader's data_offset for this file */

static void check_golden_rows(const si_gguf *g) {
    static float row[49152];
    for (size_t i = 0; i < sizeof golden / sizeof golden[0]; i++) {
        const si_tensor *t = si_gguf_find_tensor(g, golden[i].tensor);
        CHECKF(t != NULL, "%s missing", golden[i].tensor);
        if (!t) continue;
        size_t row_bytes = si_dtype_row_bytes(t->dtype, t->ne[0]);
        si_dequantize_row(t->dtype, (const unsigned char *)t->data + golden[i].row * row_bytes, row, t->ne[0]);
        for (int j = 0; j < 8; j++)
            CHECKF(fabsf(row[j] - golden[i].head[j]) <= 1e-6f * fabsf(golden[i].head[j]), "%s row %lld [%d]: %.9g vs %.9g",
                   golden[i].tensor, (long long)golden[i].row, j, row[j], golden[i].head[j]);
        double sum = 0;
        for (int64_t j = 0; j < t->ne[0]; j++) sum += row[j];
        CHECKF(fabs(sum - golden[i].sum) <= 1e-5 * (1 + fabs(golden[i].sum)), "%s row sum %.9g vs %.9g",
               golden[i].tensor, sum, golden[i].sum);
    }
}

static void check_real_metadata(const si_gguf *g) {
    uint32_t u32;
    float f;
    bool flag;
    CHECK(si_gguf_version(g) == 3);
    CHECK(si_gguf_n_kv(g) == 33 && si_gguf_n_tensors(g) == 272);
    CHECK(si_gguf_get_u32(g, "llama.block_count", &u32) == 0 && u32 == 30);
    CHECK(si_gguf_get_u32(g, "llama.embedding_length", &u32) == 0 && u32 == 576);
    CHECK(si_gguf_get_u32(g, "llama.attention.head_count_kv", &u32) == 0 && u32 == 3);
    CHECK(si_gguf_get_f32(g, "llama.rope.freq_base", &f) == 0 && f == 100000.0f);
    CHECK(si_gguf_get_f32(g, "llama.attention.layer_norm_rms_epsilon", &f) == 0 && f == 1e-5f);
    CHECK(si_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &flag) == 0 && !flag);
    CHECK(str_is(g, "general.architecture", "llama") && str_is(g, "tokenizer.ggml.model", "gpt2"));
    const char *tmpl;
    size_t n;
    CHECK(si_gguf_get_str(g, "tokenizer.chat_template", &tmpl, &n) == 0 && n == 368 &&
          memcmp(tmpl, "{% for message in messages %}", 29) == 0);

    si_gguf_type et;
    uint64_t count;
    const void *data;
    CHECK(si_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &count, &data) == 0 && et == SI_GGUF_STRING &&
          count == 49152);
    CHECK(arr_str_is(g, "tokenizer.ggml.tokens", 0, "<|endoftext|>"));
    CHECK(arr_str_is(g, "tokenizer.ggml.tokens", 1, "<|im_start|>"));
    CHECK(arr_str_is(g, "tokenizer.ggml.tokens", 2, "<|im_end|>"));
    CHECK(arr_str_is(g, "tokenizer.ggml.tokens", 3, "<repo_name>"));
    CHECK(arr_str_is(g, "tokenizer.ggml.tokens", 49151, "ectable"));
    CHECK(si_gguf_get_arr(g, "tokenizer.ggml.merges", &et, &count, &data) == 0 && count == 48900);
    CHECK(arr_str_is(g, "tokenizer.ggml.merges", 0, "\xc4\xa0 t") && arr_str_is(g, "tokenizer.ggml.merges", 48899, "ect able"));
    CHECK(si_gguf_get_arr(g, "tokenizer.ggml.token_type", &et, &count, &data) == 0 && et == SI_GGUF_INT32 &&
          count == 49152 && data);
    int32_t types[2];
    if (data) memcpy(types, data, sizeof types);
    CHECK(data && types[0] == 3 && types[1] == 3);
    CHECK(arr_str_is(g, "general.languages", 0, "en"));
}

static void check_real_tensors(const si_gguf *g) {
    int counts[SI_DTYPE_COUNT] = {0};
    for (int64_t i = 0; i < si_gguf_n_tensors(g); i++) {
        const si_tensor *t = si_gguf_tensor(g, i);
        counts[t->dtype]++;
        CHECK(si_gguf_find_tensor(g, t->name) == t);
        CHECK(((uintptr_t)t->data & 31) == 0);
    }
    CHECK(counts[SI_DTYPE_Q4_1] == 210 && counts[SI_DTYPE_F32] == 61 && counts[SI_DTYPE_Q8_0] == 1);
    const si_tensor *e = si_gguf_find_tensor(g, "token_embd.weight");
    CHECK(e && e->dtype == SI_DTYPE_Q8_0 && e->n_dims == 2 && e->ne[0] == 576 && e->ne[1] == 49152);
    CHECK(e && e->nbytes == 30081024);
    const si_tensor *d = si_gguf_find_tensor(g, "blk.0.ffn_down.weight");
    CHECK(d && d->dtype == SI_DTYPE_Q4_1 && d->ne[0] == 1536 && d->ne[1] == 576 && d->nbytes == 552960);
    const si_tensor *n = si_gguf_find_tensor(g, "output_norm.weight");
    CHECK(n && n->dtype == SI_DTYPE_F32 && n->n_dims == 1 && n->ne[0] == 576 && n->ne[1] == 1);
}

/* A full copy of the model, patched in place field by field (each patch
 * undone after its check) and finally truncated at decreasing lengths. */
typedef struct {
    const char *path;
    int fd;
    unsigned char *head; /* the original bytes up to the data section */
    size_t size;
} real_copy;

static int make_copy(real_copy *c, const char *model) {
    static char path[4096];
    snprintf(path, sizeof path, "%s/copy.gguf", si_test_tmpdir());
    c->path = path;
    FILE *in = fopen(model, "rb");
    FILE *out = fopen(path, "wb");
    c->head = malloc(REAL_DATA_START);
    if (!in || !out || !c->head) return -1;
    static unsigned char chunk[1 << 20];
    size_t n;
    c->size = 0;
    while ((n = fread(chunk, 1, sizeof chunk, in)) > 0) {
        if (c->size < REAL_DATA_START)
            memcpy(c->head + c->size, chunk, n < REAL_DATA_START - c->size ? n : REAL_DATA_START - c->size);
        if (fwrite(chunk, 1, n, out) != n) return -1;
        c->size += n;
    }
    fclose(in);
    if (fclose(out) != 0) return -1;
    c->fd = open(path, O_RDWR);
    return c->fd < 0 ? -1 : 0;
}

/* Offset of the first occurrence of a string in the header (-1 when absent). */
static long find(const real_copy *c, const char *s) {
    size_t n = strlen(s);
    for (size_t i = 0; i + n <= REAL_DATA_START; i++)
        if (memcmp(c->head + i, s, n) == 0) return (long)i;
    return -1;
}

static void patch(const real_copy *c, long off, const void *bytes, size_t n, const char *what, const char *needle) {
    CHECKF(off >= 0, "%s: field not found", what);
    if (off < 0) return;
    if (pwrite(c->fd, bytes, n, off) != (ssize_t)n) abort();
    expect_open_fails(c->path, what, needle);
    if (pwrite(c->fd, c->head + off, n, off) != (ssize_t)n) abort();
}
static void patch32(const real_copy *c, long off, uint32_t v, const char *what, const char *needle) {
    patch(c, off, &v, 4, what, needle);
}
static void patch64(const real_copy *c, long off, uint64_t v, const char *what, const char *needle) {
    patch(c, off, &v, 8, what, needle);
}

/* Where a metadata value starts: after the key's bytes and the u32 type. */
static long value_of(const real_copy *c, const char *key) {
    long k = find(c, key);
    return k < 0 ? -1 : k + (long)strlen(key) + 4;
}

static void hostile_real(real_copy *c) {
    patch(c, 0, "GGUX", 4, "magic", "bad magic");
    patch32(c, 4, 1, "version 1", "unsupported GGUF version 1");
    patch32(c, 4, 4, "version 4", "unsupported GGUF version 4");
    patch32(c, 4, 0x03000000u, "big-endian", "big-endian");
    patch64(c, 8, (uint64_t)1 << 40, "tensor count huge", "tensors (limit 65536)");
    patch64(c, 8, 65536, "tensor count at the limit", NULL);
    patch64(c, 16, (uint64_t)1 << 63, "kv count huge", "metadata entries (limit 65536)");
    patch64(c, 16, 65536, "kv count at the limit", NULL);
    patch64(c, 24, (uint64_t)1 << 62, "key length huge", "exceeds the limit 256");
    patch64(c, value_of(c, "tokenizer.chat_template"), (uint64_t)1 << 25, "string length huge",
            "exceeds the limit 16777216");
    long arr = value_of(c, "tokenizer.ggml.tokens");
    patch64(c, arr + 4, (1u << 24) + 1, "array length huge", "exceeds the limit 16777216");
    /* At the limit, 2^24 strings need 128 MiB: more than the file has left. */
    patch64(c, arr + 4, 1u << 24, "array length beyond the file", "unexpected end of file");
    patch32(c, value_of(c, "tokenizer.ggml.token_type"), 13, "array element type", "unknown element type 13");
    patch32(c, value_of(c, "general.architecture") - 4, 99, "value type", "unknown value type 99");
    patch(c, find(c, "general.type"), "general.name", 12, "duplicate key", "duplicate metadata key 'general.name'");
    patch(c, find(c, "general.type") + 3, "\0", 1, "NUL in key", "NUL");

    long emb = find(c, "token_embd.weight") + 17; /* n_dims, ne[0], ne[1], type, offset */
    patch32(c, emb, 5, "n_dims 5", "5 dimensions");
    patch64(c, emb + 4, 0, "zero dimension", "dimension 0 is 0");
    patch64(c, emb + 12, (uint64_t)1 << 41, "huge dimension", "dimension 1 is 2199023255552");
    uint64_t big[2] = {(uint64_t)1 << 40, (uint64_t)1 << 40};
    patch(c, emb + 4, big, sizeof big, "dimension product overflow", "element count overflows");
    patch64(c, emb + 4, 575, "row not a block multiple", "not a multiple of the Q8_0 block size 32");
    patch32(c, emb + 20, 11, "unknown type", "tensor 'token_embd.weight': unsupported type 11 (Q3_K)");
    patch32(c, emb + 20, 14, "K type on a short row", "row length 576 is not a multiple of the Q6_K block size 256");
    patch32(c, emb + 20, 77, "unknown type", "unsupported type 77 (unknown)");
    patch64(c, emb + 24, 1, "misaligned offset", "not a multiple of the alignment 32");
    patch64(c, emb + 24, (uint64_t)1 << 60, "offset out of range", "go past the end of the file");
    long norm = find(c, "output_norm.weight") + 18;
    patch64(c, norm + 16, (c->size - REAL_DATA_START + 31) & ~(uint64_t)31, "offset at end of data",
            "'output_norm.weight': 2304 bytes");
    patch(c, find(c, "blk.1.attn_norm.weight") + 4, "0", 1, "duplicate tensor", "duplicate tensor 'blk.0.attn_norm.weight'");

    /* Truncation points from the end of the data down to the magic. */
    const struct {
        long at;
        const char *needle;
    } cuts[] = {
        {(long)c->size - 1, "'output_norm.weight': 2304 bytes at data offset"},
        {REAL_DATA_START + 100, "'token_embd.weight': 30081024 bytes"},
        {REAL_DATA_START, "past the end of the file"},
        {norm + 10, "tensor 'output_norm.weight': unexpected end of file"},
        {find(c, "blk.0.attn_norm.weight"), "tensor #1: unexpected end of file"},
        {emb, "tensor 'token_embd.weight': unexpected end of file"},
        {value_of(c, "tokenizer.chat_template") + 100, "key 'tokenizer.chat_template': unexpected end of file"},
        {value_of(c, "tokenizer.ggml.merges") + 100000, "key 'tokenizer.ggml.merges': unexpected end of file"},
        {value_of(c, "tokenizer.ggml.tokens") + 5000, "more than the"}, /* the counts no longer fit */
        {30, "more than the 6 bytes left"},
        {20, "header: unexpected end of file"},
        {12, "header: unexpected end of file"},
        {6, "header: unexpected end of file"},
        {3, "bad magic"},
        {0, "bad magic"},
    };
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        CHECKF(cuts[i].at >= 0 && (i == 0 || cuts[i].at < cuts[i - 1].at), "cut %zu misplaced", i);
        if (cuts[i].at < 0 || ftruncate(c->fd, cuts[i].at) != 0) continue;
        char what[64];
        snprintf(what, sizeof what, "truncated at %ld", cuts[i].at);
        expect_open_fails(c->path, what, cuts[i].needle);
    }
}

static void test_real_model(void) {
    const char *model = si_test_model_path();
    if (!model) {
        printf("default model absent: real-file checks skipped (synthetic ones ran)\n");
        return;
    }
    si_gguf *g = si_gguf_open(model);
    CHECKF(g != NULL, "%s", si_error_message());
    if (!g) return;
    check_real_metadata(g);
    check_real_tensors(g);
    check_golden_rows(g);
    si_gguf_close(g);

    real_copy c;
    if (make_copy(&c, model) != 0) {
        CHECKF(0, "cannot copy the model to %s", c.path);
        return;
    }
    /* the untouched copy opens: the failures below come from the patches */
    g = si_gguf_open(c.path);
    CHECKF(g != NULL, "copy: %s", si_error_message());
    si_gguf_close(g);
    CHECK(find(&c, "token_embd.weight") > 0 && c.size == 98362432);
    hostile_real(&c);
    close(c.fd);
    unlink(c.path);
    free(c.head);
}

/* ---- the newer block types against the reference package ---- */

static int hex_decode(const char *hex, uint8_t *out, size_t n) {
    if (strlen(hex) != 2 * n) return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1) return -1;
        out[i] = (uint8_t)v;
    }
    return 0;
}

/* Random blocks of Q5_0, Q5_1, Q4_K, Q5_K and Q6_K dequantized by the gguf
 * package (scripts/quant_golden.py): si_dequantize_row must give the same
 * floats, and the GGUF and dtype tables must agree on the block geometry. */
static void test_block_types(void) {
    static const struct {
        const char *name;
        si_dtype t;
    } types[] = {{"Q5_0", SI_DTYPE_Q5_0}, {"Q5_1", SI_DTYPE_Q5_1}, {"Q4_K", SI_DTYPE_Q4_K},
                 {"Q5_K", SI_DTYPE_Q5_K}, {"Q6_K", SI_DTYPE_Q6_K}};
    json_error_t err;
    json_t *root = json_load_file(si_test_source_path("tests/golden/quant_blocks.json"), 0, &err);
    CHECKF(root != NULL, "quant_blocks.json: %s", err.text);
    if (!root) return;
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        json_t *g = json_object_get(root, types[k].name);
        CHECKF(g != NULL, "%s: no golden", types[k].name);
        if (!g) continue;
        int per = (int)json_integer_value(json_object_get(g, "elements_per_block"));
        size_t bb = (size_t)json_integer_value(json_object_get(g, "block_bytes"));
        CHECK(strcmp(si_dtype_name(types[k].t), types[k].name) == 0);
        CHECKF(per == si_dtype_block_elems(types[k].t) && bb == si_dtype_block_bytes(types[k].t), "%s geometry",
               types[k].name);
        const char *bh = json_string_value(json_object_get(g, "blocks"));
        const char *vh = json_string_value(json_object_get(g, "values_f32_hex"));
        size_t n_blocks = bh ? strlen(bh) / 2 / bb : 0, n = n_blocks * (size_t)per;
        uint8_t *blocks = malloc(n_blocks * bb);
        float *want = malloc(n * sizeof(float)), *got = malloc(n * sizeof(float));
        bool ok = n_blocks > 0 && hex_decode(bh, blocks, n_blocks * bb) == 0 &&
                  hex_decode(vh ? vh : "", (uint8_t *)want, n * sizeof(float)) == 0;
        CHECKF(ok, "%s: malformed golden", types[k].name);
        if (ok) {
            si_dequantize_row(types[k].t, blocks, got, (int64_t)n);
            int bad = 0;
            for (size_t i = 0; i < n; i++)
                if (got[i] != want[i] && bad++ < 3)
                    fprintf(stderr, "  %s element %zu: %.9g, gguf package %.9g\n", types[k].name, i, got[i], want[i]);
            printf("%s: %zu values from %zu random blocks as the gguf package dequantizes them, %d differ\n",
                   types[k].name, n, n_blocks, bad);
            CHECK(bad == 0);
        }
        free(blocks);
        free(want);
        free(got);
    }
    json_decref(root);
}

int main(void) {
    test_block_types();
    test_synthetic();
    test_memory();
    test_corruptions();
    test_real_model();
    return si_test_finish("test_gguf");
}
