/* cli/cmd_tokenize.c: `swiftinfer tokenize` — one {"ids": [...]} line per
 * {"text": ...} line of a JSONL file. */
#include "common.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LINE_TOKENS (1 << 22)

int cmd_tokenize(int argc, char **argv) {
    const char *model = NULL, *tokenizer = NULL, *file = NULL;
    bool bos = false, special = false, help = false;
    arg_spec specs[] = {
        {"--model", ARG_STR, &model, "model whose tokenizer to use (.gguf or Hugging Face folder)"},
        {"--tokenizer", ARG_STR, &tokenizer, "tokenizer.json, tokenizer.model, .gguf or folder"},
        {"--file", ARG_STR, &file, "input JSONL, one {\"text\": ...} per line (required)"},
        {"--bos", ARG_FLAG, &bos, "prepend the BOS token"},
        {"--special", ARG_FLAG, &special, "turn special-token text into special ids"},
        {"--help", ARG_FLAG, &help, "show this help"},
    };
    int n_specs = (int)(sizeof specs / sizeof specs[0]);
    if (args_parse(argc, argv, 2, specs, n_specs)) return 2;
    if (help) {
        args_usage("tokenize", "(--model PATH | --tokenizer PATH) --file IN.jsonl", specs, n_specs);
        return 0;
    }
    if (!file || (!model == !tokenizer)) {
        fprintf(stderr, "swiftinfer tokenize: give --file and exactly one of --model or --tokenizer\n");
        return 2;
    }
    si_tokenizer *tok = si_tokenizer_load(tokenizer ? tokenizer : model);
    if (!tok) {
        fprintf(stderr, "swiftinfer: %s\n", si_last_error());
        return 1;
    }
    FILE *in = strcmp(file, "-") == 0 ? stdin : fopen(file, "r");
    if (!in) {
        fprintf(stderr, "swiftinfer: %s: cannot open\n", file);
        si_tokenizer_free(tok);
        return 1;
    }
    int32_t *ids = malloc(sizeof(int32_t) * MAX_LINE_TOKENS);
    char *line = NULL;
    size_t line_cap = 0;
    ssize_t len;
    int rc = ids ? 0 : 1;
    long line_no = 0;
    int flags = (bos ? SI_ENCODE_BOS : 0) | (special ? SI_ENCODE_SPECIAL : 0);
    while (rc == 0 && (len = getline(&line, &line_cap, in)) >= 0) {
        line_no++;
        if (len == 0 || strspn(line, " \t\r\n") == (size_t)len) continue;
        json_error_t err;
        json_t *obj = json_loadb(line, (size_t)len, 0, &err);
        json_t *text = obj ? json_object_get(obj, "text") : NULL;
        if (!json_is_string(text)) {
            fprintf(stderr, "swiftinfer: %s:%ld: %s\n", file, line_no, obj ? "no \"text\" string field" : err.text);
            rc = 1;
        } else {
            int64_t n = si_tokenize(tok, json_string_value(text), json_string_length(text), flags, ids, MAX_LINE_TOKENS);
            if (n < 0 || n > MAX_LINE_TOKENS) {
                fprintf(stderr, "swiftinfer: %s:%ld: %s\n", file, line_no, n < 0 ? si_last_error() : "too many tokens");
                rc = 1;
            } else {
                fputs("{\"ids\": [", stdout);
                for (int64_t i = 0; i < n; i++) printf(i ? ", %d" : "%d", ids[i]);
                fputs("]}\n", stdout);
            }
        }
        json_decref(obj);
    }
    free(line);
    free(ids);
    if (in != stdin) fclose(in);
    si_tokenizer_free(tok);
    return rc;
}
