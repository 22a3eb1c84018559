/* cli/cmd_export.c: `swiftinfer export-hf` — a model as a float32 Hugging Face folder. */
#include "common.h"

#include <stdio.h>

int cmd_export(int argc, char **argv) {
    cli_common c;
    cli_common_init(&c);
    const char *out = NULL;
    arg_spec specs[8];
    int n = 0;
    specs[n++] = (arg_spec){"--out", ARG_STR, &out, "output folder (required)"};
    n = cli_model_specs(&c, specs, n);
    if (args_parse(argc, argv, 2, specs, n)) return 2;
    if (c.help || !out) {
        args_usage("export-hf", "[--model PATH] --out DIR", specs, n);
        return c.help ? 0 : 2;
    }
    c.batch = 1;
    si_model *m = cli_load_model(&c);
    if (!m) return 1;
    int rc = si_model_export_hf(m, out);
    if (rc)
        fprintf(stderr, "swiftinfer: %s\n", si_last_error());
    else
        printf("wrote %s (model.safetensors, config.json, tokenizer files)\n", out);
    si_model_free(m);
    return rc ? 1 : 0;
}
