/* fuzz/fuzz_common.c: what the harnesses share: the list of harnesses,
 * failing on a broken invariant, scratch files for readers that take a path,
 * and the real tokenizers, loaded once per process. */
#include "harness.h"

#include <dirent.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef SI_FUZZ_SOURCE_DIR
#error "SI_FUZZ_SOURCE_DIR must name the source tree"
#endif

const si_fuzz_harness si_fuzz_harnesses[] = {
    {"gguf", si_fuzz_gguf},
    {"safetensors", si_fuzz_safetensors},
    {"safetensors_index", si_fuzz_safetensors_index},
    {"hf_config", si_fuzz_hf_config},
    {"tokenizer_json", si_fuzz_tokenizer_json},
    {"tokenizer_model", si_fuzz_tokenizer_model},
    {"chat_template", si_fuzz_chat_template},
    {"tokenize", si_fuzz_tokenize},
    {"server_request", si_fuzz_server_request},
};
const int si_fuzz_n_harnesses = (int)(sizeof si_fuzz_harnesses / sizeof si_fuzz_harnesses[0]);

long si_fuzz_accepted;
static const char *input_name;

void si_fuzz_set_input_name(const char *name) { input_name = name; }

static _Noreturn void fail_v(const char *where, const char *fmt, va_list ap) {
    fprintf(stderr, "fuzz invariant broken%s%s: %s", input_name ? " on " : "", input_name ? input_name : "", where);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    abort();
}

void si_fuzz_fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fail_v("", fmt, ap);
}

void si_fuzz_fail_at(const char *file, int line, const char *cond, const char *fmt, ...) {
    char where[512];
    snprintf(where, sizeof where, "%s:%d: (%s) ", file, line, cond);
    va_list ap;
    va_start(ap, fmt);
    fail_v(where, fmt, ap);
}

void si_fuzz_refused(const char *name) {
    SI_FUZZ_CHECK(strstr(si_last_error(), name) != NULL, "the error does not name %s: %s", name, si_last_error());
}

size_t si_fuzz_split(const uint8_t *data, size_t size, const uint8_t **rest, size_t *rest_len) {
    const uint8_t *nul = memchr(data, 0, size);
    size_t head = nul ? (size_t)(nul - data) : size;
    *rest = nul ? nul + 1 : NULL;
    *rest_len = nul ? size - head - 1 : 0;
    return head;
}

/* ---- scratch files ---- */

static void write_all(int fd, const void *data, size_t size, const char *what) {
    const unsigned char *p = data;
    while (size) {
        ssize_t k = write(fd, p, size);
        if (k <= 0) si_fuzz_fail("cannot write %s", what);
        p += k;
        size -= (size_t)k;
    }
}

const char *si_fuzz_memfile(const void *data, size_t size) {
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("si-fuzz", MFD_CLOEXEC);
        if (fd < 0) si_fuzz_fail("memfd_create failed");
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0 || lseek(fd, 0, SEEK_SET) != 0) si_fuzz_fail("cannot reset the memfd");
    write_all(fd, data, size, "the memfd");
    return path;
}

static char scratch[PATH_MAX];

static void remove_scratch(void) {
    DIR *d = opendir(scratch);
    if (!d) return;
    struct dirent *e;
    char path[PATH_MAX + 256];
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(path, sizeof path, "%s/%s", scratch, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(scratch);
}

const char *si_fuzz_dir(void) {
    if (scratch[0]) return scratch;
    /* tmpfs when there is one: a harness rewrites its files on every input */
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    snprintf(scratch, sizeof scratch, "%s/si-fuzz-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(scratch)) si_fuzz_fail("cannot create a scratch folder %s", scratch);
    atexit(remove_scratch);
    return scratch;
}

const char *si_fuzz_dir_put(const char *name, const void *data, size_t size) {
    static char path[PATH_MAX + 256];
    snprintf(path, sizeof path, "%s/%s", si_fuzz_dir(), name);
    if (!data) {
        unlink(path);
        return path;
    }
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) si_fuzz_fail("cannot write %s", path);
    return path;
}

/* ---- real tokenizers ---- */

const char *si_fuzz_tokenizer_path(si_fuzz_tok which) {
    static char paths[SI_FUZZ_N_TOK][PATH_MAX];
    char *p = paths[which];
    if (p[0]) return p;
    const char *env;
    switch (which) {
    case SI_FUZZ_TOK_SMOLLM2:
        /* as scripts/fetch-model.sh and tests/testutil.c find the default model */
        if ((env = getenv("SWIFTINFER_MODEL")) && *env) {
            snprintf(p, PATH_MAX, "%s", env);
        } else {
            const char *cache = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
            if (cache && *cache)
                snprintf(p, PATH_MAX, "%s/swiftinfer/SmolLM2-135M-Instruct.Q4_1.gguf", cache);
            else
                snprintf(p, PATH_MAX, "%s/.cache/swiftinfer/SmolLM2-135M-Instruct.Q4_1.gguf", home ? home : "");
        }
        break;
    case SI_FUZZ_TOK_LLAMA2:
        if ((env = getenv("SWIFTINFER_SHARED")) && *env)
            snprintf(p, PATH_MAX, "%s/tokenizers/llama2/tokenizer.model", env);
        else
            snprintf(p, PATH_MAX, "%s/../shared/tokenizers/llama2/tokenizer.model", SI_FUZZ_SOURCE_DIR);
        break;
    default:
        snprintf(p, PATH_MAX, "%s/tests/golden/templates/llama3_tokenizer.json", SI_FUZZ_SOURCE_DIR);
        break;
    }
    return p;
}

const si_tokenizer *si_fuzz_tokenizer(si_fuzz_tok which) {
    static si_tokenizer *loaded[SI_FUZZ_N_TOK];
    static bool tried[SI_FUZZ_N_TOK];
    if ((unsigned)which >= SI_FUZZ_N_TOK) return NULL;
    if (!tried[which]) {
        tried[which] = true;
        const char *path = si_fuzz_tokenizer_path(which);
        /* An absent file is a skipped check; a present one that does not
         * load is a broken setup, never something to fuzz past. */
        if (access(path, R_OK) == 0 && !(loaded[which] = si_tokenizer_load(path)))
            si_fuzz_fail("cannot load the tokenizer %s: %s", path, si_last_error());
    }
    return loaded[which];
}
