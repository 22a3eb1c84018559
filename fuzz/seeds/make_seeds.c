/* fuzz/seeds/make_seeds.c: si_fuzz_make_seeds [CORPUS_DIR]: writes the seed
 * corpora (default: fuzz/corpus of the source tree). Needs the default model
 * (scripts/fetch-model.sh) and ../shared/tokenizers/llama2/tokenizer.model. */
#include "make_seeds.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *corpus_dir = SI_FUZZ_SOURCE_DIR "/fuzz/corpus";
static int n_written;

void seed_die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "make_seeds: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

void seed_put(seed_buf *b, const void *data, size_t n) {
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        if (!(b->p = realloc(b->p, b->cap))) seed_die("out of memory");
    }
    if (n) memcpy(b->p + b->n, data, n);
    b->n += n;
    b->p[b->n] = 0; /* always NUL-terminated past the end, for text use */
}

void seed_puts(seed_buf *b, const char *s) { seed_put(b, s, strlen(s)); }
void seed_put_byte(seed_buf *b, uint8_t c) { seed_put(b, &c, 1); }

void seed_write(const char *harness, const char *name, const void *data, size_t n) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", corpus_dir, harness);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/%s", corpus_dir, harness, name);
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f) != 0) seed_die("cannot write %s", path);
    printf("%8zu  %s/%s\n", n, harness, name);
    n_written++;
}

void seed_write_buf(const char *harness, const char *name, seed_buf *b) {
    seed_write(harness, name, b->p, b->n);
    free(b->p);
    *b = (seed_buf){0};
}

int seed_read(const char *path, seed_buf *b) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    char chunk[65536];
    size_t k;
    *b = (seed_buf){0};
    seed_put(b, "", 0);
    while ((k = fread(chunk, 1, sizeof chunk, f)) > 0) seed_put(b, chunk, k);
    fclose(f);
    return 0;
}

static const char *existing(const char *path) { return access(path, R_OK) == 0 ? path : NULL; }

const char *seed_model_path(void) {
    static char p[PATH_MAX];
    const char *env = getenv("SWIFTINFER_MODEL"), *home = getenv("HOME");
    if (env && *env)
        snprintf(p, sizeof p, "%s", env);
    else
        snprintf(p, sizeof p, "%s/.cache/swiftinfer/SmolLM2-135M-Instruct.Q4_1.gguf", home ? home : "");
    return existing(p);
}

const char *seed_llama2_path(void) {
    static char p[PATH_MAX];
    const char *env = getenv("SWIFTINFER_SHARED");
    snprintf(p, sizeof p, "%s/tokenizers/llama2/tokenizer.model", env && *env ? env : SI_FUZZ_SOURCE_DIR "/../shared");
    return existing(p);
}

int main(int argc, char **argv) {
    if (argc > 1) corpus_dir = argv[1];
    if (!seed_model_path() || !seed_llama2_path())
        seed_die("needs the default model (scripts/fetch-model.sh) and ../shared/tokenizers/llama2/tokenizer.model");
    char tmp[] = "/tmp/si-seeds-XXXXXX";
    if (!mkdtemp(tmp)) seed_die("cannot create a scratch folder");
    seeds_gguf_and_tokenizers(tmp);
    seeds_safetensors(tmp);
    seeds_text();
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0) fprintf(stderr, "make_seeds: could not remove %s\n", tmp);
    printf("%d seeds written under %s\n", n_written, corpus_dir);
    return 0;
}
