/* server/prompt.h: the tokens a request must feed into its session — the
 * chat template applied only to the messages the session's cache does not
 * hold yet (plus the closing tokens of the reply it generated last time). */
#ifndef SI_SERVER_PROMPT_H
#define SI_SERVER_PROMPT_H

#include "api.h"
#include "sessions.h"

typedef struct {
    int32_t *ids;
    int64_t n, cap;
} srv_tokens;

void srv_tokens_free(srv_tokens *t);

/* Chat: messages[matched..] after what sess holds (matched = 0: a fresh
 * cache, starting with the template's opening and system message). When the
 * new tokens exceed capacity (the cache's sinks + window: the StreamingLLM
 * window would drop them anyway), whole earliest rounds are left out; if the
 * last user turn alone exceeds it, 400 context_length_exceeded. 0 or -1. */
int srv_prompt_chat(const si_tokenizer *tok, si_template tpl, const srv_request *r, const srv_sess *sess, int matched,
                    int64_t capacity, srv_tokens *out, srv_error *err);
/* Completion: the prompt as plain text (BOS if the model wants one). */
int srv_prompt_completion(const si_tokenizer *tok, const srv_request *r, int64_t capacity, srv_tokens *out,
                          srv_error *err);

#endif
