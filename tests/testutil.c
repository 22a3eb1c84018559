#include "testutil.h"

#include <errno.h>
#include <math.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int si_test_failures = 0;

int si_test_finish(const char *name) {
    if (si_test_failures)
        fprintf(stderr, "%s: %d check(s) failed\n", name, si_test_failures);
    else
        printf("%s: all checks passed\n", name);
    return si_test_failures ? 1 : 0;
}

void si_test_skip(const char *why) {
    printf("SKIP: %s\n", why);
    exit(TEST_SKIP_CODE);
}

static char path_buf[8][PATH_MAX];
static int path_next;

static char *next_buf(void) {
    char *b = path_buf[path_next];
    path_next = (path_next + 1) % 8;
    return b;
}

const char *si_test_model_path(void) {
    const char *env = getenv("SWIFTINFER_MODEL");
    char *b = next_buf();
    if (env && *env) {
        snprintf(b, PATH_MAX, "%s", env);
    } else {
        const char *home = getenv("HOME");
        snprintf(b, PATH_MAX, "%s/.cache/swiftinfer/SmolLM2-135M-Instruct.Q4_1.gguf", home ? home : "");
    }
    return access(b, R_OK) == 0 ? b : NULL;
}

const char *si_test_require_model(void) {
    const char *p = si_test_model_path();
    if (!p) si_test_skip("default model not found: run scripts/fetch-model.sh or set SWIFTINFER_MODEL");
    return p;
}

const char *si_test_shared_path(const char *rel) {
    char *b = next_buf();
    const char *env = getenv("SWIFTINFER_SHARED"); /* e.g. a copy carried to a GPU machine */
    if (env && *env)
        snprintf(b, PATH_MAX, "%s/%s", env, rel);
    else
        snprintf(b, PATH_MAX, "%s/../shared/%s", SI_SOURCE_DIR, rel);
    return access(b, R_OK) == 0 ? b : NULL;
}

const char *si_test_source_path(const char *rel) {
    char *b = next_buf();
    snprintf(b, PATH_MAX, "%s/%s", SI_SOURCE_DIR, rel);
    return b;
}

const char *si_test_tmpdir(void) {
    static char dir[PATH_MAX];
    if (dir[0]) return dir;
    const char *base = getenv("SI_TEST_TMP");
    if (!base || !*base) base = "/tmp";
    mkdir(base, 0755);
    snprintf(dir, sizeof dir, "%s/t%ld", base, (long)getpid());
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "cannot create %s\n", dir);
        exit(1);
    }
    return dir;
}

int si_test_write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, n, f);
    fclose(f);
    return w == n ? 0 : -1;
}

uint32_t si_test_rand(void) {
    static uint64_t x = 0x2545F4914F6CDD1Dull;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return (uint32_t)(x >> 16);
}

double si_test_rel_err(const float *a, const float *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - b[i];
        if (!(d == d)) return INFINITY;
        num += d * d;
        den += (double)b[i] * b[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

void si_test_sampler_settings(si_sampler_params out[SI_TEST_SAMPLER_SETTINGS]) {
    for (int i = 0; i < SI_TEST_SAMPLER_SETTINGS; i++) out[i] = si_sampler_default_params();
    out[1].temperature = 1.5f;
    out[1].top_k = 256;
    out[1].top_p = 1;
    out[2].top_k = 0;
    out[2].top_p = 0.9f;
    out[3].temperature = 0;
    out[3].repeat_penalty = 1.3f;
}
