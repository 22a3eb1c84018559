#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SI_ERROR_CAP 1024
static _Thread_local char error_message[SI_ERROR_CAP];

static void set_error_v(const char *fmt, va_list ap) {
    vsnprintf(error_message, sizeof error_message, fmt, ap);
}

int si_fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    set_error_v(fmt, ap);
    va_end(ap);
    return -1;
}

void si_set_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    set_error_v(fmt, ap);
    va_end(ap);
}

void si_error_prefix(const char *fmt, ...) {
    char old[SI_ERROR_CAP];
    memcpy(old, error_message, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(error_message, sizeof error_message, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    /* Appended by hand: snprintf here trips -Wformat-truncation in the
     * sanitizer (Debug) build, though truncating is intended. */
    size_t at = (size_t)n < sizeof error_message ? (size_t)n : sizeof error_message - 1;
    size_t len = strnlen(old, sizeof old - 1), room = sizeof error_message - 1 - at;
    if (room >= 2) {
        memcpy(error_message + at, ": ", 2);
        at += 2;
        room -= 2;
        if (len > room) len = room;
        memcpy(error_message + at, old, len);
        at += len;
    }
    error_message[at] = '\0';
}

const char *si_error_message(void) { return error_message[0] ? error_message : "unknown error"; }

void si_clear_error(void) { error_message[0] = '\0'; }

void *si_malloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) si_set_error("out of memory allocating %zu bytes", n);
    return p;
}

void *si_calloc(size_t count, size_t size) {
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) si_set_error("out of memory allocating %zu x %zu bytes", count, size);
    return p;
}

int si_mul_overflows(size_t a, size_t b, size_t *out) {
    if (a != 0 && b > (size_t)-1 / a) {
        si_set_error("size overflow (%zu x %zu)", a, b);
        return 1;
    }
    *out = a * b;
    return 0;
}
