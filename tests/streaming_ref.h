/* tests/streaming_ref.h: a deliberately naive StreamingLLM, written the way
 * the original PyTorch code does it, to check the fast cache against. */
#ifndef SI_TEST_STREAMING_REF_H
#define SI_TEST_STREAMING_REF_H

#include "backend/backend.h"
#include "model/llama.h"

typedef struct streaming_ref streaming_ref;

/* S sinks, W window; the linear layers run on the given backend (so that
 * only the cache and attention differ from the fast path). */
streaming_ref *streaming_ref_create(const si_llama *m, si_backend *be, int sinks, int window);
void streaming_ref_free(streaming_ref *r);
/* Feeds one token; writes the next-token logits ([n_vocab]). */
void streaming_ref_step(streaming_ref *r, int32_t token, float *logits);

#endif
