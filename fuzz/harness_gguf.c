/* fuzz/harness_gguf.c: a GGUF file's bytes. Opened from memory (so that
 * ASan sees every read against the input's exact end), then walked as the
 * engine walks it: every metadata entry through every getter, every tensor's
 * first and last byte, the tokenizer the metadata describes, and, for a
 * llama architecture, the model loader's shape checks. */
#include "harness.h"

#include "format/gguf.h"
#include "model/llama.h"
#include "tokenizer/tokenizer.h"

#include <string.h>

static void walk_metadata(const si_gguf *g) {
    int64_t n = si_gguf_n_kv(g);
    SI_FUZZ_CHECK(n >= 0 && n <= SI_GGUF_MAX_KV, "%lld metadata entries", (long long)n);
    for (int64_t i = 0; i < n; i++) {
        const char *key = si_gguf_kv_key(g, i), *s;
        SI_FUZZ_CHECK(key && *key && strlen(key) <= SI_GGUF_MAX_NAME, "key %lld", (long long)i);
        size_t len;
        uint32_t u;
        int64_t v;
        float f;
        bool b;
        si_gguf_type et;
        uint64_t count;
        const void *data;
        si_gguf_get_u32(g, key, &u), si_gguf_get_i64(g, key, &v), si_gguf_get_f32(g, key, &f);
        si_gguf_get_bool(g, key, &b);
        if (si_gguf_get_str(g, key, &s, &len) == 0) {
            SI_FUZZ_CHECK(len <= SI_GGUF_MAX_STRING, "string of %zu bytes", len);
            volatile char last = len ? s[len - 1] : 0;
            (void)last;
        }
        if (si_gguf_get_arr(g, key, &et, &count, &data) != 0) continue;
        SI_FUZZ_CHECK(count <= SI_GGUF_MAX_ARRAY, "array of %llu", (unsigned long long)count);
        if (data && count) {
            volatile unsigned char last = ((const unsigned char *)data)[count * si_gguf_type_size(et) - 1];
            (void)last;
        }
        /* Every string element is reachable; a sample keeps huge arrays fast. */
        for (uint64_t j = 0; et == SI_GGUF_STRING && j < count; j = j < 64 ? j + 1 : j * 2 + 1) {
            SI_FUZZ_CHECK(si_gguf_arr_str(g, key, j, &s, &len) == 0, "element %llu of %s", (unsigned long long)j, key);
            volatile char last = len ? s[len - 1] : 0;
            (void)last;
        }
        if (et == SI_GGUF_STRING) SI_FUZZ_CHECK(si_gguf_arr_str(g, key, count, &s, &len) < 0, "element past the end");
    }
    SI_FUZZ_CHECK(si_gguf_kv_key(g, n) == NULL && si_gguf_kv_key(g, -1) == NULL, "keys out of range");
}

static void walk_tensors(const si_gguf *g, const uint8_t *data, size_t size) {
    int64_t n = si_gguf_n_tensors(g);
    SI_FUZZ_CHECK(n >= 0 && n <= SI_GGUF_MAX_TENSORS, "%lld tensors", (long long)n);
    for (int64_t i = 0; i < n; i++) {
        const si_tensor *t = si_gguf_tensor(g, i);
        SI_FUZZ_CHECK(t && t->name && si_gguf_find_tensor(g, t->name) == t, "tensor %lld lookup", (long long)i);
        SI_FUZZ_CHECK(t->n_dims >= 1 && t->n_dims <= SI_MAX_DIMS, "%d dims", t->n_dims);
        for (int d = 0; d < SI_MAX_DIMS; d++)
            SI_FUZZ_CHECK(t->ne[d] >= 1 && t->ne[d] <= SI_GGUF_MAX_DIM, "dimension %lld", (long long)t->ne[d]);
        /* The documented promise: every tensor lies inside the file. */
        const uint8_t *p = t->data;
        SI_FUZZ_CHECK(p >= data && (size_t)(p - data) <= size && t->nbytes <= size - (size_t)(p - data),
                      "tensor '%s' (%zu bytes) outside the file", t->name, t->nbytes);
        SI_FUZZ_CHECK(t->nbytes == si_dtype_row_bytes(t->dtype, t->ne[0]) * (size_t)(t->ne[1] * t->ne[2] * t->ne[3]),
                      "tensor '%s' size", t->name);
        volatile uint8_t first = p[0], last = p[t->nbytes - 1];
        (void)first, (void)last;
        /* Any bytes are a valid block: the first row of a few tensors
         * dequantized (the block decoders see arbitrary scales and codes). */
        if (i < 8 && t->ne[0] <= 4096) {
            float row[4096];
            si_dequantize_row(t->dtype, p, row, t->ne[0]);
            volatile float v = row[t->ne[0] - 1];
            (void)v;
        }
    }
}

/* The model loader takes a path: the same bytes through a memfd. */
static void load_model(const uint8_t *data, size_t size) {
    si_llama *m = si_llama_load(si_fuzz_memfile(data, size));
    if (!m) return;
    const si_hparams *h = &m->hp;
    SI_FUZZ_CHECK(h->n_layers >= 1 && h->dim >= 1 && h->head_dim >= 2 && h->n_kv_heads >= 1 &&
                      h->n_heads % h->n_kv_heads == 0 && m->tok_embd && m->output && m->layers,
                  "model accepted with bad hyperparameters");
    si_llama_free(m);
}

int si_fuzz_gguf(const uint8_t *data, size_t size) {
    si_gguf *g = si_gguf_open_memory(data, size, "fuzz.gguf");
    if (!g) {
        si_fuzz_refused("fuzz.gguf");
        return 0;
    }
    si_fuzz_accepted++;
    SI_FUZZ_CHECK(si_gguf_version(g) == 2 || si_gguf_version(g) == 3, "version %u", si_gguf_version(g));
    walk_metadata(g);
    walk_tensors(g, data, size);
    si_tokenizer *t = si_tokenizer_from_gguf(g);
    if (t) {
        si_fuzz_exercise_tokenizer(t);
        si_tokenizer_free(t);
    }
    const char *arch;
    size_t len;
    bool llama = si_gguf_get_str(g, "general.architecture", &arch, &len) == 0 && len == 5 && !memcmp(arch, "llama", 5);
    si_gguf_close(g);
    if (llama) load_model(data, size);
    return 0;
}
