/* format/hf_config.h: the fields of a Hugging Face config.json that a Llama-family
 * model needs, parsed with jansson and checked for sane ranges. */
#ifndef SI_FORMAT_HF_CONFIG_H
#define SI_FORMAT_HF_CONFIG_H

#include <stdbool.h>

typedef struct {
    char architecture[64]; /* architectures[0], e.g. "LlamaForCausalLM" */
    char model_type[32];   /* "llama", "mistral" */
    int hidden_size;
    int intermediate_size;
    int num_hidden_layers;
    int num_attention_heads;
    int num_key_value_heads; /* defaults to num_attention_heads */
    int head_dim;            /* defaults to hidden_size / num_attention_heads */
    int vocab_size;
    int max_position_embeddings;
    float rms_norm_eps;
    float rope_theta;          /* default 10000 */
    char rope_scaling_type[16]; /* "" (none), "linear", "llama3", ... */
    float rope_scaling_factor;  /* 1 when none */
    /* llama3-style scaling parameters (0 when absent) */
    float rope_low_freq_factor, rope_high_freq_factor;
    int rope_original_max_position;
    bool tie_word_embeddings;
    int bos_token_id; /* -1 when absent */
    int eos_token_ids[8];
    int n_eos_token_ids;
    char torch_dtype[16];
    int sliding_window; /* 0 when absent/null (Mistral) */
} si_hf_config;

/* Parses path (a config.json); 0 on success, -1 with an error naming the file and field. */
int si_hf_config_load(const char *path, si_hf_config *out);

#endif
