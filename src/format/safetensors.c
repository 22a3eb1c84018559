/* format/safetensors.c: opening safetensors weights (a file, an index, or a
 * folder holding either), the tensor name index and lookups. */
#include "safetensors_internal.h"

#include "../util/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *copy_string(const char *s) {
    size_t n = strlen(s);
    char *c = si_malloc(n + 1);
    if (c) memcpy(c, s, n + 1);
    return c;
}

int si_st_add_shard(si_safetensors *s, const char *path) {
    if (s->n_shards >= SI_SAFETENSORS_MAX_SHARDS) return si_fail("more than %d shards", SI_SAFETENSORS_MAX_SHARDS);
    si_st_shard *sh = &s->shards[s->n_shards];
    if (!(sh->path = copy_string(path))) return -1;
    return s->n_shards++;
}

int si_st_index_tensors(si_safetensors *s) {
    if (si_name_index_init(&s->index, (size_t)s->n_tensors)) return -1;
    for (int64_t i = 0; i < s->n_tensors; i++) {
        int64_t first;
        if (si_name_index_add(&s->index, s->tensors[i].name, i, &first))
            return si_fail("tensor '%s' appears twice (in %s and %s)", s->tensors[i].name,
                           s->shards[s->tensor_shard[first]].path, s->shards[s->tensor_shard[i]].path);
    }
    return 0;
}

static int open_single(si_safetensors *s, const char *path) {
    int k = si_st_add_shard(s, path);
    if (k < 0 || si_st_load_shard(s, k)) return -1;
    return si_st_index_tensors(s);
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int open_path(si_safetensors *s, const char *path) {
    if (!si_path_is_dir(path)) return ends_with(path, ".json") ? si_st_open_index(s, path) : open_single(s, path);
    char file[4096];
    int n = snprintf(file, sizeof file, "%s/model.safetensors", path);
    if (n < 0 || (size_t)n >= sizeof file) return si_fail("%s: path too long", path);
    if (si_path_exists(file)) return open_single(s, file);
    snprintf(file, sizeof file, "%s/model.safetensors.index.json", path);
    if (si_path_exists(file)) return si_st_open_index(s, file);
    return si_fail("%s: holds neither model.safetensors nor model.safetensors.index.json", path);
}

static si_safetensors *alloc_reader(const char *path) {
    si_safetensors *s = si_calloc(1, sizeof *s);
    if (!s) return NULL;
    s->shards = si_calloc(SI_SAFETENSORS_MAX_SHARDS, sizeof *s->shards);
    if (!s->shards || !(s->path = copy_string(path))) {
        si_safetensors_close(s);
        return NULL;
    }
    return s;
}

si_safetensors *si_safetensors_open(const char *path) {
    si_safetensors *s = alloc_reader(path);
    if (s && open_path(s, path)) {
        si_safetensors_close(s);
        return NULL;
    }
    return s;
}

si_safetensors *si_safetensors_open_memory(const void *data, size_t size, const char *name) {
    si_safetensors *s = alloc_reader(name);
    if (!s) return NULL;
    int k = si_st_add_shard(s, name);
    if (k >= 0) {
        s->shards[k].map = (si_mapped_file){data, data ? size : 0};
        s->shards[k].borrowed = true;
    }
    if (k < 0 || si_st_load_shard(s, k) || si_st_index_tensors(s)) {
        si_safetensors_close(s);
        return NULL;
    }
    return s;
}

void si_safetensors_close(si_safetensors *s) {
    if (!s) return;
    for (int64_t i = 0; i < s->n_tensors; i++) free((char *)s->tensors[i].name);
    free(s->tensors);
    free(s->tensor_shard);
    si_name_index_free(&s->index);
    for (int k = 0; s->shards && k < s->n_shards; k++) {
        if (!s->shards[k].borrowed) si_unmap_file(&s->shards[k].map);
        free(s->shards[k].path);
    }
    free(s->shards);
    free(s->path);
    free(s);
}

int64_t si_safetensors_n_tensors(const si_safetensors *s) { return s->n_tensors; }

const si_tensor *si_safetensors_tensor(const si_safetensors *s, int64_t i) {
    return i >= 0 && i < s->n_tensors ? &s->tensors[i] : NULL;
}

const si_tensor *si_safetensors_find(const si_safetensors *s, const char *name) {
    return si_safetensors_tensor(s, si_name_index_find(&s->index, name));
}
