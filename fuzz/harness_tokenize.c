/* fuzz/harness_tokenize.c: encoding and decoding arbitrary bytes (invalid
 * UTF-8 included) with real tokenizers, loaded once. Byte 0: bits 0-1 pick
 * the tokenizer (SmolLM2, Llama-2, Llama-3); bits 2-4 the encode flags BOS,
 * SPECIAL, CONTINUE; bit 5 SI_DECODE_SPECIAL; bit 6: the rest is not text
 * but little-endian 16-bit token ids (modulo the vocabulary) to decode,
 * with bit 7 adding one id past its end, which must be refused. The checks
 * are fuzz_tokenizer_checks.c's, plus exact round trips where promised. */
#include "harness.h"

#include "tokenizer/tokenizer.h"

#include <stdlib.h>

int si_fuzz_tokenize(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const si_tokenizer *t = si_fuzz_tokenizer((si_fuzz_tok)((data[0] & 3) % SI_FUZZ_N_TOK));
    if (!t) return 0;
    si_fuzz_accepted++;
    int enc = (data[0] & 4 ? SI_ENCODE_BOS : 0) | (data[0] & 8 ? SI_ENCODE_SPECIAL : 0) |
              (data[0] & 16 ? SI_ENCODE_CONTINUE : 0);
    int dec = data[0] & 32 ? SI_DECODE_SPECIAL : 0;
    const uint8_t *text = data + 1;
    size_t n = size - 1;
    if (!(data[0] & 64)) {
        si_fuzz_check_encode(t, text, n, enc, dec, true, si_fuzz_round_trips(t, text, n, enc, dec));
        return 0;
    }
    int32_t nv = si_tokenizer_n_vocab(t);
    int32_t *ids = malloc((n / 2 + 1) * sizeof *ids);
    if (!ids) si_fuzz_fail("out of memory");
    int64_t k = 0;
    for (size_t i = 0; i + 1 < n; i += 2) ids[k++] = (int32_t)((text[i] | text[i + 1] << 8) % nv);
    if (data[0] & 128) ids[k++] = nv;
    si_fuzz_check_decode(t, ids, k, dec);
    free(ids);
    return 0;
}
