/* model/llama_load.c: finds a Llama-family model's hyperparameters and weight
 * tensors in a GGUF file or a Hugging Face folder and checks every shape. */
#include "llama.h"

#include "../format/gguf.h"
#include "../format/hf_config.h"
#include "../format/safetensors.h"
#include "../util/error.h"
#include "../util/mapped_file.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SI_MAX_LAYERS 1024
#define SI_MAX_WIDTH (1 << 20)

static int check_hparams(const si_llama *m) {
    const si_hparams *h = &m->hp;
    if (h->n_layers < 1 || h->n_layers > SI_MAX_LAYERS) return si_fail("%s: layer count %d out of range", m->path, h->n_layers);
    if (h->dim < 1 || h->dim > SI_MAX_WIDTH) return si_fail("%s: hidden size %d out of range", m->path, h->dim);
    if (h->n_heads < 1 || h->n_heads > 1024) return si_fail("%s: head count %d out of range", m->path, h->n_heads);
    if (h->n_kv_heads < 1 || h->n_heads % h->n_kv_heads)
        return si_fail("%s: %d KV heads do not divide %d query heads", m->path, h->n_kv_heads, h->n_heads);
    if (h->head_dim < 2 || h->head_dim % 2 || h->head_dim > 1024)
        return si_fail("%s: head dimension %d is not an even number up to 1024", m->path, h->head_dim);
    if (h->ffn_dim < 1 || h->ffn_dim > SI_MAX_WIDTH) return si_fail("%s: feed-forward size %d out of range", m->path, h->ffn_dim);
    if (h->n_vocab < 1 || h->n_vocab > (1 << 22)) return si_fail("%s: vocabulary size %d out of range", m->path, h->n_vocab);
    if (!(h->norm_eps > 0 && h->norm_eps < 1)) return si_fail("%s: RMSNorm epsilon %g out of range", m->path, h->norm_eps);
    if (!(h->rope_theta > 1)) return si_fail("%s: RoPE theta %g out of range", m->path, h->rope_theta);
    if (h->ctx_train < 1) return si_fail("%s: context length %d out of range", m->path, h->ctx_train);
    return 0;
}

/* A weight must exist (unless optional), be 1-D/2-D with the expected shape. */
static int want_tensor(const si_llama *m, const si_tensor *t, const char *name, int64_t ne0, int64_t ne1,
                       const si_tensor **out) {
    *out = t;
    if (!t) return si_fail("%s: missing tensor %s", m->path, name);
    int64_t e1 = t->n_dims >= 2 ? t->ne[1] : 1;
    if (t->ne[0] != ne0 || e1 != ne1 || t->ne[2] != 1 || t->ne[3] != 1)
        return si_fail("%s: tensor %s has shape [%lld, %lld], expected [%lld, %lld]", m->path, name,
                       (long long)t->ne[0], (long long)e1, (long long)ne0, (long long)ne1);
    return 0;
}

/* The weights of one layer: their names in GGUF and in Hugging Face
 * files, and their shapes [row length, rows] in terms of the hyperparameters. */
typedef enum { WIDTH_DIM, WIDTH_Q, WIDTH_KV, WIDTH_FFN, WIDTH_ONE } width;

static const struct {
    const char *gguf, *hf;
    width ne0, ne1;
    size_t field; /* offset in si_layer_weights */
} layer_tensors[] = {
    {"attn_norm", "input_layernorm", WIDTH_DIM, WIDTH_ONE, offsetof(si_layer_weights, attn_norm)},
    {"attn_q", "self_attn.q_proj", WIDTH_DIM, WIDTH_Q, offsetof(si_layer_weights, wq)},
    {"attn_k", "self_attn.k_proj", WIDTH_DIM, WIDTH_KV, offsetof(si_layer_weights, wk)},
    {"attn_v", "self_attn.v_proj", WIDTH_DIM, WIDTH_KV, offsetof(si_layer_weights, wv)},
    {"attn_output", "self_attn.o_proj", WIDTH_Q, WIDTH_DIM, offsetof(si_layer_weights, wo)},
    {"ffn_norm", "post_attention_layernorm", WIDTH_DIM, WIDTH_ONE, offsetof(si_layer_weights, ffn_norm)},
    {"ffn_gate", "mlp.gate_proj", WIDTH_DIM, WIDTH_FFN, offsetof(si_layer_weights, w_gate)},
    {"ffn_up", "mlp.up_proj", WIDTH_DIM, WIDTH_FFN, offsetof(si_layer_weights, w_up)},
    {"ffn_down", "mlp.down_proj", WIDTH_FFN, WIDTH_DIM, offsetof(si_layer_weights, w_down)},
};

static int64_t width_of(const si_hparams *h, width w) {
    switch (w) {
    case WIDTH_DIM: return h->dim;
    case WIDTH_Q: return (int64_t)h->n_heads * h->head_dim;
    case WIDTH_KV: return (int64_t)h->n_kv_heads * h->head_dim;
    case WIDTH_FFN: return h->ffn_dim;
    default: return 1;
    }
}

static int load_layers(si_llama *m, bool hf) {
    const si_hparams *h = &m->hp;
    m->layers = si_calloc((size_t)h->n_layers, sizeof *m->layers);
    if (!m->layers) return -1;
    for (int l = 0; l < h->n_layers; l++) {
        for (size_t k = 0; k < sizeof layer_tensors / sizeof layer_tensors[0]; k++) {
            char n[160];
            const si_tensor *t;
            if (hf) {
                snprintf(n, sizeof n, "model.layers.%d.%s.weight", l, layer_tensors[k].hf);
                t = si_safetensors_find(m->st, n);
            } else {
                snprintf(n, sizeof n, "blk.%d.%s.weight", l, layer_tensors[k].gguf);
                t = si_gguf_find_tensor(m->gguf, n);
            }
            const si_tensor **slot = (const si_tensor **)((char *)&m->layers[l] + layer_tensors[k].field);
            if (want_tensor(m, t, n, width_of(h, layer_tensors[k].ne0), width_of(h, layer_tensors[k].ne1), slot))
                return -1;
        }
    }
    return 0;
}

/* ---- GGUF ---- */

static int gguf_u32(const si_llama *m, const char *arch, const char *suffix, int required, int *out) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    uint32_t v;
    int r = si_gguf_get_u32(m->gguf, key, &v);
    if (r < 0) return -1;
    if (r == 1) return required ? si_fail("%s: metadata key %s is missing", m->path, key) : 0;
    if (v > (uint32_t)1 << 30) return si_fail("%s: metadata %s = %u out of range", m->path, key, v);
    *out = (int)v;
    return 0;
}

static int gguf_f32(const si_llama *m, const char *arch, const char *suffix, float *out) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    return si_gguf_get_f32(m->gguf, key, out) < 0 ? -1 : 0;
}


static int load_gguf(si_llama *m, float *rope_scale, const si_tensor **rope_factors) {
    m->gguf = si_gguf_open(m->path);
    if (!m->gguf) return -1;
    const char *arch;
    size_t arch_len;
    if (si_gguf_get_str(m->gguf, "general.architecture", &arch, &arch_len) != 0)
        return si_fail("%s: general.architecture missing or not a string", m->path);
    if (arch_len != 5 || memcmp(arch, "llama", 5) != 0)
        return si_fail("%s: unsupported architecture '%.*s' (supported: llama)", m->path, (int)(arch_len > 64 ? 64 : arch_len), arch);
    si_hparams *h = &m->hp;
    h->rope_style = SI_ROPE_ADJACENT;
    h->norm_eps = 1e-5f;
    h->rope_theta = 10000.0f;
    h->ctx_train = 4096;
    if (gguf_u32(m, "llama", "block_count", 1, &h->n_layers) || gguf_u32(m, "llama", "embedding_length", 1, &h->dim) ||
        gguf_u32(m, "llama", "feed_forward_length", 1, &h->ffn_dim) ||
        gguf_u32(m, "llama", "attention.head_count", 1, &h->n_heads) ||
        gguf_u32(m, "llama", "context_length", 0, &h->ctx_train))
        return -1;
    h->n_kv_heads = h->n_heads;
    if (gguf_u32(m, "llama", "attention.head_count_kv", 0, &h->n_kv_heads)) return -1;
    h->head_dim = h->n_heads ? h->dim / h->n_heads : 0;
    if (gguf_u32(m, "llama", "attention.key_length", 0, &h->head_dim)) return -1;
    int rope_dims = h->head_dim;
    if (gguf_u32(m, "llama", "rope.dimension_count", 0, &rope_dims)) return -1;
    if (rope_dims != h->head_dim)
        return si_fail("%s: partial rotary embeddings (%d of %d dims) are not supported", m->path, rope_dims, h->head_dim);
    if (gguf_f32(m, "llama", "attention.layer_norm_rms_epsilon", &h->norm_eps) ||
        gguf_f32(m, "llama", "rope.freq_base", &h->rope_theta))
        return -1;
    const char *stype;
    size_t stype_len;
    int r = si_gguf_get_str(m->gguf, "llama.rope.scaling.type", &stype, &stype_len);
    if (r < 0) return -1;
    if (r == 0 && !(stype_len == 4 && !memcmp(stype, "none", 4))) {
        if (!(stype_len == 6 && !memcmp(stype, "linear", 6)))
            return si_fail("%s: unsupported RoPE scaling '%.*s' (supported: none, linear)", m->path, (int)(stype_len > 32 ? 32 : stype_len), stype);
        if (gguf_f32(m, "llama", "rope.scaling.factor", rope_scale)) return -1;
    }
    m->tok_embd = si_gguf_find_tensor(m->gguf, "token_embd.weight");
    if (!m->tok_embd) return si_fail("%s: missing tensor token_embd.weight", m->path);
    h->n_vocab = (int)m->tok_embd->ne[1];
    if (check_hparams(m)) return -1;
    if (want_tensor(m, m->tok_embd, "token_embd.weight", h->dim, h->n_vocab, &m->tok_embd) ||
        want_tensor(m, si_gguf_find_tensor(m->gguf, "output_norm.weight"), "output_norm.weight", h->dim, 1, &m->out_norm))
        return -1;
    const si_tensor *out = si_gguf_find_tensor(m->gguf, "output.weight");
    h->tied_output = out == NULL;
    if (out && want_tensor(m, out, "output.weight", h->dim, h->n_vocab, &m->output)) return -1;
    *rope_factors = si_gguf_find_tensor(m->gguf, "rope_freqs.weight");

    return load_layers(m, false);
}

/* ---- Hugging Face folder ---- */


static int load_hf(si_llama *m, float *rope_scale, double llama3[4]) {
    snprintf(m->hf_dir, sizeof m->hf_dir, "%s", m->path);
    char cfg_path[600];
    snprintf(cfg_path, sizeof cfg_path, "%s/config.json", m->path);
    si_hf_config c;
    if (si_hf_config_load(cfg_path, &c)) return -1;
    if (strcmp(c.model_type, "llama") != 0 && strcmp(c.model_type, "mistral") != 0)
        return si_fail("%s: unsupported model_type '%s' (supported: llama, mistral)", cfg_path, c.model_type);
    si_hparams *h = &m->hp;
    h->rope_style = SI_ROPE_HALF;
    h->n_layers = c.num_hidden_layers;
    h->dim = c.hidden_size;
    h->ffn_dim = c.intermediate_size;
    h->n_heads = c.num_attention_heads;
    h->n_kv_heads = c.num_key_value_heads;
    h->head_dim = c.head_dim;
    h->n_vocab = c.vocab_size;
    h->ctx_train = c.max_position_embeddings;
    h->norm_eps = c.rms_norm_eps;
    h->rope_theta = c.rope_theta;
    h->tied_output = c.tie_word_embeddings;
    if (c.rope_scaling_type[0] && strcmp(c.rope_scaling_type, "default") != 0) {
        if (strcmp(c.rope_scaling_type, "linear") == 0) {
            *rope_scale = c.rope_scaling_factor;
        } else if (strcmp(c.rope_scaling_type, "llama3") == 0) {
            llama3[0] = c.rope_scaling_factor;
            llama3[1] = c.rope_low_freq_factor;
            llama3[2] = c.rope_high_freq_factor;
            llama3[3] = c.rope_original_max_position;
        } else {
            return si_fail("%s: unsupported rope_scaling type '%s'", cfg_path, c.rope_scaling_type);
        }
    }
    if (check_hparams(m)) return -1;
    m->st = si_safetensors_open(m->path);
    if (!m->st) return -1;
    if (want_tensor(m, si_safetensors_find(m->st, "model.embed_tokens.weight"), "model.embed_tokens.weight", h->dim,
                    h->n_vocab, &m->tok_embd) ||
        want_tensor(m, si_safetensors_find(m->st, "model.norm.weight"), "model.norm.weight", h->dim, 1, &m->out_norm))
        return -1;
    const si_tensor *head = si_safetensors_find(m->st, "lm_head.weight");
    if (!h->tied_output || head) {
        if (want_tensor(m, head, "lm_head.weight", h->dim, h->n_vocab, &m->output)) return -1;
        h->tied_output = false;
    }
    return load_layers(m, true);
}

/* Rotary frequencies: theta^(-2i/d), divided by a linear scale; for Llama-3.1
 * style scaling, each frequency by its own factor (from the file's
 * rope_freqs tensor, or computed from config.json's rope_scaling). */
static int init_inv_freq(si_llama *m, float linear_scale, const si_tensor *factors, const double llama3[4]) {
    int half = m->hp.head_dim / 2;
    m->inv_freq = si_malloc((size_t)half * sizeof(long double));
    if (!m->inv_freq) return -1;
    if (!(linear_scale > 0)) return si_fail("%s: RoPE scaling factor %g out of range", m->path, linear_scale);
    float *f = NULL;
    if (factors) {
        if (si_tensor_nelems(factors) != half || factors->dtype != SI_DTYPE_F32)
            return si_fail("%s: rope_freqs.weight must be F32 with %d elements", m->path, half);
        f = (float *)factors->data;
    }
    for (int i = 0; i < half; i++) {
        long double inv = powl((long double)m->hp.rope_theta, -2.0L * i / m->hp.head_dim) / linear_scale;
        if (f) {
            if (!(f[i] > 0)) return si_fail("%s: rope_freqs.weight[%d] is not positive", m->path, i);
            inv /= f[i];
        } else if (llama3[0] > 0) {
            double factor = llama3[0], lo = llama3[1], hi = llama3[2], orig = llama3[3];
            if (!(lo > 0 && hi > lo && orig > 0)) return si_fail("%s: llama3 rope_scaling parameters out of range", m->path);
            double wavelen = 2 * M_PI / (double)inv;
            double lo_wavelen = orig / lo, hi_wavelen = orig / hi;
            if (wavelen > lo_wavelen) {
                inv /= factor;
            } else if (wavelen >= hi_wavelen) {
                double smooth = (orig / wavelen - lo) / (hi - lo);
                inv = (1 - smooth) * inv / factor + (long double)smooth * inv;
            }
        }
        m->inv_freq[i] = inv;
    }
    return 0;
}

si_llama *si_llama_load(const char *path) {
    si_llama *m = si_calloc(1, sizeof *m);
    if (!m) return NULL;
    snprintf(m->path, sizeof m->path, "%s", path);
    float rope_scale = 1.0f;
    double llama3[4] = {0, 0, 0, 0};
    const si_tensor *factors = NULL;
    int rc;
    if (si_path_is_dir(path))
        rc = load_hf(m, &rope_scale, llama3);
    else
        rc = load_gguf(m, &rope_scale, &factors);
    if (rc == 0) {
        if (m->hp.tied_output) m->output = m->tok_embd;
        m->hp.rope_linear_scale = rope_scale;
        m->hp.rope_has_freq_factors = factors != NULL || llama3[0] > 0;
        rc = init_inv_freq(m, rope_scale, factors, llama3);
    }
    if (rc) {
        si_llama_free(m);
        return NULL;
    }
    return m;
}

void si_llama_free(si_llama *m) {
    if (!m) return;
    if (m->gguf) si_gguf_close(m->gguf);
    if (m->st) si_safetensors_close(m->st);
    free(m->layers);
    free(m->inv_freq);
    free(m);
}
