/* fuzz/seeds/make_seeds_st.c: safetensors seeds: small files in the layout
 * of a Hugging Face Llama checkpoint (written by the project's writer, with
 * every dtype and rank the reader takes), one with __metadata__ and a scalar,
 * and model.safetensors.index.json files naming the harness's fixed shards
 * (a.safetensors: x, y; b.safetensors: z) and an optional c.safetensors. */
#include "make_seeds.h"

#include "format/safetensors.h"
#include "swiftinfer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name;
    si_dtype dtype;
    int n_dims;
    int64_t shape[4];
} st_spec;

static void write_st(const char *path, const st_spec *t, int n) {
    si_safetensors_writer *w = si_safetensors_writer_create(path);
    if (!w) seed_die("%s", si_last_error());
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        if (si_safetensors_writer_add(w, t[i].name, t[i].dtype, t[i].n_dims, t[i].shape)) seed_die("%s", si_last_error());
        int64_t e = 1;
        for (int d = 0; d < t[i].n_dims; d++) e *= t[i].shape[d];
        total += (size_t)e * si_dtype_block_bytes(t[i].dtype);
    }
    unsigned char *d = malloc(total ? total : 1);
    for (size_t k = 0; k < total; k++) d[k] = (unsigned char)(k * 7 + 3);
    if (si_safetensors_writer_begin_data(w) || si_safetensors_writer_write(w, d, total) || si_safetensors_writer_finish(w))
        seed_die("%s", si_last_error());
    free(d);
}

static void file_seed(const char *tmp, const char *name, const st_spec *t, int n, seed_buf *out) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", tmp, name);
    write_st(path, t, n);
    if (seed_read(path, out) != 0) seed_die("cannot read %s", path);
}

static void put_le64(seed_buf *b, uint64_t v) {
    for (int i = 0; i < 8; i++) seed_put_byte(b, (uint8_t)(v >> (8 * i)));
}

void seeds_safetensors(const char *tmp) {
    const st_spec llama[] = {
        {"model.embed_tokens.weight", SI_DTYPE_BF16, 2, {16, 8}},
        {"model.layers.0.input_layernorm.weight", SI_DTYPE_F32, 1, {8}},
        {"model.layers.0.self_attn.q_proj.weight", SI_DTYPE_F16, 2, {8, 8}},
        {"model.norm.weight", SI_DTYPE_F32, 1, {8}},
        {"lm_head.weight", SI_DTYPE_BF16, 2, {16, 8}},
    };
    const st_spec ranks[] = {
        {"r1", SI_DTYPE_F16, 1, {3}},
        {"r3", SI_DTYPE_F32, 3, {2, 1, 3}},
        {"r4", SI_DTYPE_BF16, 4, {1, 2, 1, 2}},
    };
    seed_buf b;
    file_seed(tmp, "llama.safetensors", llama, 5, &b);
    seed_write_buf("safetensors", "llama_layout.safetensors", &b);
    file_seed(tmp, "ranks.safetensors", ranks, 3, &b);
    seed_write_buf("safetensors", "ranks.safetensors", &b);

    /* __metadata__ (ignored), a 0-dimensional tensor and an unaligned one. */
    const char *json = "{\"__metadata__\":{\"format\":\"pt\"},\"scalar\":{\"dtype\":\"F32\",\"shape\":[],"
                       "\"data_offsets\":[0,4]},\"odd\":{\"dtype\":\"F16\",\"shape\":[1,3],\"data_offsets\":[4,10]}}";
    b = (seed_buf){0};
    put_le64(&b, strlen(json));
    seed_puts(&b, json);
    seed_put(&b, "\0\0\x80?\x01\x3c\x02\x3c\x03\x3c", 10);
    seed_write_buf("safetensors", "metadata_scalar.safetensors", &b);

    static const char *const indexes[][2] = {
        {"two_shards.json", "{\"metadata\":{\"total_size\":52},\"weight_map\":{\"x\":\"a.safetensors\","
                            "\"y\":\"a.safetensors\",\"z\":\"b.safetensors\"}}"},
        {"one_shard.json", "{\"weight_map\":{\"z\":\"b.safetensors\"}}"},
        {"wrong_shard.json", "{\"weight_map\":{\"x\":\"b.safetensors\",\"z\":\"b.safetensors\"}}"},
    };
    for (size_t i = 0; i < sizeof indexes / sizeof indexes[0]; i++)
        seed_write("safetensors_index", indexes[i][0], indexes[i][1], strlen(indexes[i][1]));
    /* An index naming a third shard, whose bytes follow a NUL. */
    const st_spec c[] = {{"w", SI_DTYPE_F16, 2, {2, 2}}};
    seed_buf shard;
    file_seed(tmp, "c.safetensors", c, 1, &shard);
    b = (seed_buf){0};
    seed_puts(&b, "{\"weight_map\":{\"x\":\"a.safetensors\",\"w\":\"c.safetensors\",\"z\":\"b.safetensors\"}}");
    seed_put_byte(&b, 0);
    seed_put(&b, shard.p, shard.n);
    free(shard.p);
    seed_write_buf("safetensors_index", "three_shards", &b);
}
