/* fuzz/harness_tokenizer_model.c: a SentencePiece tokenizer.model (protobuf
 * ModelProto), read from memory by the same function that reads the mapped
 * file; a model that loads is put through encoding and decoding. */
#include "harness.h"

#include "tokenizer/tokenizer_internal.h"


int si_fuzz_tokenizer_model(const uint8_t *data, size_t size) {
    si_tokenizer *t = si_tokenizer_from_spm_bytes(data, size, "fuzz.model");
    if (!t) {
        si_fuzz_refused("fuzz.model");
        return 0;
    }
    si_fuzz_accepted++;
    SI_FUZZ_CHECK(si_tokenizer_n_vocab(t) >= 1 && si_tokenizer_n_vocab(t) <= SI_TOKENIZER_MAX_VOCAB, "%d pieces",
                  si_tokenizer_n_vocab(t));
    si_fuzz_exercise_tokenizer(t);
    si_tokenizer_free(t);
    return 0;
}
