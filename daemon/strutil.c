#include <errno.h>
#include <string.h>
#include <strings.h>

#include "macro.h"
#include "strutil.h"

int parse_unsigned(const char *s, bool hex_ok, uint64_t max, uint64_t *ret)
{
	unsigned base = 10;
	uint64_t v = 0;

	if (hex_ok && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	if (*s == '\0')
		return -EINVAL;
	for (; *s; s++) {
		unsigned d;
		if (*s >= '0' && *s <= '9')
			d = (unsigned)(*s - '0');
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = (unsigned)(*s - 'a' + 10);
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = (unsigned)(*s - 'A' + 10);
		else
			return -EINVAL;
		if (v > (UINT64_MAX - d) / base)
			return -ERANGE;
		v = v * base + d;
	}
	if (v > max)
		return -ERANGE;
	*ret = v;
	return 0;
}

int parse_duration_usec(const char *s, uint64_t *ret)
{
	static const struct {
		const char *suffix;
		uint64_t usec;
	} units[] = {
		{ "ms", USEC_PER_MSEC }, { "min", 60 * USEC_PER_SEC }, { "s", USEC_PER_SEC }, { "", USEC_PER_SEC },
	};
	size_t digits = strspn(s, "0123456789");
	char number[21];
	uint64_t v;
	int r;

	if (digits == 0 || digits >= sizeof(number))
		return digits == 0 ? -EINVAL : -ERANGE;
	memcpy(number, s, digits);
	number[digits] = '\0';
	for (size_t i = 0; i < ELEMENTSOF(units); i++) {
		if (!streq(s + digits, units[i].suffix))
			continue;
		r = parse_unsigned(number, false, UINT64_MAX / units[i].usec, &v);
		if (r < 0)
			return r;
		*ret = v * units[i].usec;
		return 0;
	}
	return -EINVAL;
}

int parse_boolean(const char *s)
{
	static const char *const yes[] = { "yes", "true", "on", "1" }, *const no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0)
			return 1;
		if (strcasecmp(s, no[i]) == 0)
			return 0;
	}
	return -EINVAL;
}
