/* backend/cpu/dispatch.c: picks the kernel set for this processor once.
 *
 * One binary serves every x86-64: the SIMD sets are compiled with function
 * target attributes, and the processor's features, read at run time, decide
 * which may run. SWIFTINFER_SIMD=scalar|avx2|avx512|avx512bf16 forces a level
 * (if the processor has it). */
#include "dot.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const si_cpu_kernels si_cpu_kernels_scalar;

#if defined(__x86_64__)
#include <cpuid.h>

extern const si_cpu_kernels si_cpu_kernels_avx2, si_cpu_kernels_avx512, si_cpu_kernels_avx512bf16;

/* clang 14's __builtin_cpu_supports does not know "f16c": ask cpuid (leaf 1,
 * ECX bit 29). The OS-support check for the YMM state comes with "avx2". */
static bool has_f16c(void) {
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
}

/* __builtin_cpu_supports also checks that the OS saves the wide registers. */
static bool has_avx2(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && has_f16c();
}

static bool has_avx512(void) {
    __builtin_cpu_init();
    return has_avx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vnni");
}

/* AVX512_BF16: cpuid leaf 7, subleaf 1, EAX bit 5 (gcc 12's and clang 14's
 * __builtin_cpu_supports do not know it). */
static bool has_avx512bf16(void) {
    unsigned a, b, c, d;
    return has_avx512() && __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a & (1u << 5));
}
#endif

const si_cpu_kernels *si_cpu_kernels_for(const char *level) {
    if (strcmp(level, "scalar") == 0) return &si_cpu_kernels_scalar;
#if defined(__x86_64__)
    if (strcmp(level, "avx2") == 0) return has_avx2() ? &si_cpu_kernels_avx2 : NULL;
    if (strcmp(level, "avx512") == 0) return has_avx512() ? &si_cpu_kernels_avx512 : NULL;
    if (strcmp(level, "avx512bf16") == 0) return has_avx512bf16() ? &si_cpu_kernels_avx512bf16 : NULL;
#endif
    return NULL;
}

static const si_cpu_kernels *chosen;

static void choose(void) {
    const char *force = getenv("SWIFTINFER_SIMD");
    const si_cpu_kernels *k = NULL;
    if (force && *force) {
        k = si_cpu_kernels_for(force);
        if (!k) fprintf(stderr, "swiftinfer: SWIFTINFER_SIMD=%s is not available here; using the best level\n", force);
    }
    if (!k) k = si_cpu_kernels_for("avx512bf16");
    if (!k) k = si_cpu_kernels_for("avx512");
    if (!k) k = si_cpu_kernels_for("avx2");
    if (!k) k = &si_cpu_kernels_scalar;
    chosen = k;
}

/* pthread_once: backends created on several threads at once agree on one set. */
const si_cpu_kernels *si_cpu_kernels_get(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, choose);
    return chosen;
}
