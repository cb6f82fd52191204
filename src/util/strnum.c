/* strnum.c: strict decimal parsing (see strnum.h). */
#include "util/strnum.h"

int strnum_parse_u64(const char *text, uint64_t max, uint64_t *value_r)
{
	uint64_t value = 0;
	const char *p = text;

	if (*p == '\0')
		return -1;
	for (; *p != '\0'; p++) {
		unsigned digit;

		if (*p < '0' || *p > '9')
			return -1;
		digit = (unsigned)(*p - '0');
		if (digit > max || value > (max - digit) / 10)
			return -1;
		value = value * 10 + digit;
	}
	*value_r = value;
	return 0;
}

int strnum_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}
