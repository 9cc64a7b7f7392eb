/* Strict number parsing: no sign, no spaces, no trailing junk. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* Decimal, or hexadecimal after 0x when hex_ok. -EINVAL, -ERANGE above max. */
int parse_unsigned(const char *s, bool hex_ok, uint64_t max, uint64_t *ret);

/* yes, no, true, false, on, off, 1, 0 (any case): 1, 0, or -EINVAL. */
int parse_boolean(const char *s);

/* A duration: a number with an optional unit ms, s, min (default s). */
int parse_duration_usec(const char *s, uint64_t *ret);
