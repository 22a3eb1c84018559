/* format/safetensors_index.c: sharded weights: model.safetensors.index.json's
 * weight_map names, for each tensor, the shard file beside the index that
 * holds it. Each shard is opened once; the map is then checked against what
 * the shards really hold. */
#include "safetensors_internal.h"

#include "json_file.h"

#include "../util/error.h"

#include <stdio.h>
#include <string.h>

/* A shard name must stay inside the index's folder: no separators, no "..". */
static int check_shard_name(const char *name) {
    if (!*name || strchr(name, '/') || strchr(name, '\\') || strstr(name, ".."))
        return si_fail("shard name '%.200s' is not a plain file name", name);
    return 0;
}

static int shard_path(const char *index_path, const char *name, char *out, size_t cap) {
    const char *slash = strrchr(index_path, '/');
    int dir_len = slash ? (int)(slash - index_path) : 1;
    int n = snprintf(out, cap, "%.*s/%s", dir_len, slash ? index_path : ".", name);
    return n < 0 || (size_t)n >= cap ? si_fail("shard path too long") : 0;
}

/* Registers every distinct shard named by the weight map, in order of first mention. */
static int collect_shards(si_safetensors *s, const char *index_path, json_t *map, si_name_index *names) {
    const char *tensor;
    json_t *v;
    json_object_foreach(map, tensor, v) {
        if (!json_is_string(v)) return si_fail("weight_map entry '%.200s' is not a string", tensor);
        const char *name = json_string_value(v);
        if (check_shard_name(name)) return -1;
        if (si_name_index_find(names, name) >= 0) continue;
        char path[4096];
        int64_t unused;
        int k;
        if (shard_path(index_path, name, path, sizeof path) || (k = si_st_add_shard(s, path)) < 0) return -1;
        si_name_index_add(names, name, k, &unused);
    }
    return 0;
}

static int check_weight_map(const si_safetensors *s, json_t *map, const si_name_index *names) {
    const char *tensor;
    json_t *v;
    json_object_foreach(map, tensor, v) {
        int64_t k = si_name_index_find(names, json_string_value(v));
        int64_t t = si_name_index_find(&s->index, tensor);
        if (t < 0 || s->tensor_shard[t] != k)
            return si_fail("weight_map puts '%.200s' in %s, which does not hold it", tensor, s->shards[k].path);
    }
    return 0;
}

static int open_shards(si_safetensors *s, const char *index_path, json_t *root) {
    json_t *map = json_object_get(root, "weight_map");
    if (!json_is_object(map)) return si_fail("%s: no weight_map object", index_path);
    if (json_object_size(map) > SI_SAFETENSORS_MAX_TENSORS)
        return si_fail("%s: weight_map lists more than %d tensors", index_path, SI_SAFETENSORS_MAX_TENSORS);
    si_name_index names;
    if (si_name_index_init(&names, SI_SAFETENSORS_MAX_SHARDS)) return -1;
    int rc = collect_shards(s, index_path, map, &names);
    if (rc) si_error_prefix("%s", index_path);
    for (int k = 0; rc == 0 && k < s->n_shards; k++) rc = si_st_load_shard(s, k);
    if (rc == 0) rc = si_st_index_tensors(s);
    if (rc == 0 && (rc = check_weight_map(s, map, &names))) si_error_prefix("%s", index_path);
    si_name_index_free(&names);
    return rc;
}

int si_st_open_index(si_safetensors *s, const char *index_path) {
    json_t *root = si_json_load_file(index_path, SI_SAFETENSORS_MAX_HEADER);
    if (!root) return -1;
    int rc = open_shards(s, index_path, root);
    json_decref(root);
    return rc;
}
