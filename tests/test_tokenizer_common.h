/* tests/test_tokenizer_common.h: helpers the tokenizer tests share (static,
 * included by each test_tokenizer*.c): loading the reference tokenizers and
 * reading the golden JSONL files. */
#ifndef SI_TEST_TOKENIZER_COMMON_H
#define SI_TEST_TOKENIZER_COMMON_H

#include "testutil.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/mapped_file.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* A reference tokenizer, or NULL (with a SKIP note) when its file is absent. */
static inline si_tokenizer *load_reference(const char *path, const char *name, const char *missing) {
    if (!path) {
        printf("SKIP %s parts: %s\n", name, missing);
        return NULL;
    }
    si_tokenizer *t = si_tokenizer_load(path);
    CHECKF(t != NULL, "loading %s: %s", path, si_error_message());
    return t;
}

/* SmolLM2 from the default model's GGUF. */
static inline si_tokenizer *load_smollm2(void) {
    return load_reference(si_test_model_path(), "smollm2",
                          "default model not found (run scripts/fetch-model.sh or set SWIFTINFER_MODEL)");
}

/* Llama-2 from ../shared/tokenizers/llama2/tokenizer.model. */
static inline si_tokenizer *load_llama2(void) {
    return load_reference(si_test_shared_path("tokenizers/llama2/tokenizer.model"), "llama2",
                          "../shared/tokenizers/llama2/tokenizer.model not found");
}

typedef struct {
    char *text; /* bytes of "text", or of "hex" decoded */
    size_t len;
    bool special, is_hex;
    int32_t *ids;
    int64_t n_ids;
} golden_case;

typedef struct {
    golden_case *c;
    size_t n;
} golden_set;

static inline int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

static inline bool golden_parse(json_t *o, golden_case *g) {
    json_t *text = json_object_get(o, "text"), *hex = json_object_get(o, "hex"), *ids = json_object_get(o, "ids");
    if ((!json_is_string(text) && !json_is_string(hex)) || !json_is_array(ids)) return false;
    g->is_hex = !json_is_string(text);
    g->special = json_is_true(json_object_get(o, "special"));
    size_t n = g->is_hex ? json_string_length(hex) / 2 : json_string_length(text);
    g->text = malloc(n + 1);
    g->len = n;
    if (g->is_hex) {
        const char *h = json_string_value(hex);
        for (size_t i = 0; i < n; i++) g->text[i] = (char)(hex_value(h[2 * i]) << 4 | hex_value(h[2 * i + 1]));
    } else {
        memcpy(g->text, json_string_value(text), n);
    }
    g->text[n] = '\0';
    g->n_ids = (int64_t)json_array_size(ids);
    g->ids = malloc(sizeof(int32_t) * (size_t)(g->n_ids + 1));
    for (int64_t i = 0; i < g->n_ids; i++) g->ids[i] = (int32_t)json_integer_value(json_array_get(ids, (size_t)i));
    return true;
}

/* Reads tests/golden/tokenizer_<name>.jsonl; an unreadable file is a failure. */
static inline golden_set golden_load(const char *name) {
    golden_set s = {NULL, 0};
    char rel[256];
    snprintf(rel, sizeof rel, "tests/golden/tokenizer_%s.jsonl", name);
    const char *path = si_test_source_path(rel);
    FILE *f = fopen(path, "r");
    CHECKF(f != NULL, "cannot open %s", path);
    if (!f) return s;
    char *line = NULL;
    size_t cap = 0, alloc = 0;
    while (getline(&line, &cap, f) > 0) {
        json_error_t err;
        /* JSON_ALLOW_NUL: one case holds a NUL character. */
        json_t *o = json_loads(line, JSON_ALLOW_NUL, &err);
        CHECKF(o != NULL, "%s: %s", path, o ? "" : err.text);
        if (!o) continue;
        if (s.n == alloc) {
            alloc = alloc ? alloc * 2 : 64;
            s.c = realloc(s.c, alloc * sizeof *s.c);
        }
        bool ok = golden_parse(o, &s.c[s.n]);
        CHECKF(ok, "%s: line %zu is not a golden case", path, s.n + 1);
        s.n += ok;
        json_decref(o);
    }
    free(line);
    fclose(f);
    CHECKF(s.n > 0, "%s has no cases", path);
    return s;
}

static inline void golden_free(golden_set *s) {
    for (size_t i = 0; i < s->n; i++) {
        free(s->c[i].text);
        free(s->c[i].ids);
    }
    free(s->c);
    s->c = NULL;
    s->n = 0;
}

/* Encodes into a freshly allocated array (sized by a first counting call). */
static inline int32_t *encode_all(const si_tokenizer *t, const char *text, size_t len, int flags, int64_t *n) {
    *n = si_tokenizer_encode(t, text, len, flags, NULL, 0);
    if (*n < 0) return NULL;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)(*n + 1));
    int64_t again = si_tokenizer_encode(t, text, len, flags, ids, *n);
    CHECK(again == *n);
    return ids;
}

/* ---- hand-made files ---- */
typedef struct {
    unsigned char *d;
    size_t n, cap;
} bytes;

static inline void put(bytes *b, const void *p, size_t n) {
    while (b->n + n > b->cap) b->d = realloc(b->d, b->cap = b->cap ? 2 * b->cap : 256);
    memcpy(b->d + b->n, p, n);
    b->n += n;
}

/* Writes a file into the test's scratch directory; returns its path. */
static inline const char *write_tmp(const char *name, const void *data, size_t n) {
    static char path[8][4096];
    static int next;
    char *p = path[next++ % 8];
    snprintf(p, 4096, "%s/%s", si_test_tmpdir(), name);
    CHECK(si_test_write_file(p, data, n) == 0);
    return p;
}

/* Loading must fail with a message containing needle. */
static inline void expect_fail(const char *path, const char *needle) {
    si_clear_error();
    si_tokenizer *t = si_tokenizer_load(path);
    const char *msg = si_error_message();
    CHECKF(t == NULL, "%s loaded, expected an error about \"%s\"", path, needle);
    CHECKF(strstr(msg, needle) != NULL, "error \"%s\" lacks \"%s\"", msg, needle);
    si_tokenizer_free(t);
}

/* Encoding text must give exactly the n_want ids that follow. */
static inline void expect_ids(const si_tokenizer *t, const char *text, int flags, int n_want, ...) {
    int32_t ids[64];
    int64_t n = si_tokenizer_encode(t, text, strlen(text), flags, ids, 64);
    bool same = n == n_want;
    va_list ap;
    va_start(ap, n_want);
    for (int i = 0; i < n_want; i++) {
        int32_t want = va_arg(ap, int32_t);
        same = same && ids[i] == want;
    }
    va_end(ap);
    CHECKF(same, "\"%s\": got %lld ids (first %d)", text, (long long)n, n > 0 ? ids[0] : -1);
}

#endif
