/* fuzz/harness_tokenizer_json.c: a Hugging Face tokenizer folder. The input
 * is tokenizer.json, optionally followed by a NUL byte and
 * tokenizer_config.json (BOS/EOS, add_bos_token, the chat template); the
 * folder is loaded as the engine loads one, and a tokenizer that loads is
 * put through encoding, decoding and its chat template. */
#include "harness.h"


int si_fuzz_tokenizer_json(const uint8_t *data, size_t size) {
    const uint8_t *config;
    size_t config_len, json_len = si_fuzz_split(data, size, &config, &config_len);
    si_fuzz_dir_put("tokenizer.json", data, json_len);
    si_fuzz_dir_put("tokenizer_config.json", config, config_len);
    si_tokenizer *t = si_tokenizer_load(si_fuzz_dir());
    if (!t) {
        si_fuzz_refused(si_fuzz_dir());
        return 0;
    }
    si_fuzz_accepted++;
    si_fuzz_exercise_tokenizer(t);
    si_tokenizer_free(t);
    return 0;
}
