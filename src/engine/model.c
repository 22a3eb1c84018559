/* engine/model.c: loading a model with its tokenizer onto a backend. */
#include "engine.h"

#include "../format/gguf.h"
#include "../util/error.h"
#include "../util/mapped_file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *si_last_error(void) { return si_error_message(); }

si_model_params si_model_default_params(void) {
    si_model_params p = {.n_threads = 0, .device = "cpu", .max_batch = 256};
    return p;
}

static si_backend *make_backend(const si_model_params *p) {
    const char *dev = p->device && *p->device ? p->device : "cpu";
    if (strcmp(dev, "cpu") == 0) return si_backend_cpu_create(p->n_threads, p->precise);
    if (strcmp(dev, "cuda") == 0) {
#ifdef SI_HAVE_CUDA
        return si_backend_cuda_create();
#else
        si_set_error("device 'cuda': this build has no CUDA backend (nvcc was not found when it was built)");
        return NULL;
#endif
    }
    si_set_error("unknown device '%s' (expected cpu or cuda)", dev);
    return NULL;
}

/* The layer matrices' types, most numerous first, joined by "+": a
 * llama.cpp Q4_K_M file mixes three or four. */
static void describe_weight_types(si_model *m) {
    const si_llama *l = m->llama;
    int count[SI_DTYPE_COUNT] = {0};
    for (int i = 0; i < l->hp.n_layers; i++) {
        const si_layer_weights *w = &l->layers[i];
        const si_tensor *mats[7] = {w->wq, w->wk, w->wv, w->wo, w->w_gate, w->w_up, w->w_down};
        for (int j = 0; j < 7; j++) count[mats[j]->dtype]++;
    }
    m->weight_types[0] = '\0';
    for (;;) {
        int best = -1;
        for (int t = 0; t < SI_DTYPE_COUNT; t++)
            if (count[t] > 0 && (best < 0 || count[t] > count[best])) best = t;
        if (best < 0) break;
        size_t len = strlen(m->weight_types);
        snprintf(m->weight_types + len, sizeof m->weight_types - len, "%s%s", len ? "+" : "",
                 si_dtype_name((si_dtype)best));
        count[best] = 0;
    }
}

si_model *si_model_load(const char *path, const si_model_params *params) {
    si_clear_error();
    si_model_params p = params ? *params : si_model_default_params();
    if (p.max_batch <= 0) p.max_batch = 256;
    if (p.max_batch > 4096) {
        si_set_error("max_batch %d out of range (1..4096)", p.max_batch);
        return NULL;
    }
    si_model *m = si_calloc(1, sizeof *m);
    if (!m) return NULL;
    pthread_mutex_init(&m->lock, NULL);
    m->max_batch = p.max_batch;
    m->llama = si_llama_load(path);
    if (!m->llama) goto fail;
    describe_weight_types(m);
    if (m->llama->gguf)
        m->tok = si_tokenizer_from_gguf(m->llama->gguf);
    else
        m->tok = si_tokenizer_load(path);
    if (!m->tok) goto fail;
    if (si_tokenizer_n_vocab(m->tok) > m->llama->hp.n_vocab) {
        si_set_error("%s: tokenizer has %d tokens but the model only %d", path, si_tokenizer_n_vocab(m->tok), m->llama->hp.n_vocab);
        goto fail;
    }
    m->be = make_backend(&p);
    if (!m->be) goto fail;
    if (m->be->prepare_model(m->be, m->llama)) goto fail;
    m->fwd = si_forward_create(m->llama, m->be, p.max_batch, p.max_batch);
    if (!m->fwd) goto fail;
    m->logits = si_malloc((size_t)p.max_batch * m->llama->hp.n_vocab * sizeof(float));
    m->rows = si_malloc((size_t)p.max_batch * sizeof(int));
    m->runs = si_malloc((size_t)p.max_batch * sizeof(si_attn_run));
    m->specs = si_malloc((size_t)p.max_batch * sizeof(si_sample_spec));
    if (!m->logits || !m->rows || !m->runs || !m->specs) goto fail;
    return m;
fail:
    si_model_free(m);
    return NULL;
}

void si_model_free(si_model *m) {
    if (!m) return;
    si_forward_free(m->fwd);
    if (m->be) m->be->destroy(m->be);
    si_tokenizer_free(m->tok);
    si_llama_free(m->llama);
    free(m->logits);
    free(m->rows);
    free(m->runs);
    free(m->specs);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

void si_model_get_info(const si_model *m, si_model_info *info) {
    const si_hparams *h = &m->llama->hp;
    memset(info, 0, sizeof *info);
    info->n_vocab = h->n_vocab;
    info->dim = h->dim;
    info->n_layers = h->n_layers;
    info->n_heads = h->n_heads;
    info->n_kv_heads = h->n_kv_heads;
    info->head_dim = h->head_dim;
    info->ffn_dim = h->ffn_dim;
    info->ctx_train = h->ctx_train;
    info->rope_theta = h->rope_theta;
    info->weight_type = m->weight_types;
    info->device = m->be->name;
    info->n_threads = m->be->n_threads;
    info->tied_output = h->tied_output;
}

int si_model_n_vocab(const si_model *m) { return m->llama->hp.n_vocab; }

const si_tokenizer *si_model_tokenizer(const si_model *m) { return m->tok; }
