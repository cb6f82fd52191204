/* strnum.h: the one checked way to turn text into a number.
 * No sign, no leading blanks or zeros-with-junk, no trailing junk,
 * overflow and range checked. */
#ifndef SATCHEL_STRNUM_H
#define SATCHEL_STRNUM_H

#include <stdint.h>

/* Parses decimal digits only ("0".."max"). Returns 0, or -1 on an empty
 * string, any non-digit, or a value above max. */
int strnum_parse_u64(const char *text, uint64_t max, uint64_t *value_r);

/* The value of one hex digit (either case), or -1. */
int strnum_hex_digit(char c);

#endif
