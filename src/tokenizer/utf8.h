/* tokenizer/utf8.h: strict UTF-8 scanning and the two ways the reference
 * libraries repair invalid bytes (private to the tokenizer). */
#ifndef SI_TOKENIZER_UTF8_H
#define SI_TOKENIZER_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Looks at the character starting at s (n bytes available, n >= 1):
 *   > 0  a complete, strictly valid character of that many bytes;
 *   = 0  a valid but incomplete prefix (more bytes could complete it);
 *   < 0  invalid: -k where k >= 1 is the "maximal subpart" (the lead byte plus
 *        the continuation bytes that were still acceptable), as Unicode and
 *        Rust's String::from_utf8_lossy define it.
 * Strict means: no overlong forms, no surrogates, nothing above U+10FFFF. */
int si_utf8_scan(const unsigned char *s, size_t n);

/* Length of the longest prefix of s made of complete valid characters. */
size_t si_utf8_valid_run(const unsigned char *s, size_t n);

/* Code point of the valid character of len bytes at s. */
uint32_t si_utf8_decode(const unsigned char *s, int len);

/* Writes cp as UTF-8 into out (4 bytes room); returns the length. */
int si_utf8_encode(uint32_t cp, unsigned char *out);

/* Unicode White_Space property (what Rust's char::is_whitespace tests). */
int si_unicode_is_whitespace(uint32_t cp);

/* How invalid bytes become U+FFFD: one per maximal subpart (Hugging Face, via
 * from_utf8_lossy) or one per byte (SentencePiece). */
typedef enum { SI_UTF8_REPAIR_MAXIMAL, SI_UTF8_REPAIR_PER_BYTE } si_utf8_repair;

#define SI_UTF8_REPLACEMENT "\xEF\xBF\xBD"

#endif
