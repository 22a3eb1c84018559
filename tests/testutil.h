/* tests/testutil.h: a minimal test harness. CHECK records a failure and goes
 * on; the test's exit status is the number of failures (0 = pass), 77 = skip. */
#ifndef SI_TESTUTIL_H
#define SI_TESTUTIL_H

#include "swiftinfer.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

extern int si_test_failures;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            si_test_failures++;                                                      \
        }                                                                            \
    } while (0)

#define CHECKF(cond, ...)                                                     \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                     \
            fprintf(stderr, "\n");                                            \
            si_test_failures++;                                               \
        }                                                                     \
    } while (0)

#define TEST_SKIP_CODE 77

/* Exit status for main(): prints a summary line. */
int si_test_finish(const char *name);
/* Prints a reason and exits with the skip code. */
_Noreturn void si_test_skip(const char *why);

/* The default model (SWIFTINFER_MODEL, else ~/.cache/swiftinfer/<default file>);
 * NULL if it is not there. */
const char *si_test_model_path(void);
/* Like si_test_model_path but skips the test when the model is absent. */
const char *si_test_require_model(void);
/* Path under ../shared (beside the source tree; SWIFTINFER_SHARED names
 * another folder), or NULL when absent. */
const char *si_test_shared_path(const char *rel);
/* Path under the source tree (always returned; may not exist). */
const char *si_test_source_path(const char *rel);
/* A fresh scratch directory for this test program (created on first call). */
const char *si_test_tmpdir(void);
/* A fixed-seed xorshift stream for test data (same sequence every run). */
uint32_t si_test_rand(void);
/* ||a - b|| / ||b|| over n floats (||a - b|| when b is zero); NaN anywhere gives infinity. */
double si_test_rel_err(const float *a, const float *b, size_t n);

/* Writes bytes to a file; 0 on success. */
int si_test_write_file(const char *path, const void *data, size_t n);
/* Sampler settings that cover the sampling paths: the defaults (top-k 40,
 * top-p 0.95, penalty), the GPU's largest top-k with a flat temperature,
 * top-k off with top-p (the GPU hands these to the host), and greedy after a
 * penalty. */
#define SI_TEST_SAMPLER_SETTINGS 4
void si_test_sampler_settings(si_sampler_params out[SI_TEST_SAMPLER_SETTINGS]);

#endif
