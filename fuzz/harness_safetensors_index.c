/* fuzz/harness_safetensors_index.c: model.safetensors.index.json of sharded
 * weights. The input is the index, optionally followed by a NUL byte and the
 * bytes of a shard c.safetensors; beside them lie two fixed valid shards
 * (a.safetensors: x, y; b.safetensors: z) that the index may name. The folder
 * is opened as the engine opens a Hugging Face model folder. */
#include "harness.h"

#include "format/safetensors.h"


static void write_shard(const char *name, const char *const *tensors, const si_dtype *dtypes, int n) {
    const char *path = si_fuzz_dir_put(name, "", 0);
    si_safetensors_writer *w = si_safetensors_writer_create(path);
    int64_t shape[2] = {2, 3};
    size_t bytes = 0;
    for (int i = 0; w && i < n; i++) {
        if (si_safetensors_writer_add(w, tensors[i], dtypes[i], 2, shape)) si_fuzz_fail("shard: %s", si_last_error());
        bytes += 6 * si_dtype_block_bytes(dtypes[i]);
    }
    unsigned char zeros[64] = {0};
    if (!w || si_safetensors_writer_begin_data(w) || si_safetensors_writer_write(w, zeros, bytes) ||
        si_safetensors_writer_finish(w))
        si_fuzz_fail("cannot write the fixed shard %s: %s", name, si_last_error());
}

static void make_fixed_shards(void) {
    static bool done;
    if (done) return;
    done = true;
    const char *a[] = {"x", "y"}, *b[] = {"z"};
    const si_dtype ad[] = {SI_DTYPE_F32, SI_DTYPE_F16}, bd[] = {SI_DTYPE_BF16};
    write_shard("a.safetensors", a, ad, 2);
    write_shard("b.safetensors", b, bd, 1);
}

int si_fuzz_safetensors_index(const uint8_t *data, size_t size) {
    make_fixed_shards();
    const uint8_t *shard;
    size_t shard_len, index_len = si_fuzz_split(data, size, &shard, &shard_len);
    si_fuzz_dir_put("model.safetensors.index.json", data, index_len);
    si_fuzz_dir_put("c.safetensors", shard, shard_len);
    si_safetensors *s = si_safetensors_open(si_fuzz_dir());
    if (!s) {
        si_fuzz_refused(si_fuzz_dir());
        return 0;
    }
    si_fuzz_accepted++;
    si_fuzz_check_safetensors(s, NULL, 0); /* the shards are files: ASan cannot see their ends */
    si_safetensors_close(s);
    return 0;
}
