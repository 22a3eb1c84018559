/* engine/save_gguf_meta.c: the metadata of a GGUF written by
 * si_model_save_gguf: general.* (with the source's descriptive keys), the
 * llama.* hyperparameters the loader reads, and the tokenizer. */
#include "save_gguf.h"

#include "../format/gguf.h"
#include "../format/gguf_writer.h"
#include "../tokenizer/save_gguf.h"

#include <stdio.h>
#include <string.h>

static int set_str(si_gguf_writer *w, const char *key, const char *s) {
    return si_gguf_writer_set_str(w, key, s, strlen(s));
}

/* general.name: the source's, else the file or folder name. */
static int write_name(si_gguf_writer *w, const si_llama *l) {
    const char *s;
    size_t len;
    if (l->gguf && si_gguf_get_str(l->gguf, "general.name", &s, &len) == 0)
        return si_gguf_writer_set_str(w, "general.name", s, len);
    char base[512];
    snprintf(base, sizeof base, "%s", l->path);
    size_t n = strlen(base);
    while (n > 1 && base[n - 1] == '/') base[--n] = '\0';
    const char *slash = strrchr(base, '/');
    const char *name = slash ? slash + 1 : base;
    n = strlen(name);
    if (n > 5 && strcmp(name + n - 5, ".gguf") == 0) n -= 5;
    return si_gguf_writer_set_str(w, "general.name", name, n);
}

/* The source file's descriptive general.* keys (license, organization,
 * languages...): strings, string arrays and 32-bit counts; the keys this
 * writer sets itself are not copied. */
static int copy_general(si_gguf_writer *w, const si_gguf *g) {
    static const char *const OWN[] = {"general.architecture", "general.name", "general.file_type",
                                      "general.quantization_version", "general.alignment"};
    for (int64_t i = 0; i < si_gguf_n_kv(g); i++) {
        const char *key = si_gguf_kv_key(g, i);
        bool own = strncmp(key, "general.", 8) != 0;
        for (size_t k = 0; k < sizeof OWN / sizeof OWN[0]; k++) own |= strcmp(key, OWN[k]) == 0;
        if (own) continue;
        const char *s;
        size_t len;
        uint32_t u;
        si_gguf_type et;
        uint64_t n;
        const void *data;
        switch (si_gguf_kv_type(g, i)) {
        case SI_GGUF_STRING:
            if (si_gguf_get_str(g, key, &s, &len) || si_gguf_writer_set_str(w, key, s, len)) return -1;
            break;
        case SI_GGUF_UINT32:
            if (si_gguf_get_u32(g, key, &u) || si_gguf_writer_set_u32(w, key, u)) return -1;
            break;
        case SI_GGUF_ARRAY:
            if (si_gguf_get_arr(g, key, &et, &n, &data)) return -1;
            if (et != SI_GGUF_STRING) break;
            if (si_gguf_writer_begin_arr(w, key, SI_GGUF_STRING, n)) return -1;
            for (uint64_t k = 0; k < n; k++)
                if (si_gguf_arr_str(g, key, k, &s, &len) || si_gguf_writer_arr_str(w, s, len)) return -1;
            break;
        default: break;
        }
    }
    return 0;
}

static int write_hparams(si_gguf_writer *w, const si_hparams *h) {
    if (si_gguf_writer_set_u32(w, "llama.block_count", (uint32_t)h->n_layers) ||
        si_gguf_writer_set_u32(w, "llama.context_length", (uint32_t)h->ctx_train) ||
        si_gguf_writer_set_u32(w, "llama.embedding_length", (uint32_t)h->dim) ||
        si_gguf_writer_set_u32(w, "llama.feed_forward_length", (uint32_t)h->ffn_dim) ||
        si_gguf_writer_set_u32(w, "llama.attention.head_count", (uint32_t)h->n_heads) ||
        si_gguf_writer_set_u32(w, "llama.attention.head_count_kv", (uint32_t)h->n_kv_heads) ||
        si_gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", h->norm_eps) ||
        si_gguf_writer_set_f32(w, "llama.rope.freq_base", h->rope_theta) ||
        si_gguf_writer_set_u32(w, "llama.rope.dimension_count", (uint32_t)h->head_dim) ||
        si_gguf_writer_set_u32(w, "llama.vocab_size", (uint32_t)h->n_vocab))
        return -1;
    /* Only where the head size is not the default dim / n_heads (Mistral-style). */
    if (h->head_dim * h->n_heads != h->dim &&
        (si_gguf_writer_set_u32(w, "llama.attention.key_length", (uint32_t)h->head_dim) ||
         si_gguf_writer_set_u32(w, "llama.attention.value_length", (uint32_t)h->head_dim)))
        return -1;
    if (h->rope_linear_scale != 1.0f &&
        (set_str(w, "llama.rope.scaling.type", "linear") ||
         si_gguf_writer_set_f32(w, "llama.rope.scaling.factor", h->rope_linear_scale)))
        return -1;
    return 0;
}

int si_save_gguf_metadata(si_gguf_writer *w, const si_model *m, uint32_t file_type, bool quantized) {
    if (set_str(w, "general.architecture", "llama") || write_name(w, m->llama) ||
        si_gguf_writer_set_u32(w, "general.file_type", file_type) ||
        (quantized && si_gguf_writer_set_u32(w, "general.quantization_version", 2)) ||
        (m->llama->gguf && copy_general(w, m->llama->gguf)) || write_hparams(w, &m->llama->hp))
        return -1;
    return si_tokenizer_write_gguf_meta(m->tok, w);
}

