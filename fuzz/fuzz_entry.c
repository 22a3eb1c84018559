/* fuzz/fuzz_entry.c: the libFuzzer entry points of one harness, chosen when
 * it is compiled (SI_FUZZ_ENTRY: the function, SI_FUZZ_NAME: its name). */
#include "harness.h"

#include <stdio.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The harnesses that need the real tokenizers load them here, once, so that
 * the first input is not charged for it and a missing file is said up front. */
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    static const char *const users[] = {"chat_template", "tokenize", "server_request"};
    for (size_t i = 0; i < sizeof users / sizeof users[0]; i++) {
        if (strcmp(SI_FUZZ_NAME, users[i]) != 0) continue;
        for (int k = 0; k < SI_FUZZ_N_TOK; k++)
            if (!si_fuzz_tokenizer((si_fuzz_tok)k))
                fprintf(stderr, "fuzz_%s: %s is absent: inputs that pick it are skipped\n", SI_FUZZ_NAME,
                        si_fuzz_tokenizer_path((si_fuzz_tok)k));
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return SI_FUZZ_ENTRY(data, size); }
