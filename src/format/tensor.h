/* format/tensor.h: a weight tensor as a model file holds it, used in place
 * (data points into the mapped file). Dimensions follow GGUF: ne[0] is the
 * length of a row (the fastest-varying index), ne[1] the number of rows. */
#ifndef SI_FORMAT_TENSOR_H
#define SI_FORMAT_TENSOR_H

#include "dtype.h"

#include <stddef.h>
#include <stdint.h>

#define SI_MAX_DIMS 4

typedef struct {
    const char *name;
    si_dtype dtype;
    int n_dims;
    int64_t ne[SI_MAX_DIMS]; /* unused dimensions are 1 */
    const void *data;
    size_t nbytes;
} si_tensor;

static inline int64_t si_tensor_nelems(const si_tensor *t) {
    return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
}

#endif
