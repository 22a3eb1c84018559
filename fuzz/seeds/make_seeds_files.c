/* fuzz/seeds/make_seeds_files.c: model and tokenizer file seeds, small but
 * real: the default model's header, metadata and tensor table with its
 * vocabulary cut to its first N_TOKENS tokens (and the merges among them)
 * and every tensor shrunk to one block; a tiny consistent llama model with
 * that tokenizer; Llama-2's tokenizer.model cut to its first N_TOKENS
 * pieces, and the same as GGUF metadata; the tokenizer.json (with
 * tokenizer_config.json) the cut SmolLM2 tokenizer saves as, and the
 * Llama-3 test tokenizer. */
#include "make_seeds.h"

#include "format/gguf.h"
#include "format/gguf_writer.h"
#include "tokenizer/protobuf.h"
#include "tokenizer/save_gguf.h"
#include "tokenizer/tokenizer.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_TOKENS 600

static void check(int rc, const char *what) {
    if (rc != 0) seed_die("%s: %s", what, si_last_error());
}

/* ---- copying GGUF metadata ---- */

static bool kept_merge(const si_tokenizer *full, const char *s, size_t len) {
    char text[1024];
    const char *sp = memchr(s, ' ', len);
    if (!sp || len >= sizeof text) return false;
    size_t la = (size_t)(sp - s);
    memcpy(text, s, la);
    text[la] = '\0';
    int32_t a = si_token_find(full, text);
    memcpy(text, sp + 1, len - la - 1);
    text[len - la - 1] = '\0';
    int32_t b = si_token_find(full, text);
    memcpy(text, s, la);
    memcpy(text + la, sp + 1, len - la - 1);
    text[len - 1] = '\0';
    int32_t ab = si_token_find(full, text);
    return a >= 0 && a < N_TOKENS && b >= 0 && b < N_TOKENS && ab >= 0 && ab < N_TOKENS;
}

static void copy_string_array(const si_gguf *g, si_gguf_writer *w, const char *key, uint64_t count,
                              const si_tokenizer *full) {
    bool merges = !strcmp(key, "tokenizer.ggml.merges");
    bool tokens = !strcmp(key, "tokenizer.ggml.tokens");
    uint64_t keep = 0;
    const char *s;
    size_t len;
    for (uint64_t i = 0; i < count; i++) {
        check(si_gguf_arr_str(g, key, i, &s, &len), key);
        keep += merges ? kept_merge(full, s, len) : !tokens || i < N_TOKENS;
    }
    check(si_gguf_writer_begin_arr(w, key, SI_GGUF_STRING, keep), key);
    for (uint64_t i = 0; i < count; i++) {
        check(si_gguf_arr_str(g, key, i, &s, &len), key);
        if (merges ? kept_merge(full, s, len) : !tokens || i < N_TOKENS) check(si_gguf_writer_arr_str(w, s, len), key);
    }
}

/* Copies one entry, with the per-token arrays cut to N_TOKENS. */
static void copy_kv(const si_gguf *g, si_gguf_writer *w, int64_t i, const si_tokenizer *full) {
    const char *key = si_gguf_kv_key(g, i);
    si_gguf_type type = si_gguf_kv_type(g, i);
    int64_t v = 0;
    float f = 0;
    bool b = false;
    const char *s;
    size_t len;
    si_gguf_get_i64(g, key, &v), si_gguf_get_f32(g, key, &f), si_gguf_get_bool(g, key, &b);
    switch (type) {
    case SI_GGUF_UINT8: check(si_gguf_writer_set_u8(w, key, (uint8_t)v), key); break;
    case SI_GGUF_INT8: check(si_gguf_writer_set_i8(w, key, (int8_t)v), key); break;
    case SI_GGUF_UINT16: check(si_gguf_writer_set_u16(w, key, (uint16_t)v), key); break;
    case SI_GGUF_INT16: check(si_gguf_writer_set_i16(w, key, (int16_t)v), key); break;
    case SI_GGUF_UINT32: check(si_gguf_writer_set_u32(w, key, (uint32_t)v), key); break;
    case SI_GGUF_INT32: check(si_gguf_writer_set_i32(w, key, (int32_t)v), key); break;
    case SI_GGUF_UINT64: check(si_gguf_writer_set_u64(w, key, (uint64_t)v), key); break;
    case SI_GGUF_INT64: check(si_gguf_writer_set_i64(w, key, v), key); break;
    case SI_GGUF_FLOAT32: check(si_gguf_writer_set_f32(w, key, f), key); break;
    case SI_GGUF_FLOAT64: check(si_gguf_writer_set_f64(w, key, f), key); break;
    case SI_GGUF_BOOL: check(si_gguf_writer_set_bool(w, key, b), key); break;
    case SI_GGUF_STRING:
        check(si_gguf_get_str(g, key, &s, &len), key);
        check(si_gguf_writer_set_str(w, key, s, len), key);
        break;
    case SI_GGUF_ARRAY: {
        si_gguf_type et;
        uint64_t count;
        const void *data;
        check(si_gguf_get_arr(g, key, &et, &count, &data), key);
        if (et == SI_GGUF_STRING) {
            copy_string_array(g, w, key, count, full);
        } else {
            if (!strncmp(key, "tokenizer.ggml.", 15) && count > N_TOKENS) count = N_TOKENS;
            check(si_gguf_writer_set_arr(w, key, et, data, count), key);
        }
        break;
    }
    default: seed_die("%s: value type %d", key, (int)type);
    }
}

/* Every entry whose key starts with one of the prefixes ("" for all), but
 * general.alignment, which the writer sets. */
static void copy_metadata(const si_gguf *g, si_gguf_writer *w, const char *const *prefixes, const si_tokenizer *full) {
    for (int64_t i = 0; i < si_gguf_n_kv(g); i++) {
        const char *key = si_gguf_kv_key(g, i);
        bool want = false;
        for (int p = 0; prefixes[p]; p++) want = want || !strncmp(key, prefixes[p], strlen(prefixes[p]));
        if (want && strcmp(key, "general.alignment") != 0) copy_kv(g, w, i, full);
    }
}

/* ---- writing tensors ---- */

typedef struct {
    const char *name;
    si_dtype dtype;
    int n_dims;
    int64_t ne[4];
} tensor_spec;

/* Norms and rope factors are 1.0 (valid for the loader); the rest zeros. */
static void write_tensors(si_gguf_writer *w, const tensor_spec *t, int n) {
    check(si_gguf_writer_begin_data(w), "begin data");
    for (int i = 0; i < n; i++) {
        int64_t elems = t[i].ne[0] * t[i].ne[1] * t[i].ne[2] * t[i].ne[3];
        size_t bytes = si_dtype_row_bytes(t[i].dtype, t[i].ne[0]) * (size_t)(elems / t[i].ne[0]);
        unsigned char *d = calloc(1, bytes);
        if (!d) seed_die("out of memory");
        for (int64_t k = 0; t[i].dtype == SI_DTYPE_F32 && k < elems; k++) ((float *)d)[k] = 1.0f;
        check(si_gguf_writer_write(w, d, bytes), t[i].name);
        free(d);
    }
    check(si_gguf_writer_finish(w), "finish");
}

static void put_file_seed(const char *harness, const char *name, const char *path) {
    seed_buf b;
    if (seed_read(path, &b) != 0) seed_die("cannot read %s", path);
    seed_write_buf(harness, name, &b);
}

/* The real header, metadata (vocabulary cut) and tensor table, each tensor one block. */
static void smollm2_meta(const si_gguf *g, const si_tokenizer *full, const char *path) {
    si_gguf_writer *w = si_gguf_writer_create(path);
    if (!w) seed_die("%s", si_last_error());
    static const char *const all[] = {"", NULL};
    copy_metadata(g, w, all, full);
    int n = (int)si_gguf_n_tensors(g);
    tensor_spec *t = calloc((size_t)n, sizeof *t);
    for (int i = 0; i < n; i++) {
        const si_tensor *src = si_gguf_tensor(g, i);
        t[i] = (tensor_spec){src->name, src->dtype, src->n_dims, {32, 1, 1, 1}};
        check(si_gguf_writer_add_tensor(w, t[i].name, t[i].dtype, t[i].n_dims, t[i].ne), t[i].name);
    }
    write_tensors(w, t, n);
    free(t);
}

/* A llama the loader accepts: 1 layer, dim 32, 2 heads of 16 (1 KV head),
 * every weight type the reader knows, Llama-3 style rope factors. */
static void tiny_llama(const si_gguf *g, const si_tokenizer *full, const char *path) {
    si_gguf_writer *w = si_gguf_writer_create(path);
    if (!w) seed_die("%s", si_last_error());
    static const char *const keep[] = {"general.", "tokenizer.", NULL};
    copy_metadata(g, w, keep, full);
    check(si_gguf_writer_set_u32(w, "llama.block_count", 1) || si_gguf_writer_set_u32(w, "llama.embedding_length", 32) ||
              si_gguf_writer_set_u32(w, "llama.feed_forward_length", 64) ||
              si_gguf_writer_set_u32(w, "llama.attention.head_count", 2) ||
              si_gguf_writer_set_u32(w, "llama.attention.head_count_kv", 1) ||
              si_gguf_writer_set_u32(w, "llama.context_length", 128) ||
              si_gguf_writer_set_u32(w, "llama.rope.dimension_count", 16) ||
              si_gguf_writer_set_f32(w, "llama.rope.freq_base", 100000.0f) ||
              si_gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f) ||
              si_gguf_writer_set_str(w, "llama.rope.scaling.type", "linear", 6) ||
              si_gguf_writer_set_f32(w, "llama.rope.scaling.factor", 2.0f),
          "hyperparameters");
    const tensor_spec t[] = {
        {"token_embd.weight", SI_DTYPE_Q8_0, 2, {32, N_TOKENS, 1, 1}},
        {"output_norm.weight", SI_DTYPE_F32, 1, {32, 1, 1, 1}},
        {"rope_freqs.weight", SI_DTYPE_F32, 1, {8, 1, 1, 1}},
        {"blk.0.attn_norm.weight", SI_DTYPE_F32, 1, {32, 1, 1, 1}},
        {"blk.0.attn_q.weight", SI_DTYPE_Q4_0, 2, {32, 32, 1, 1}},
        {"blk.0.attn_k.weight", SI_DTYPE_Q4_1, 2, {32, 16, 1, 1}},
        {"blk.0.attn_v.weight", SI_DTYPE_Q8_0, 2, {32, 16, 1, 1}},
        {"blk.0.attn_output.weight", SI_DTYPE_F16, 2, {32, 32, 1, 1}},
        {"blk.0.ffn_norm.weight", SI_DTYPE_F32, 1, {32, 1, 1, 1}},
        {"blk.0.ffn_gate.weight", SI_DTYPE_BF16, 2, {32, 64, 1, 1}},
        {"blk.0.ffn_up.weight", SI_DTYPE_F32, 2, {32, 64, 1, 1}},
        {"blk.0.ffn_down.weight", SI_DTYPE_Q8_0, 2, {64, 32, 1, 1}},
    };
    int n = (int)(sizeof t / sizeof t[0]);
    for (int i = 0; i < n; i++) check(si_gguf_writer_add_tensor(w, t[i].name, t[i].dtype, t[i].n_dims, t[i].ne), t[i].name);
    write_tensors(w, t, n);
}

/* One small tensor of each block type (the fuzzer turns their zeros into
 * arbitrary scales and codes, which the harness dequantizes). */
static void block_types(const char *path) {
    si_gguf_writer *w = si_gguf_writer_create(path);
    if (!w) seed_die("%s", si_last_error());
    check(si_gguf_writer_set_str(w, "general.architecture", "llama", 5), "metadata");
    const tensor_spec t[] = {
        {"q5_0", SI_DTYPE_Q5_0, 2, {32, 2, 1, 1}},  {"q5_1", SI_DTYPE_Q5_1, 2, {32, 2, 1, 1}},
        {"q4_k", SI_DTYPE_Q4_K, 2, {256, 1, 1, 1}}, {"q5_k", SI_DTYPE_Q5_K, 2, {256, 1, 1, 1}},
        {"q6_k", SI_DTYPE_Q6_K, 2, {256, 1, 1, 1}},
    };
    int n = (int)(sizeof t / sizeof t[0]);
    for (int i = 0; i < n; i++) check(si_gguf_writer_add_tensor(w, t[i].name, t[i].dtype, t[i].n_dims, t[i].ne), t[i].name);
    write_tensors(w, t, n);
}

/* ---- Llama-2's tokenizer.model, cut ---- */

/* Top-level fields copied as they are, but only the first N_TOKENS pieces (field 1). */
static void cut_spm_model(const char *src, seed_buf *out) {
    seed_buf in;
    if (seed_read(src, &in) != 0) seed_die("cannot read %s", src);
    si_pb_reader r = {in.p, in.p + in.n, in.p, src};
    uint32_t field;
    int wire, rc, pieces = 0;
    *out = (seed_buf){0};
    while (true) {
        const unsigned char *start = r.p;
        if ((rc = si_pb_next(&r, &field, &wire)) != 0) break;
        if (si_pb_skip(&r, wire) != 0) seed_die("%s: %s", src, si_last_error());
        if (field == 1 && pieces++ >= N_TOKENS) continue;
        seed_put(out, start, (size_t)(r.p - start));
    }
    if (rc < 0) seed_die("%s: %s", src, si_last_error());
    free(in.p);
}

/* ---- tokenizer.json as the cut SmolLM2 tokenizer saves it ---- */

static void hf_folder_seed(const si_tokenizer *t, const char *dir, const char *name) {
    check(si_tokenizer_save_hf(t, dir), "save_hf");
    char path[4400];
    seed_buf json, config;
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    if (seed_read(path, &json) != 0) seed_die("no %s", path);
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    if (seed_read(path, &config) != 0) seed_die("no %s", path);
    seed_put_byte(&json, 0);
    seed_put(&json, config.p, config.n);
    free(config.p);
    seed_write_buf("tokenizer_json", name, &json);
}

/* The Llama-3 test tokenizer, compact; once alone, once with a config whose
 * chat template is a list of named templates. */
static void llama3_seeds(void) {
    json_error_t je;
    json_t *root = json_load_file(SI_FUZZ_SOURCE_DIR "/tests/golden/templates/llama3_tokenizer.json", 0, &je);
    if (!root) seed_die("llama3_tokenizer.json: %s", je.text);
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    seed_buf b = {0};
    seed_puts(&b, text);
    seed_write("tokenizer_json", "llama3_test.json", b.p, b.n);
    seed_put_byte(&b, 0);
    seed_puts(&b, "{\"bos_token\": {\"content\": \"<|begin_of_text|>\"}, \"eos_token\": \"<|eot_id|>\", "
                  "\"add_bos_token\": false, \"chat_template\": [{\"name\": \"tool_use\", \"template\": \"x\"}, "
                  "{\"name\": \"default\", \"template\": \"{{ '<|begin_of_text|>' }}{% for m in messages %}"
                  "<|start_header_id|>{{ m['role'] }}<|end_header_id|>\\n\\n{{ m['content'] }}<|eot_id|>"
                  "{% endfor %}\"}]}");
    seed_write_buf("tokenizer_json", "llama3_test_with_config", &b);
    free(text);
}

void seeds_gguf_and_tokenizers(const char *tmp) {
    si_tokenizer *full = si_tokenizer_load(seed_model_path());
    si_gguf *g = si_gguf_open(seed_model_path());
    if (!full || !g) seed_die("%s", si_last_error());
    char path[4200];
    snprintf(path, sizeof path, "%s/smollm2_meta.gguf", tmp);
    smollm2_meta(g, full, path);
    put_file_seed("gguf", "smollm2_meta.gguf", path);
    snprintf(path, sizeof path, "%s/tiny_llama.gguf", tmp);
    tiny_llama(g, full, path);
    put_file_seed("gguf", "tiny_llama.gguf", path);
    snprintf(path, sizeof path, "%s/block_types.gguf", tmp);
    block_types(path);
    put_file_seed("gguf", "block_types.gguf", path);
    si_gguf_close(g);
    si_tokenizer_free(full);

    si_tokenizer *cut = si_tokenizer_load(path); /* the tiny llama's tokenizer: SmolLM2's, cut */
    if (!cut) seed_die("%s", si_last_error());
    snprintf(path, sizeof path, "%s/hf", tmp);
    hf_folder_seed(cut, path, "smollm2_cut_with_config");
    si_tokenizer_free(cut);
    llama3_seeds();

    seed_buf model;
    cut_spm_model(seed_llama2_path(), &model);
    snprintf(path, sizeof path, "%s/llama2_cut.model", tmp);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(model.p, 1, model.n, f) != model.n || fclose(f) != 0) seed_die("cannot write %s", path);
    seed_write_buf("tokenizer_model", "llama2_cut.model", &model);
    si_tokenizer *spm = si_tokenizer_load(path);
    if (!spm) seed_die("%s", si_last_error());
    snprintf(path, sizeof path, "%s/llama2_spm.gguf", tmp);
    si_gguf_writer *w = si_gguf_writer_create(path);
    if (!w) seed_die("%s", si_last_error());
    check(si_gguf_writer_set_str(w, "general.architecture", "llama", 5) ||
              si_gguf_writer_set_str(w, "general.name", "Llama-2 tokenizer (cut)", 23) ||
              si_tokenizer_write_gguf_meta(spm, w),
          "llama2 metadata");
    write_tensors(w, NULL, 0);
    put_file_seed("gguf", "llama2_spm.gguf", path);
    si_tokenizer_free(spm);
}
