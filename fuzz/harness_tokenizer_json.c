/* fuzz/harness_tokenizer_json.c: a Hugging Face tokenizer folder. The input
 * is tokenizer.json, optionally followed by a NUL byte and
 * tokenizer_config.json (BOS/EOS, add_bos_token, the chat template); the
 * folder is loaded as the engine loads one, and a tokenizer that loads is
 * put through encoding, decoding and its chat template. */
#include "harness.h"

#include <string.h>

int si_fuzz_tokenizer_json(const uint8_t *data, size_t size) {
    const uint8_t *nul = memchr(data, 0, size);
    size_t json_len = nul ? (size_t)(nul - data) : size;
    si_fuzz_dir_put("tokenizer.json", data, json_len);
    si_fuzz_dir_put("tokenizer_config.json", nul ? nul + 1 : NULL, nul ? size - json_len - 1 : 0);
    si_tokenizer *t = si_tokenizer_load(si_fuzz_dir());
    if (!t) {
        SI_FUZZ_CHECK(strstr(si_last_error(), si_fuzz_dir()) != NULL, "error does not name the file: %s",
                      si_last_error());
        return 0;
    }
    si_fuzz_accepted++;
    si_fuzz_exercise_tokenizer(t);
    si_tokenizer_free(t);
    return 0;
}
