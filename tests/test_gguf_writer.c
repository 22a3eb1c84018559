/* tests/test_gguf_writer.c: the GGUF writer and the quantizers, without a
 * model: (a) a synthetic file with every metadata type, several tensor types
 * and odd sizes, written in small pieces, read back with si_gguf_open; misuse
 * fails with the path in the error and leaves no file; (b) quantizers:
 * hand-computed blocks, exhaustive F16/BF16 round trips, error bounds on
 * pseudo-random rows. The model-level checks are in test_save_gguf.c. */
#include "testutil.h"

#include "format/gguf_internal.h"
#include "format/gguf_writer.h"
#include "format/quantize.h"
#include "util/error.h"
#include "util/half.h"

#include <math.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

/* ---- (a) round trip ---- */

static const char *const STRS[] = {"hello", "", "caf\xc3\xa9 \xe2\x96\x81the", "a b"};
#define N_STRS 4

typedef struct {
    const char *name;
    si_dtype dtype;
    int n_dims;
    int64_t ne[4];
} tensor_spec;

static const tensor_spec TENSORS[] = {
    {"norm.weight", SI_DTYPE_F32, 1, {7, 1, 1, 1}},   /* 28 bytes: padding follows */
    {"half.weight", SI_DTYPE_F16, 2, {5, 3, 1, 1}},
    {"bhalf.weight", SI_DTYPE_BF16, 2, {3, 1, 1, 1}},
    {"q8.weight", SI_DTYPE_Q8_0, 2, {64, 2, 1, 1}},
    {"q40.weight", SI_DTYPE_Q4_0, 2, {32, 3, 1, 1}},
    {"q41.weight", SI_DTYPE_Q4_1, 2, {96, 1, 1, 1}},
    {"cube", SI_DTYPE_F32, 3, {2, 3, 4, 1}},
};
#define N_TENSORS ((int)(sizeof TENSORS / sizeof TENSORS[0]))

/* Deterministic bytes for tensor i (any bytes are valid payload to the reader). */
static unsigned char payload_byte(int i, size_t k) { return (unsigned char)(i * 31 + k * 7 + (k >> 8)); }

static size_t spec_bytes(const tensor_spec *t) {
    return si_dtype_row_bytes(t->dtype, t->ne[0]) * (size_t)(t->ne[1] * t->ne[2] * t->ne[3]);
}

static int write_metadata(si_gguf_writer *w) {
    const uint8_t u8s[] = {0, 1, 255};
    const int16_t i16s[] = {-32768, 0, 32767};
    const int32_t i32s[] = {-5, 6};
    const float f32s[] = {0.25f, -1e30f, 3.5f};
    const uint64_t u64s[] = {(uint64_t)1 << 63, 42};
    const bool bools[] = {true, false, true};
    int rc = si_gguf_writer_set_str(w, "general.architecture", "llama", 5) || si_gguf_writer_set_u8(w, "t.u8", 200) ||
             si_gguf_writer_set_i8(w, "t.i8", -100) || si_gguf_writer_set_u16(w, "t.u16", 60000) ||
             si_gguf_writer_set_i16(w, "t.i16", -30000) || si_gguf_writer_set_u32(w, "t.u32", 4000000000u) ||
             si_gguf_writer_set_i32(w, "t.i32", -2000000000) ||
             si_gguf_writer_set_u64(w, "t.u64", ((uint64_t)1 << 40) + 3) ||
             si_gguf_writer_set_i64(w, "t.i64", -((int64_t)1 << 40)) || si_gguf_writer_set_f32(w, "t.f32", 1.5f) ||
             si_gguf_writer_set_f64(w, "t.f64", 2.25) || si_gguf_writer_set_bool(w, "t.true", true) ||
             si_gguf_writer_set_bool(w, "t.false", false) ||
             si_gguf_writer_set_str(w, "t.str", "a\0b", 3) || si_gguf_writer_set_arr(w, "a.u8", SI_GGUF_UINT8, u8s, 3) ||
             si_gguf_writer_set_arr(w, "a.i16", SI_GGUF_INT16, i16s, 3) ||
             si_gguf_writer_set_arr(w, "a.i32", SI_GGUF_INT32, i32s, 2) ||
             si_gguf_writer_set_arr(w, "a.f32", SI_GGUF_FLOAT32, f32s, 3) ||
             si_gguf_writer_set_arr(w, "a.u64", SI_GGUF_UINT64, u64s, 2) ||
             si_gguf_writer_set_arr(w, "a.bool", SI_GGUF_BOOL, bools, 3) ||
             si_gguf_writer_set_arr(w, "a.empty", SI_GGUF_FLOAT32, NULL, 0);
    if (rc) return -1;
    /* Appended in pieces: two values, then one. */
    if (si_gguf_writer_begin_arr(w, "a.split", SI_GGUF_INT32, 3) || si_gguf_writer_arr_values(w, i32s, 2) ||
        si_gguf_writer_arr_values(w, i32s + 1, 1))
        return -1;
    if (si_gguf_writer_begin_arr(w, "a.str", SI_GGUF_STRING, N_STRS)) return -1;
    for (int i = 0; i < N_STRS; i++)
        if (si_gguf_writer_arr_str(w, STRS[i], strlen(STRS[i]))) return -1;
    return 0;
}

static int write_sample(const char *path, size_t piece) {
    si_gguf_writer *w = si_gguf_writer_create(path);
    if (!w) return -1;
    int rc = write_metadata(w);
    for (int i = 0; rc == 0 && i < N_TENSORS; i++)
        rc = si_gguf_writer_add_tensor(w, TENSORS[i].name, TENSORS[i].dtype, TENSORS[i].n_dims, TENSORS[i].ne);
    if (rc == 0) rc = si_gguf_writer_begin_data(w);
    /* All tensors as one stream, cut into pieces that straddle tensor ends. */
    unsigned char buf[64];
    size_t n = 0;
    for (int i = 0; rc == 0 && i < N_TENSORS; i++) {
        for (size_t k = 0; rc == 0 && k < spec_bytes(&TENSORS[i]); k++) {
            buf[n++] = payload_byte(i, k);
            if (n == piece) {
                rc = si_gguf_writer_write(w, buf, n);
                n = 0;
            }
        }
    }
    if (rc == 0 && n) rc = si_gguf_writer_write(w, buf, n);
    if (rc) {
        si_gguf_writer_discard(w);
        return -1;
    }
    return si_gguf_writer_finish(w);
}

static int64_t int_of(const si_gguf *g, const char *key) {
    int64_t v = -12345;
    CHECKF(si_gguf_get_i64(g, key, &v) == 0, "%s: %s", key, si_error_message());
    return v;
}

static si_gguf_type type_of(const si_gguf *g, const char *key) {
    for (int64_t i = 0; i < si_gguf_n_kv(g); i++)
        if (strcmp(si_gguf_kv_key(g, i), key) == 0) return si_gguf_kv_type(g, i);
    return (si_gguf_type)-1;
}

static void check_arr(const si_gguf *g, const char *key, si_gguf_type want_type, const void *want, uint64_t n,
                      size_t elem) {
    si_gguf_type t;
    uint64_t count;
    const void *data;
    CHECKF(si_gguf_get_arr(g, key, &t, &count, &data) == 0, "%s", key);
    CHECKF(t == want_type && count == n, "%s: type %d count %llu", key, t, (unsigned long long)count);
    if (t == want_type && count == n && n) CHECKF(memcmp(data, want, n * elem) == 0, "%s: values differ", key);
}

static void check_metadata(const si_gguf *g) {
    CHECK(si_gguf_version(g) == 3);
    CHECK(si_gguf_n_kv(g) == 24); /* 23 written + general.alignment */
    uint32_t align = 0;
    CHECK(si_gguf_get_u32(g, "general.alignment", &align) == 0 && align == 32);
    CHECK(type_of(g, "general.alignment") == SI_GGUF_UINT32);
    const char *expect_types[][2] = {{"t.u8", "0"},  {"t.i8", "1"},  {"t.u16", "2"},  {"t.i16", "3"},
                                     {"t.u32", "4"}, {"t.i32", "5"}, {"t.f32", "6"},  {"t.true", "7"},
                                     {"t.str", "8"}, {"a.u8", "9"},  {"t.u64", "10"}, {"t.i64", "11"},
                                     {"t.f64", "12"}};
    for (size_t i = 0; i < sizeof expect_types / sizeof expect_types[0]; i++)
        CHECKF(type_of(g, expect_types[i][0]) == (si_gguf_type)atoi(expect_types[i][1]), "type of %s",
               expect_types[i][0]);
    CHECK(int_of(g, "t.u8") == 200);
    CHECK(int_of(g, "t.i8") == -100);
    CHECK(int_of(g, "t.u16") == 60000);
    CHECK(int_of(g, "t.i16") == -30000);
    CHECK(int_of(g, "t.u32") == 4000000000LL);
    CHECK(int_of(g, "t.i32") == -2000000000LL);
    CHECK(int_of(g, "t.u64") == ((int64_t)1 << 40) + 3);
    CHECK(int_of(g, "t.i64") == -((int64_t)1 << 40));
    float f = 0;
    CHECK(si_gguf_get_f32(g, "t.f32", &f) == 0 && f == 1.5f);
    CHECK(si_gguf_get_f32(g, "t.f64", &f) == 0 && f == 2.25f);
    bool b = false;
    CHECK(si_gguf_get_bool(g, "t.true", &b) == 0 && b);
    CHECK(si_gguf_get_bool(g, "t.false", &b) == 0 && !b);
    const char *s;
    size_t len;
    CHECK(si_gguf_get_str(g, "t.str", &s, &len) == 0 && len == 3 && memcmp(s, "a\0b", 3) == 0);
    CHECK(si_gguf_get_str(g, "general.architecture", &s, &len) == 0 && len == 5 && memcmp(s, "llama", 5) == 0);
    const uint8_t u8s[] = {0, 1, 255};
    const int16_t i16s[] = {-32768, 0, 32767};
    const int32_t i32s[] = {-5, 6}, split[] = {-5, 6, 6};
    const float f32s[] = {0.25f, -1e30f, 3.5f};
    const uint64_t u64s[] = {(uint64_t)1 << 63, 42};
    const uint8_t bools[] = {1, 0, 1};
    check_arr(g, "a.u8", SI_GGUF_UINT8, u8s, 3, 1);
    check_arr(g, "a.i16", SI_GGUF_INT16, i16s, 3, 2);
    check_arr(g, "a.i32", SI_GGUF_INT32, i32s, 2, 4);
    check_arr(g, "a.f32", SI_GGUF_FLOAT32, f32s, 3, 4);
    check_arr(g, "a.u64", SI_GGUF_UINT64, u64s, 2, 8);
    check_arr(g, "a.bool", SI_GGUF_BOOL, bools, 3, 1);
    check_arr(g, "a.empty", SI_GGUF_FLOAT32, NULL, 0, 4);
    check_arr(g, "a.split", SI_GGUF_INT32, split, 3, 4);
    si_gguf_type t;
    uint64_t count;
    const void *data;
    CHECK(si_gguf_get_arr(g, "a.str", &t, &count, &data) == 0 && t == SI_GGUF_STRING && count == N_STRS);
    for (int i = 0; i < N_STRS; i++)
        CHECKF(si_gguf_arr_str(g, "a.str", (uint64_t)i, &s, &len) == 0 && len == strlen(STRS[i]) &&
                   memcmp(s, STRS[i], len) == 0,
               "a.str[%d]", i);
}

static void check_tensors(const si_gguf *g) {
    CHECK(si_gguf_n_tensors(g) == N_TENSORS);
    CHECK(g->data_start % 32 == 0);
    for (int i = 0; i < N_TENSORS; i++) {
        const tensor_spec *want = &TENSORS[i];
        const si_tensor *t = si_gguf_find_tensor(g, want->name);
        CHECKF(t != NULL, "tensor %s missing", want->name);
        if (!t) continue;
        CHECKF(t == si_gguf_tensor(g, i), "%s out of order", want->name);
        CHECKF(t->dtype == want->dtype && t->n_dims == want->n_dims, "%s: dtype/dims", want->name);
        for (int d = 0; d < 4; d++) CHECKF(t->ne[d] == want->ne[d], "%s: ne[%d] = %lld", want->name, d, (long long)t->ne[d]);
        CHECKF(t->nbytes == spec_bytes(want), "%s: %zu bytes", want->name, t->nbytes);
        size_t off = (size_t)((const unsigned char *)t->data - g->map.data);
        CHECKF(off % 32 == 0, "%s at byte %zu is not aligned", want->name, off);
        int same = 1;
        for (size_t k = 0; k < t->nbytes; k++) same &= ((const unsigned char *)t->data)[k] == payload_byte(i, k);
        CHECKF(same, "%s: payload differs", want->name);
    }
}

static void test_round_trip(void) {
    char path[512];
    const size_t pieces[] = {1, 7, 64};
    for (int p = 0; p < 3; p++) {
        snprintf(path, sizeof path, "%s/sample%d.gguf", si_test_tmpdir(), p);
        CHECKF(write_sample(path, pieces[p]) == 0, "write: %s", si_error_message());
        si_gguf *g = si_gguf_open(path);
        CHECKF(g != NULL, "read back: %s", si_error_message());
        if (!g) continue;
        check_metadata(g);
        check_tensors(g);
        si_gguf_close(g);
    }
}

/* ---- (a) misuse ---- */

static void expect_error_names(const char *path, const char *needle) {
    const char *msg = si_error_message();
    CHECKF(strstr(msg, path) != NULL, "error does not name the file: %s", msg);
    if (needle) CHECKF(strstr(msg, needle) != NULL, "expected '%s' in: %s", needle, msg);
}

static void test_misuse(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/bad.gguf", si_test_tmpdir());
    const int64_t ne16[] = {16, 2}, ne32[] = {32, 2};

    si_gguf_writer *w = si_gguf_writer_create(path);
    CHECK(w != NULL);
    if (!w) return;
    CHECK(si_gguf_writer_set_u32(w, "general.alignment", 64) != 0);
    expect_error_names(path, "general.alignment");
    char long_key[300];
    memset(long_key, 'k', sizeof long_key - 1);
    long_key[sizeof long_key - 1] = '\0';
    CHECK(si_gguf_writer_set_u32(w, long_key, 1) != 0);
    CHECK(si_gguf_writer_set_u32(w, "", 1) != 0);
    CHECK(si_gguf_writer_add_tensor(w, "q", SI_DTYPE_Q8_0, 2, ne16) != 0);
    expect_error_names(path, "block size");
    CHECK(si_gguf_writer_begin_arr(w, "arr", SI_GGUF_INT32, 2) == 0);
    CHECK(si_gguf_writer_set_u32(w, "other", 1) != 0); /* the array is owed two elements */
    expect_error_names(path, "arr");
    CHECK(si_gguf_writer_arr_str(w, "x", 1) != 0); /* wrong element kind */
    int32_t three[3] = {1, 2, 3};
    CHECK(si_gguf_writer_arr_values(w, three, 3) != 0); /* too many */
    CHECK(si_gguf_writer_arr_values(w, three, 2) == 0);
    CHECK(si_gguf_writer_arr_values(w, three, 1) != 0); /* complete already */
    CHECK(si_gguf_writer_set_u32(w, "dup", 1) == 0 && si_gguf_writer_set_u32(w, "dup", 2) == 0);
    CHECK(si_gguf_writer_begin_data(w) != 0);
    expect_error_names(path, "dup");
    si_gguf_writer_discard(w);
    CHECK(access(path, F_OK) != 0);

    /* Too few bytes: finish fails and removes the file. */
    w = si_gguf_writer_create(path);
    CHECK(w && si_gguf_writer_add_tensor(w, "t", SI_DTYPE_Q4_0, 2, ne32) == 0 && si_gguf_writer_begin_data(w) == 0);
    if (!w) return;
    unsigned char zero[64] = {0};
    CHECK(si_gguf_writer_write(w, zero, 30) == 0);
    CHECK(si_gguf_writer_add_tensor(w, "late", SI_DTYPE_F32, 2, ne32) != 0);
    CHECK(si_gguf_writer_write(w, zero, 7) != 0); /* 36 declared: one byte too many */
    expect_error_names(path, "past the declared");
    CHECK(si_gguf_writer_finish(w) != 0);
    expect_error_names(path, "not written in full");
    CHECK(access(path, F_OK) != 0);

    /* Duplicate tensors. */
    w = si_gguf_writer_create(path);
    CHECK(w && si_gguf_writer_add_tensor(w, "t", SI_DTYPE_F32, 2, ne16) == 0 &&
          si_gguf_writer_add_tensor(w, "t", SI_DTYPE_F32, 2, ne16) == 0);
    if (!w) return;
    CHECK(si_gguf_writer_begin_data(w) != 0);
    expect_error_names(path, "given twice");
    CHECK(si_gguf_writer_finish(w) != 0);
    CHECK(access(path, F_OK) != 0);

    /* A file with no tensors at all is still a valid GGUF. */
    w = si_gguf_writer_create(path);
    CHECK(w && si_gguf_writer_set_str(w, "k", "v", 1) == 0 && si_gguf_writer_begin_data(w) == 0 &&
          si_gguf_writer_finish(w) == 0);
    si_gguf *g = si_gguf_open(path);
    CHECKF(g && si_gguf_n_tensors(g) == 0 && si_gguf_n_kv(g) == 2, "empty file: %s", si_error_message());
    si_gguf_close(g);
    unlink(path);

    snprintf(path, sizeof path, "%s/no/such/dir/x.gguf", si_test_tmpdir());
    CHECK(si_gguf_writer_create(path) == NULL);
    expect_error_names(path, NULL);
}

/* ---- (b) quantizers ---- */

static void test_q8_0_known(void) {
    /* amax 127: the scale is exactly 1, so each quant is the value rounded (halves away from zero). */
    float x[32] = {127, -127, 0.5f, -0.5f, 1.49f, 2.5f, -2.5f, 100.2f, -63.7f, 0};
    si_block_q8_0 b;
    CHECK(si_quantize_row(SI_DTYPE_Q8_0, x, &b, 32) == 0);
    CHECK(b.d == 0x3c00); /* 1.0 */
    const int8_t want[10] = {127, -127, 1, -1, 1, 3, -3, 100, -64, 0};
    for (int j = 0; j < 32; j++) CHECKF(b.qs[j] == (j < 10 ? want[j] : 0), "q8_0 q[%d] = %d", j, b.qs[j]);
    /* All zero: scale 0, quants 0. */
    float z[32] = {0};
    CHECK(si_quantize_row(SI_DTYPE_Q8_0, z, &b, 32) == 0 && b.d == 0 && b.qs[5] == 0);
}

static void test_q4_0_known(void) {
    /* Largest magnitude -8: d = -8 / -8 = 1, q = round(x) + 8 clamped to 0..15. */
    float x[32] = {-8, 7, 0, 3.4f, -2.6f, 7.6f, 0.5f, -0.5f, 8};
    x[16] = 1;
    x[17] = -7.5f;
    si_block_q4_0 b;
    CHECK(si_quantize_row(SI_DTYPE_Q4_0, x, &b, 32) == 0);
    CHECK(b.d == 0x3c00);
    const uint8_t lo[9] = {0, 15, 8, 11, 5, 15, 9, 7, 15};
    const uint8_t hi[2] = {9, 0};
    for (int j = 0; j < 16; j++) {
        CHECKF((b.qs[j] & 15) == (j < 9 ? lo[j] : 8), "q4_0 low nibble %d = %d", j, b.qs[j] & 15);
        CHECKF((b.qs[j] >> 4) == (j < 2 ? hi[j] : 8), "q4_0 high nibble %d = %d", j, b.qs[j] >> 4);
    }
    /* Largest magnitude positive: d = 16 / -8 = -2; 16 -> 0, -14 -> 15, -16 -> 16 clamped to 15. */
    float y[32] = {16, -14, -16, 3};
    CHECK(si_quantize_row(SI_DTYPE_Q4_0, y, &b, 32) == 0);
    CHECK(b.d == si_f32_to_f16(-2.0f));
    CHECK((b.qs[0] & 15) == 0 && (b.qs[1] & 15) == 15 && (b.qs[2] & 15) == 15 && (b.qs[3] & 15) == 6);
}

static void test_q4_1_known(void) {
    /* min -1, max 14: d = 1, m = -1, q = round(x + 1). */
    float x[32];
    for (int j = 0; j < 32; j++) x[j] = 0;
    x[0] = -1;
    x[1] = 14;
    x[2] = 3.2f;
    x[3] = 0.5f;
    x[20] = 9.9f;
    si_block_q4_1 b;
    CHECK(si_quantize_row(SI_DTYPE_Q4_1, x, &b, 32) == 0);
    CHECK(b.d == 0x3c00 && b.m == si_f32_to_f16(-1.0f));
    CHECK((b.qs[0] & 15) == 0 && (b.qs[1] & 15) == 15 && (b.qs[2] & 15) == 4 && (b.qs[3] & 15) == 2);
    CHECK((b.qs[4] & 15) == 1 && (b.qs[4] >> 4) == 11);
    /* A constant block: d = 0, everything is m. */
    for (int j = 0; j < 32; j++) x[j] = 0.75f;
    float back[32];
    CHECK(si_quantize_row(SI_DTYPE_Q4_1, x, &b, 32) == 0 && b.d == 0);
    si_dequantize_row(SI_DTYPE_Q4_1, &b, back, 32);
    CHECK(back[0] == 0.75f && back[31] == 0.75f);
}

static void test_halves(void) {
    float x[6] = {1.0f, 65504.0f, 1.0f + 0x1p-11f, 1.0f + 3 * 0x1p-11f, -0.0f, 0x1p-24f};
    uint16_t h[6];
    CHECK(si_quantize_row(SI_DTYPE_F16, x, h, 6) == 0);
    CHECK(h[0] == 0x3c00 && h[1] == 0x7bff && h[2] == 0x3c00 && h[3] == 0x3c02 && h[4] == 0x8000 && h[5] == 0x0001);
    float y[3] = {1.0f, 1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f};
    CHECK(si_quantize_row(SI_DTYPE_BF16, y, h, 3) == 0);
    CHECK(h[0] == 0x3f80 && h[1] == 0x3f80 && h[2] == 0x3f82);
    /* Every finite half and bfloat16 converts back to its own bits. */
    int bad16 = 0, bad_bf = 0;
    for (uint32_t u = 0; u < 65536; u++) {
        uint16_t bits = (uint16_t)u, out;
        float v = si_f16_to_f32(bits);
        if (isfinite(v) && (si_quantize_row(SI_DTYPE_F16, &v, &out, 1) != 0 || out != bits)) bad16++;
        v = si_bf16_to_f32(bits);
        if (isfinite(v) && (si_quantize_row(SI_DTYPE_BF16, &v, &out, 1) != 0 || out != bits)) bad_bf++;
    }
    CHECKF(bad16 == 0 && bad_bf == 0, "%d F16 and %d BF16 values do not round-trip", bad16, bad_bf);
}

static void test_refusals(void) {
    float x[33] = {0};
    unsigned char out[64];
    CHECK(si_quantize_row(SI_DTYPE_Q8_0, x, out, 33) != 0);
    x[3] = NAN;
    CHECK(si_quantize_row(SI_DTYPE_Q4_1, x, out, 32) != 0);
    CHECK(si_quantize_row(SI_DTYPE_F32, x, out, 4) != 0);
    x[3] = 70000.0f;
    CHECK(si_quantize_row(SI_DTYPE_F16, x, out, 4) != 0);
    x[3] = 1e8f; /* the Q8_0 scale 1e8 / 127 is past f16's 65504 */
    CHECK(si_quantize_row(SI_DTYPE_Q8_0, x, out, 32) != 0);
    CHECK(strstr(si_error_message(), "f16") != NULL);
}

/* A deterministic bell-shaped sample (sum of uniforms), with occasional outliers like real weights. */
static float sample(uint64_t *state) {
    float s = 0;
    for (int k = 0; k < 4; k++) {
        *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
        s += (float)(*state >> 40) / (float)(1 << 24) - 0.5f;
    }
    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (*state >> 58) == 0 ? 8 * s : s; /* 1 in 64 is 8x larger */
}

/* quantize -> dequantize stays within each format's bound, block by block. */
static void test_error_bounds(void) {
    enum { N = 4096 };
    static float x[N], back[N];
    static unsigned char q[N * 2];
    uint64_t state = 12345;
    for (int i = 0; i < N; i++) x[i] = sample(&state) * 0.05f;
    const si_dtype types[] = {SI_DTYPE_Q8_0, SI_DTYPE_Q4_0, SI_DTYPE_Q4_1};
    for (int k = 0; k < 3; k++) {
        si_dtype t = types[k];
        CHECK(si_quantize_row(t, x, q, N) == 0);
        si_dequantize_row(t, q, back, N);
        int bad = 0;
        double sq = 0, scale_sq = 0;
        for (int blk = 0; blk < N / 32; blk++) {
            const unsigned char *b = q + (size_t)blk * si_dtype_block_bytes(t);
            uint16_t d16, m16 = 0;
            memcpy(&d16, b, 2);
            if (t == SI_DTYPE_Q4_1) memcpy(&m16, b + 2, 2);
            float d = fabsf(si_f16_to_f32(d16)), m = si_f16_to_f32(m16);
            scale_sq += (double)d * d;
            for (int j = 0; j < 32; j++) {
                int i = blk * 32 + j;
                float err = fabsf(x[i] - back[i]);
                sq += (double)err * err;
                /* Half a step everywhere, except Q4_0's far side (only 7 levels
                 * above zero: up to one step) and Q4_1's f16-rounded minimum. */
                float bound = 0.5f * d;
                if (t == SI_DTYPE_Q4_0) bound = d * (1 + 0x1p-10f); /* the stored scale may be 2^-11 smaller */
                if (t == SI_DTYPE_Q4_1) bound += fabsf(m) * 0x1p-10f;
                if (err > bound * 1.0001f + 1e-9f) bad++;
            }
        }
        double rms = sqrt(sq / N), mean_d = sqrt(scale_sq / (N / 32));
        /* Rounding error is uniform over a step: rms about d / sqrt(12) = 0.29 d
         * (d averaged as a root mean square, since the errors are). */
        CHECKF(bad == 0, "%s: %d elements past the bound", si_dtype_name(t), bad);
        CHECKF(rms < 0.35 * mean_d, "%s: rms error %g vs mean step %g", si_dtype_name(t), rms, mean_d);
        printf("%s: rms error %.3g, mean step %.3g\n", si_dtype_name(t), rms, mean_d);
    }
    /* F16 and BF16: relative error within half an ulp. */
    static uint16_t h[N], bh[N];
    CHECK(si_quantize_row(SI_DTYPE_F16, x, h, N) == 0 && si_quantize_row(SI_DTYPE_BF16, x, bh, N) == 0);
    int bad = 0;
    for (int i = 0; i < N; i++) {
        if (fabsf(x[i]) < 1e-4f) continue; /* f16 subnormals have absolute, not relative, steps */
        if (fabsf(si_f16_to_f32(h[i]) - x[i]) > fabsf(x[i]) * 0x1p-11f) bad++;
        if (fabsf(si_bf16_to_f32(bh[i]) - x[i]) > fabsf(x[i]) * 0x1p-8f) bad++;
    }
    CHECKF(bad == 0, "%d half-precision values past half an ulp", bad);
}

/* Q5_0, Q5_1 and the K types, on the same Gaussian values: each element
 * within half a step of its group (the scale as stored), plus what the
 * stored scales' own rounding can add: Q5_0 one more step on its far side
 * (as Q4_0); for the K types, whose group scales are 6- or 8-bit multiples
 * of the super-block's d (and minima of dmin), a group's range may need up
 * to levels * d / 2 more (and dmin / 2 for the minimum); rms as above. */
static void test_error_bounds_x(void) {
    enum { N = 4096 };
    static float x[N], back[N];
    static unsigned char q[N * 2];
    uint64_t state = 54321;
    for (int i = 0; i < N; i++) x[i] = sample(&state) * 0.05f;
    const si_dtype types[] = {SI_DTYPE_Q5_0, SI_DTYPE_Q5_1, SI_DTYPE_Q4_K, SI_DTYPE_Q5_K, SI_DTYPE_Q6_K};
    for (int k = 0; k < 5; k++) {
        si_dtype t = types[k];
        const int per = si_dtype_block_elems(t), levels = t == SI_DTYPE_Q4_K ? 15 : t == SI_DTYPE_Q6_K ? 63 : 31;
        CHECK(si_quantize_row(t, x, q, N) == 0);
        si_dequantize_row(t, q, back, N);
        int bad = 0, groups = 0;
        double sq = 0, scale_sq = 0;
        for (int blk = 0; blk < N / per; blk++) {
            const unsigned char *b = q + (size_t)blk * si_dtype_block_bytes(t);
            si_qunpacked u;
            CHECK(si_unpack_block(t, b, &u) == per);
            uint16_t h[2];
            memcpy(h, t == SI_DTYPE_Q6_K ? b + 208 : b, t == SI_DTYPE_Q6_K ? 2 : 4);
            float d = fabsf(si_f16_to_f32(h[0])), dmin = t == SI_DTYPE_Q6_K ? 0 : fabsf(si_f16_to_f32(h[1]));
            for (int g = 0; g < per / u.group; g++, groups++) scale_sq += (double)u.scale[g] * u.scale[g];
            for (int e = 0; e < per; e++) {
                int i = blk * per + e;
                float err = fabsf(x[i] - back[i]), step = fabsf(u.scale[e / u.group]);
                sq += (double)err * err;
                float bound = 0.5f * step;
                if (t == SI_DTYPE_Q5_0) bound = step * (1 + 0x1p-10f);
                if (t == SI_DTYPE_Q5_1) bound += fabsf(u.offset[0]) * 0x1p-10f;
                if (per == SI_QK) bound += levels * d / 2 + dmin / 2;
                if (err > bound * 1.0001f + 1e-9f) bad++;
            }
        }
        double rms = sqrt(sq / N), mean_d = sqrt(scale_sq / groups);
        CHECKF(bad == 0, "%s: %d elements past the bound", si_dtype_name(t), bad);
        CHECKF(rms < 0.35 * mean_d, "%s: rms error %g vs mean step %g", si_dtype_name(t), rms, mean_d);
        printf("%s: rms error %.3g, mean step %.3g\n", si_dtype_name(t), rms, mean_d);
    }
}

int main(void) {
    test_round_trip();
    test_misuse();
    test_q8_0_known();
    test_q4_0_known();
    test_q4_1_known();
    test_halves();
    test_refusals();
    test_error_bounds();
    test_error_bounds_x();
    return si_test_finish("test_gguf_writer");
}
