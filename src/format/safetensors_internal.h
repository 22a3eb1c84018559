/* format/safetensors_internal.h: the reader's state, shared by its parts
 * (safetensors.c: opening and lookups; safetensors_header.c: one shard's
 * JSON header; safetensors_index.c: the sharded index). */
#ifndef SI_FORMAT_SAFETENSORS_INTERNAL_H
#define SI_FORMAT_SAFETENSORS_INTERNAL_H

#include "name_index.h"
#include "safetensors.h"

#include "../util/mapped_file.h"

#include <stdbool.h>

typedef struct {
    char *path;
    si_mapped_file map;
    bool borrowed; /* map is the caller's memory (si_safetensors_open_memory): never unmapped */
} si_st_shard;

struct si_safetensors {
    char *path;
    si_st_shard *shards;
    int n_shards;
    si_tensor *tensors; /* names are heap copies */
    int *tensor_shard;  /* the shard holding each tensor */
    int64_t n_tensors;
    si_name_index index;
};

/* Maps s->shards[shard] and appends its tensors; errors name the shard. */
int si_st_load_shard(si_safetensors *s, int shard);
/* Adds a shard to open later; its index in s->shards, or -1. */
int si_st_add_shard(si_safetensors *s, const char *path);
/* Indexes all tensors by name, refusing a name held twice. */
int si_st_index_tensors(si_safetensors *s);
/* Opens an index .json: its shards, their tensors, then checks the weight map. */
int si_st_open_index(si_safetensors *s, const char *index_path);

#endif
