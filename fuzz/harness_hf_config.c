/* fuzz/harness_hf_config.c: a Hugging Face config.json. Whatever the file
 * says, an accepted config must hold sizes inside docs/limits.md's ranges,
 * since the model loader allocates and indexes by them. */
#include "harness.h"

#include "format/hf_config.h"

#include <string.h>

int si_fuzz_hf_config(const uint8_t *data, size_t size) {
    const char *path = si_fuzz_memfile(data, size);
    si_hf_config c;
    if (si_hf_config_load(path, &c) != 0) {
        si_fuzz_refused(path);
        return 0;
    }
    si_fuzz_accepted++;
    const int big = 1 << 20;
    SI_FUZZ_CHECK(c.hidden_size >= 1 && c.hidden_size <= big && c.intermediate_size >= 1 && c.intermediate_size <= big &&
                      c.num_hidden_layers >= 1 && c.num_hidden_layers <= big && c.num_attention_heads >= 1 &&
                      c.num_attention_heads <= big && c.head_dim >= 1 && c.head_dim <= big,
                  "sizes out of range");
    SI_FUZZ_CHECK(c.num_key_value_heads >= 1 && c.num_attention_heads % c.num_key_value_heads == 0, "kv heads");
    SI_FUZZ_CHECK(c.vocab_size >= 1 && c.vocab_size <= 1 << 22, "vocab_size %d", c.vocab_size);
    SI_FUZZ_CHECK(c.max_position_embeddings >= 1 && c.max_position_embeddings <= 1 << 24, "positions");
    SI_FUZZ_CHECK(c.n_eos_token_ids >= 0 && c.n_eos_token_ids <= 8, "%d EOS ids", c.n_eos_token_ids);
    for (int i = 0; i < c.n_eos_token_ids; i++)
        SI_FUZZ_CHECK(c.eos_token_ids[i] >= 0 && c.eos_token_ids[i] < c.vocab_size, "EOS id %d", c.eos_token_ids[i]);
    SI_FUZZ_CHECK(c.bos_token_id >= -1 && c.bos_token_id < c.vocab_size, "BOS id %d", c.bos_token_id);
    SI_FUZZ_CHECK(c.rms_norm_eps > 0 && c.rms_norm_eps <= 1 && c.rope_theta > 0 && c.rope_scaling_factor > 0,
                  "scales out of range");
    SI_FUZZ_CHECK(memchr(c.architecture, 0, sizeof c.architecture) && memchr(c.model_type, 0, sizeof c.model_type) &&
                      memchr(c.rope_scaling_type, 0, sizeof c.rope_scaling_type) &&
                      memchr(c.torch_dtype, 0, sizeof c.torch_dtype),
                  "a string field is not NUL-terminated");
    return 0;
}
