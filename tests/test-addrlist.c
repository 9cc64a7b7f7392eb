/* addrlist.c: prefixes parsed, refused with their messages, printed back;
 * lists added to, copied and cleared, whole or not at all when memory runs
 * out; longest-prefix matching, its ties and IPv4-mapped sources, and
 * thousands of random prefixes checked against a brute-force reference,
 * without one allocation. The allocator is wrapped (-Wl,--wrap) to count
 * allocations and fail them on demand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/un.h>
#include <cmocka.h>

#include "addrlist.h"
#include "macro.h"

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
void *__real_reallocarray(void *p, size_t n, size_t size);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);
void *__wrap_reallocarray(void *p, size_t n, size_t size);

static unsigned allocations;
static bool allocations_fail;

void *__wrap_malloc(size_t size)
{
	allocations++;
	return allocations_fail ? NULL : __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size)
{
	allocations++;
	return allocations_fail ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t size)
{
	allocations++;
	return allocations_fail ? NULL : __real_realloc(p, size);
}

void *__wrap_reallocarray(void *p, size_t n, size_t size)
{
	allocations++;
	return allocations_fail ? NULL : __real_reallocarray(p, n, size);
}

/* The caller's tags, as greetingd's allow/deny will use them. */
#define ALLOW 1
#define DENY 2

static void expect_prefix(const char *word, const char *printed)
{
	struct prefix p, again;
	char err[256] = "", buf[PREFIX_STRING_MAX];

	if (prefix_parse(word, &p, err, sizeof(err)) != 0)
		fail_msg("%s: %s", word, err);
	assert_string_equal(prefix_to_string(&p, buf, sizeof(buf)), printed);
	assert_int_equal(prefix_parse(buf, &again, err, sizeof(err)), 0);
	assert_memory_equal(&p, &again, sizeof(p));
}

static void expect_error(const char *word, const char *message)
{
	struct prefix p;
	char err[256] = "";

	assert_int_equal(prefix_parse(word, &p, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, message);
}

static void test_parse(void **state)
{
	expect_prefix("192.0.2.0/24", "192.0.2.0/24");
	expect_prefix("192.0.2.1", "192.0.2.1/32");
	expect_prefix("192.0.2.1/32", "192.0.2.1/32");
	expect_prefix("0.0.0.0/0", "0.0.0.0/0");
	expect_prefix("10.0.0.0/8", "10.0.0.0/8");
	expect_prefix("2001:db8::/32", "2001:db8::/32");
	expect_prefix("2001:DB8:0:0::/48", "2001:db8::/48");
	expect_prefix("::1", "::1/128");
	expect_prefix("::/0", "::/0");
	expect_prefix("fe80::/10", "fe80::/10");
	/* Near, but not in, ::ffff:0:0/96. */
	expect_prefix("::/80", "::/80");
	expect_prefix("::fffe:0:0/96", "::fffe:0:0/96");
	expect_prefix("64:ff9b::192.0.2.1", "64:ff9b::c000:201/128");
	expect_prefix("192.0.2.0/024", "192.0.2.0/24");
}

static void test_parse_errors(void **state)
{
	expect_error("192.0.2.1/24", "192.0.2.1/24 has host bits set: did you mean 192.0.2.0/24?");
	expect_error("2001:db8::1/32", "2001:db8::1/32 has host bits set: did you mean 2001:db8::/32?");
	expect_error("0.0.0.1/0", "0.0.0.1/0 has host bits set: did you mean 0.0.0.0/0?");
	expect_error("192.0.2.0/33", "/33 is longer than an IPv4 address (32 bits)");
	expect_error("2001:db8::/129", "/129 is longer than an IPv6 address (128 bits)");
	expect_error("192.0.2.0/99999999999999999999999",
		     "/99999999999999999999999 is longer than an IPv4 address (32 bits)");
	expect_error("192.0.2.0/", "192.0.2.0/: the prefix length after \"/\" must be a number of bits");
	expect_error("192.0.2.0/x", "192.0.2.0/x: the prefix length after \"/\" must be a number of bits");
	expect_error("192.0.2.0/-1", "192.0.2.0/-1: the prefix length after \"/\" must be a number of bits");
	expect_error("192.0.2.0/+24", "192.0.2.0/+24: the prefix length after \"/\" must be a number of bits");
	expect_error("192.0.2.0/0x18", "192.0.2.0/0x18: the prefix length after \"/\" must be a number of bits");
	expect_error("192.0.2.0/24/8", "192.0.2.0/24/8: the prefix length after \"/\" must be a number of bits");
	expect_error("fe80::1%eth0",
		     "fe80::1%eth0 has a scope id: a prefix holds sources of every interface; remove \"%eth0\"");
	expect_error("fe80::%2/64",
		     "fe80::%2/64 has a scope id: a prefix holds sources of every interface; remove \"%2\"");
	expect_error("::ffff:192.0.2.1", "::ffff:192.0.2.1 is an IPv4-mapped IPv6 address: write it as IPv4 (192.0.2.1)");
	expect_error("::ffff:192.0.2.0/120",
		     "::ffff:192.0.2.0/120 is an IPv4-mapped IPv6 address: write it as IPv4 (192.0.2.0/24)");
	expect_error("::ffff:0:0/96", "::ffff:0:0/96 is an IPv4-mapped IPv6 address: write it as IPv4 (0.0.0.0/0)");
	expect_error("::ffff:c000:201", "::ffff:c000:201 is an IPv4-mapped IPv6 address: write it as IPv4 (192.0.2.1)");
	expect_error("192.0.2.0/24,198.51.100.0/24",
		     "192.0.2.0/24,198.51.100.0/24: separate addresses with spaces, not commas");
	/* Names are never resolved; inet_pton() takes only the strict forms. */
	expect_error("localhost", "\"localhost\" is not an IPv4 or IPv6 address");
	expect_error("example.com/24", "\"example.com/24\" is not an IPv4 or IPv6 address with a prefix length");
	expect_error("", "\"\" is not an IPv4 or IPv6 address");
	expect_error("/24", "\"/24\" is not an IPv4 or IPv6 address with a prefix length");
	expect_error("1.2.3", "\"1.2.3\" is not an IPv4 or IPv6 address");
	expect_error("1.2.3.4.5", "\"1.2.3.4.5\" is not an IPv4 or IPv6 address");
	expect_error("256.0.0.1", "\"256.0.0.1\" is not an IPv4 or IPv6 address");
	expect_error("3232235777", "\"3232235777\" is not an IPv4 or IPv6 address");
	expect_error("2001:db8:::1", "\"2001:db8:::1\" is not an IPv4 or IPv6 address");
	expect_error("[::1]", "\"[::1]\" is not an IPv4 or IPv6 address");
	expect_error("1:2:3:4:5:6:7:8:9:10:11:12:13:14:15:16:17:18:19",
		     "\"1:2:3:4:5:6:7:8:9:10:11:12:13:14:15:16:17:18:19\" is not an IPv4 or IPv6 address");
}

/* A message is truncated to the caller's buffer, never overflows it. */
static void test_parse_error_truncated(void **state)
{
	struct prefix p;
	char err[8];

	assert_int_equal(prefix_parse("192.0.2.1/24", &p, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "192.0.2");
}

static void test_contains(void **state)
{
	struct prefix p;
	char err[256];
	uint8_t v4[4] = { 192, 0, 2, 255 }, v6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };

	assert_int_equal(prefix_parse("192.0.2.0/24", &p, err, sizeof(err)), 0);
	assert_true(prefix_contains(&p, AF_INET, v4));
	v4[2] = 3;
	assert_false(prefix_contains(&p, AF_INET, v4));
	assert_false(prefix_contains(&p, AF_INET6, v6));
	assert_int_equal(prefix_parse("2001:db8::/31", &p, err, sizeof(err)), 0);
	assert_true(prefix_contains(&p, AF_INET6, v6));
	v6[3] = 0xb9;
	assert_true(prefix_contains(&p, AF_INET6, v6));
	v6[3] = 0xba;
	assert_false(prefix_contains(&p, AF_INET6, v6));
	assert_int_equal(prefix_parse("::/0", &p, err, sizeof(err)), 0);
	assert_true(prefix_contains(&p, AF_INET6, v6));
	assert_false(prefix_contains(&p, AF_INET, v4));
}

static void test_add(void **state)
{
	struct addrlist l = {};
	char err[256];
	struct prefix p;
	int tag;

	assert_int_equal(addrlist_add(&l, "", ALLOW, err, sizeof(err)), 0);
	assert_int_equal(addrlist_add(&l, " \t ", ALLOW, err, sizeof(err)), 0);
	assert_int_equal(addrlist_size(&l), 0);
	assert_int_equal(addrlist_tags(&l), 0);
	assert_int_equal(addrlist_add(&l, " 192.0.2.0/24  2001:db8::/32\t::1 ", ALLOW, err, sizeof(err)), 0);
	assert_int_equal(addrlist_add(&l, "198.51.100.7", DENY, err, sizeof(err)), 0);
	assert_int_equal(addrlist_size(&l), 4);
	assert_int_equal(addrlist_tags(&l), ADDRLIST_TAG_BIT(ALLOW) | ADDRLIST_TAG_BIT(DENY));

	/* All or nothing: the good words before the bad one are not added. */
	assert_int_equal(addrlist_add(&l, "203.0.113.0/24 10.0.0.1/8 10.0.0.0/8", ALLOW, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "10.0.0.1/8 has host bits set: did you mean 10.0.0.0/8?");
	assert_int_equal(addrlist_add(&l, "::2 2001:db8::/200", ALLOW, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "/200 is longer than an IPv6 address (128 bits)");
	assert_int_equal(addrlist_size(&l), 4);

	addrlist_seal(&l);
	for (size_t i = 0; i < addrlist_size(&l); i++) {
		char buf[PREFIX_STRING_MAX];
		addrlist_get(&l, i, &p, &tag);
		prefix_to_string(&p, buf, sizeof(buf));
		if (streq(buf, "198.51.100.7/32"))
			assert_int_equal(tag, DENY);
		else
			assert_true(tag == ALLOW && (streq(buf, "192.0.2.0/24") || streq(buf, "2001:db8::/32") ||
						     streq(buf, "::1/128")));
	}
	addrlist_clear(&l);
	assert_int_equal(addrlist_size(&l), 0);
	assert_int_equal(addrlist_add(&l, "192.0.2.0/24", DENY, err, sizeof(err)), 0);
	assert_int_equal(addrlist_size(&l), 1);
	addrlist_free(&l);
	assert_int_equal(addrlist_size(&l), 0);
	addrlist_free(&l);
}

union sockaddr_inet {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

static void test_out_of_memory(void **state)
{
	struct addrlist l = {}, copy = {};
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x0a000007) };
	char err[256];
	struct prefix p;
	int tag;

	/* Eight fit in the first allocation: the ninth needs another. */
	assert_int_equal(addrlist_add(&l, "10.0.0.1 10.0.0.2 10.0.0.3 10.0.0.4 10.0.0.5 10.0.0.6 10.0.0.7", ALLOW, err,
				      sizeof(err)), 0);
	addrlist_seal(&l);
	allocations_fail = true;
	assert_int_equal(addrlist_add(&l, "10.0.0.8 10.0.0.9 10.0.0.10", DENY, err, sizeof(err)), -ENOMEM);
	assert_int_equal(addrlist_copy(&copy, &l), -ENOMEM);
	allocations_fail = false;
	assert_string_equal(err, "out of memory");
	assert_int_equal(addrlist_size(&l), 7);
	assert_int_equal(addrlist_size(&copy), 0);
	for (size_t i = 0; i < addrlist_size(&l); i++) {
		addrlist_get(&l, i, &p, &tag);
		assert_int_equal(tag, ALLOW);
	}
	/* Still sealed: matching works on it as it was. */
	assert_true(addrlist_match(&l, (struct sockaddr *)&in, sizeof(in), NULL));
	addrlist_free(&l);
}

static socklen_t sockaddr_from_string(const char *text, union sockaddr_inet *ret)
{
	memset(ret, 0, sizeof(*ret));
	if (strchr(text, ':')) {
		ret->in6.sin6_family = AF_INET6;
		ret->in6.sin6_port = htons(4242);
		assert_int_equal(inet_pton(AF_INET6, text, &ret->in6.sin6_addr), 1);
		return sizeof(ret->in6);
	}
	ret->in.sin_family = AF_INET;
	ret->in.sin_port = htons(4242);
	assert_int_equal(inet_pton(AF_INET, text, &ret->in.sin_addr), 1);
	return sizeof(ret->in);
}

/* Expects text to match at len with tags, or (tags 0) not at all. */
static void expect_match(const struct addrlist *l, const char *text, unsigned len, uint32_t tags)
{
	union sockaddr_inet u;
	socklen_t size = sockaddr_from_string(text, &u);
	struct addrlist_match m = { .len = 999, .tags = 0xdead };
	bool found = addrlist_match(l, &u.sa, size, &m);

	if (found != (tags != 0))
		fail_msg("%s: %s", text, found ? "matches" : "does not match");
	assert_true(addrlist_match(l, &u.sa, size, NULL) == found);
	if (!found)
		return;
	if (m.len != len || m.tags != tags)
		fail_msg("%s: matched /%u tags %#x, expected /%u tags %#x", text, m.len, m.tags, len, tags);
	assert_int_equal(m.family, strchr(text, ':') && !strstr(text, "::ffff:") ? AF_INET6 : AF_INET);
}

#define A ADDRLIST_TAG_BIT(ALLOW)
#define D ADDRLIST_TAG_BIT(DENY)

static void test_match_longest(void **state)
{
	struct addrlist l = {};
	char err[256];

	assert_int_equal(addrlist_add(&l, "10.0.0.0/8 10.1.2.0/24 2001:db8::/32 2001:db8:1:2::/64", ALLOW, err,
				      sizeof(err)), 0);
	assert_int_equal(addrlist_add(&l, "10.1.0.0/16 2001:db8:1::/48", DENY, err, sizeof(err)), 0);
	addrlist_seal(&l);
	expect_match(&l, "10.1.2.3", 24, A);
	expect_match(&l, "10.1.3.1", 16, D);
	expect_match(&l, "10.2.0.0", 8, A);
	expect_match(&l, "10.255.255.255", 8, A);
	expect_match(&l, "11.0.0.1", 0, 0);
	expect_match(&l, "9.255.255.255", 0, 0);
	expect_match(&l, "2001:db8:1:2::99", 64, A);
	expect_match(&l, "2001:db8:1:3::1", 48, D);
	expect_match(&l, "2001:db8:2::1", 32, A);
	expect_match(&l, "2001:db9::1", 0, 0);
	/* An IPv6 list entry never matches an IPv4 source and back. */
	expect_match(&l, "::a01:203", 0, 0);
	addrlist_free(&l);
}

static void test_match_extremes(void **state)
{
	struct addrlist l = {};
	char err[256];

	/* Empty, and sealed from the start. */
	expect_match(&l, "192.0.2.1", 0, 0);
	expect_match(&l, "::1", 0, 0);

	assert_int_equal(addrlist_add(&l, "0.0.0.0/0", ALLOW, err, sizeof(err)), 0);
	addrlist_seal(&l);
	expect_match(&l, "0.0.0.0", 0, A);
	expect_match(&l, "255.255.255.255", 0, A);
	expect_match(&l, "::1", 0, 0);

	assert_int_equal(addrlist_add(&l, "::/0", ALLOW, err, sizeof(err)), 0);
	assert_int_equal(addrlist_add(&l, "192.0.2.1 255.255.255.255/32 ::1 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128",
				      DENY, err, sizeof(err)), 0);
	addrlist_seal(&l);
	expect_match(&l, "::", 0, A);
	expect_match(&l, "::2", 0, A);
	expect_match(&l, "::1", 128, D);
	expect_match(&l, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 128, D);
	expect_match(&l, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", 0, A);
	expect_match(&l, "192.0.2.1", 32, D);
	expect_match(&l, "192.0.2.0", 0, A);
	expect_match(&l, "192.0.2.2", 0, A);
	expect_match(&l, "255.255.255.255", 32, D);
	addrlist_free(&l);
}

static void test_match_ties(void **state)
{
	struct addrlist l = {};
	char err[256];

	assert_int_equal(addrlist_add(&l, "192.0.2.0/24 2001:db8::/32 198.51.100.0/24", ALLOW, err, sizeof(err)), 0);
	assert_int_equal(addrlist_add(&l, "192.0.2.0/24 2001:db8::/32 192.0.2.0/25", DENY, err, sizeof(err)), 0);
	/* Repeats count once. */
	assert_int_equal(addrlist_add(&l, "198.51.100.0/24 198.51.100.0/24", ALLOW, err, sizeof(err)), 0);
	addrlist_seal(&l);
	expect_match(&l, "192.0.2.200", 24, A | D);
	expect_match(&l, "192.0.2.100", 25, D);
	expect_match(&l, "2001:db8::1", 32, A | D);
	expect_match(&l, "198.51.100.1", 24, A);
	assert_int_equal(addrlist_size(&l), 8);
	addrlist_free(&l);
}

static void test_match_mapped(void **state)
{
	struct addrlist l = {};
	char err[256];

	assert_int_equal(addrlist_add(&l, "192.0.2.0/24 ::/0", ALLOW, err, sizeof(err)), 0);
	assert_int_equal(addrlist_add(&l, "192.0.2.128/25", DENY, err, sizeof(err)), 0);
	addrlist_seal(&l);
	/* As a dual-stack socket reports IPv4 peers: matched as IPv4, never by ::/0. */
	expect_match(&l, "::ffff:192.0.2.1", 24, A);
	expect_match(&l, "::ffff:192.0.2.129", 25, D);
	expect_match(&l, "::ffff:198.51.100.1", 0, 0);
	/* Not mapped: IPv6. */
	expect_match(&l, "::fffe:192.0.2.1", 0, A);
	expect_match(&l, "::192.0.2.1", 0, A);
	addrlist_free(&l);
}

static void test_match_other_sockaddrs(void **state)
{
	struct addrlist l = {};
	struct sockaddr_un un = { .sun_family = AF_UNIX, .sun_path = "/run/x" };
	struct sockaddr_in in = { .sin_family = AF_INET };
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6 };
	char err[256];

	assert_int_equal(addrlist_add(&l, "0.0.0.0/0 ::/0", DENY, err, sizeof(err)), 0);
	addrlist_seal(&l);
	assert_false(addrlist_match(&l, (struct sockaddr *)&un, sizeof(un), NULL));
	assert_false(addrlist_match(&l, (struct sockaddr *)&in, sizeof(in) - 1, NULL));
	assert_false(addrlist_match(&l, (struct sockaddr *)&in6, sizeof(in6) - 1, NULL));
	assert_true(addrlist_match(&l, (struct sockaddr *)&in, sizeof(in), NULL));
	assert_true(addrlist_match(&l, (struct sockaddr *)&in6, sizeof(in6), NULL));
	addrlist_free(&l);
}

static void test_copy(void **state)
{
	struct addrlist global = {}, listener = {}, empty = {};
	char err[256];

	assert_int_equal(addrlist_add(&global, "192.0.2.0/24", DENY, err, sizeof(err)), 0);
	addrlist_seal(&global);
	assert_int_equal(addrlist_copy(&listener, &global), 0);
	assert_int_equal(addrlist_add(&listener, "192.0.2.7 2001:db8::/32", ALLOW, err, sizeof(err)), 0);
	addrlist_seal(&listener);
	expect_match(&global, "192.0.2.7", 24, D);
	expect_match(&global, "2001:db8::1", 0, 0);
	expect_match(&listener, "192.0.2.7", 32, A);
	expect_match(&listener, "192.0.2.8", 24, D);
	expect_match(&listener, "2001:db8::1", 32, A);
	assert_int_equal(addrlist_size(&global), 1);
	assert_int_equal(addrlist_size(&listener), 3);

	/* A copy replaces what dest held, freeing it. */
	assert_int_equal(addrlist_copy(&listener, &empty), 0);
	assert_int_equal(addrlist_size(&listener), 0);
	expect_match(&listener, "192.0.2.7", 0, 0);
	addrlist_free(&global);
	addrlist_free(&listener);
}

/* A deterministic generator: the same prefixes every run. */
static uint64_t rng_state = 0x9e3779b97f4a7c15;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* Addresses near a few networks, so that prefixes nest and sources hit them. */
static void random_address(int family, const uint8_t networks[][16], uint8_t *ret)
{
	unsigned size = family == AF_INET ? 4 : 16;
	unsigned keep = (unsigned)(rng() % (size + 1));

	memcpy(ret, networks[rng() % 8], size);
	for (unsigned i = keep; i < size; i++)
		ret[i] = (uint8_t)rng();
	if (rng() % 4 == 0)
		ret[rng() % size] ^= (uint8_t)(1u << (rng() % 8));
}

/* Bit by bit, sharing no code with addrlist.c. */
static bool reference_contains(const struct prefix *p, int family, const uint8_t *bytes)
{
	if (p->family != family)
		return false;
	for (unsigned bit = 0; bit < p->len; bit++)
		if ((p->bytes[bit / 8] ^ bytes[bit / 8]) & (0x80 >> (bit % 8)))
			return false;
	return true;
}

/* The reference: every prefix looked at, longest wins, tags OR'ed. */
static bool reference_match(const struct prefix *prefixes, const int *tags, size_t n, int family,
			    const uint8_t *bytes, struct addrlist_match *ret)
{
	bool found = false;

	for (size_t i = 0; i < n; i++) {
		if (!reference_contains(&prefixes[i], family, bytes))
			continue;
		if (!found || prefixes[i].len > ret->len) {
			*ret = (struct addrlist_match){ .family = family, .len = prefixes[i].len };
			found = true;
		}
		if (prefixes[i].len == ret->len)
			ret->tags |= ADDRLIST_TAG_BIT(tags[i]);
	}
	return found;
}

static void test_match_random(void **state)
{
	enum { N_PREFIXES = 3000, N_SOURCES = 6000 };
	uint8_t networks[2][8][16];
	struct prefix *prefixes = calloc(N_PREFIXES, sizeof(*prefixes));
	int *tags = calloc(N_PREFIXES, sizeof(*tags));
	struct addrlist l = {};
	size_t hits = 0;

	assert_non_null(prefixes);
	assert_non_null(tags);
	for (unsigned f = 0; f < 2; f++)
		for (unsigned i = 0; i < 8; i++)
			for (unsigned b = 0; b < 16; b++)
				networks[f][i][b] = (uint8_t)rng();
	for (size_t i = 0; i < N_PREFIXES; i++) {
		struct prefix *p = &prefixes[i];
		unsigned f = rng() % 2;
		char buf[PREFIX_STRING_MAX], err[256];
		struct prefix parsed;

		p->family = f ? AF_INET6 : AF_INET;
		random_address(p->family, networks[f], p->bytes);
		/* Not /0, and so some sources match nothing (/0 is test_match_extremes'). */
		p->len = 4 + (unsigned)(rng() % (f ? 125 : 29));
		/* Masked by hand. */
		for (unsigned bit = p->len; bit < (f ? 128u : 32u); bit++)
			p->bytes[bit / 8] &= (uint8_t)~(0x80u >> (bit % 8));
		tags[i] = (int)(rng() % 4);
		/* Through text, as a config line brings it, and back. */
		prefix_to_string(p, buf, sizeof(buf));
		if (prefix_parse(buf, &parsed, err, sizeof(err)) < 0)
			fail_msg("%s: %s", buf, err);
		assert_memory_equal(&parsed, p, sizeof(parsed));
		assert_true(prefix_contains(p, p->family, p->bytes));
		assert_int_equal(addrlist_add(&l, buf, tags[i], err, sizeof(err)), 0);
	}
	addrlist_seal(&l);
	assert_int_equal(addrlist_size(&l), N_PREFIXES);
	unsigned allocations_before = allocations;

	for (size_t i = 0; i < N_SOURCES; i++) {
		unsigned f = rng() % 2;
		int family = f ? AF_INET6 : AF_INET;
		struct addrlist_match want = {}, got = {};
		struct sockaddr_in in = { .sin_family = AF_INET };
		struct sockaddr_in6 in6 = { .sin6_family = AF_INET6 };
		bool found, expected;

		if (f) {
			random_address(family, networks[f], in6.sin6_addr.s6_addr);
			expected = reference_match(prefixes, tags, N_PREFIXES, family, in6.sin6_addr.s6_addr, &want);
			found = addrlist_match(&l, (struct sockaddr *)&in6, sizeof(in6), &got);
		} else {
			random_address(family, networks[f], (uint8_t *)&in.sin_addr);
			expected = reference_match(prefixes, tags, N_PREFIXES, family, (uint8_t *)&in.sin_addr, &want);
			found = addrlist_match(&l, (struct sockaddr *)&in, sizeof(in), &got);
			/* And the same source as a dual-stack socket reports it. */
			in6.sin6_addr.s6_addr[10] = in6.sin6_addr.s6_addr[11] = 0xff;
			memcpy(in6.sin6_addr.s6_addr + 12, &in.sin_addr, 4);
			struct addrlist_match mapped = {};
			assert_true(addrlist_match(&l, (struct sockaddr *)&in6, sizeof(in6), &mapped) == expected);
			if (expected)
				assert_memory_equal(&mapped, &got, sizeof(got));
		}
		assert_true(found == expected);
		if (!found)
			continue;
		hits++;
		assert_int_equal(got.family, want.family);
		assert_int_equal(got.len, want.len);
		assert_int_equal(got.tags, want.tags);
	}
	assert_int_equal(allocations, allocations_before);
	/* The sources were near enough to the prefixes to test something. */
	assert_true(hits > N_SOURCES / 4);
	assert_true(hits < N_SOURCES);
	addrlist_free(&l);
	free(prefixes);
	free(tags);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_parse_error_truncated),
		cmocka_unit_test(test_contains),
		cmocka_unit_test(test_add),
		cmocka_unit_test(test_out_of_memory),
		cmocka_unit_test(test_match_longest),
		cmocka_unit_test(test_match_extremes),
		cmocka_unit_test(test_match_ties),
		cmocka_unit_test(test_match_mapped),
		cmocka_unit_test(test_match_other_sockaddrs),
		cmocka_unit_test(test_copy),
		cmocka_unit_test(test_match_random),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
