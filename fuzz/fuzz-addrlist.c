/* libFuzzer target: addrlist_add() over the fuzzer's bytes, one line per
 * config line (line i carries tag i % 3, so that lines tie). Besides the
 * sanitizers it checks the module's contract: a line is added whole or not
 * at all, with a message when not; each word that parses prints back as
 * the same prefix; and addrlist_match(), on addresses derived from the
 * prefixes and the input (each prefix's first and last address, the ones
 * just outside it, their IPv4-mapped forms), agrees with a brute-force
 * matcher of its own, as does a copy of the list. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addrlist.h"
#include "fuzz.h"
#include "macro.h"

#define TAGS 3

struct reference {
	struct prefix *prefixes;
	int *tags;
	size_t n;
};

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz-addrlist: %s\n", what);
		abort();
	}
}

static bool bit_of(const uint8_t *bytes, unsigned bit)
{
	return bytes[bit / 8] & (0x80 >> (bit % 8));
}

/* Whole bytes, then bit by bit: sharing no code with addrlist.c. */
static bool reference_contains(const struct prefix *p, int family, const uint8_t *bytes)
{
	if (p->family != family || memcmp(p->bytes, bytes, p->len / 8) != 0)
		return false;
	for (unsigned bit = p->len / 8 * 8; bit < p->len; bit++)
		if (bit_of(p->bytes, bit) != bit_of(bytes, bit))
			return false;
	return true;
}

static bool reference_match(const struct reference *ref, int family, const uint8_t *bytes, struct addrlist_match *ret)
{
	bool found = false;

	for (size_t i = 0; i < ref->n; i++) {
		if (!reference_contains(&ref->prefixes[i], family, bytes))
			continue;
		if (!found || ref->prefixes[i].len > ret->len) {
			*ret = (struct addrlist_match){ .family = family, .len = ref->prefixes[i].len };
			found = true;
		}
		if (ref->prefixes[i].len == ret->len)
			ret->tags |= ADDRLIST_TAG_BIT(ref->tags[i]);
	}
	return found;
}

/* Matches the address of family (4 or 16 bytes) on l and on the reference, and,
 * for IPv4, its IPv4-mapped form too: all must agree. */
static void check_address(const struct addrlist *l, const struct reference *ref, int family, const uint8_t *bytes)
{
	struct sockaddr_in in = { .sin_family = AF_INET };
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6 };
	struct addrlist_match want = {}, got = {}, mapped = {};
	bool expected = reference_match(ref, family, bytes, &want), found;

	if (family == AF_INET) {
		memcpy(&in.sin_addr, bytes, 4);
		found = addrlist_match(l, (struct sockaddr *)&in, sizeof(in), &got);
		in6.sin6_addr.s6_addr[10] = in6.sin6_addr.s6_addr[11] = 0xff;
		memcpy(in6.sin6_addr.s6_addr + 12, bytes, 4);
		check(addrlist_match(l, (struct sockaddr *)&in6, sizeof(in6), &mapped) == found,
		      "an IPv4-mapped source matches otherwise than its IPv4 address");
		check(!found || memcmp(&mapped, &got, sizeof(got)) == 0,
		      "an IPv4-mapped source matches another prefix than its IPv4 address");
	} else {
		/* A mapped source is IPv4 to addrlist: checked as such, above. */
		if (bytes[10] == 0xff && bytes[11] == 0xff && memcmp(bytes, (uint8_t[10]){ 0 }, 10) == 0) {
			check_address(l, ref, AF_INET, bytes + 12);
			return;
		}
		memcpy(&in6.sin6_addr, bytes, 16);
		found = addrlist_match(l, (struct sockaddr *)&in6, sizeof(in6), &got);
	}
	check(found == expected, "addrlist_match and the reference disagree on whether a source matches");
	if (found)
		check(got.family == want.family && got.len == want.len && got.tags == want.tags,
		      "addrlist_match and the reference disagree on the longest prefix or its tags");
}

/* For each prefix: its first and last address, and those just outside it
 * (one bit flipped just past the length, and the last bit of the length). */
static void check_prefix_neighbours(const struct addrlist *l, const struct reference *ref, const struct prefix *p)
{
	unsigned bits = p->family == AF_INET ? 32 : 128;
	uint8_t a[16];

	memcpy(a, p->bytes, sizeof(a));
	check_address(l, ref, p->family, a);
	for (unsigned bit = p->len; bit < bits; bit++)
		a[bit / 8] |= (uint8_t)(0x80 >> (bit % 8));
	check_address(l, ref, p->family, a);
	if (p->len < bits) {
		memcpy(a, p->bytes, sizeof(a));
		a[p->len / 8] ^= (uint8_t)(0x80 >> (p->len % 8));
		check_address(l, ref, p->family, a);
	}
	if (p->len > 0) {
		memcpy(a, p->bytes, sizeof(a));
		a[(p->len - 1) / 8] ^= (uint8_t)(0x80 >> ((p->len - 1) % 8));
		check_address(l, ref, p->family, a);
	}
}

/* Parses each word of line on its own, into ref; false if one does not parse. */
static bool reference_add(struct reference *ref, char *line, int tag)
{
	size_t old = ref->n;

	for (char *word = strtok(line, " \t"); word; word = strtok(NULL, " \t")) {
		struct prefix p, again;
		char err[256] = "", buf[PREFIX_STRING_MAX];

		if (prefix_parse(word, &p, err, sizeof(err)) < 0) {
			check(err[0] != '\0', "prefix_parse failed without a message");
			ref->n = old;
			return false;
		}
		check(p.len <= (p.family == AF_INET ? 32u : 128u), "a prefix longer than its family");
		prefix_to_string(&p, buf, sizeof(buf));
		check(prefix_parse(buf, &again, err, sizeof(err)) == 0, "prefix_to_string's output does not parse");
		check(memcmp(&p, &again, sizeof(p)) == 0, "prefix_to_string does not round trip");
		check(reference_contains(&p, p.family, p.bytes), "a prefix does not hold its own address");
		for (unsigned bit = p.len; bit < 128; bit++)
			check(!bit_of(p.bytes, bit), "a prefix with bits set past its length");
		ref->prefixes[ref->n] = p;
		ref->tags[ref->n++] = tag;
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_free_ char *text = malloc(size + 1), *copy = malloc(size + 1);
	/* A prefix takes at least 2 bytes of input ("::" or "1.2.3.4" and a space). */
	_cleanup_free_ struct prefix *prefixes = calloc(size / 2 + 1, sizeof(*prefixes));
	_cleanup_free_ int *tags = calloc(size / 2 + 1, sizeof(*tags));
	struct reference ref = { .prefixes = prefixes, .tags = tags };
	struct addrlist l = {}, c = {};
	uint32_t tags_added = 0;
	int tag = 0;

	if (!text || !copy || !prefixes || !tags)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	fuzz_sandbox(true);
	for (char *line = text, *next; line; line = next, tag = (tag + 1) % TAGS) {
		size_t before = addrlist_size(&l);
		char err[256] = "";
		bool parsed;
		int r;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		r = addrlist_add(&l, line, tag, err, sizeof(err));
		if (r == -ENOMEM)
			goto out;
		check(r == 0 || r == -EINVAL, "addrlist_add returned neither 0, -EINVAL nor -ENOMEM");
		check(r == 0 || err[0] != '\0', "addrlist_add failed without a message");
		check(r == 0 || addrlist_size(&l) == before, "a line that failed added prefixes");
		strcpy(copy, line);
		parsed = reference_add(&ref, copy, tag);
		check(parsed == (r == 0), "addrlist_add and prefix_parse of each word disagree");
		check(addrlist_size(&l) == ref.n, "addrlist_size is not the number of prefixes added");
	}
	addrlist_seal(&l);
	if (addrlist_copy(&c, &l) < 0)
		goto out;

	/* The neighbours of at most 16 prefixes, spread over the list, and
	 * addresses from the input's own bytes. */
	for (size_t i = 0; i < ref.n; i += ref.n / 16 + 1) {
		check_prefix_neighbours(&l, &ref, &ref.prefixes[i]);
		check_prefix_neighbours(&c, &ref, &ref.prefixes[i]);
	}
	if (size >= 16) {
		check_address(&l, &ref, AF_INET6, data + size - 16);
		check_address(&l, &ref, AF_INET, data + size - 4);
	}
	for (size_t i = 0; i < ref.n; i++)
		tags_added |= ADDRLIST_TAG_BIT(ref.tags[i]);
	check(addrlist_tags(&l) == tags_added, "addrlist_tags is not the set of tags added");
	for (size_t i = 0; i < addrlist_size(&l); i++) {
		struct prefix p;
		int t;
		addrlist_get(&l, i, &p, &t);
		check(t >= 0 && t < TAGS, "addrlist_get gave back a tag never added");
		check(reference_contains(&p, p.family, p.bytes), "addrlist_get gave back a broken prefix");
	}
out:
	fuzz_sandbox(false);
	addrlist_free(&l);
	addrlist_free(&c);
	return 0;
}
