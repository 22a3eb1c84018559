/* cli/cmd_generate.c: `swiftinfer generate` — one prompt, a streamed reply,
 * then prompt and generation speed. */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PROMPT_TOKENS (1 << 20)

/* Tokenizes the prompt as plain text or as a one-message chat. */
static int64_t prompt_tokens(const si_tokenizer *tok, const char *prompt, bool chat, si_template tpl,
                             const char *system, int32_t *ids, int64_t cap) {
    if (!chat) {
        int flags = si_tokenizer_wants_bos(tok) ? SI_ENCODE_BOS : 0;
        return si_tokenize(tok, prompt, strlen(prompt), flags, ids, cap);
    }
    if (tpl == SI_TEMPLATE_AUTO) tpl = si_template_detect(tok);
    if (tpl == SI_TEMPLATE_AUTO) {
        fprintf(stderr, "swiftinfer: the model names no chat template; pass --template\n");
        return -1;
    }
    int64_t n = si_chat_begin(tok, tpl, system, ids, cap);
    if (n < 0) return -1;
    int64_t m = si_chat_user_turn(tok, tpl, system, prompt, true, n < cap ? ids + n : NULL, n < cap ? cap - n : 0);
    return m < 0 ? -1 : n + m;
}

int cmd_generate(int argc, char **argv) {
    cli_common c;
    cli_common_init(&c);
    const char *prompt = NULL, *system = NULL, *template_name = "auto";
    int max_new = 128;
    bool chat = false, ignore_eos = false;
    arg_spec specs[40];
    int n = 0;
    specs[n++] = (arg_spec){"--prompt", ARG_STR, &prompt, "the prompt text (required)"};
    specs[n++] = (arg_spec){"--chat", ARG_FLAG, &chat, "wrap the prompt in the model's chat template"};
    specs[n++] = (arg_spec){"--system", ARG_STR, &system, "system message for --chat"};
    specs[n++] = (arg_spec){"--template", ARG_STR, &template_name, "auto|chatml|llama2|vicuna|llama3"};
    specs[n++] = (arg_spec){"--max-new-tokens", ARG_INT, &max_new, "tokens to generate at most (default 128)"};
    specs[n++] = (arg_spec){"--ignore-eos", ARG_FLAG, &ignore_eos, "keep generating past end-of-turn tokens"};
    n = cli_model_specs(&c, specs, n);
    n = cli_cache_specs(&c, specs, n);
    n = cli_sampling_specs(&c, specs, n);
    if (args_parse(argc, argv, 2, specs, n)) return 2;
    if (c.help) {
        args_usage("generate", "--prompt TEXT [options]", specs, n);
        return 0;
    }
    si_template tpl;
    if (!prompt || max_new < 0 || si_template_parse(template_name, &tpl)) {
        fprintf(stderr, "swiftinfer generate: %s\n", !prompt ? "--prompt is required" : max_new < 0 ? "--max-new-tokens must be >= 0" : si_last_error());
        return 2;
    }
    int rc = 1;
    si_model *m = cli_load_model(&c);
    si_session *s = m ? cli_create_session(&c, m) : NULL;
    si_sampler *smp = s ? cli_create_sampler(&c) : NULL;
    si_streamer *out = smp ? si_streamer_create(si_model_tokenizer(m), 0) : NULL;
    int32_t *ids = out ? malloc(sizeof(int32_t) * MAX_PROMPT_TOKENS) : NULL;
    if (!ids) goto done;
    const si_tokenizer *tok = si_model_tokenizer(m);
    int64_t n_prompt = prompt_tokens(tok, prompt, chat, tpl, system, ids, MAX_PROMPT_TOKENS);
    if (n_prompt < 0 || n_prompt > MAX_PROMPT_TOKENS) {
        fprintf(stderr, "swiftinfer: cannot tokenize the prompt: %s\n", n_prompt < 0 ? si_last_error() : "too long");
        goto done;
    }
    if (n_prompt == 0) {
        fprintf(stderr, "swiftinfer: the prompt is empty\n");
        goto done;
    }
    for (int64_t i = 0; i < n_prompt; i++) si_sampler_accept(smp, ids[i]);
    if (!chat) fputs(prompt, stdout);
    /* the prompt's pass picks the first token; then each fed token brings
     * the next (sampled on the backend where it can: only the id returns) */
    double t0 = cli_now();
    int32_t next = si_session_feed_sample(s, ids, n_prompt, smp);
    if (next < 0) {
        fprintf(stderr, "swiftinfer: %s\n", si_last_error());
        goto done;
    }
    double t1 = cli_now();
    int generated = 0, passes = 0; /* decode forward passes: the first token needs none */
    while (next >= 0 && generated < max_new) {
        if (!ignore_eos && si_token_is_eog(tok, next)) break;
        fputs(si_streamer_push(out, next), stdout);
        fflush(stdout);
        if (++generated == max_new) break;
        next = si_session_feed_sample(s, &next, 1, smp);
        passes++;
    }
    if (next < 0) {
        fprintf(stderr, "swiftinfer: %s\n", si_last_error());
        goto done;
    }
    fputs(si_streamer_flush(out), stdout);
    double t2 = cli_now();
    si_model_info info;
    si_model_get_info(m, &info);
    fprintf(stderr, "\n\nprompt: %lld tokens, %.1f tokens/s | generation: %d tokens, %.1f tokens/s | %s, %d threads\n",
            (long long)n_prompt, n_prompt / (t1 - t0), generated, passes > 0 ? passes / (t2 - t1) : 0.0,
            info.device, info.n_threads);
    rc = 0;
done:
    free(ids);
    si_streamer_free(out);
    si_sampler_free(smp);
    si_session_free(s);
    si_model_free(m);
    return rc;
}
