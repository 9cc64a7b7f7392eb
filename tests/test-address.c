/* address.c, with getaddrinfo() replaced (-Wl,--wrap) so that a name can
 * resolve to any list of addresses, or fail, without DNS; and
 * getprotobyname() replaced by a system without /etc/protocols. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <cmocka.h>

#include "address.h"
#include "macro.h"

int __real_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints, struct addrinfo **res);
int __wrap_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints, struct addrinfo **res);
void __real_freeaddrinfo(struct addrinfo *res);
void __wrap_freeaddrinfo(struct addrinfo *res);
struct protoent *__wrap_getprotobyname(const char *name);

static unsigned getprotobyname_calls;

/* As on a minimal system without netbase's /etc/protocols, but for "icmp",
 * which shows that names beyond the built-in ones still reach it. */
struct protoent *__wrap_getprotobyname(const char *name)
{
	static char *no_aliases[] = { NULL };
	static struct protoent icmp = { .p_name = (char *)"icmp", .p_aliases = no_aliases, .p_proto = 1 };

	getprotobyname_calls++;
	return strcmp(name, "icmp") == 0 ? &icmp : NULL;
}

/* The mock answers "mock.test" with the addresses queued by will_return(); anything else goes to libc. */
static struct addrinfo *mock_list(const char *const *addresses)
{
	struct addrinfo *head = NULL, **tail = &head;

	for (; *addresses; addresses++) {
		struct addrinfo *ai = calloc(1, sizeof(*ai) + sizeof(struct sockaddr_in6));
		struct sockaddr *sa = (struct sockaddr *)(ai + 1);
		assert_non_null(ai);
		if (strchr(*addresses, ':')) {
			struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)sa;
			in6->sin6_family = AF_INET6;
			assert_int_equal(inet_pton(AF_INET6, *addresses, &in6->sin6_addr), 1);
			ai->ai_addrlen = sizeof(*in6);
		} else {
			struct sockaddr_in *in = (struct sockaddr_in *)sa;
			in->sin_family = AF_INET;
			assert_int_equal(inet_pton(AF_INET, *addresses, &in->sin_addr), 1);
			ai->ai_addrlen = sizeof(*in);
		}
		ai->ai_family = sa->sa_family;
		ai->ai_addr = sa;
		*tail = ai;
		tail = &ai->ai_next;
	}
	return head;
}

int __wrap_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints, struct addrinfo **res)
{
	int r;

	if (!node || strcmp(node, "mock.test") != 0)
		return __real_getaddrinfo(node, service, hints, res);
	check_expected(hints->ai_family);
	check_expected(hints->ai_socktype);
	check_expected(hints->ai_protocol);
	r = mock_type(int);
	if (r == 0)
		*res = mock_list(mock_ptr_type(const char *const *));
	return r;
}

void __wrap_freeaddrinfo(struct addrinfo *res)
{
	if (!res || res->ai_canonname || res->ai_addr != (struct sockaddr *)(res + 1)) {
		__real_freeaddrinfo(res);
		return;
	}
	while (res) {
		struct addrinfo *next = res->ai_next;
		free(res);
		res = next;
	}
}

static void expect_hints(int family, int type, int protocol)
{
	expect_value(__wrap_getaddrinfo, hints->ai_family, family);
	expect_value(__wrap_getaddrinfo, hints->ai_socktype, type);
	expect_value(__wrap_getaddrinfo, hints->ai_protocol, protocol);
}

static void test_name_with_several_addresses(void **state)
{
	static const char *const list[] = { "192.0.2.1", "2001:db8::1", "192.0.2.1", "192.0.2.2", NULL };
	_cleanup_free_ struct address *a = NULL;
	char err[256], buf[ADDRESS_STRING_MAX];
	size_t n;

	expect_hints(AF_UNSPEC, SOCK_STREAM, IPPROTO_TCP);
	will_return(__wrap_getaddrinfo, 0);
	will_return(__wrap_getaddrinfo, list);
	assert_int_equal(address_resolve(AF_UNSPEC, SOCK_STREAM, IPPROTO_TCP, "mock.test", 80, &a, &n, err, sizeof(err)), 0);
	/* One socket per address, duplicates dropped, getaddrinfo's order kept. */
	assert_int_equal(n, 3);
	assert_string_equal(address_to_string(&a[0], buf), "192.0.2.1:80");
	assert_string_equal(address_to_string(&a[1], buf), "[2001:db8::1]:80");
	assert_string_equal(address_to_string(&a[2], buf), "192.0.2.2:80");
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(a[i].type, SOCK_STREAM);
		assert_int_equal(a[i].protocol, IPPROTO_TCP);
	}
}

static void test_family_passed_as_hint(void **state)
{
	static const char *const list[] = { "2001:db8::5", NULL };
	_cleanup_free_ struct address *a = NULL;
	char err[256];
	size_t n;

	expect_hints(AF_INET6, SOCK_DGRAM, 0);
	will_return(__wrap_getaddrinfo, 0);
	will_return(__wrap_getaddrinfo, list);
	assert_int_equal(address_resolve(AF_INET6, SOCK_DGRAM, 0, "mock.test", 13, &a, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_int_equal(a[0].family, AF_INET6);
	assert_int_equal(address_port(&a[0]), 13);
}

static void test_resolution_failure(void **state)
{
	struct address *a = NULL;
	char err[256];
	size_t n;

	expect_hints(AF_INET, SOCK_STREAM, 0);
	will_return(__wrap_getaddrinfo, EAI_NONAME);
	assert_int_equal(address_resolve(AF_INET, SOCK_STREAM, 0, "mock.test", 1, &a, &n, err, sizeof(err)), -EADDRNOTAVAIL);
	assert_string_equal(err, "\"mock.test\" does not resolve to IPv4: Name or service not known");
	assert_null(a);
}

static void test_too_many_addresses(void **state)
{
	static char names[70][16];
	static const char *list[71];
	struct address *a = NULL;
	char err[256];
	size_t n;

	for (int i = 0; i < 70; i++) {
		snprintf(names[i], sizeof(names[i]), "10.0.0.%d", i + 1);
		list[i] = names[i];
	}
	expect_hints(AF_UNSPEC, SOCK_STREAM, 0);
	will_return(__wrap_getaddrinfo, 0);
	will_return(__wrap_getaddrinfo, list);
	assert_int_equal(address_resolve(AF_UNSPEC, SOCK_STREAM, 0, "mock.test", 1, &a, &n, err, sizeof(err)), -E2BIG);
	assert_string_equal(err, "\"mock.test\" resolves to more than 64 addresses");
}

static void test_literals_skip_dns(void **state)
{
	/* No expect_hints: a literal or integer must not reach the mock's name. */
	_cleanup_free_ struct address *a = NULL, *b = NULL, *c = NULL;
	char err[256], buf[ADDRESS_STRING_MAX];
	size_t n;

	assert_int_equal(address_resolve(AF_UNSPEC, SOCK_STREAM, 0, "0x7F000001", 9, &a, &n, err, sizeof(err)), 0);
	assert_string_equal(address_to_string(&a[0], buf), "127.0.0.1:9");
	assert_int_equal(address_resolve(AF_INET, SOCK_DGRAM, 0, "", 9, &b, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_string_equal(address_to_string(&b[0], buf), "0.0.0.0:9");
	assert_int_equal(address_resolve(AF_UNSPEC, SOCK_STREAM, 0, "[2001:db8::7]", 9, &c, &n, err, sizeof(err)), 0);
	assert_string_equal(address_to_string(&c[0], buf), "[2001:db8::7]:9");
}

static void test_vocabulary(void **state)
{
	char err[256];
	uint16_t port;

	assert_int_equal(family_from_string("PF_UNIX"), AF_UNIX);
	assert_int_equal(family_from_string("af_inet6"), AF_INET6);
	assert_int_equal(family_from_string("ipx"), -EINVAL);
	assert_int_equal(type_from_string("SOCK_SEQPACKET"), SOCK_SEQPACKET);
	assert_int_equal(type_from_string("raw"), -EINVAL);
	assert_int_equal(protocol_from_string("tcp"), IPPROTO_TCP);
	assert_int_equal(protocol_from_string("17"), IPPROTO_UDP);
	assert_int_equal(protocol_from_string("999"), -ERANGE);
	assert_int_equal(protocol_check(AF_INET, SOCK_STREAM, IPPROTO_UDP, err, sizeof(err)), -EINVAL);
	assert_int_equal(protocol_check(AF_UNIX, SOCK_DGRAM, IPPROTO_UDP, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "unix sockets take protocol 0 only");
	assert_int_equal(port_from_string("daytime", SOCK_DGRAM, 0, &port), 0);
	assert_int_equal(port, 13);
	assert_int_equal(port_from_string("0080", SOCK_STREAM, 0, &port), 0);
	assert_int_equal(port, 80);
	assert_int_equal(port_from_string("nosuchservice", SOCK_STREAM, 0, &port), -ENOENT);
	assert_int_equal(port_from_string("+80", SOCK_STREAM, 0, &port), -EINVAL);
	assert_int_equal(port_from_string("99999999999999999999999", SOCK_STREAM, 0, &port), -ERANGE);
}

/* A unix peer picks its own name: every byte that could forge a log line is escaped. */
static void test_unix_names_escaped(void **state)
{
	static const char abstract[] = "\0\n<2>forged\0back\\slash\x7f\xff";
	struct address a = { .family = AF_UNIX, .len = offsetof(struct sockaddr_un, sun_path) + sizeof(abstract) - 1 };
	char buf[ADDRESS_STRING_MAX], want[ADDRESS_STRING_MAX];
	size_t n = sizeof(a.sa.un.sun_path);

	a.sa.un.sun_family = AF_UNIX;
	memcpy(a.sa.un.sun_path, abstract, sizeof(abstract) - 1);
	assert_string_equal(address_to_string(&a, buf), "@\\x0a<2>forged\\x00back\\x5cslash\\x7f\\xff");

	memcpy(a.sa.un.sun_path, "/run/a\tb\n.sock", 15);
	a.len = offsetof(struct sockaddr_un, sun_path) + 15;
	assert_string_equal(address_to_string(&a, buf), "/run/a\\x09b\\x0a.sock");

	/* The longest name, every byte escaped, still fits whole. */
	memset(a.sa.un.sun_path, 0xff, n);
	a.sa.un.sun_path[0] = '\0';
	a.len = sizeof(struct sockaddr_un);
	want[0] = '@';
	for (size_t i = 1; i < n; i++)
		memcpy(want + 1 + 4 * (i - 1), "\\xff", 5);
	assert_string_equal(address_to_string(&a, buf), want);
}

static void test_protocols_without_etc_protocols(void **state)
{
	static const struct {
		const char *name;
		int protocol;
	} builtin[] = {
		{ "tcp", IPPROTO_TCP }, { "udp", IPPROTO_UDP }, { "udplite", IPPROTO_UDPLITE },
		{ "sctp", IPPROTO_SCTP }, { "TCP", IPPROTO_TCP }, { "Udp", IPPROTO_UDP },
	};

	getprotobyname_calls = 0;
	for (size_t i = 0; i < ELEMENTSOF(builtin); i++)
		assert_int_equal(protocol_from_string(builtin[i].name), builtin[i].protocol);
	assert_int_equal(getprotobyname_calls, 0);
	assert_int_equal(protocol_from_string("icmp"), 1);
	assert_int_equal(protocol_from_string("nosuch"), -EINVAL);
	assert_int_equal(getprotobyname_calls, 2);
	assert_string_equal(protocol_to_string(IPPROTO_UDPLITE), "udplite");
	assert_null(protocol_to_string(1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_with_several_addresses),
		cmocka_unit_test(test_family_passed_as_hint),
		cmocka_unit_test(test_resolution_failure),
		cmocka_unit_test(test_too_many_addresses),
		cmocka_unit_test(test_literals_skip_dns),
		cmocka_unit_test(test_vocabulary),
		cmocka_unit_test(test_unix_names_escaped),
		cmocka_unit_test(test_protocols_without_etc_protocols),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
