/* backend/cpu/dispatch.c: picks the kernel set for this processor once. */
#include "dot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const si_cpu_kernels si_cpu_kernels_scalar;

const si_cpu_kernels *si_cpu_kernels_for(const char *level) {
    if (strcmp(level, "scalar") == 0) return &si_cpu_kernels_scalar;
    return NULL;
}

const si_cpu_kernels *si_cpu_kernels_get(void) {
    static const si_cpu_kernels *chosen;
    if (chosen) return chosen;
    const char *force = getenv("SWIFTINFER_SIMD");
    const si_cpu_kernels *k = NULL;
    if (force && *force) {
        k = si_cpu_kernels_for(force);
        if (!k) fprintf(stderr, "swiftinfer: SWIFTINFER_SIMD=%s is not available here; using the best level\n", force);
    }
    if (!k) k = &si_cpu_kernels_scalar;
    chosen = k;
    return k;
}
