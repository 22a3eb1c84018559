/* cli/cmd_quantize.c: `swiftinfer quantize` — a model (GGUF or Hugging Face
 * folder) written as a GGUF file in another weight type. */
#include "common.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* Bytes of a model file, or of the .safetensors files in a model folder. */
static double model_bytes(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) return 0;
    if (!S_ISDIR(st.st_mode)) return (double)st.st_size;
    double total = 0;
    DIR *d = opendir(path);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        size_t n = strlen(e->d_name);
        char file[4096];
        if (n < 12 || strcmp(e->d_name + n - 12, ".safetensors") != 0) continue;
        if ((size_t)snprintf(file, sizeof file, "%s/%s", path, e->d_name) < sizeof file && stat(file, &st) == 0)
            total += (double)st.st_size;
    }
    if (d) closedir(d);
    return total;
}

int cmd_quantize(int argc, char **argv) {
    cli_common c;
    cli_common_init(&c);
    const char *out = NULL, *type = NULL;
    arg_spec specs[10];
    int n = 0;
    specs[n++] = (arg_spec){"--out", ARG_STR, &out, "output .gguf file (required)"};
    specs[n++] = (arg_spec){"--type", ARG_STR, &type, "q8_0, q6_k, q5_k, q5_1, q5_0, q4_k, q4_1, q4_0, f16, bf16, f32 or keep (required)"};
    n = cli_model_specs(&c, specs, n);
    if (args_parse(argc, argv, 2, specs, n)) return 2;
    if (c.help || !out || !type) {
        args_usage("quantize", "[--model PATH] --out FILE.gguf --type TYPE", specs, n);
        printf("\nNorms stay F32; with q4_0/q4_1/q4_k the embeddings and output head are Q8_0; rows that\n"
               "do not fill 256-blocks take Q5_0/Q5_1/Q8_0 for q4_k/q5_k/q6_k (as llama.cpp does).\n");
        return c.help ? 0 : 2;
    }
    c.batch = 1;
    double t0 = cli_now();
    si_model *m = cli_load_model(&c);
    if (!m) return 1;
    double t1 = cli_now();
    int rc = si_model_save_gguf(m, out, type);
    double t2 = cli_now();
    si_model_free(m);
    if (rc) {
        fprintf(stderr, "swiftinfer: %s\n", si_last_error());
        return 1;
    }
    double in = model_bytes(c.model), outb = model_bytes(out);
    printf("wrote %s (%s)\n", out, type);
    printf("size: %.1f MiB -> %.1f MiB (%.0f%% of the source)\n", in / 1048576, outb / 1048576, in > 0 ? 100 * outb / in : 0);
    printf("time: load %.2f s, convert and write %.2f s\n", t1 - t0, t2 - t1);
    return 0;
}
