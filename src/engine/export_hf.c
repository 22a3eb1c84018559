/* engine/export_hf.c: a model as a float32 Hugging Face folder, so the same
 * weights exist in both forms (for the transformers oracle, and for PyTorch
 * baselines). GGUF's Q/K row permutation is undone on the way out. */
#include "engine.h"

#include "../format/safetensors.h"
#include "../util/error.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct {
    const si_tensor *t;
    char name[128];
    int unpermute_heads; /* > 0: undo llama.cpp's Q/K row order for this many heads */
} export_item;

/* GGUF row 2i+j of a head holds Hugging Face row j*half + i of that head. */
static int64_t source_row(int64_t row, int unpermute_heads, int64_t rows) {
    if (unpermute_heads <= 0) return row;
    int64_t hd = rows / unpermute_heads, half = hd / 2;
    int64_t h = row / hd, r = row % hd;
    int64_t j = r / half, i = r % half;
    return h * hd + 2 * i + j;
}

static int write_tensor(si_safetensors_writer *w, const export_item *it, float *buf) {
    const si_tensor *t = it->t;
    int64_t cols = t->ne[0], rows = t->n_dims >= 2 ? t->ne[1] : 1;
    size_t row_bytes = si_dtype_row_bytes(t->dtype, cols);
    for (int64_t r = 0; r < rows; r++) {
        int64_t src = source_row(r, it->unpermute_heads, rows);
        si_dequantize_row(t->dtype, (const char *)t->data + (size_t)src * row_bytes, buf, cols);
        if (si_safetensors_writer_write(w, buf, (size_t)cols * sizeof(float))) return -1;
    }
    return 0;
}

int si_hf_write_config(const char *dir, const si_hparams *h, int32_t bos, int32_t eos, const char *torch_dtype) {
    json_t *c = json_object();
    json_object_set_new(c, "architectures", json_pack("[s]", "LlamaForCausalLM"));
    json_object_set_new(c, "model_type", json_string("llama"));
    json_object_set_new(c, "hidden_size", json_integer(h->dim));
    json_object_set_new(c, "intermediate_size", json_integer(h->ffn_dim));
    json_object_set_new(c, "num_hidden_layers", json_integer(h->n_layers));
    json_object_set_new(c, "num_attention_heads", json_integer(h->n_heads));
    json_object_set_new(c, "num_key_value_heads", json_integer(h->n_kv_heads));
    json_object_set_new(c, "head_dim", json_integer(h->head_dim));
    json_object_set_new(c, "vocab_size", json_integer(h->n_vocab));
    json_object_set_new(c, "max_position_embeddings", json_integer(h->ctx_train));
    json_object_set_new(c, "rms_norm_eps", json_real(h->norm_eps));
    json_object_set_new(c, "rope_theta", json_real(h->rope_theta));
    if (h->rope_linear_scale != 1.0f)
        json_object_set_new(c, "rope_scaling", json_pack("{s:s, s:f}", "rope_type", "linear", "factor", (double)h->rope_linear_scale));
    json_object_set_new(c, "tie_word_embeddings", json_boolean(h->tied_output));
    json_object_set_new(c, "hidden_act", json_string("silu"));
    json_object_set_new(c, "attention_bias", json_false());
    json_object_set_new(c, "mlp_bias", json_false());
    json_object_set_new(c, "torch_dtype", json_string(torch_dtype));
    if (bos >= 0) json_object_set_new(c, "bos_token_id", json_integer(bos));
    if (eos >= 0) json_object_set_new(c, "eos_token_id", json_integer(eos));
    char path[1100];
    snprintf(path, sizeof path, "%s/config.json", dir);
    int rc = json_dump_file(c, path, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(c);
    return rc ? si_fail("%s: cannot write", path) : 0;
}

int si_model_export_hf(const si_model *m, const char *dir) {
    si_clear_error();
    const si_llama *l = m->llama;
    const si_hparams *h = &l->hp;
    if (h->rope_has_freq_factors) return si_fail("%s: export of per-frequency RoPE scaling is not supported", l->path);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) return si_fail("%s: cannot create folder: %s", dir, strerror(errno));
    int n_items = 3 + 9 * h->n_layers;
    export_item *items = si_calloc((size_t)n_items, sizeof *items);
    if (!items) return -1;
    int n = 0;
    int perm_q = l->gguf ? h->n_heads : 0, perm_k = l->gguf ? h->n_kv_heads : 0;
    items[n++] = (export_item){l->tok_embd, "model.embed_tokens.weight", 0};
    for (int i = 0; i < h->n_layers; i++) {
        const si_layer_weights *w = &l->layers[i];
        struct {
            const si_tensor *t;
            const char *suffix;
            int perm;
        } parts[9] = {{w->attn_norm, "input_layernorm", 0},       {w->wq, "self_attn.q_proj", perm_q},
                      {w->wk, "self_attn.k_proj", perm_k},        {w->wv, "self_attn.v_proj", 0},
                      {w->wo, "self_attn.o_proj", 0},             {w->ffn_norm, "post_attention_layernorm", 0},
                      {w->w_gate, "mlp.gate_proj", 0},            {w->w_up, "mlp.up_proj", 0},
                      {w->w_down, "mlp.down_proj", 0}};
        for (int p = 0; p < 9; p++) {
            items[n].t = parts[p].t;
            items[n].unpermute_heads = parts[p].perm;
            snprintf(items[n].name, sizeof items[n].name, "model.layers.%d.%s.weight", i, parts[p].suffix);
            n++;
        }
    }
    items[n++] = (export_item){l->out_norm, "model.norm.weight", 0};
    if (!h->tied_output) items[n++] = (export_item){l->output, "lm_head.weight", 0};

    char path[1100];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    int widest = h->dim > h->ffn_dim ? h->dim : h->ffn_dim;
    float *buf = si_malloc((size_t)widest * h->n_heads * sizeof(float));
    si_safetensors_writer *w = buf ? si_safetensors_writer_create(path) : NULL;
    int rc = w ? 0 : -1;
    for (int i = 0; rc == 0 && i < n; i++) {
        const si_tensor *t = items[i].t;
        int64_t shape[2] = {t->n_dims >= 2 ? t->ne[1] : t->ne[0], t->ne[0]};
        rc = si_safetensors_writer_add(w, items[i].name, SI_DTYPE_F32, t->n_dims >= 2 ? 2 : 1, t->n_dims >= 2 ? shape : shape + 1);
    }
    if (rc == 0) rc = si_safetensors_writer_begin_data(w);
    for (int i = 0; rc == 0 && i < n; i++) rc = write_tensor(w, &items[i], buf);
    if (w && si_safetensors_writer_finish(w) && rc == 0) rc = -1;
    free(buf);
    free(items);
    if (rc == 0) rc = si_hf_write_config(dir, h, si_tokenizer_bos(m->tok), si_tokenizer_eos(m->tok), "float32");
    if (rc == 0) rc = si_tokenizer_save_hf(m->tok, dir);
    return rc;
}
