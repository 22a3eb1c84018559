/* sampling/sample_spec.h: one sampling decision, as data a backend can act on.
 *
 * si_sampler (sampler.c) owns the state — settings, seeded random stream,
 * recent tokens for the repetition penalty. Everything a single draw needs
 * from that state fits in an si_sample_spec: the settings, the distinct
 * recent ids to penalize and the uniform number already drawn. So the draw
 * itself can run where the logits are (backend `sample` op: the CUDA kernel
 * in backend/cuda/sampling.cu), and only the chosen id comes back.
 *
 * The rules, in order (si_sample_row is the reference):
 *   1. each penalized id: logit l becomes l / penalty if l > 0, else l * penalty;
 *   2. NaN logits count as -inf; candidates are ordered by logit, then by id;
 *   3. temperature <= 0: the first candidate (largest logit, lowest id);
 *   4. else keep the top_k first (0: all; all of them in id order when top_p is
 *      1 too, else sorted), turn them into weights exp((l - max) / temperature),
 *      keep the shortest head whose share reaches top_p, and pick the
 *      candidate where u times their sum falls (si_sample_tail). */
#ifndef SI_SAMPLING_SAMPLE_SPEC_H
#define SI_SAMPLING_SAMPLE_SPEC_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#define SI_SAMPLE_MAX_PENALIZED 4096 /* = the sampler's longest history */

typedef struct {
    float temperature, top_p, repeat_penalty;
    int top_k;
    double u;        /* uniform in [0, 1): the draw (unused when greedy) */
    int n_penalized; /* distinct ids, each penalized once */
    int32_t penalized[SI_SAMPLE_MAX_PENALIZED];
} si_sample_spec;

/* Bytes of a spec that matter: the header and its penalized ids. */
#define SI_SAMPLE_SPEC_BYTES(sp) (offsetof(si_sample_spec, penalized) + (size_t)(sp)->n_penalized * sizeof(int32_t))

typedef struct {
    int32_t id;
    float logit;
} si_sample_candidate;

/* The token that spec picks from one row of logits; scratch and weights hold
 * n_vocab entries each (the logits are not changed). */
int32_t si_sample_row(const si_sample_spec *spec, const float *logits, int n_vocab, si_sample_candidate *scratch,
                      float *weights);

/* A backend's reach (si_backend.sample_top_k_max): it takes greedy specs and
 * those with 1 <= top_k <= its limit (and top_k < n_vocab); SI_SAMPLE_ANY_K:
 * every spec. */
#define SI_SAMPLE_ANY_K (-1)
static inline int si_sample_spec_fits(const si_sample_spec *sp, int n_vocab, int top_k_max) {
    return top_k_max == SI_SAMPLE_ANY_K || sp->temperature <= 0 ||
           (sp->top_k >= 1 && sp->top_k <= top_k_max && sp->top_k < n_vocab);
}

#ifndef __CUDACC__
typedef struct si_sampler si_sampler;
/* The sampler's next decision, its random number drawn. Carried out by a
 * backend's sample op, or here by si_sampler_apply; the chosen token is
 * then given to si_sampler_accept. */
void si_sampler_next_spec(si_sampler *s, si_sample_spec *spec);
/* si_sample_row with the sampler's scratch; -1 on error. */
int32_t si_sampler_apply(si_sampler *s, const si_sample_spec *spec, const float *logits, int n_vocab);
/* si_sampler_sample without remembering the token (for a caller that may
 * not use it: si_sampler_accept it when it does). -1 on error. */
int32_t si_sampler_pick(si_sampler *s, const float *logits, int n_vocab);
#endif

#ifdef __CUDACC__
#define SI_SAMPLE_FN __device__ static inline
#else
#define SI_SAMPLE_FN static inline
#endif

/* Rule 4 after the top-k cut, the same code on the CPU and the GPU: w holds
 * the n >= 1 candidates' logits in their order and is overwritten with their
 * weights; returns the index picked. Sums in double, in order. */
SI_SAMPLE_FN int si_sample_tail(float *w, int n, float temperature, float top_p, double u) {
    float mx = -INFINITY;
    for (int i = 0; i < n; i++) mx = fmaxf(mx, w[i]);
    double sum = 0;
    for (int i = 0; i < n; i++) {
        w[i] = expf((w[i] - mx) / temperature);
        sum += w[i];
    }
    if (top_p < 1.0f) {
        double cum = 0;
        int keep = n;
        for (int i = 0; i < n; i++) {
            cum += w[i] / sum;
            if (cum >= top_p) {
                keep = i + 1;
                break;
            }
        }
        n = keep;
        sum = 0;
        for (int i = 0; i < n; i++) sum += w[i];
    }
    double r = u * sum, acc = 0;
    for (int i = 0; i < n; i++) {
        acc += w[i];
        if (r < acc) return i;
    }
    return n - 1;
}

#endif
