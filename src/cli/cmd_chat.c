/* cli/cmd_chat.c: `swiftinfer chat` — the same endless conversation,
 * interactively: one user message per line of stdin (a terminal or a pipe).
 * /reset starts over, /stats shows the cache, /quit leaves. Ctrl-C during a
 * reply ends that reply; at the prompt it leaves. */
#include "common.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig) {
    (void)sig;
    interrupted = 1;
}

static void print_stats(si_conversation *conv, int64_t turns) {
    si_session_stats st;
    si_session_get_stats(si_conversation_session(conv), &st);
    printf("[%lld turns | %lld tokens seen | cache %lld/%d (%d sinks + %d window, %.1f MiB) | %lld evicted]\n",
           (long long)turns, (long long)st.n_seen, (long long)st.occupancy, st.sink_tokens + st.window, st.sink_tokens,
           st.window, st.cache_bytes / 1048576.0, (long long)st.evicted);
}

int cmd_chat(int argc, char **argv) {
    cli_common c;
    cli_common_init(&c);
    const char *template_name = "auto", *system = NULL;
    int max_new = 1024;
    arg_spec specs[40];
    int n = 0;
    specs[n++] = (arg_spec){"--template", ARG_STR, &template_name, "auto|chatml|llama2|vicuna|llama3"};
    specs[n++] = (arg_spec){"--system", ARG_STR, &system, "system message (default: the template's)"};
    specs[n++] = (arg_spec){"--max-new-tokens", ARG_INT, &max_new, "reply length limit (default 1024)"};
    n = cli_model_specs(&c, specs, n);
    n = cli_cache_specs(&c, specs, n);
    n = cli_sampling_specs(&c, specs, n);
    if (args_parse(argc, argv, 2, specs, n)) return 2;
    if (c.help) {
        args_usage("chat", "[options]   then type messages; /reset, /stats, /quit", specs, n);
        return 0;
    }
    si_conversation_params cp = si_conversation_default_params();
    if (max_new < 1 || si_template_parse(template_name, &cp.tpl)) {
        fprintf(stderr, "swiftinfer chat: %s\n", max_new < 1 ? "--max-new-tokens must be positive" : si_last_error());
        return 2;
    }
    si_model *m = cli_load_model(&c);
    if (!m) return 1;
    cp.session.sink_tokens = c.sink_tokens;
    cp.session.window = c.window;
    cp.system = system;
    si_conversation *conv = si_conversation_create(m, &cp);
    si_sampler *smp = conv ? cli_create_sampler(&c) : NULL;
    si_streamer *out = smp ? si_streamer_create(si_model_tokenizer(m), 0) : NULL;
    int rc = 1;
    if (!out) {
        if (!conv) fprintf(stderr, "swiftinfer: %s\n", si_last_error());
        goto done;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint; /* no SA_RESTART: a read at the prompt returns EINTR */
    sigaction(SIGINT, &sa, NULL);
    bool tty = isatty(STDIN_FILENO);
    if (tty) printf("swiftinfer chat (%s). /reset, /stats, /quit; Ctrl-C stops a reply.\n", si_template_name(si_conversation_template(conv)));
    char *line = NULL;
    size_t cap = 0;
    int64_t turns = 0;
    for (;;) {
        if (tty) {
            printf("\n> ");
            fflush(stdout);
        }
        interrupted = 0;
        errno = 0;
        ssize_t len = getline(&line, &cap, stdin);
        if (len < 0) break; /* end of input, or Ctrl-C at the prompt */
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
        if (len == 0) continue;
        if (!strcmp(line, "/quit") || !strcmp(line, "/exit")) break;
        if (!strcmp(line, "/stats")) {
            print_stats(conv, turns);
            continue;
        }
        if (!strcmp(line, "/reset")) {
            si_conversation_reset(conv);
            si_sampler_reset(smp);
            turns = 0;
            printf("[conversation reset]\n");
            continue;
        }
        if (si_conversation_user(conv, line, smp, NULL)) {
            fprintf(stderr, "swiftinfer: %s\n", si_last_error());
            continue;
        }
        turns++;
        for (int i = 0; i < max_new && !interrupted; i++) {
            int32_t tok = si_conversation_next(conv, smp);
            if (tok == SI_REPLY_END) break;
            if (tok < 0) {
                fprintf(stderr, "\nswiftinfer: %s\n", si_last_error());
                break;
            }
            fputs(si_streamer_push(out, tok), stdout);
            fflush(stdout);
        }
        si_conversation_end_reply(conv);
        fputs(si_streamer_flush(out), stdout);
        if (interrupted) printf(" [stopped]");
        printf("\n");
        fflush(stdout);
    }
    free(line);
    rc = 0;
done:
    si_streamer_free(out);
    si_sampler_free(smp);
    si_conversation_free(conv);
    si_model_free(m);
    return rc;
}
