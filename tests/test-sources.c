/* sources.c: sources grouped by prefix, token buckets that neither drift nor
 * overflow, in-flight limits, least-recently-seen eviction with handles
 * that stay harmless, constant memory under a million sources, and lookups
 * that stay short when every key lands in one bucket. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/un.h>
#include <cmocka.h>

#include "macro.h"
#include "sources.h"

/* Linked with -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc: allocations
 * counted while counting; and --wrap=getrandom: a known key on demand. */
static bool counting;
static unsigned allocations;
static bool known_key;

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
ssize_t __real_getrandom(void *buf, size_t size, unsigned flags);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);
ssize_t __wrap_getrandom(void *buf, size_t size, unsigned flags);

void *__wrap_malloc(size_t size)
{
	allocations += counting;
	return __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size)
{
	allocations += counting;
	return __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t size)
{
	allocations += counting;
	return __real_realloc(p, size);
}

static const uint8_t test_key[16] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 };

ssize_t __wrap_getrandom(void *buf, size_t size, unsigned flags)
{
	if (!known_key)
		return __real_getrandom(buf, size, flags);
	memset(buf, 0, size);
	memcpy(buf, test_key, MIN(size, sizeof(test_key)));
	return (ssize_t)size;
}

static struct sockaddr_in in4(const char *s)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(4000) };

	assert_int_equal(inet_pton(AF_INET, s, &sa.sin_addr), 1);
	return sa;
}

static struct sockaddr_in6 in6(const char *s)
{
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_port = htons(4000) };

	assert_int_equal(inet_pton(AF_INET6, s, &sa.sin6_addr), 1);
	return sa;
}

static struct source_handle look4(struct sources *t, const char *s, unsigned prefix4, uint64_t now)
{
	struct sockaddr_in sa = in4(s);

	return sources_lookup(t, 0, (struct sockaddr *)&sa, sizeof(sa), prefix4, 56, now);
}

static struct source_handle look6(struct sources *t, const char *s, unsigned prefix6, uint64_t now)
{
	struct sockaddr_in6 sa = in6(s);

	return sources_lookup(t, 0, (struct sockaddr *)&sa, sizeof(sa), 24, prefix6, now);
}

static bool same(struct source_handle a, struct source_handle b)
{
	return a.index == b.index && a.generation == b.generation;
}

static struct sources *new_table(unsigned capacity)
{
	struct sources *t = NULL;

	assert_int_equal(sources_new(capacity, &t), 0);
	assert_non_null(t);
	return t;
}

static void test_new(void **state)
{
	struct sources *t = NULL;

	assert_int_equal(sources_new(0, &t), -EINVAL);
	assert_int_equal(sources_new(1, &t), -EINVAL);
	assert_int_equal(sources_new(3, &t), -EINVAL);
	assert_int_equal(sources_new(1000, &t), -EINVAL);
	assert_int_equal(sources_new(1U << 25, &t), -EINVAL);
	assert_null(t);
	t = new_table(2);
	t = sources_free(t);
	assert_null(sources_free(NULL));
}

/* The reference implementation's vectors: key 00..0f, message 00..n-1. The
 * table runs the same code with fewer rounds. */
static void test_siphash(void **state)
{
	uint8_t message[64];

	for (size_t i = 0; i < sizeof(message); i++)
		message[i] = (uint8_t)i;
	assert_true(siphash(message, 0, test_key, 2, 4) == 0x726fdb47dd0e0e31ULL);
	assert_true(siphash(message, 15, test_key, 2, 4) == 0xa129ca6149be45e5ULL);
	assert_true(siphash(message, 24, test_key, 1, 3) != siphash(message, 24, test_key, 2, 4));
	assert_true(siphash(message, 24, test_key, 1, 3) == siphash(message, 24, test_key, 1, 3));
}

static void test_prefixes(void **state)
{
	struct sources *t = new_table(64);
	char buf[SOURCES_PREFIX_STRING_MAX];
	struct source_handle a, b;

	/* /24 groups the last byte, and no more. */
	a = look4(t, "198.51.100.1", 24, 0);
	assert_true(sources_handle_valid(t, a));
	assert_true(same(a, look4(t, "198.51.100.254", 24, 0)));
	assert_false(same(a, look4(t, "198.51.101.1", 24, 0)));
	assert_false(same(a, look4(t, "198.50.100.1", 24, 0)));
	assert_string_equal(sources_prefix_to_string(t, a, buf), "198.51.100.0/24");
	/* /32 separates; the same address under two lengths is two sources. */
	b = look4(t, "198.51.100.1", 32, 0);
	assert_false(same(a, b));
	assert_false(same(b, look4(t, "198.51.100.2", 32, 0)));
	assert_true(same(b, look4(t, "198.51.100.1", 32, 0)));
	assert_string_equal(sources_prefix_to_string(t, b, buf), "198.51.100.1/32");
	/* /0: one source for the family, an uneven length masks within a byte. */
	assert_true(same(look4(t, "1.2.3.4", 0, 0), look4(t, "255.254.253.252", 0, 0)));
	assert_string_equal(sources_prefix_to_string(t, look4(t, "1.2.3.4", 0, 0), buf), "0.0.0.0/0");
	assert_true(same(look4(t, "10.0.0.0", 20, 0), look4(t, "10.0.15.255", 20, 0)));
	assert_false(same(look4(t, "10.0.0.0", 20, 0), look4(t, "10.0.16.0", 20, 0)));

	/* /56 groups the 8th byte on; the 7th separates. */
	a = look6(t, "2001:db8:0:1::1", 56, 0);
	assert_true(same(a, look6(t, "2001:db8:0:ff:ffff:ffff:ffff:ffff", 56, 0)));
	assert_false(same(a, look6(t, "2001:db8:0:100::1", 56, 0)));
	assert_false(same(a, look6(t, "2001:db9:0:1::1", 56, 0)));
	assert_string_equal(sources_prefix_to_string(t, a, buf), "2001:db8::/56");
	assert_string_equal(sources_prefix_to_string(t, look6(t, "2001:db8:0:1ff::", 56, 0), buf),
			    "2001:db8:0:100::/56");
	/* /128 separates. */
	b = look6(t, "2001:db8::1", 128, 0);
	assert_false(same(b, look6(t, "2001:db8::2", 128, 0)));
	assert_true(same(b, look6(t, "2001:db8::1", 128, 0)));
	assert_string_equal(sources_prefix_to_string(t, b, buf), "2001:db8::1/128");
	/* The family is part of the key: 0.0.0.0/0 is not ::/0. */
	assert_false(same(look4(t, "0.0.0.0", 0, 0), look6(t, "::", 0, 0)));
	/* So is the scope. */
	{
		struct sockaddr_in sa = in4("192.0.2.1");

		a = sources_lookup(t, 1, (struct sockaddr *)&sa, sizeof(sa), 24, 56, 0);
		b = sources_lookup(t, 2, (struct sockaddr *)&sa, sizeof(sa), 24, 56, 0);
		assert_false(same(a, b));
		assert_true(same(a, sources_lookup(t, 1, (struct sockaddr *)&sa, sizeof(sa), 24, 56, 0)));
	}
	sources_free(t);
}

static void test_v4_mapped(void **state)
{
	struct sources *t = new_table(64);
	char buf[SOURCES_PREFIX_STRING_MAX];
	struct source_handle a;

	/* Mapped counts as IPv4 and takes prefix4: under /56, these two
	 * would be one source with 10.0.0.0 too. */
	a = look4(t, "198.51.100.9", 24, 0);
	assert_true(same(a, look6(t, "::ffff:198.51.100.7", 56, 0)));
	assert_false(same(a, look6(t, "::ffff:198.51.101.7", 56, 0)));
	assert_false(same(a, look6(t, "::ffff:10.0.0.1", 56, 0)));
	assert_string_equal(sources_prefix_to_string(t, look6(t, "::ffff:198.51.100.7", 56, 0), buf), "198.51.100.0/24");
	/* So does NAT64's well-known prefix (RFC 6052), behind which the
	 * whole IPv4 Internet would otherwise be one /56. */
	assert_true(same(a, look6(t, "64:ff9b::198.51.100.7", 56, 0)));
	assert_false(same(a, look6(t, "64:ff9b::198.51.101.7", 56, 0)));
	assert_string_equal(sources_prefix_to_string(t, look6(t, "64:ff9b::198.51.100.7", 56, 0), buf), "198.51.100.0/24");
	/* Compatible (::a.b.c.d) and local-use NAT64 (64:ff9b:1::/48, no fixed
	 * embedding) addresses are IPv6. */
	assert_false(same(a, look6(t, "::198.51.100.9", 56, 0)));
	assert_false(same(a, look6(t, "64:ff9b:1::198.51.100.9", 56, 0)));
	sources_free(t);
}

/* Whatever is not an IP source gets the null handle, and every function
 * treats it as a source without state. */
static void test_not_ip(void **state)
{
	struct sources *t = new_table(64);
	struct sockaddr_un un = { .sun_family = AF_UNIX, .sun_path = "/run/x" };
	struct sockaddr_in sa = in4("192.0.2.1");
	char buf[SOURCES_PREFIX_STRING_MAX];
	struct source_handle h;
	uint64_t dropped = 7;

	h = sources_lookup(t, 0, (struct sockaddr *)&un, sizeof(un), 24, 56, 0);
	assert_int_equal(h.generation, 0);
	assert_false(sources_handle_valid(t, h));
	h = sources_lookup(t, 0, (struct sockaddr *)&sa, sizeof(sa) - 1, 24, 56, 0);
	assert_int_equal(h.generation, 0);
	h = sources_lookup(t, 0, (struct sockaddr *)&sa, 0, 24, 56, 0);
	assert_int_equal(h.generation, 0);
	for (int i = 0; i < 10; i++) {
		assert_true(sources_take_token(t, h, 1, 1, 0));
		assert_true(sources_acquire(t, h, 1));
	}
	sources_release(t, h);
	assert_false(sources_note_drop(t, h, 0, 0, &dropped, NULL));
	assert_int_equal(dropped, 7);
	assert_string_equal(sources_prefix_to_string(t, h, buf), "?");
	sources_free(t);
}

static void test_bucket_burst_then_rate(void **state)
{
	struct sources *t = new_table(64);
	uint64_t now = 5 * USEC_PER_SEC;
	struct source_handle h = look4(t, "192.0.2.1", 24, now);

	/* A new source has its whole burst, and not one more. */
	for (int i = 0; i < 40; i++)
		assert_true(sources_take_token(t, h, 20, 40, now));
	assert_false(sources_take_token(t, h, 20, 40, now));
	/* Then one every 1/20 s: not a microsecond early. */
	for (int i = 0; i < 100; i++) {
		now += 50000;
		assert_false(sources_take_token(t, h, 20, 40, now - 1));
		assert_true(sources_take_token(t, h, 20, 40, now));
		assert_false(sources_take_token(t, h, 20, 40, now));
	}
	/* A quiet spell refills the burst, never more. */
	now += 3600 * USEC_PER_SEC;
	for (int i = 0; i < 40; i++)
		assert_true(sources_take_token(t, h, 20, 40, now));
	assert_false(sources_take_token(t, h, 20, 40, now));
	/* Burst 0 is a bucket of one. */
	h = look4(t, "192.0.3.1", 24, now);
	assert_true(sources_take_token(t, h, 1, 0, now));
	assert_false(sources_take_token(t, h, 1, 0, now));
	assert_true(sources_take_token(t, h, 1, 0, now + USEC_PER_SEC));
	sources_free(t);
}

/* granted for a fresh source taking a token every step for steps steps. */
static uint64_t run_bucket(unsigned rate, unsigned burst, uint64_t step, uint64_t steps)
{
	struct sources *t = new_table(64);
	uint64_t now = 0, granted = 0;
	struct source_handle h = look4(t, "192.0.2.1", 24, now);

	for (uint64_t i = 0; i < steps; i++) {
		now += step;
		granted += sources_take_token(t, h, rate, burst, now);
	}
	sources_free(t);
	return granted;
}

/* Rates that do not divide a second, sampled off their beat, for a day and
 * more, or a million times a second: every token earned is granted, to the
 * token. Full at the start, the bucket earns nothing in the first step;
 * after it, it never holds two tokens (under one left after each take, and
 * under one earned per step), so everything earned counts. An interval
 * rounded to whole microseconds (142857 us for 7/s, 1 us for 999983/s)
 * would grant many more. */
static void test_bucket_no_drift(void **state)
{
	assert_int_equal(run_bucket(7, 2, 100003, 1000000), 2 + 999999ULL * 100003 * 7 / USEC_PER_SEC);
	assert_int_equal(run_bucket(999983, 2, 1, 3000000), 2 + 2999999ULL * 999983 / USEC_PER_SEC);
}

static void test_bucket_extremes(void **state)
{
	struct sources *t = new_table(64);
	struct source_handle h = look4(t, "192.0.2.1", 24, 1000);

	/* Time that jumps to the end of the clock fills the bucket, without
	 * overflow, at the largest rate and burst too. */
	assert_true(sources_take_token(t, h, 1, 3, 1000));
	assert_true(sources_take_token(t, h, 1, 3, 1000));
	assert_true(sources_take_token(t, h, 1, 3, 1000));
	assert_false(sources_take_token(t, h, 1, 3, 1000));
	for (int i = 0; i < 3; i++)
		assert_true(sources_take_token(t, h, 1, 3, UINT64_MAX - 1));
	assert_false(sources_take_token(t, h, 1, 3, UINT64_MAX - 1));
	/* One microsecond more earns a millionth of a token. */
	assert_false(sources_take_token(t, h, 1, 3, UINT64_MAX));

	h = look4(t, "192.0.3.1", 24, 0);
	assert_true(sources_take_token(t, h, UINT32_MAX, UINT32_MAX, 0));
	assert_true(sources_take_token(t, h, UINT32_MAX, UINT32_MAX, UINT64_MAX));
	assert_true(sources_take_token(t, h, UINT32_MAX, UINT32_MAX, 1));

	/* A clock that steps back refills nothing, then or later. */
	h = look4(t, "192.0.4.1", 24, 10 * USEC_PER_SEC);
	assert_true(sources_take_token(t, h, 1, 1, 10 * USEC_PER_SEC));
	assert_false(sources_take_token(t, h, 1, 1, 5 * USEC_PER_SEC));
	assert_false(sources_take_token(t, h, 1, 1, 10 * USEC_PER_SEC + 999999));
	assert_true(sources_take_token(t, h, 1, 1, 11 * USEC_PER_SEC));

	/* A bucket made smaller holds what it can; made larger, it fills. */
	h = look4(t, "192.0.5.1", 24, 0);
	assert_true(sources_take_token(t, h, 1, 10, 0));
	assert_true(sources_take_token(t, h, 1, 2, 0));
	assert_true(sources_take_token(t, h, 1, 2, 0));
	assert_false(sources_take_token(t, h, 1, 2, 0));
	for (int i = 0; i < 10; i++)
		assert_true(sources_take_token(t, h, 1, 10, 100 * USEC_PER_SEC));
	assert_false(sources_take_token(t, h, 1, 10, 100 * USEC_PER_SEC));
	sources_free(t);
}

static void test_rate_zero(void **state)
{
	struct sources *t = new_table(64);
	struct source_handle h = look4(t, "192.0.2.1", 24, 0);

	for (int i = 0; i < 100000; i++)
		assert_true(sources_take_token(t, h, 0, 0, 0));
	/* And the bucket was never touched: still full. */
	assert_true(sources_take_token(t, h, 1, 2, 0));
	assert_true(sources_take_token(t, h, 1, 2, 0));
	assert_false(sources_take_token(t, h, 1, 2, 0));
	sources_free(t);
}

static void test_in_flight(void **state)
{
	struct sources *t = new_table(64);
	struct source_handle a = look4(t, "192.0.2.1", 24, 0), b = look4(t, "198.51.100.1", 24, 0);

	for (int i = 0; i < 3; i++)
		assert_true(sources_acquire(t, a, 3));
	assert_false(sources_acquire(t, a, 3));
	/* Another source is not held back by this one. */
	assert_true(sources_acquire(t, b, 3));
	sources_release(t, a);
	assert_true(sources_acquire(t, a, 3));
	assert_false(sources_acquire(t, a, 3));
	/* A limit lowered below what is in flight refuses until under it. */
	assert_false(sources_acquire(t, a, 2));
	sources_release(t, a);
	sources_release(t, a);
	assert_true(sources_acquire(t, a, 3));
	/* 0: no limit, but still counted, so a limit set later is right. */
	for (int i = 0; i < 1000; i++)
		assert_true(sources_acquire(t, a, 0));
	assert_false(sources_acquire(t, a, 1000));
	sources_free(t);
}

static void test_note_drop(void **state)
{
	struct sources *t = new_table(64);
	const uint64_t interval = 10 * USEC_PER_SEC;
	uint64_t now = 77 * USEC_PER_SEC, dropped = 0, period = 1;
	struct source_handle h = look4(t, "192.0.2.1", 24, now), other = look4(t, "192.0.3.1", 24, now);

	/* The first drop is told at once. */
	assert_true(sources_note_drop(t, h, now, interval, &dropped, &period));
	assert_int_equal(dropped, 1);
	assert_int_equal(period, 0);
	/* Then nothing for an interval, the count going on. */
	for (int i = 0; i < 99; i++)
		assert_false(sources_note_drop(t, h, now + interval - 1, interval, &dropped, &period));
	assert_true(sources_note_drop(t, h, now + interval, interval, &dropped, &period));
	assert_int_equal(dropped, 100);
	assert_int_equal(period, interval);
	/* A source that dropped nothing for long says so with the period. */
	assert_true(sources_note_drop(t, h, now + 5 * interval, interval, &dropped, NULL));
	assert_int_equal(dropped, 1);
	assert_true(sources_note_drop(t, h, now + 7 * interval, interval, NULL, &period));
	assert_int_equal(period, 2 * interval);
	/* A clock stepping back delays, never floods. */
	assert_false(sources_note_drop(t, h, now, interval, &dropped, &period));
	/* Each source has its own. */
	assert_true(sources_note_drop(t, other, now + 7 * interval, interval, &dropped, &period));
	assert_int_equal(dropped, 1);
	sources_free(t);
}

/* A flood that stops: the drops after the last line are summed up once
 * their interval is over, with no drop to bring it; then nothing more. */
static void test_flush_drops(void **state)
{
	struct sources *t = new_table(64);
	const uint64_t interval = 10 * USEC_PER_SEC;
	uint64_t now = 77 * USEC_PER_SEC, dropped = 0, period = 0;
	struct source_handle h = look4(t, "192.0.2.1", 24, now), quiet = look4(t, "192.0.3.1", 24, now);

	/* Nothing said of it yet: nothing to sum up. */
	assert_int_equal(sources_flush_drops(t, quiet, now + interval, interval, &dropped, &period), SOURCES_FLUSH_DONE);
	assert_true(sources_note_drop(t, h, now, interval, NULL, NULL));
	for (int i = 0; i < 41; i++)
		assert_false(sources_note_drop(t, h, now + USEC_PER_SEC, interval, NULL, NULL));
	assert_int_equal(sources_flush_drops(t, h, now + interval - 1, interval, &dropped, &period), SOURCES_FLUSH_WAIT);
	assert_int_equal(sources_flush_drops(t, h, now + interval, interval, &dropped, &period), SOURCES_FLUSH_DUE);
	assert_int_equal(dropped, 41);
	assert_int_equal(period, interval);
	/* Summed up: the next drop waits its interval again. */
	assert_false(sources_note_drop(t, h, now + interval + 1, interval, NULL, NULL));
	assert_int_equal(sources_flush_drops(t, h, now + 2 * interval, interval, &dropped, &period), SOURCES_FLUSH_DUE);
	assert_int_equal(dropped, 1);
	/* A whole interval without a drop: done. */
	assert_int_equal(sources_flush_drops(t, h, now + 3 * interval, interval, &dropped, &period), SOURCES_FLUSH_DONE);
	/* A forgotten source: done. */
	assert_int_equal(sources_flush_drops(t, (struct source_handle){}, now, interval, &dropped, &period),
			 SOURCES_FLUSH_DONE);
	sources_free(t);
}

static void test_lru(void **state)
{
	struct sources *t = new_table(4);
	struct source_handle a, b, c, d, e, f;

	a = look4(t, "10.0.1.1", 24, 1);
	b = look4(t, "10.0.2.1", 24, 2);
	c = look4(t, "10.0.3.1", 24, 3);
	d = look4(t, "10.0.4.1", 24, 4);
	/* Seen again: A is now the most recent, B the least. */
	assert_true(same(a, look4(t, "10.0.1.2", 24, 5)));
	e = look4(t, "10.0.5.1", 24, 6);
	assert_false(sources_handle_valid(t, b));
	assert_true(sources_handle_valid(t, a));
	assert_true(sources_handle_valid(t, c));
	assert_true(sources_handle_valid(t, d));
	assert_true(sources_handle_valid(t, e));
	/* Order now E A D C; C seen: C E A D; F forgets D. */
	assert_true(same(c, look4(t, "10.0.3.9", 24, 7)));
	f = look4(t, "10.0.6.1", 24, 8);
	assert_false(sources_handle_valid(t, d));
	assert_true(sources_handle_valid(t, a));
	assert_true(sources_handle_valid(t, c));
	assert_true(sources_handle_valid(t, e));
	assert_true(sources_handle_valid(t, f));
	/* B comes back as a new source (forgetting A, now the least recent). */
	b = look4(t, "10.0.2.1", 24, 9);
	assert_true(sources_handle_valid(t, b));
	assert_false(sources_handle_valid(t, a));
	sources_free(t);
}

/* A source with clients in flight is never forgotten, however many new
 * sources come: its limit would be lost with it. */
static void test_pinned(void **state)
{
	struct sources *t = new_table(2);
	struct source_handle a, b, c, n;

	a = look4(t, "10.0.1.1", 24, 0);
	assert_true(sources_acquire(t, a, 1));
	b = look4(t, "10.0.2.1", 24, 1);
	c = look4(t, "10.0.3.1", 24, 2); /* A is the least recent, but pinned: B goes */
	assert_true(sources_handle_valid(t, a));
	assert_false(sources_handle_valid(t, b));
	assert_true(sources_handle_valid(t, c));
	assert_false(sources_acquire(t, a, 1)); /* still at its limit */
	/* Both pinned: a new source goes untracked rather than forget one. */
	assert_true(sources_acquire(t, c, 1));
	n = look4(t, "10.0.4.1", 24, 3);
	assert_false(sources_handle_valid(t, n));
	assert_true(sources_acquire(t, n, 1)); /* a null handle: no limit */
	assert_true(sources_handle_valid(t, a) && sources_handle_valid(t, c));
	/* Released, A may be forgotten again. */
	sources_release(t, a);
	n = look4(t, "10.0.5.1", 24, 4);
	assert_true(sources_handle_valid(t, n));
	assert_false(sources_handle_valid(t, a));
	sources_free(t);
}

/* A handle kept across its entry's reuse touches nothing of the new
 * source: not its clients in flight, its bucket or its drops. */
static void test_stale_handle(void **state)
{
	struct sources *t = new_table(2);
	struct source_handle a, x, a2;
	uint64_t dropped = 0;

	a = look4(t, "10.0.1.1", 24, 0);
	look4(t, "10.0.2.1", 24, 0);
	x = look4(t, "10.0.3.1", 24, 0); /* A was the least recent */
	assert_false(sources_handle_valid(t, a));
	assert_int_equal(x.index, a.index);

	assert_true(sources_acquire(t, x, 1));
	sources_release(t, a);
	sources_release(t, a);
	assert_false(sources_acquire(t, x, 1));

	assert_true(sources_take_token(t, x, 1, 1, 0));
	assert_true(sources_take_token(t, a, 1, 1, 0));
	assert_false(sources_take_token(t, x, 1, 1, 0));

	assert_true(sources_note_drop(t, x, 0, USEC_PER_SEC, &dropped, NULL));
	assert_false(sources_note_drop(t, a, 0, USEC_PER_SEC, &dropped, NULL));
	assert_true(sources_note_drop(t, x, USEC_PER_SEC, USEC_PER_SEC, &dropped, NULL));
	assert_int_equal(dropped, 1);

	/* A, back, is a new source with nothing in flight. */
	a2 = look4(t, "10.0.1.1", 24, 0);
	assert_false(same(a, a2));
	assert_true(sources_acquire(t, a2, 1));
	sources_free(t);
}

/* With workers, each process's table: the default shared out, never under
 * the minimum; a table is resized only while nothing went in. */
static void test_worker_capacity(void **state)
{
	struct sources *t = new_table(64);
	struct source_handle h[9];

	assert_int_equal(sources_capacity_for_workers(1), SOURCES_CAPACITY_DEFAULT);
	assert_int_equal(sources_capacity_for_workers(2), SOURCES_CAPACITY_DEFAULT / 2);
	assert_int_equal(sources_capacity_for_workers(3), SOURCES_CAPACITY_DEFAULT / 4);
	assert_int_equal(sources_capacity_for_workers(16), SOURCES_CAPACITY_DEFAULT / 16);
	assert_int_equal(sources_capacity_for_workers(64), SOURCES_CAPACITY_WORKER_MIN);
	for (unsigned n = 1; n <= 64; n++)
		assert_true((uint64_t)sources_capacity_for_workers(n) * n <= SOURCES_CAPACITY_DEFAULT ||
			    sources_capacity_for_workers(n) == SOURCES_CAPACITY_WORKER_MIN);
	assert_int_equal(sources_resize_unused(t, 48), -EINVAL);
	assert_int_equal(sources_resize_unused(t, 8), 0);
	/* Nine sources in a table of 8: the first is forgotten. */
	for (unsigned i = 0; i < ELEMENTSOF(h); i++) {
		char a[32];

		snprintf(a, sizeof(a), "198.51.100.%u", i);
		h[i] = look4(t, a, 32, i);
		assert_true(sources_handle_valid(t, h[i]));
	}
	assert_false(sources_handle_valid(t, h[0]));
	assert_true(sources_handle_valid(t, h[8]));
	assert_int_equal(sources_resize_unused(t, 64), -EBUSY);
	sources_free(t);
}

/* A million sources through the daemon's table: not one allocation after
 * sources_new(), the most recent 64 Ki all still there, the first gone. */
static void test_million(void **state)
{
	const unsigned capacity = SOURCES_CAPACITY_DEFAULT, total = 1000000;
	struct sources *t = new_table(capacity);
	struct source_handle *recent = calloc(capacity, sizeof(*recent));
	struct source_handle first = {};

	assert_non_null(recent);
	allocations = 0;
	counting = true;
	for (unsigned i = 0; i < total; i++) {
		struct source_handle h;

		/* Half IPv4 /32, half IPv6 /128, all distinct. */
		if (i % 2 == 0) {
			struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x0a000000 + i) };

			h = sources_lookup(t, 0, (struct sockaddr *)&sa, sizeof(sa), 32, 128, i);
		} else {
			struct sockaddr_in6 sa = { .sin6_family = AF_INET6 };

			sa.sin6_addr.s6_addr[0] = 0x20;
			sa.sin6_addr.s6_addr[1] = 0x01;
			memcpy(sa.sin6_addr.s6_addr + 12, &i, sizeof(i));
			h = sources_lookup(t, 0, (struct sockaddr *)&sa, sizeof(sa), 32, 128, i);
		}
		assert_true(sources_take_token(t, h, 20, 40, i));
		assert_true(sources_acquire(t, h, 64));
		if (i == 0)
			first = h; /* stays in flight through the whole flood */
		else
			sources_release(t, h); /* done at once, as most clients are */
		recent[i % capacity] = h;
	}
	counting = false;
	assert_int_equal(allocations, 0);
	/* Every one of the last capacity sources but the oldest is still its
	 * entry: no chain ever reached SOURCES_CHAIN_MAX with random keys. */
	for (unsigned i = 0; i < capacity; i++)
		if (i != total % capacity) /* the oldest of them: its entry went to keep the first */
			assert_true(sources_handle_valid(t, recent[i]));
	/* The first, with a client in flight all along, is still there, limit and all. */
	assert_true(sources_handle_valid(t, first));
	assert_false(sources_acquire(t, first, 1));
	free(recent);
	sources_free(t);
}

/* One who knows the key aims every source at one bucket: the chain stops
 * at SOURCES_CHAIN_MAX, so a lookup compares no more; the newest of those
 * sources are kept, the older forgotten early, and no other bucket's
 * source is touched. */
static void test_collisions(void **state)
{
	enum { CAPACITY = 256, AIMED = 200, OTHERS = 40 };
	struct source_handle aimed[AIMED], others[OTHERS];
	unsigned n_aimed = 0, n_others = 0;
	struct sources *t;

	known_key = true;
	t = new_table(CAPACITY);
	known_key = false;
	/* The table's key layout: address words, then scope << 16 | family
	 * << 8 | prefix length. Should it change, too few of the aimed
	 * sources are forgotten below and the test fails. */
	for (uint32_t i = 0; n_aimed < AIMED || n_others < OTHERS; i++) {
		struct {
			uint64_t address[2];
			uint64_t meta;
		} key = { .meta = 4 << 8 | 32 };
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0xc6336400 + i) };
		uint64_t hash;

		memcpy(key.address, &sa.sin_addr, 4);
		hash = siphash(&key, sizeof(key), test_key, 1, 3);
		if ((hash & (CAPACITY - 1)) == 0 && n_aimed < AIMED) {
			/* Others first, so the aimed ones arrive later. */
			if (n_others == OTHERS)
				aimed[n_aimed++] = sources_lookup(t, 0, (struct sockaddr *)&sa, sizeof(sa), 32, 128, i);
		} else if ((hash & (CAPACITY - 1)) != 0 && n_others < OTHERS)
			others[n_others++] = sources_lookup(t, 0, (struct sockaddr *)&sa, sizeof(sa), 32, 128, i);
	}
	for (unsigned i = 0; i < AIMED; i++)
		assert_int_equal(sources_handle_valid(t, aimed[i]), i >= AIMED - SOURCES_CHAIN_MAX);
	for (unsigned i = 0; i < OTHERS; i++)
		assert_true(sources_handle_valid(t, others[i]));
	sources_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new),
		cmocka_unit_test(test_siphash),
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_v4_mapped),
		cmocka_unit_test(test_not_ip),
		cmocka_unit_test(test_bucket_burst_then_rate),
		cmocka_unit_test(test_bucket_no_drift),
		cmocka_unit_test(test_bucket_extremes),
		cmocka_unit_test(test_rate_zero),
		cmocka_unit_test(test_in_flight),
		cmocka_unit_test(test_note_drop),
		cmocka_unit_test(test_flush_drops),
		cmocka_unit_test(test_lru),
		cmocka_unit_test(test_pinned),
		cmocka_unit_test(test_stale_handle),
		cmocka_unit_test(test_worker_capacity),
		cmocka_unit_test(test_million),
		cmocka_unit_test(test_collisions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
