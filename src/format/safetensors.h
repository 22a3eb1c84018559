/* format/safetensors.h: reader for Hugging Face weights: a single
 * model.safetensors, or shards listed by model.safetensors.index.json.
 * Each shard is mapped read-only; its JSON header is size-bounded and every
 * tensor's byte range is checked against the shard and its dtype and shape. */
#ifndef SI_FORMAT_SAFETENSORS_H
#define SI_FORMAT_SAFETENSORS_H

#include "tensor.h"

#include <stddef.h>
#include <stdint.h>

#define SI_SAFETENSORS_MAX_HEADER (100u << 20) /* bytes of JSON header per shard */
#define SI_SAFETENSORS_MAX_SHARDS 1024
#define SI_SAFETENSORS_MAX_TENSORS 262144
#define SI_SAFETENSORS_MAX_DIM ((int64_t)1 << 40) /* elements along one dimension */

typedef struct si_safetensors si_safetensors;

/* path: a .safetensors file, an index .json, or a folder holding either
 * model.safetensors (preferred) or model.safetensors.index.json.
 * Everything is checked at open: a tensor with a dtype other than F32, F16 or
 * BF16, a shape of more than 4 dimensions or with an empty one, or bytes
 * outside its shard fails the open, naming the shard and the tensor.
 * Tensor data is not necessarily aligned: safetensors packs tensors back to
 * back, so an F32 tensor may follow an odd number of F16 elements. */
si_safetensors *si_safetensors_open(const char *path);
/* One .safetensors file's bytes already in memory (a fuzzer's input), with
 * the same checks: name stands for the path in errors. Tensors point into
 * data, which must outlive the reader; it is not copied. */
si_safetensors *si_safetensors_open_memory(const void *data, size_t size, const char *name);
void si_safetensors_close(si_safetensors *s);

int64_t si_safetensors_n_tensors(const si_safetensors *s);
const si_tensor *si_safetensors_tensor(const si_safetensors *s, int64_t i);
const si_tensor *si_safetensors_find(const si_safetensors *s, const char *name);

/* Writing (for export and synth): a single file, tensors in the order given.
 * Supports F32, F16 and BF16. */
typedef struct si_safetensors_writer si_safetensors_writer;
si_safetensors_writer *si_safetensors_writer_create(const char *path);
/* Declares a tensor; shape is row-major as in PyTorch (shape[0] outermost). */
int si_safetensors_writer_add(si_safetensors_writer *w, const char *name, si_dtype dtype, int n_dims,
                              const int64_t *shape);
/* After all tensors are declared: writes the header, then each tensor's bytes
 * in declaration order through repeated calls (data may come in pieces). */
int si_safetensors_writer_begin_data(si_safetensors_writer *w);
int si_safetensors_writer_write(si_safetensors_writer *w, const void *data, size_t nbytes);
/* Checks that exactly the declared bytes were written; frees the writer. */
int si_safetensors_writer_finish(si_safetensors_writer *w);

#endif
