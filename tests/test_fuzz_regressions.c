/* tests/test_fuzz_regressions.c: replays every file under fuzz/corpus/<name>/
 * (the seeds: valid inputs, so the harness code itself is tested) and
 * fuzz/regressions/<name>/ (inputs that once crashed, hung, leaked or broke
 * an invariant, each fixed since) through the same harness functions the
 * libFuzzer targets run. A harness that finds a problem aborts, naming the
 * input. Harnesses that need a real tokenizer skip inputs that pick one
 * whose file is absent (the default model, ../shared); the test says so. */
#include "harness.h"
#include "testutil.h"

#include <dirent.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Runs every file of dir through fn, in name order; returns how many, -1 if dir is absent. */
static int replay_dir(const char *dir, si_fuzz_fn fn) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue; /* ".", "..", and hidden files such as .gitkeep */
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            names = realloc(names, cap * sizeof *names);
            if (!names) abort();
        }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    if (n) qsort(names, n, sizeof *names, cmp_names);
    for (size_t i = 0; i < n; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        FILE *f = fopen(path, "rb");
        CHECKF(f != NULL, "cannot open %s", path);
        if (!f) continue;
        fseek(f, 0, SEEK_END);
        long size = ftell(f);
        fseek(f, 0, SEEK_SET);
        /* Exactly the input's bytes on the heap, as libFuzzer passes them:
         * ASan sees a read one byte past the end. */
        uint8_t *data = malloc(size > 0 ? (size_t)size : 1);
        if (!data) abort();
        CHECKF(size == 0 || fread(data, 1, (size_t)size, f) == (size_t)size, "cannot read %s", path);
        fclose(f);
        si_fuzz_set_input_name(path);
        CHECKF(fn(data, (size_t)size) == 0, "%s: harness returned non-zero", path);
        si_fuzz_set_input_name(NULL);
        free(data);
        free(names[i]);
    }
    free(names);
    return (int)n;
}

int main(void) {
    for (int k = 0; k < SI_FUZZ_N_TOK; k++)
        if (!si_fuzz_tokenizer((si_fuzz_tok)k))
            printf("note: %s is absent: inputs that pick it are skipped\n", si_fuzz_tokenizer_path((si_fuzz_tok)k));
    int total = 0, regressions = 0;
    for (int h = 0; h < si_fuzz_n_harnesses; h++) {
        const si_fuzz_harness *hr = &si_fuzz_harnesses[h];
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "fuzz/corpus/%s", hr->name);
        si_fuzz_accepted = 0;
        int seeds = replay_dir(si_test_source_path(dir), hr->fn);
        long accepted = si_fuzz_accepted;
        CHECKF(seeds > 0, "%s: no seed corpus in fuzz/corpus/%s", hr->name, hr->name);
        /* Seeds are valid inputs, but for a few that show a refusal. */
        CHECKF(accepted > seeds / 2, "%s: only %ld of %d seeds accepted", hr->name, accepted, seeds);
        snprintf(dir, sizeof dir, "fuzz/regressions/%s", hr->name);
        int regs = replay_dir(si_test_source_path(dir), hr->fn);
        if (regs < 0) regs = 0;
        printf("%-18s %4d seeds (%ld accepted), %3d regression inputs replayed\n", hr->name, seeds, accepted, regs);
        total += seeds + regs;
        regressions += regs;
    }
    printf("%d inputs replayed, %d of them regressions\n", total, regressions);
    return si_test_finish("test_fuzz_regressions");
}
