/* cli/main.c: the swiftinfer command-line tool; dispatches to one file per command. */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    (void)argv;
    if (argc < 2) {
        fprintf(stderr, "usage: swiftinfer COMMAND [options]\n");
        return 2;
    }
    fprintf(stderr, "swiftinfer: unknown command '%s'\n", argv[1]);
    return 2;
}
