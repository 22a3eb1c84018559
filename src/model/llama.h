/* model/llama.h: the Llama-family transformer — hyperparameters, weights
 * (used in place from the model file) and the batched forward pass.
 *
 * One architecture covers Llama-2/3, Vicuna, TinyLlama, Mistral and SmolLM2:
 * RMSNorm, rotary positions, grouped-query attention, SwiGLU, tied or separate
 * output head. Weights come from a GGUF file or a Hugging Face folder; the
 * only layout difference is the RoPE pairing (see si_rope_style). */
#ifndef SI_MODEL_LLAMA_H
#define SI_MODEL_LLAMA_H

#include "../format/tensor.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct si_gguf si_gguf;
typedef struct si_safetensors si_safetensors;

/* llama.cpp's converter permutes the rows of Q and K so that rotating adjacent
 * pairs (x[2i], x[2i+1]) equals Hugging Face's rotate-half pairing
 * (x[i], x[i + d/2]). We keep each file's layout and rotate accordingly. */
typedef enum { SI_ROPE_ADJACENT = 0, SI_ROPE_HALF = 1 } si_rope_style;

typedef struct {
    int n_vocab;
    int dim;        /* hidden size */
    int n_layers;
    int n_heads;
    int n_kv_heads;
    int head_dim;
    int ffn_dim;
    int ctx_train;  /* trained context length */
    float norm_eps;
    float rope_theta;
    float rope_linear_scale; /* positions are divided by this (1 = none) */
    bool rope_has_freq_factors; /* Llama-3.1 style per-frequency scaling */
    si_rope_style rope_style;
    bool tied_output;
} si_hparams;

typedef struct {
    const si_tensor *attn_norm, *wq, *wk, *wv, *wo;
    const si_tensor *ffn_norm, *w_gate, *w_up, *w_down;
} si_layer_weights;

typedef struct si_llama {
    char path[512];
    si_hparams hp;
    const si_tensor *tok_embd, *out_norm, *output; /* output == tok_embd when tied */
    si_layer_weights *layers;
    /* Per rotary pair i: theta^(-2i/d) with any scaling folded in. Long double
     * (64-bit mantissa on x86-64), so that position x frequency keeps ~1e-9 rad
     * of accuracy at positions in the billions; double alone leaves ~1e-6. */
    long double *inv_freq;
    si_gguf *gguf;        /* exactly one of the two is open */
    si_safetensors *st;
    char hf_dir[512];     /* folder of a Hugging Face model ("" for GGUF) */
} si_llama;

/* Loads a .gguf file or a Hugging Face folder; NULL with an error. */
si_llama *si_llama_load(const char *path);
void si_llama_free(si_llama *m);

#endif
