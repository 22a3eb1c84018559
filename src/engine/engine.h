/* engine/engine.h: what the public API's objects hold (models, sessions). */
#ifndef SI_ENGINE_ENGINE_H
#define SI_ENGINE_ENGINE_H

#include "swiftinfer.h"

#include "../backend/backend.h"
#include "../kvcache/kvcache.h"
#include "../model/forward.h"
#include "../model/llama.h"
#include "../tokenizer/tokenizer.h"

#include <pthread.h>

struct si_model {
    si_llama *llama;
    si_backend *be;
    si_forward *fwd;
    si_tokenizer *tok;
    int max_batch;
    float *logits; /* host, [max_batch][n_vocab]: one forward's logit rows */
    int *rows;     /* [max_batch]: scratch for logit row indices */
    si_attn_run *runs; /* [max_batch] */
    si_sample_spec *specs; /* [max_batch]: si_decode_batch_sample's decisions */
    pthread_mutex_t lock; /* one forward pass at a time */
    char weight_types[8 * SI_DTYPE_COUNT]; /* si_model_info.weight_type */
};

struct si_session {
    si_model *model;
    si_session_params params;
    si_kvcache cache;
    float *logits; /* [n_vocab], after the last token */
    bool has_logits;
    si_sample_spec spec; /* si_session_feed_sample's decision */
};

/* si_session_feed_sample without giving the token to the sampler's
 * history (si_sampler_pick): for a token that may never be used. */
int32_t si_session_feed_pick(si_session *s, const int32_t *tokens, int64_t n, si_sampler *smp);

/* Writes dir/config.json for a Llama model with these hyperparameters
 * (export_hf.c; also used by synth.c). bos/eos: -1 to leave out. */
int si_hf_write_config(const char *dir, const si_hparams *h, int32_t bos, int32_t eos, const char *torch_dtype);

#endif
