/* format/gguf.h: reader for GGUF v2/v3 files (llama.cpp's model format).
 *
 * The whole file is mapped read-only; metadata and the tensor table are
 * parsed and validated once at open (every count, string length and tensor
 * extent is bounded before use, see the limits below), and tensors point into
 * the mapping. Nothing in a file can make the reader allocate more than the
 * limits allow or read outside the file. */
#ifndef SI_FORMAT_GGUF_H
#define SI_FORMAT_GGUF_H

#include "tensor.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Limits a lying header cannot push past (documented in docs/limits.md). */
#define SI_GGUF_MAX_KV 65536            /* metadata key/value pairs */
#define SI_GGUF_MAX_TENSORS 65536       /* tensors in the table */
#define SI_GGUF_MAX_STRING (1u << 24)   /* bytes in one string (16 MiB: chat templates are large) */
#define SI_GGUF_MAX_ARRAY (1u << 24)    /* elements in one metadata array */
#define SI_GGUF_MAX_NAME 256            /* bytes in a key or tensor name */
#define SI_GGUF_MAX_DIM ((int64_t)1 << 40) /* elements along one dimension */

typedef enum {
    SI_GGUF_UINT8 = 0,
    SI_GGUF_INT8 = 1,
    SI_GGUF_UINT16 = 2,
    SI_GGUF_INT16 = 3,
    SI_GGUF_UINT32 = 4,
    SI_GGUF_INT32 = 5,
    SI_GGUF_FLOAT32 = 6,
    SI_GGUF_BOOL = 7,
    SI_GGUF_STRING = 8,
    SI_GGUF_ARRAY = 9,
    SI_GGUF_UINT64 = 10,
    SI_GGUF_INT64 = 11,
    SI_GGUF_FLOAT64 = 12,
} si_gguf_type;

/* Bytes of one value of a numeric or bool type; 0 for strings, arrays and unknown types. */
size_t si_gguf_type_size(si_gguf_type type);

typedef struct si_gguf si_gguf;

/* Opens and validates a GGUF file; NULL with an error naming the path and the problem. */
si_gguf *si_gguf_open(const char *path);
/* The same checks on a file's bytes already in memory (a fuzzer's input):
 * name stands for the path in errors. Tensors point into data, which must
 * outlive the handle; it is not copied. Tensor data is aligned as in a
 * mapped file only if data itself is (to general.alignment). */
si_gguf *si_gguf_open_memory(const void *data, size_t size, const char *name);
void si_gguf_close(si_gguf *g);

const char *si_gguf_path(const si_gguf *g);
uint32_t si_gguf_version(const si_gguf *g);

/* Metadata getters: 0 = found, 1 = absent, -1 = present with an unusable
 * type or value (error set, naming the file and key). Integer getters accept
 * any integer type whose value fits. */
int si_gguf_get_u32(const si_gguf *g, const char *key, uint32_t *out);
int si_gguf_get_i64(const si_gguf *g, const char *key, int64_t *out);
int si_gguf_get_f32(const si_gguf *g, const char *key, float *out);
int si_gguf_get_bool(const si_gguf *g, const char *key, bool *out);
/* The string is not NUL-terminated inside the file: it is returned with its length. */
int si_gguf_get_str(const si_gguf *g, const char *key, const char **s, size_t *len);

/* Arrays: element type and count. For numeric arrays *data points at the packed
 * little-endian elements in the file (not necessarily aligned: memcpy them);
 * for string arrays use si_gguf_arr_str. *data is NULL for string arrays and
 * arrays of arrays (those are validated at open but not indexed). */
int si_gguf_get_arr(const si_gguf *g, const char *key, si_gguf_type *elem_type, uint64_t *count,
                    const void **data);
/* i-th string of a string array (0 or -1 as above, 1 if the key is absent). */
int si_gguf_arr_str(const si_gguf *g, const char *key, uint64_t i, const char **s, size_t *len);

/* Iteration over all keys (for inspection tools); NULL / (si_gguf_type)-1 out of range. */
int64_t si_gguf_n_kv(const si_gguf *g);
const char *si_gguf_kv_key(const si_gguf *g, int64_t i);
si_gguf_type si_gguf_kv_type(const si_gguf *g, int64_t i);

int64_t si_gguf_n_tensors(const si_gguf *g);
const si_tensor *si_gguf_tensor(const si_gguf *g, int64_t i);
const si_tensor *si_gguf_find_tensor(const si_gguf *g, const char *name);

#endif
