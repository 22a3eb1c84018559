/* swiftinfer.h: the public C API of SwiftInfer, a StreamingLLM inference
 * engine. The command-line tool, the server and user programs use only this.
 *
 * Typical use:
 *     si_model *m = si_model_load("model.gguf", NULL);
 *     si_session *s = si_session_create(m, NULL);        // 4 sinks + rolling window
 *     int32_t ids[512]; int64_t n = si_tokenize(si_model_tokenizer(m), text, len, 0, ids, 512);
 *     si_session_feed(s, ids, n);                          // prefill, logits of the last token
 *     si_sampler *smp = si_sampler_create(NULL);
 *     int32_t next = si_sampler_sample(smp, si_session_logits(s), si_model_n_vocab(m));
 *
 * Errors: functions return NULL or a negative value and si_last_error() says
 * what went wrong (naming the file and the problem). Nothing exits or aborts.
 * A model may be shared by many sessions; calls on one model are serialized
 * internally, so sessions may live on different threads. */
#ifndef SWIFTINFER_H
#define SWIFTINFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SWIFTINFER_VERSION "0.1.0"

typedef struct si_model si_model;
typedef struct si_session si_session;
typedef struct si_sampler si_sampler;
typedef struct si_tokenizer si_tokenizer;

/* The last error of the calling thread. */
const char *si_last_error(void);

/* ---- Models ---- */

typedef struct {
    int n_threads;      /* CPU threads; 0 = one per core */
    const char *device; /* "cpu" (default) or "cuda" */
    int max_batch;      /* most tokens in one forward pass (default 256) */
    bool precise;       /* scalar reference products: float32 activations, double sums (slow; for checks) */
} si_model_params;

si_model_params si_model_default_params(void);
/* path: a .gguf file or a Hugging Face folder (config.json, *.safetensors, tokenizer files). */
si_model *si_model_load(const char *path, const si_model_params *params);
void si_model_free(si_model *m);

typedef struct {
    int n_vocab, dim, n_layers, n_heads, n_kv_heads, head_dim, ffn_dim, ctx_train;
    float rope_theta;
    const char *weight_type; /* the layers' matrix types, most numerous first: "Q4_1", or "Q5_0+Q4_K+Q6_K" */
    const char *device;
    int n_threads;
    bool tied_output;
} si_model_info;

void si_model_get_info(const si_model *m, si_model_info *info);
int si_model_n_vocab(const si_model *m);
const si_tokenizer *si_model_tokenizer(const si_model *m);

/* ---- Sessions: one sequence with its own StreamingLLM cache ---- */

typedef struct {
    int sink_tokens;         /* S: first tokens kept forever (default 4; 0 = plain window attention) */
    int window;              /* W: recent tokens kept (default: the model's context, at most 2048, minus S) */
    int chunk;               /* most tokens per forward pass of this session (default: the model's max_batch) */
    int64_t position_offset; /* absolute position of the first token (default 0) */
    bool dense;              /* never evict: feeding past S + W is an error */
} si_session_params;

si_session_params si_session_default_params(void);
si_session *si_session_create(si_model *m, const si_session_params *params);
void si_session_free(si_session *s);
/* Forgets everything fed so far. */
void si_session_reset(si_session *s);

/* Feeds tokens (any number: long inputs stream through the cache in chunks)
 * and computes the next-token logits after the last one. 0 or -1. */
int si_session_feed(si_session *s, const int32_t *tokens, int64_t n);
/* Like si_session_feed, but calls cb with the logits after every token
 * (index counts from 0 within this call). */
typedef int (*si_logits_cb)(void *user, int64_t index, const float *logits, int n_vocab);
int si_session_feed_all(si_session *s, const int32_t *tokens, int64_t n, si_logits_cb cb, void *user);
/* Logits after the last token fed ([n_vocab]); NULL before any feed and
 * after a feed that picked the next token on the backend
 * (si_session_feed_greedy, si_session_feed_sample, si_decode_batch_sample). */
const float *si_session_logits(const si_session *s);
/* Greedy decoding without logits: feeds tokens (n >= 1) like si_session_feed
 * and returns the most likely next token (the lowest id among equal largest
 * logits), or -1. On a GPU only that id crosses the bus; the logits are not
 * kept (si_session_logits returns NULL until the next si_session_feed). */
int32_t si_session_feed_greedy(si_session *s, const int32_t *tokens, int64_t n);
/* The same with any sampler: feeds tokens (n >= 1) and returns the token smp
 * picks next (given to it as si_sampler_sample does), or -1. Where the
 * backend can apply the sampler's settings (CPU: all; CUDA: greedy, or
 * top_k from 1 to 256) the draw happens there and only the id crosses the
 * bus, with no logits kept; otherwise the logits come back and are sampled
 * on the host. Either way the same rules and the same random stream. */
int32_t si_session_feed_sample(si_session *s, const int32_t *tokens, int64_t n, si_sampler *smp);

/* One decode step for many sessions at once (each gets one token), in a
 * single batched forward pass that reads the weights once. 0 or -1. */
int si_decode_batch(si_model *m, si_session *const *sessions, const int32_t *tokens, int n);
/* The same step, each session then sampling its next token with its own
 * sampler (samplers[i], given the token as si_sampler_sample does) into
 * next[i]. On the backend when it can apply every sampler's settings (as
 * si_session_feed_sample: only ids cross the bus, no logits are kept),
 * otherwise from the logits on the host. 0 or -1. */
int si_decode_batch_sample(si_model *m, si_session *const *sessions, const int32_t *tokens, int n,
                           si_sampler *const *samplers, int32_t *next);

typedef struct {
    int64_t n_seen;    /* tokens fed since creation or reset */
    int64_t occupancy; /* tokens held in the cache */
    int64_t evicted;   /* tokens that have left the window */
    int sink_tokens, window;
    size_t cache_bytes; /* fixed size of this session's cache */
} si_session_stats;

void si_session_get_stats(const si_session *s, si_session_stats *st);

/* Saves a session (its cache, stream position and last logits) to a file,
 * written whole under a temporary name and then renamed. 0 or -1. */
int si_session_save(const si_session *s, const char *path);
/* Loads a file written by si_session_save into a session created on the same
 * model with the same cache parameters (sinks, window, chunk, position
 * offset). Another model or cache shape, another format version, a truncated
 * or foreign file: -1 with an error, and the session is left as it was. */
int si_session_load(si_session *s, const char *path);

/* ---- Sampling ---- */

typedef struct {
    float temperature;    /* 0 = greedy (default 0.7) */
    int top_k;            /* 0 = off (default 40) */
    float top_p;          /* 1 = off (default 0.95) */
    float repeat_penalty; /* 1 = off (default 1.1) */
    int repeat_last_n;    /* tokens the penalty looks back over (default 64) */
    uint64_t seed;        /* default 0xC0FFEE */
} si_sampler_params;

si_sampler_params si_sampler_default_params(void);
si_sampler *si_sampler_create(const si_sampler_params *params);
void si_sampler_free(si_sampler *s);
/* Picks the next token from logits and remembers it for the repetition penalty. */
int32_t si_sampler_sample(si_sampler *s, const float *logits, int n_vocab);
/* Remembers a token that was not sampled (e.g. the prompt) for the repetition penalty. */
void si_sampler_accept(si_sampler *s, int32_t token);
void si_sampler_reset(si_sampler *s);

/* ---- Tokenizer ---- */

/* A tokenizer on its own: tokenizer.json, tokenizer.model, a .gguf or a Hugging Face folder. */
si_tokenizer *si_tokenizer_load(const char *path);
void si_tokenizer_free(si_tokenizer *t);

enum {
    SI_ENCODE_BOS = 1,     /* prepend BOS */
    SI_ENCODE_SPECIAL = 2, /* special-token strings in the text become their single ids */
    SI_ENCODE_CONTINUE = 4, /* the text continues earlier text: no SentencePiece dummy prefix */
};
/* Writes up to cap ids; returns the total count (call again if larger than cap) or -1. */
int64_t si_tokenize(const si_tokenizer *t, const char *text, size_t len, int flags, int32_t *out, int64_t cap);

enum { SI_DECODE_SPECIAL = 1 };
/* Whole-sequence decode; returns the byte length (written up to cap-1, NUL-terminated) or -1. */
int64_t si_detokenize(const si_tokenizer *t, const int32_t *ids, int64_t n, int flags, char *out, size_t cap);

int32_t si_token_bos(const si_tokenizer *t);
int32_t si_token_eos(const si_tokenizer *t);
bool si_token_is_eog(const si_tokenizer *t, int32_t id); /* end of generation (EOS, end of turn) */
int32_t si_token_find(const si_tokenizer *t, const char *text); /* exact vocabulary entry, or -1 */
const char *si_tokenizer_template(const si_tokenizer *t);       /* chat template text, or NULL */
bool si_tokenizer_wants_bos(const si_tokenizer *t);

/* Streaming text output that never splits a UTF-8 character. */
typedef struct si_streamer si_streamer;
si_streamer *si_streamer_create(const si_tokenizer *t, int flags);
void si_streamer_free(si_streamer *st);
/* Text completed by this token (NUL-terminated; valid until the next call). */
const char *si_streamer_push(si_streamer *st, int32_t id);
const char *si_streamer_flush(si_streamer *st);

/* ---- Chat templates ---- */

typedef enum {
    SI_TEMPLATE_AUTO = 0, /* from the model's chat template metadata */
    SI_TEMPLATE_CHATML,   /* <|im_start|>role\n...<|im_end|>\n (SmolLM2, Qwen) */
    SI_TEMPLATE_LLAMA2,   /* <s>[INST] <<SYS>>...<</SYS>> ... [/INST] ... </s> */
    SI_TEMPLATE_VICUNA,   /* Vicuna v1.1: "SYSTEM USER: ... ASSISTANT: ...</s>" */
    SI_TEMPLATE_LLAMA3,   /* <|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|> */
} si_template;

/* Parses "auto", "chatml", "llama2", "vicuna" or "llama3"; -1 if unknown. */
int si_template_parse(const char *name, si_template *out);
const char *si_template_name(si_template t);
/* The template the tokenizer's metadata describes (ChatML if it has <|im_start|>, ...);
 * SI_TEMPLATE_AUTO if nothing fits. */
si_template si_template_detect(const si_tokenizer *t);

/* An endless conversation is tokenized piece by piece, so that what is in
 * the cache is never re-tokenized. Special tokens are emitted as their ids;
 * message text is never parsed for special tokens. Each call writes up to cap
 * ids and returns the total count (call again if larger), or -1 on error. */

/* The start of a conversation: BOS where the template has one, and the system
 * message (NULL: the template's default system message, if it has one). */
int64_t si_chat_begin(const si_tokenizer *t, si_template tpl, const char *system, int32_t *out, int64_t cap);
/* A user message followed by the prompt for the assistant's reply. first:
 * this is the first user message (Llama-2 puts the system message inside it). */
int64_t si_chat_user_turn(const si_tokenizer *t, si_template tpl, const char *system, const char *user, bool first,
                          int32_t *out, int64_t cap);
/* A whole assistant message given as text (a reply from the history a client
 * sends back): its tokens, its end-of-turn token and the closing tokens. */
int64_t si_chat_assistant_turn(const si_tokenizer *t, si_template tpl, const char *content, int32_t *out, int64_t cap);
/* What closes an assistant reply after the reply's own end-of-turn token
 * (which the model generated and the cache already holds). */
int64_t si_chat_assistant_end(const si_tokenizer *t, si_template tpl, int32_t *out, int64_t cap);
/* The token that ends an assistant reply in this template (e.g. <|im_end|>, </s>, <|eot_id|>). */
int32_t si_chat_end_of_turn(const si_tokenizer *t, si_template tpl);

/* ---- Conversations: an endless chat in one session ---- */

typedef struct si_conversation si_conversation;

typedef struct {
    si_session_params session; /* the cache (sinks, window) */
    si_template tpl;           /* SI_TEMPLATE_AUTO: from the model's metadata */
    const char *system;        /* system message; NULL: the template's default */
    int max_input_tokens;      /* a longer user turn is cut from the left (default 2048) */
    bool ignore_eos;           /* never end a reply early (benchmarks) */
} si_conversation_params;

si_conversation_params si_conversation_default_params(void);
si_conversation *si_conversation_create(si_model *m, const si_conversation_params *p);
void si_conversation_free(si_conversation *c);
/* Starts over (new cache, new system message). */
int si_conversation_reset(si_conversation *c);
si_session *si_conversation_session(si_conversation *c);
si_template si_conversation_template(const si_conversation *c);

/* Adds a user message and prefills it; *prompt_tokens (if not NULL) gets the
 * number of tokens fed. Ends an unfinished reply first. With a sampler (the
 * one the reply will use), the prefill's pass also picks the reply's first
 * token (si_session_feed_pick: on a GPU only its id comes back); with NULL,
 * the first si_conversation_next picks it from the prompt's logits (the
 * same rules and draw). 0 or -1. */
int si_conversation_user(si_conversation *c, const char *text, si_sampler *s, int64_t *prompt_tokens);
/* Samples and feeds the next token of the assistant's reply. Returns the
 * token, SI_REPLY_END when the reply ended (its end-of-turn token is fed and
 * the template's closing tokens too), or -1 on error. Feeding a token also
 * samples the one after it (si_session_feed_sample: on a GPU only its id
 * comes back), so use the same sampler for a whole reply; a token sampled
 * but never returned (the reply cut short) is not remembered by it. */
#define SI_REPLY_END (-2)
int32_t si_conversation_next(si_conversation *c, si_sampler *s);
/* Ends the reply early (e.g. at a token limit), closing it as the template
 * requires, so the next user message continues a well-formed conversation. */
int si_conversation_end_reply(si_conversation *c);

typedef struct {
    const char *role; /* "system" (first only), "user" or "assistant" */
    const char *content;
} si_chat_message;

/* A whole conversation at once, tokenized exactly as Hugging Face's
 * apply_chat_template would (for rebuilding a conversation from its history).
 * Built piece by piece with the functions above, a reply that starts with
 * whitespace may tokenize differently at its boundary with the prompt, since
 * the prompt was tokenized before the reply existed. The user turns include
 * the generation prompt, so a conversation ending in a user message is
 * ready for the reply; add_generation_prompt=false requires it to end with
 * an assistant message. */
int64_t si_chat_render(const si_tokenizer *t, si_template tpl, const si_chat_message *msgs, int n,
                       bool add_generation_prompt, int32_t *out, int64_t cap);

/* Writes a Hugging Face folder (float32 model.safetensors, config.json and
 * tokenizer files) holding the same weights as the model: dequantized, and
 * with llama.cpp's Q/K row permutation undone. */
int si_model_export_hf(const si_model *m, const char *dir);

/* ---- Synthetic models (benchmarks and tests) ---- */

typedef struct {
    const char *arch;      /* "llama2-7b", "llama2-13b", "smollm2-135m" or "tiny" (see synth.c) */
    const char *dtype;     /* "f16" (default) or "bf16" */
    /* Tokenizer to copy into the folder: a SentencePiece tokenizer.model
     * (a Llama-2 tokenizer_config.json is written beside it) or a folder whose
     * tokenizer files are copied as they are. Required. */
    const char *tokenizer;
    uint64_t seed;
    int n_threads;         /* random-number threads; 0 = one per core, at most 16 */
} si_synth_params;

si_synth_params si_synth_default_params(void);
/* Writes a Hugging Face folder dir (config.json, a single model.safetensors
 * streamed to disk, tokenizer files) holding a Llama model of the named
 * shape with seeded random weights: matrices approximately normal(0, 0.02),
 * norms 1. The same seed gives the same bytes whatever the thread count. */
int si_synth_model(const char *dir, const si_synth_params *p);

/* Writes the model as a llama-architecture GGUF file (hyperparameters,
 * tokenizer, weights) that llama.cpp and si_model_load read. type: "f32",
 * "f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q4_k", "q5_k",
 * "q6_k" for the 2-D weights (norms stay F32; with q4_0/q4_1/q4_k the
 * embeddings and output head are Q8_0; rows that do not fill 256-blocks take
 * Q5_0, Q5_1, Q8_0 for q4_k, q5_k, q6_k, and rows that do not fill 32-blocks
 * F16; plain rounding, no importance matrix), or "keep" for every weight in its
 * source type. Weights already in the target type are copied unchanged. A
 * Hugging Face model's Q/K rows are permuted into llama.cpp's order. The file
 * appears only when complete. 0 or -1. */
int si_model_save_gguf(const si_model *m, const char *path, const char *type);

#ifdef __cplusplus
}
#endif

#endif
