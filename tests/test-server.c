/* server.c: applying a configuration is all or nothing, whatever
 * allocation fails. Every allocation of a reload is made to fail in turn;
 * after each failure the running configuration must serve exactly as
 * before: its sockets open, with their greetings, and no new one bound. */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "datagram.h"
#include "log.h"
#include "macro.h"
#include "policy.h"
#include "server.h"

/* Allocations from our own objects: the one numbered fail_at fails. */
static long allocations, fail_at = -1, failed_at;

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
char *__real_strdup(const char *s);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);
char *__wrap_strdup(const char *s);

static bool allocation_fails(void)
{
	return allocations++ == fail_at;
}

void *__wrap_malloc(size_t size)
{
	return allocation_fails() ? NULL : __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size)
{
	return allocation_fails() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t size)
{
	return allocation_fails() ? NULL : __real_realloc(p, size);
}

char *__wrap_strdup(const char *s)
{
	return allocation_fails() ? NULL : __real_strdup(s);
}

static uint16_t base_port;

static struct config *load(const char *text)
{
	struct config *c = NULL;

	assert_int_equal(config_load_string("test.conf", text, strlen(text), &c), 0);
	return c;
}

/* What a client of port gets: the greeting, or "(refused)" if nothing listens. */
static void greeting_of(sd_event *e, uint16_t port, char *buf, size_t size)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	size_t got = 0;

	assert_true(fd >= 0);
	buf[0] = '\0';
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		assert_int_equal(errno, ECONNREFUSED);
		snprintf(buf, size, "(refused)");
		close(fd);
		return;
	}
	/* Turn the loop until the server has greeted and closed. */
	for (unsigned i = 0; i < 100; i++) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		assert_true(sd_event_run(e, 10 * USEC_PER_MSEC) >= 0);
		if (poll(&p, 1, 0) <= 0)
			continue;
		n = recv(fd, buf + got, size - 1 - got, MSG_DONTWAIT);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	close(fd);
}

static void assert_greets(sd_event *e, uint16_t port, const char *want)
{
	char buf[256];

	greeting_of(e, port, buf, sizeof(buf));
	if (!streq(buf, want))
		fail_msg("port %u: got \"%s\", expected \"%s\" (allocation %ld failed)", port, buf, want, failed_at);
}

static void test_apply_is_all_or_nothing(void **state)
{
	char old_text[512], new_text[512];
	uint16_t pa = base_port, pz = base_port + 1, pb = base_port + 2;
	long k;

	/* The old file: [a] and [z]. The new one renames [a], drops [z], adds [b]. */
	snprintf(old_text, sizeof(old_text),
		 "[a]\nhost = 127.0.0.1\nport = %u\ngreeting = old a\n[z]\nhost = 127.0.0.1\nport = %u\ngreeting = old z\n", pa, pz);
	snprintf(new_text, sizeof(new_text),
		 "[a2]\nhost = 127.0.0.1\nport = %u\ngreeting = new a\n[b]\nhost = 127.0.0.1\nport = %u\ngreeting = new b\n", pa, pb);
	for (k = 0; k < 1000; k++) {
		_cleanup_(config_freep) struct config *old = load(old_text), *new = load(new_text);
		sd_event *e = NULL;
		struct server *s = NULL;
		int r;

		assert_int_equal(sd_event_new(&e), 0);
		assert_int_equal(server_new(e, 100, &s), 0);
		assert_int_equal(server_apply(s, old), 0);
		allocations = 0;
		fail_at = failed_at = k;
		r = server_apply(s, new);
		fail_at = -1;
		if (r == 0) {
			/* Every allocation of a reload has failed once: the last run applied it. */
			assert_true(allocations <= k);
			assert_greets(e, pa, "new a");
			assert_greets(e, pb, "new b");
			assert_greets(e, pz, "(refused)");
		} else {
			assert_greets(e, pa, "old a");
			assert_greets(e, pz, "old z");
			assert_greets(e, pb, "(refused)");
		}
		server_free(s);
		sd_event_unref(e);
		if (r == 0)
			break;
	}
	assert_true(k < 1000); /* it applied once every allocation had failed */
	assert_true(k > 2);    /* the reload allocates: the test did fail some */
}

/* A client's local address: the one its context holds, or else the one it
 * reached, read from its socket (a wildcard bind's clients). Its peer: the
 * address given, or for a unix stream peer, pid and uid. */
static void test_client_context(void **state)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in given = { .sin_family = AF_INET, .sin_port = htons(7), .sin_addr.s_addr = htonl(0x7f000005) };
	socklen_t len = sizeof(sa);
	int listening = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), client, server, pair[2];
	struct address local;
	char buf[ADDRESS_STRING_MAX], want[64];

	assert_true(listening >= 0);
	assert_int_equal(bind(listening, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(listening, 1), 0);
	assert_int_equal(getsockname(listening, (struct sockaddr *)&sa, &len), 0);
	client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(client, (struct sockaddr *)&sa, sizeof(sa)), 0);
	server = accept4(listening, NULL, NULL, SOCK_CLOEXEC);
	assert_true(server >= 0);

	struct client_context ctx = { .fd = server };
	assert_int_equal(client_context_local(&ctx, &local), 0);
	snprintf(want, sizeof(want), "127.0.0.1:%u", ntohs(sa.sin_port));
	assert_string_equal(address_to_string(&local, buf), want);
	ctx.local = (struct sockaddr *)&given;
	ctx.local_len = sizeof(given);
	assert_int_equal(client_context_local(&ctx, &local), 0);
	assert_string_equal(address_to_string(&local, buf), "127.0.0.5:7");
	ctx.peer = (struct sockaddr *)&given;
	ctx.peer_len = sizeof(given);
	assert_string_equal(client_context_peer_string(&ctx, buf), "127.0.0.5:7");

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
	ctx = (struct client_context){ .fd = pair[0] };
	snprintf(want, sizeof(want), "pid %d uid %u", (int)getpid(), (unsigned)getuid());
	assert_string_equal(client_context_peer_string(&ctx, buf), want);
	close(pair[0]);
	close(pair[1]);
	close(server);
	close(client);
	close(listening);
}

/* udp-source-check, class by class, for the sources the kernel will not
 * deliver to a test (an unspecified source, IPv6 multicast, an IPv4-mapped
 * one on an IPv6-only socket) as for those it does. */
static const char *bad(const struct server *s, bool v6only, const char *address, uint16_t port)
{
	union {
		struct sockaddr sa;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
	} u = {};
	socklen_t len;

	if (inet_pton(AF_INET, address, &u.in.sin_addr) == 1) {
		u.in.sin_family = AF_INET;
		u.in.sin_port = htons(port);
		len = sizeof(u.in);
	} else {
		assert_int_equal(inet_pton(AF_INET6, address, &u.in6.sin6_addr), 1);
		u.in6.sin6_family = AF_INET6;
		u.in6.sin6_port = htons(port);
		len = sizeof(u.in6);
	}
	return dgram_bad_source(s, v6only, &u.sa, len) ?: "answered";
}

static void test_bad_sources(void **state)
{
	sd_event *e = NULL;
	struct server *s = NULL;

	assert_int_equal(sd_event_new(&e), 0);
	assert_int_equal(server_new(e, 100, &s), 0);
	assert_string_equal(bad(s, false, "192.0.2.1", 5000), "answered");
	assert_string_equal(bad(s, false, "2001:db8::1", 5000), "answered");
	assert_string_equal(bad(s, false, "192.0.2.1", 1023), "its source port is below 1024");
	assert_string_equal(bad(s, false, "192.0.2.1", 0), "its source port is below 1024");
	assert_string_equal(bad(s, false, "0.0.0.0", 5000), "its source is unspecified");
	assert_string_equal(bad(s, false, "::", 5000), "its source is unspecified");
	assert_string_equal(bad(s, false, "224.0.0.5", 5000), "its source is a multicast address");
	assert_string_equal(bad(s, false, "ff02::1", 5000), "its source is a multicast address");
	assert_string_equal(bad(s, false, "255.255.255.255", 5000), "its source is a broadcast address");
	/* IPv4-mapped: judged as IPv4 on a dual-stack socket, refused where
	 * IPv4 cannot come. */
	assert_string_equal(bad(s, false, "::ffff:192.0.2.1", 5000), "answered");
	assert_string_equal(bad(s, false, "::ffff:224.0.0.5", 5000), "its source is a multicast address");
	assert_string_equal(bad(s, false, "::ffff:0.0.0.0", 5000), "its source is unspecified");
	assert_string_equal(bad(s, true, "::ffff:192.0.2.1", 5000), "an IPv4-mapped source on an IPv6-only socket");
	server_free(s);
	sd_event_unref(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_apply_is_all_or_nothing),
		cmocka_unit_test(test_client_context),
		cmocka_unit_test(test_bad_sources),
	};

	base_port = (uint16_t)(20000 + getpid() % 20000);
	log_set_max_level(LOG_CRIT); /* the failures are expected */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
