/* cli/main.c: the swiftinfer command-line tool; one file per command. */
#include "common.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *what;
} command;

static const command commands[] = {
    {"run", cmd_run, "the main job: MT-Bench turns as one endless conversation, with per-round statistics"},
    {"chat", cmd_chat, "interactive endless conversation (/reset, /stats, /quit)"},
    {"generate", cmd_generate, "generate text from a prompt, streamed, with tokens/s"},
    {"tokenize", cmd_tokenize, "print the token ids of each {\"text\"} line of a JSONL file"},
    {"perplexity", cmd_perplexity, "perplexity of a text under the streaming, window, recompute or dense cache"},
    {"serve", cmd_serve, "OpenAI-compatible HTTP server: cached conversations, continuous batching, /metrics"},
    {"bench", cmd_bench, "prompt/generation speed (llama-bench style) and flat-cost streaming test"},
    {"info", cmd_info, "describe a model"},
    {"export-hf", cmd_export, "write a model as a float32 Hugging Face folder"},
    {"synth", cmd_synth, "write a model of a real shape with seeded random weights (benchmarks)"},
    {"bench-rounds", cmd_bench_rounds, "multi-round chat benchmark: MT-Bench turns into one session, greedy"},
    {"quantize", cmd_quantize, "write a model as a GGUF file in another weight type (q8_0, q4_1, f16, ...)"},
};

static void usage(void) {
    printf("swiftinfer %s: StreamingLLM inference engine\n\nusage: swiftinfer COMMAND [options]   (COMMAND --help for its options)\n\ncommands:\n", SWIFTINFER_VERSION);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) printf("  %-10s %s\n", commands[i].name, commands[i].what);
}

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage();
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("swiftinfer %s\n", SWIFTINFER_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].run(argc, argv);
    fprintf(stderr, "swiftinfer: unknown command '%s'\n\n", argv[1]);
    usage();
    return 2;
}
