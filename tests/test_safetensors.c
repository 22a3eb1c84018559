/* tests/test_safetensors.c: the safetensors reader on a file written by the
 * reference Python package (tests/data/reference.safetensors, see
 * scripts/make_safetensors_fixture.py), a round trip through our writer
 * (single file and a sharded index written here), writer misuse, and hostile
 * headers and indexes: each must fail with an error naming the file. */
#include "testutil.h"

#include "format/safetensors.h"
#include "util/error.h"
#include "util/half.h"

#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

static const char *tmp_path(const char *name) {
    static char paths[4][4096];
    static int next;
    char *p = paths[next++ % 4];
    snprintf(p, 4096, "%s/%s", si_test_tmpdir(), name);
    return p;
}

static void expect_open_fails(const char *path, const char *what, const char *names, const char *needle) {
    si_clear_error();
    si_safetensors *s = si_safetensors_open(path);
    CHECKF(s == NULL, "%s: opened", what);
    if (s) {
        si_safetensors_close(s);
        return;
    }
    const char *msg = si_error_message();
    CHECKF(strstr(msg, names) != NULL, "%s: error does not name %s: %s", what, names, msg);
    CHECKF(strchr(msg, '\n') == NULL, "%s: error is not one line: %s", what, msg);
    CHECKF(strstr(msg, needle) != NULL, "%s: expected '%s' in: %s", what, needle, msg);
}

/* ---- a file written by the reference implementation ---- */

static void test_reference_file(void) {
    const char *path = si_test_source_path("tests/data/reference.safetensors");
    si_safetensors *s = si_safetensors_open(path);
    CHECKF(s != NULL, "%s", si_error_message());
    if (!s) return;
    CHECK(si_safetensors_n_tensors(s) == 3);
    const si_tensor *e = si_safetensors_find(s, "model.embed.weight"), *n = si_safetensors_find(s, "model.norm.weight"),
                    *w = si_safetensors_find(s, "model.layers.0.w");
    CHECK(e && n && w && !si_safetensors_find(s, "__metadata__") && !si_safetensors_find(s, "model"));
    if (!e || !n || !w) goto done;
    CHECK(e->dtype == SI_DTYPE_F32 && e->n_dims == 2 && e->ne[0] == 3 && e->ne[1] == 2 && e->ne[2] == 1);
    CHECK(n->dtype == SI_DTYPE_F16 && n->n_dims == 1 && n->ne[0] == 3 && n->nbytes == 6);
    CHECK(w->dtype == SI_DTYPE_BF16 && w->n_dims == 3 && w->ne[0] == 4 && w->ne[1] == 3 && w->ne[2] == 2);
    float v[24];
    si_dequantize_row(e->dtype, e->data, v, 6);
    CHECK(v[0] == 0.0f && v[1] == 0.5f && v[5] == 2.5f); /* row-major: [1][2] is the last */
    si_dequantize_row(n->dtype, n->data, v, 3);
    CHECK(v[0] == 1.0f && v[1] == -2.0f && v[2] == 3.5f);
    si_dequantize_row(w->dtype, w->data, v, 24);
    CHECK(v[0] == -12.0f && v[4] == -8.0f && v[23] == 11.0f);
done:
    si_safetensors_close(s);
}

/* ---- round trip through the writer ---- */

typedef struct {
    const char *name;
    si_dtype dtype;
    int n_dims;
    int64_t shape[4];
    size_t nbytes;
    unsigned char bytes[64];
} sample;

/* An odd F16 count before the F32 tensor: data need not be aligned. */
static sample samples[] = {
    {"a", SI_DTYPE_F32, 2, {2, 3}, 24, {0}},
    {"b.half", SI_DTYPE_F16, 1, {5}, 10, {0}},
    {"c.bf16", SI_DTYPE_BF16, 3, {2, 1, 4}, 16, {0}},
    {"scalar", SI_DTYPE_F32, 0, {0}, 4, {0}},
};
#define N_SAMPLES (sizeof samples / sizeof samples[0])

static void fill_samples(void) {
    for (size_t i = 0; i < N_SAMPLES; i++)
        for (size_t j = 0; j < samples[i].nbytes; j++) samples[i].bytes[j] = (unsigned char)(17 * i + 3 * j + 1);
}

/* Writes samples [from, to); the data goes through in pieces of `piece` bytes. */
static int write_samples(const char *path, size_t from, size_t to, size_t piece) {
    si_safetensors_writer *w = si_safetensors_writer_create(path);
    if (!w) return -1;
    for (size_t i = from; i < to; i++)
        if (si_safetensors_writer_add(w, samples[i].name, samples[i].dtype, samples[i].n_dims, samples[i].shape)) {
            si_safetensors_writer_finish(w);
            return -1;
        }
    int rc = si_safetensors_writer_begin_data(w);
    for (size_t i = from; rc == 0 && i < to; i++)
        for (size_t j = 0; rc == 0 && j < samples[i].nbytes; j += piece) {
            size_t n = samples[i].nbytes - j < piece ? samples[i].nbytes - j : piece;
            rc = si_safetensors_writer_write(w, samples[i].bytes + j, n);
        }
    return si_safetensors_writer_finish(w) || rc ? -1 : 0;
}

static void check_samples(const si_safetensors *s, size_t from, size_t to) {
    for (size_t i = from; i < to; i++) {
        const sample *x = &samples[i];
        const si_tensor *t = si_safetensors_find(s, x->name);
        CHECKF(t != NULL, "%s missing", x->name);
        if (!t) continue;
        CHECKF(t->dtype == x->dtype && t->n_dims == x->n_dims && t->nbytes == x->nbytes, "%s header", x->name);
        for (int d = 0; d < x->n_dims; d++) CHECKF(t->ne[d] == x->shape[x->n_dims - 1 - d], "%s ne[%d]", x->name, d);
        for (int d = x->n_dims; d < 4; d++) CHECK(t->ne[d] == 1);
        CHECKF(memcmp(t->data, x->bytes, x->nbytes) == 0, "%s data", x->name);
    }
}

static void test_round_trip(void) {
    const char *path = tmp_path("one.safetensors");
    CHECKF(write_samples(path, 0, N_SAMPLES, 3) == 0, "%s", si_error_message());
    unsigned char head[8];
    FILE *f = fopen(path, "rb");
    CHECK(f && fread(head, 1, 8, f) == 8);
    if (f) fclose(f);
    uint64_t header_len;
    memcpy(&header_len, head, 8);
    CHECKF(header_len % 8 == 0 && header_len < 1000, "header length %llu", (unsigned long long)header_len);
    si_safetensors *s = si_safetensors_open(path);
    CHECKF(s != NULL, "%s", si_error_message());
    if (!s) return;
    CHECK(si_safetensors_n_tensors(s) == (int64_t)N_SAMPLES);
    CHECK(strcmp(si_safetensors_tensor(s, 0)->name, "a") == 0 && si_safetensors_tensor(s, (int64_t)N_SAMPLES) == NULL);
    check_samples(s, 0, N_SAMPLES);
    si_safetensors_close(s);

    /* a folder holding model.safetensors */
    const char *dir = tmp_path("single");
    mkdir(dir, 0755);
    char file[4200];
    snprintf(file, sizeof file, "%s/model.safetensors", dir);
    CHECK(write_samples(file, 0, 2, 1000) == 0);
    s = si_safetensors_open(dir);
    CHECKF(s && si_safetensors_n_tensors(s) == 2, "folder: %s", si_error_message());
    if (s) check_samples(s, 0, 2);
    si_safetensors_close(s);
}

/* si_safetensors_open_memory: the file's bytes from a buffer read the same;
 * a buffer cut short fails naming it. */
static void test_memory(void) {
    const char *path = tmp_path("memory.safetensors");
    CHECK(write_samples(path, 0, N_SAMPLES, 64) == 0);
    FILE *f = fopen(path, "rb");
    unsigned char bytes[1024];
    size_t n = f ? fread(bytes, 1, sizeof bytes, f) : 0;
    if (f) fclose(f);
    CHECK(n > 0 && n < sizeof bytes);
    si_safetensors *s = si_safetensors_open_memory(bytes, n, "in memory");
    CHECKF(s && si_safetensors_n_tensors(s) == (int64_t)N_SAMPLES, "open_memory: %s", si_error_message());
    if (s) check_samples(s, 0, N_SAMPLES);
    si_safetensors_close(s);
    si_clear_error();
    CHECK(si_safetensors_open_memory(bytes, n - 1, "cut buffer") == NULL && strstr(si_error_message(), "cut buffer: "));
    CHECK(si_safetensors_open_memory(NULL, 0, "no buffer") == NULL && strstr(si_error_message(), "too small"));
}

static void test_writer_misuse(void) {
    const char *path = tmp_path("misuse.safetensors");
    int64_t shape[5] = {2, 2, 2, 2, 2};
    si_safetensors_writer *w = si_safetensors_writer_create(path);
    CHECK(w != NULL);
    if (!w) return;
    CHECK(si_safetensors_writer_add(w, "q", SI_DTYPE_Q8_0, 1, shape) == -1);
    CHECK(strstr(si_error_message(), path) && strstr(si_error_message(), "cannot be written"));
    CHECK(si_safetensors_writer_add(w, "five", SI_DTYPE_F32, 5, shape) == -1);
    CHECK(si_safetensors_writer_add(w, "__metadata__", SI_DTYPE_F32, 1, shape) == -1);
    int64_t zero = 0;
    CHECK(si_safetensors_writer_add(w, "zero", SI_DTYPE_F32, 1, &zero) == -1);
    CHECK(si_safetensors_writer_write(w, "x", 1) == -1); /* before begin_data */
    CHECK(si_safetensors_writer_add(w, "x", SI_DTYPE_F16, 1, shape) == 0);
    CHECK(si_safetensors_writer_begin_data(w) == 0);
    CHECK(si_safetensors_writer_add(w, "late", SI_DTYPE_F16, 1, shape) == -1);
    CHECK(si_safetensors_writer_write(w, "abcdef", 6) == -1); /* 4 declared */
    CHECK(si_safetensors_writer_write(w, "ab", 2) == 0);
    CHECK(si_safetensors_writer_finish(w) == -1); /* 2 of 4 bytes */
    CHECK(strstr(si_error_message(), "2 of 4"));
    struct stat st;
    CHECK(stat(path, &st) != 0); /* the partial file is removed */

    w = si_safetensors_writer_create(path);
    CHECK(w && si_safetensors_writer_add(w, "x", SI_DTYPE_F16, 1, shape) == 0);
    CHECK(w && si_safetensors_writer_add(w, "x", SI_DTYPE_F32, 1, shape) == 0);
    CHECK(w && si_safetensors_writer_begin_data(w) == -1 && strstr(si_error_message(), "declared twice"));
    if (w) CHECK(si_safetensors_writer_finish(w) == -1);
    CHECK(si_safetensors_writer_create("/nonexistent-dir/x.safetensors") == NULL);
    CHECK(strstr(si_error_message(), "/nonexistent-dir/x.safetensors"));
}

/* ---- sharded ---- */

static void write_text(const char *path, const char *text) {
    if (si_test_write_file(path, text, strlen(text)) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
}

static const char *shard_dir(void) {
    static char dir[4096];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "%s", tmp_path("sharded"));
        mkdir(dir, 0755);
    }
    return dir;
}

static const char *in_shard_dir(const char *name) {
    static char paths[2][4200];
    static int next;
    char *p = paths[next++ % 2];
    snprintf(p, 4200, "%s/%s", shard_dir(), name);
    return p;
}

static void test_sharded(void) {
    CHECK(write_samples(in_shard_dir("model-00001-of-00002.safetensors"), 0, 2, 7) == 0);
    CHECK(write_samples(in_shard_dir("model-00002-of-00002.safetensors"), 2, N_SAMPLES, 7) == 0);
    const char *index = in_shard_dir("model.safetensors.index.json");
    write_text(index, "{\"metadata\": {\"total_size\": 54}, \"weight_map\": {"
                      "\"a\": \"model-00001-of-00002.safetensors\", \"c.bf16\": \"model-00002-of-00002.safetensors\","
                      "\"b.half\": \"model-00001-of-00002.safetensors\", \"scalar\": \"model-00002-of-00002.safetensors\"}}");
    const char *opens[2] = {shard_dir(), index};
    for (int i = 0; i < 2; i++) {
        si_safetensors *s = si_safetensors_open(opens[i]);
        CHECKF(s != NULL, "%s: %s", opens[i], si_error_message());
        if (!s) continue;
        CHECK(si_safetensors_n_tensors(s) == (int64_t)N_SAMPLES);
        check_samples(s, 0, N_SAMPLES);
        si_safetensors_close(s);
    }

    static const struct {
        const char *what, *weight_map, *needle;
    } bad[] = {
        {"dot-dot shard", "{\"a\": \"../model-00001-of-00002.safetensors\"}", "not a plain file name"},
        {"dot-dot inside", "{\"a\": \"x..safetensors\"}", "not a plain file name"},
        {"shard in a folder", "{\"a\": \"sub/model.safetensors\"}", "not a plain file name"},
        {"absolute shard", "{\"a\": \"/etc/passwd\"}", "not a plain file name"},
        {"empty shard name", "{\"a\": \"\"}", "not a plain file name"},
        {"shard not a string", "{\"a\": 3}", "is not a string"},
        {"wrong shard", "{\"a\": \"model-00002-of-00002.safetensors\"}", "which does not hold it"},
        {"absent tensor", "{\"zz\": \"model-00002-of-00002.safetensors\"}", "which does not hold it"},
        {"map not an object", "[]", "no weight_map object"},
    };
    const char *bad_index = in_shard_dir("bad.index.json");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[512];
        snprintf(text, sizeof text, "{\"weight_map\": %s}", bad[i].weight_map);
        write_text(bad_index, text);
        expect_open_fails(bad_index, bad[i].what, bad_index, bad[i].needle);
    }
    write_text(bad_index, "{\"weight_map\": {\"a\": \"absent.safetensors\"}}");
    expect_open_fails(bad_index, "missing shard", "absent.safetensors", "cannot open");
    write_text(bad_index, "{\"weight_map\": {\"a\": ");
    expect_open_fails(bad_index, "truncated index", bad_index, "invalid JSON");

    /* the same tensor name in two shards */
    CHECK(write_samples(in_shard_dir("dup.safetensors"), 0, 1, 64) == 0);
    write_text(bad_index, "{\"weight_map\": {\"a\": \"model-00001-of-00002.safetensors\", \"b\": \"dup.safetensors\"}}");
    expect_open_fails(bad_index, "duplicate across shards", "dup.safetensors", "'a' appears twice");
}

/* ---- hostile single files ---- */

static const char *write_raw(const char *name, uint64_t header_len, const char *json, size_t data_bytes) {
    const char *path = tmp_path(name);
    size_t n = strlen(json);
    unsigned char *b = calloc(1, 8 + n + data_bytes);
    if (!b) abort();
    memcpy(b, &header_len, 8);
    memcpy(b + 8, json, n);
    si_test_write_file(path, b, 8 + n + data_bytes);
    free(b);
    return path;
}

static void test_hostile_headers(void) {
    static const struct {
        const char *what, *json, *needle;
    } bad[] = {
        {"invalid JSON", "{\"a\": {\"dtype\": \"F32\",", "invalid JSON header"},
        {"not an object", "[1, 2]", "not a JSON object"},
        {"duplicate key", "{\"a\": {}, \"a\": {}}", "invalid JSON header"},
        {"entry not an object", "{\"a\": 5}", "tensor 'a': entry is not an object"},
        {"unknown dtype I8", "{\"a\": {\"dtype\": \"I8\", \"shape\": [4], \"data_offsets\": [0, 4]}}",
         "tensor 'a': unsupported dtype I8"},
        {"unknown dtype F64", "{\"a\": {\"dtype\": \"F64\", \"shape\": [1], \"data_offsets\": [0, 8]}}",
         "unsupported dtype F64"},
        {"dtype missing", "{\"a\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", "dtype is missing"},
        {"5 dimensions", "{\"a\": {\"dtype\": \"F32\", \"shape\": [1,1,1,1,1], \"data_offsets\": [0, 4]}}", "5 dimensions"},
        {"zero dimension", "{\"a\": {\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [0, 0]}}", "shape[0]"},
        {"negative dimension", "{\"a\": {\"dtype\": \"F32\", \"shape\": [2, -1], \"data_offsets\": [0, 4]}}", "shape[1]"},
        {"fractional dimension", "{\"a\": {\"dtype\": \"F32\", \"shape\": [1.5], \"data_offsets\": [0, 4]}}", "shape[0]"},
        {"shape overflow", "{\"a\": {\"dtype\": \"F32\", \"shape\": [1099511627776, 1099511627776], \"data_offsets\": [0, 4]}}",
         "overflows"},
        {"offsets out of range", "{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [16, 32]}}",
         "run past the data section (16 bytes)"},
        {"huge offsets", "{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 9223372036854775807]}}",
         "run past the data section"},
        {"offsets reversed", "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [8, 4]}}", "not in order"},
        {"negative offset", "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [-4, 0]}}", "not in order"},
        {"offsets not integers", "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, \"4\"]}}",
         "not an array of two integers"},
        {"size mismatch", "{\"a\": {\"dtype\": \"F16\", \"shape\": [4], \"data_offsets\": [0, 16]}}",
         "hold 16 bytes, but the dtype and shape need 8"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *path = write_raw("bad.safetensors", strlen(bad[i].json), bad[i].json, 16);
        expect_open_fails(path, bad[i].what, path, bad[i].needle);
    }

    const char *ok_json = "{\"__metadata__\": {\"anything\": [1, {}]}, \"a\": {\"dtype\": \"F32\", \"shape\": [4], "
                          "\"data_offsets\": [0, 16]}}";
    const char *path = write_raw("ok.safetensors", strlen(ok_json), ok_json, 16);
    si_safetensors *s = si_safetensors_open(path);
    CHECKF(s && si_safetensors_n_tensors(s) == 1, "metadata ignored: %s", si_error_message());
    si_safetensors_close(s);

    path = write_raw("huge.safetensors", (uint64_t)1 << 40, ok_json, 16);
    expect_open_fails(path, "huge header length", path, "exceeds the limit");
    path = write_raw("long.safetensors", strlen(ok_json) + 17, ok_json, 16);
    expect_open_fails(path, "header past the end", path, "runs past the end of the file");
    path = write_raw("short.safetensors", 1, "", 0);
    expect_open_fails(path, "file of 8 bytes", path, "header length 1 runs past the end of the file (8 bytes)");
    path = write_raw("empty.safetensors", 0, "", 0);
    expect_open_fails(path, "empty header", path, "invalid JSON header");
    path = tmp_path("tiny.safetensors");
    si_test_write_file(path, "\x10\0\0", 3);
    expect_open_fails(path, "file of 3 bytes", path, "too small");
    /* the data section ends one byte early */
    path = write_raw("cut.safetensors", strlen(ok_json), ok_json, 15);
    expect_open_fails(path, "truncated data", path, "run past the data section (15 bytes)");
    expect_open_fails(tmp_path("absent.safetensors"), "absent file", "absent.safetensors", "cannot open");
    const char *empty_dir = tmp_path("empty");
    mkdir(empty_dir, 0755);
    expect_open_fails(empty_dir, "empty folder", empty_dir, "holds neither");
}

int main(void) {
    fill_samples();
    test_reference_file();
    test_round_trip();
    test_memory();
    test_writer_misuse();
    test_sharded();
    test_hostile_headers();
    return si_test_finish("test_safetensors");
}
