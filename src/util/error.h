/* util/error.h: the one error channel of the library.
 *
 * Library code never exits or aborts on bad input: a failing function sets a
 * thread-local message (naming the file and the problem) and returns an error
 * value (NULL or a negative int). Callers read it with si_last_error(). */
#ifndef SI_UTIL_ERROR_H
#define SI_UTIL_ERROR_H

#include <stddef.h>

#if defined(__GNUC__)
#define SI_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define SI_PRINTF(a, b)
#endif

/* Sets the message and returns -1, so that `return si_fail(...)` reads well. */
int si_fail(const char *fmt, ...) SI_PRINTF(1, 2);
/* Same, but the function's NULL result is returned by the caller. */
void si_set_error(const char *fmt, ...) SI_PRINTF(1, 2);
/* Prefixes the current message with more context ("loading X: <old message>"). */
void si_error_prefix(const char *fmt, ...) SI_PRINTF(1, 2);
const char *si_error_message(void);
void si_clear_error(void);

/* Allocation helpers that set an error instead of crashing. */
void *si_malloc(size_t n);
void *si_calloc(size_t count, size_t size);
/* count * size with an overflow check; returns 0 and sets an error on overflow. */
int si_mul_overflows(size_t a, size_t b, size_t *out);

#endif
