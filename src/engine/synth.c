/* engine/synth.c: synthetic Llama models — a Hugging Face folder with the
 * shapes of a real model and seeded random weights, for benchmarks (the
 * speed of a 7B model does not depend on what its weights say) and tests.
 *
 * Every weight is a pure function of (seed, tensor, index): a splitmix64
 * hash of the counter gives 64 random bits, whose four 16-bit fields are
 * summed (Irwin-Hall, close to normal, bounded at 3.5 sigma) and scaled to
 * standard deviation 0.02; norms are 1. Threads fill consecutive chunks of
 * the model while the previous batch is written, and the file is streamed:
 * 13.5 GB never sits in memory. */
#include "engine.h"

#include "../format/safetensors.h"
#include "../util/error.h"
#include "../util/half.h"
#include "../util/mapped_file.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK_ELEMS ((uint64_t)4 << 20) /* per thread and batch */
#define MAX_THREADS 16

typedef struct {
    const char *name;
    int dim, n_layers, n_heads, n_kv_heads, ffn_dim, n_vocab, ctx;
    float rope_theta, norm_eps;
    bool tied;
} synth_arch;

/* smollm2-135m: the default model's shapes (SmolLM2-135M-Instruct); tiny:
 * the smallest shape the CUDA kernels take (head_dim 64), for tests. The
 * vocabularies are at least the Llama-2 tokenizer's 32000. */
static const synth_arch archs[] = {
    {"llama2-7b", 4096, 32, 32, 32, 11008, 32000, 4096, 10000.0f, 1e-5f, false},
    {"llama2-13b", 5120, 40, 40, 40, 13824, 32000, 4096, 10000.0f, 1e-5f, false},
    {"smollm2-135m", 576, 30, 9, 3, 1536, 49152, 8192, 100000.0f, 1e-5f, true},
    {"tiny", 128, 2, 2, 1, 256, 32000, 2048, 10000.0f, 1e-5f, false},
};

typedef struct {
    char name[96];
    int64_t shape[2]; /* PyTorch order: rows, cols (a vector has rows = 1) */
    int n_dims;
    uint64_t start, count; /* elements, in file order */
} synth_tensor;

typedef struct {
    synth_tensor *t;
    int n;
    uint64_t total;
    uint64_t seed;
    bool bf16;
} synth_plan;

si_synth_params si_synth_default_params(void) {
    si_synth_params p = {.arch = "smollm2-135m", .dtype = "f16", .tokenizer = NULL, .seed = 1, .n_threads = 0};
    return p;
}

static void add(synth_plan *p, const char *name, int64_t rows, int64_t cols) {
    synth_tensor *t = &p->t[p->n++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->n_dims = rows > 0 ? 2 : 1;
    t->shape[0] = rows > 0 ? rows : cols;
    t->shape[1] = cols;
    t->start = p->total;
    t->count = (uint64_t)(rows > 0 ? rows : 1) * (uint64_t)cols;
    p->total += t->count;
}

/* Hugging Face Llama tensors, in the order the file holds them. */
static int plan_tensors(synth_plan *p, const synth_arch *a) {
    int hd = a->dim / a->n_heads, q = a->n_heads * hd, kv = a->n_kv_heads * hd;
    p->t = si_calloc((size_t)(3 + 9 * a->n_layers), sizeof *p->t);
    if (!p->t) return -1;
    char n[96];
    add(p, "model.embed_tokens.weight", a->n_vocab, a->dim);
    for (int l = 0; l < a->n_layers; l++) {
        struct {
            const char *what;
            int64_t rows, cols;
        } parts[9] = {{"input_layernorm", 0, a->dim},          {"self_attn.q_proj", q, a->dim},
                      {"self_attn.k_proj", kv, a->dim},        {"self_attn.v_proj", kv, a->dim},
                      {"self_attn.o_proj", a->dim, q},         {"post_attention_layernorm", 0, a->dim},
                      {"mlp.gate_proj", a->ffn_dim, a->dim},   {"mlp.up_proj", a->ffn_dim, a->dim},
                      {"mlp.down_proj", a->dim, a->ffn_dim}};
        for (int i = 0; i < 9; i++) {
            snprintf(n, sizeof n, "model.layers.%d.%s.weight", l, parts[i].what);
            add(p, n, parts[i].rows, parts[i].cols);
        }
    }
    add(p, "model.norm.weight", 0, a->dim);
    if (!a->tied) add(p, "lm_head.weight", a->n_vocab, a->dim);
    return 0;
}

static inline uint64_t mix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* Elements [begin, end) of the whole model into out. */
static void fill(const synth_plan *p, uint64_t begin, uint64_t end, uint16_t *out) {
    /* sum of four uniform 0..65535: mean 131070, std 65536 / sqrt(3) */
    const float scale = 0.02f / 37837.23f;
    if (begin >= end) return;
    int k = 0;
    while (p->t[k].start + p->t[k].count <= begin) k++;
    for (uint64_t g = begin; g < end; k++) {
        const synth_tensor *t = &p->t[k];
        uint64_t stop = t->start + t->count < end ? t->start + t->count : end;
        bool norm = t->n_dims == 1;
        uint64_t key = mix64(p->seed ^ mix64((uint64_t)k + 1));
        for (; g < stop; g++) {
            float v = 1.0f;
            if (!norm) {
                uint64_t r = mix64(key + (g - t->start));
                uint32_t sum = (uint32_t)(r & 0xffff) + (uint32_t)((r >> 16) & 0xffff) + (uint32_t)((r >> 32) & 0xffff) +
                               (uint32_t)(r >> 48);
                v = ((float)sum - 131070.0f) * scale;
            }
            *out++ = p->bf16 ? si_f32_to_bf16(v) : si_f32_to_f16(v);
        }
    }
}

typedef struct {
    const synth_plan *plan;
    uint64_t begin, end;
    uint16_t *out;
} fill_task;

static void *fill_thread(void *arg) {
    fill_task *t = arg;
    fill(t->plan, t->begin, t->end, t->out);
    return NULL;
}

/* Starts filling batch b (threads chunks from b * threads * CHUNK_ELEMS). */
static void start_batch(const synth_plan *p, uint64_t b, int threads, uint16_t *buf, fill_task *tasks, pthread_t *tid,
                        bool *started) {
    uint64_t base = b * threads * CHUNK_ELEMS;
    for (int i = 0; i < threads; i++) {
        uint64_t lo = base + i * CHUNK_ELEMS, hi = lo + CHUNK_ELEMS;
        if (lo > p->total) lo = p->total;
        if (hi > p->total) hi = p->total;
        tasks[i] = (fill_task){p, lo, hi, buf + (size_t)i * CHUNK_ELEMS};
        started[i] = pthread_create(&tid[i], NULL, fill_thread, &tasks[i]) == 0;
        if (!started[i]) fill_thread(&tasks[i]); /* no thread: do it here */
    }
}

static void join_batch(int threads, pthread_t *tid, bool *started) {
    for (int i = 0; i < threads; i++)
        if (started[i]) pthread_join(tid[i], NULL);
}

static int write_weights(const char *path, const synth_plan *p, int threads) {
    si_safetensors_writer *w = si_safetensors_writer_create(path);
    if (!w) return -1;
    si_dtype dt = p->bf16 ? SI_DTYPE_BF16 : SI_DTYPE_F16;
    int rc = 0;
    for (int i = 0; rc == 0 && i < p->n; i++)
        rc = si_safetensors_writer_add(w, p->t[i].name, dt, p->t[i].n_dims, p->t[i].shape);
    if (rc == 0) rc = si_safetensors_writer_begin_data(w);
    size_t batch = (size_t)threads * CHUNK_ELEMS;
    uint16_t *buf[2] = {NULL, NULL};
    if (rc == 0 && (!(buf[0] = si_malloc(batch * 2)) || !(buf[1] = si_malloc(batch * 2)))) rc = -1;
    fill_task tasks[2][MAX_THREADS];
    pthread_t tid[2][MAX_THREADS];
    bool started[2][MAX_THREADS];
    uint64_t n_batches = (p->total + batch - 1) / batch;
    if (rc == 0 && n_batches) {
        start_batch(p, 0, threads, buf[0], tasks[0], tid[0], started[0]);
        join_batch(threads, tid[0], started[0]);
    }
    for (uint64_t b = 0; rc == 0 && b < n_batches; b++) {
        int cur = (int)(b & 1), nxt = cur ^ 1;
        if (b + 1 < n_batches) start_batch(p, b + 1, threads, buf[nxt], tasks[nxt], tid[nxt], started[nxt]);
        uint64_t lo = b * batch, hi = lo + batch < p->total ? lo + batch : p->total;
        rc = si_safetensors_writer_write(w, buf[cur], (size_t)(hi - lo) * 2);
        if (b + 1 < n_batches) join_batch(threads, tid[nxt], started[nxt]);
    }
    free(buf[0]);
    free(buf[1]);
    if (si_safetensors_writer_finish(w) && rc == 0) rc = -1;
    return rc;
}

static int copy_file(const char *src, const char *dst) {
    size_t n;
    char *data = si_read_file(src, (size_t)1 << 30, &n);
    if (!data) return -1;
    FILE *f = fopen(dst, "wb");
    int rc = f && fwrite(data, 1, n, f) == n ? 0 : -1;
    if (f && fclose(f)) rc = -1;
    free(data);
    return rc ? si_fail("%s: cannot write: %s", dst, strerror(errno)) : 0;
}

/* A Llama-2 SentencePiece setup; the template is ours (its [INST] marks it as Llama-2's format). */
static int write_llama2_tokenizer_config(const char *dir, int ctx) {
    json_t *c = json_pack("{s:b, s:b, s:s, s:s, s:s, s:i, s:s, s:s}", "add_bos_token", 1, "add_eos_token", 0,
                          "bos_token", "<s>", "eos_token", "</s>", "unk_token", "<unk>", "model_max_length", ctx,
                          "tokenizer_class", "LlamaTokenizer", "chat_template",
                          "{% for m in messages %}{% if m['role'] == 'user' %}{{ bos_token }}[INST] {{ m['content'] }} "
                          "[/INST]{% elif m['role'] == 'assistant' %} {{ m['content'] }} {{ eos_token }}{% endif %}"
                          "{% endfor %}");
    char path[1100];
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    int rc = c ? json_dump_file(c, path, JSON_INDENT(2) | JSON_SORT_KEYS) : -1;
    json_decref(c);
    return rc ? si_fail("%s: cannot write", path) : 0;
}

static int install_tokenizer(const char *dir, const char *tok, int ctx) {
    char src[1100], dst[1100];
    if (!tok || !*tok) return si_fail("no tokenizer given (a tokenizer.model or a folder with tokenizer files)");
    if (si_path_is_dir(tok)) {
        static const char *names[] = {"tokenizer.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json"};
        int copied = 0;
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
            snprintf(src, sizeof src, "%s/%s", tok, names[i]);
            snprintf(dst, sizeof dst, "%s/%s", dir, names[i]);
            if (!si_path_exists(src)) continue;
            if (copy_file(src, dst)) return -1;
            copied += i < 2;
        }
        return copied ? 0 : si_fail("%s: no tokenizer.json or tokenizer.model in this folder", tok);
    }
    size_t len = strlen(tok);
    bool json = len >= 5 && strcmp(tok + len - 5, ".json") == 0;
    snprintf(dst, sizeof dst, "%s/%s", dir, json ? "tokenizer.json" : "tokenizer.model");
    if (copy_file(tok, dst)) return -1;
    return json ? 0 : write_llama2_tokenizer_config(dir, ctx);
}

static void hparams_of(const synth_arch *a, si_hparams *h) {
    *h = (si_hparams){.n_vocab = a->n_vocab, .dim = a->dim, .n_layers = a->n_layers, .n_heads = a->n_heads,
                      .n_kv_heads = a->n_kv_heads, .head_dim = a->dim / a->n_heads, .ffn_dim = a->ffn_dim,
                      .ctx_train = a->ctx, .norm_eps = a->norm_eps, .rope_theta = a->rope_theta,
                      .rope_linear_scale = 1.0f, .rope_style = SI_ROPE_HALF, .tied_output = a->tied};
}

int si_synth_model(const char *dir, const si_synth_params *params) {
    si_clear_error();
    si_synth_params p = params ? *params : si_synth_default_params();
    const synth_arch *a = NULL;
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++)
        if (p.arch && strcmp(p.arch, archs[i].name) == 0) a = &archs[i];
    if (!a) return si_fail("unknown arch '%s' (llama2-7b, llama2-13b, smollm2-135m, tiny)", p.arch ? p.arch : "");
    const char *dtype = p.dtype && *p.dtype ? p.dtype : "f16";
    if (strcmp(dtype, "f16") != 0 && strcmp(dtype, "bf16") != 0) return si_fail("dtype '%s': expected f16 or bf16", dtype);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) return si_fail("%s: cannot create folder: %s", dir, strerror(errno));
    if (install_tokenizer(dir, p.tokenizer, a->ctx)) return -1;
    si_tokenizer *tok = si_tokenizer_load(dir);
    if (!tok) return -1;
    int32_t n_tok = si_tokenizer_n_vocab(tok), bos = si_tokenizer_bos(tok), eos = si_tokenizer_eos(tok);
    si_tokenizer_free(tok);
    if (n_tok > a->n_vocab) return si_fail("the tokenizer has %d tokens, more than %s's vocabulary of %d", n_tok, a->name, a->n_vocab);

    int threads = p.n_threads;
    if (threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? (int)n : 1;
    }
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    synth_plan plan = {.seed = p.seed, .bf16 = strcmp(dtype, "bf16") == 0};
    char path[1100];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    int rc = plan_tensors(&plan, a);
    if (rc == 0) rc = write_weights(path, &plan, threads);
    free(plan.t);
    si_hparams h;
    hparams_of(a, &h);
    /* config.json last: a folder left half-written does not load */
    if (rc == 0) rc = si_hf_write_config(dir, &h, bos, eos, plan.bf16 ? "bfloat16" : "float16");
    return rc;
}
