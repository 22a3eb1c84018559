/* cli/cmd_synth.c: `swiftinfer synth` — a Hugging Face folder with a real
 * model's shapes and seeded random weights (si_synth_model), for benchmarks. */
#include "common.h"

#include <stdio.h>

int cmd_synth(int argc, char **argv) {
    si_synth_params p = si_synth_default_params();
    const char *out = NULL, *arch = p.arch, *dtype = p.dtype, *tokenizer = NULL;
    int64_t seed = (int64_t)p.seed;
    int threads = 0;
    bool help = false;
    arg_spec specs[] = {
        {"--arch", ARG_STR, &arch, "llama2-7b, llama2-13b, smollm2-135m (default) or tiny"},
        {"--dtype", ARG_STR, &dtype, "f16 (default) or bf16"},
        {"--out", ARG_STR, &out, "output folder (required)"},
        {"--seed", ARG_I64, &seed, "random seed (default 1)"},
        {"--tokenizer", ARG_STR, &tokenizer,
         "tokenizer.model or a folder of tokenizer files (default: shared/tokenizers/llama2/tokenizer.model)"},
        {"--threads", ARG_INT, &threads, "random-number threads (default: all cores, at most 16)"},
        {"--help", ARG_FLAG, &help, "show this help"},
    };
    int n = (int)(sizeof specs / sizeof specs[0]);
    if (args_parse(argc, argv, 2, specs, n)) return 2;
    if (help || !out) {
        args_usage("synth", "--arch NAME --out DIR [--dtype f16|bf16] [--seed N]", specs, n);
        return help ? 0 : 2;
    }
    if (!tokenizer) tokenizer = cli_shared_path("tokenizers/llama2/tokenizer.model");
    if (!tokenizer) {
        fprintf(stderr, "swiftinfer synth: no tokenizer: pass --tokenizer, or set SWIFTINFER_SHARED to the shared folder\n");
        return 2;
    }
    p.arch = arch;
    p.dtype = dtype;
    p.tokenizer = tokenizer;
    p.seed = (uint64_t)seed;
    p.n_threads = threads;
    double t0 = cli_now();
    if (si_synth_model(out, &p)) {
        fprintf(stderr, "swiftinfer: %s\n", si_last_error());
        return 1;
    }
    printf("wrote %s (%s, %s, seed %lld) in %.1f s\n", out, arch, dtype, (long long)seed, cli_now() - t0);
    return 0;
}
