/* model/forward.h: one batched forward pass of the transformer.
 *
 * A batch is any set of rows (tokens) grouped in runs, each run a stretch of
 * consecutive tokens of one sequence with its own KV cache: a prompt chunk of
 * one session, or one decode token from each of many sessions. The weights
 * are read once per pass whatever the batch holds. */
#ifndef SI_MODEL_FORWARD_H
#define SI_MODEL_FORWARD_H

#include "../backend/backend.h"
#include "llama.h"

typedef struct {
    int n;                   /* rows */
    const int32_t *tokens;   /* [n], host memory */
    const si_attn_run *runs; /* cover rows 0..n-1 in order */
    int n_runs;
    const int *logit_rows;   /* rows whose next-token logits are wanted, ascending */
    int n_logits;
} si_batch;

typedef struct si_forward si_forward;

/* Activation buffers for batches of up to max_tokens rows (1 to 65535), up to max_logits of them with logits. */
si_forward *si_forward_create(const si_llama *m, si_backend *be, int max_tokens, int max_logits);
void si_forward_free(si_forward *f);
int si_forward_max_tokens(const si_forward *f);

/* Runs the batch: writes its keys and values into the runs' caches (whose
 * n_seen must equal each run's t0; it is advanced by n) and the logits of the
 * requested rows to logits ([n_logits][n_vocab], host memory) — or, when ids
 * is not NULL, only a token for each of those rows to ids ([n_logits]),
 * picked by the backend so that the logits never leave it: the argmax, or
 * with specs ([n_logits], host memory; the backend must have a sample op that
 * takes them) what the sampling rules pick. 0 or -1. */
int si_forward_run(si_forward *f, const si_batch *b, float *logits, int32_t *ids, const si_sample_spec *specs);

/* cos (first half) and sin (second half) of a rotation to position pos. */
void si_rope_table_row(double *cs, double pos, const long double *inv_freq, int half);

#endif
