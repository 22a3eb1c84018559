/* cli/args.h: a small table-driven parser for "--name value" options. */
#ifndef SI_CLI_ARGS_H
#define SI_CLI_ARGS_H

#include <stdbool.h>
#include <stdint.h>

typedef enum { ARG_STR, ARG_INT, ARG_I64, ARG_FLOAT, ARG_FLAG } arg_kind;

typedef struct {
    const char *name; /* "--model" */
    arg_kind kind;
    void *dest;       /* const char **, int *, int64_t *, float *, bool * */
    const char *help;
} arg_spec;

/* Parses argv[first..argc) against specs; prints an error and returns -1 on
 * an unknown option, a missing value or a value that is not a number. */
int args_parse(int argc, char **argv, int first, const arg_spec *specs, int n_specs);
void args_usage(const char *command, const char *synopsis, const arg_spec *specs, int n_specs);

#endif
