/* backend/cuda/embed.cu: token embedding lookup (any weight type, planar
 * quantized included, since a tied output head shares the tensor).
 * Reference: the CPU backend's embed (backend/cpu/cpu_backend.c). */
#include "common.cuh"

namespace {

__global__ void embed_kernel(float *x, si_cu_matrix emb, const int32_t *tokens) {
    si_grid_wait();
    si_grid_launch_dependents();
    const int64_t tok = tokens[blockIdx.x];
    float *row = x + (size_t)blockIdx.x * emb.cols;
    for (int64_t c = threadIdx.x; c < emb.cols; c += blockDim.x) row[c] = si_matrix_elem(emb, tok, c);
}

} // namespace

extern "C" cudaError_t si_cu_embed(float *x, const si_cu_matrix *emb, const int32_t *tokens, int n, cudaStream_t s) {
    if (n <= 0) return cudaSuccess;
    return si_launch(embed_kernel, n, 256, s, x, *emb, tokens);
}
