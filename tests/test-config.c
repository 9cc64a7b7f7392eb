/* config.c: every accepted form, every error with its line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "config.h"
#include "policy.h"
#include "macro.h"

static struct config *load_ok(const char *text)
{
	struct config *c = NULL;
	int r = config_load_string("t.conf", text, strlen(text), &c);

	for (size_t i = 0; c && i < c->n_errors; i++)
		print_message("unexpected: %s\n", c->errors[i]);
	assert_int_equal(r, 0);
	assert_non_null(c);
	return c;
}

/* Asserts that text fails with exactly these errors, in order. */
static void expect_errors(const char *text, size_t n, const char *const *errors)
{
	struct config *c = NULL;
	int r = config_load_string("t.conf", text, strlen(text), &c);

	assert_int_equal(r, -EINVAL);
	for (size_t i = 0; i < c->n_errors; i++)
		print_message("got: %s\n", c->errors[i]);
	assert_int_equal(c->n_errors, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(c->errors[i], errors[i]);
	config_free(c);
}
#define EXPECT_ERRORS(text, ...)                                               \
	do {                                                                   \
		static const char *const e_[] = { __VA_ARGS__ };               \
		expect_errors((text), ELEMENTSOF(e_), e_);                     \
	} while (0)
#define EXPECT_ERROR(text, error) EXPECT_ERRORS(text, error)

static void test_shipped_config(void **state)
{
	_cleanup_(config_freep) struct config *c = NULL;
	char path[4096];

	snprintf(path, sizeof(path), "%s/conf/greetingd.conf", getenv("top_srcdir") ? getenv("top_srcdir") : "..");
	assert_int_equal(config_load(path, &c), 0);
	assert_int_equal(c->n_listeners, 1);
	assert_string_equal(c->listeners[0].name, "seed");
	assert_int_equal(c->listeners[0].type, SOCK_STREAM);
	assert_int_equal(c->listeners[0].n_addresses, 1);
	assert_int_equal(ntohs(c->listeners[0].addresses[0].sa.in.sin_port), 12345);
	assert_int_equal(c->listeners[0].greeting->size, strlen("Thank you for connecting\n"));
	assert_memory_equal(c->listeners[0].greeting->data, "Thank you for connecting\n", 25);
}

static void test_defaults(void **state)
{
	_cleanup_(config_freep) struct config *c = load_ok("[a]\nport = 7\n");
	const struct listener_config *l = &c->listeners[0];

	assert_int_equal(l->family, AF_UNSPEC);
	assert_int_equal(l->type, SOCK_STREAM);
	assert_int_equal(l->protocol, 0);
	/* family any with no host: 0.0.0.0 and :: side by side */
	assert_int_equal(l->n_addresses, 2);
	assert_int_equal(l->addresses[0].family, AF_INET);
	assert_int_equal(l->addresses[0].sa.in.sin_addr.s_addr, htonl(INADDR_ANY));
	assert_int_equal(l->addresses[1].family, AF_INET6);
	assert_true(IN6_IS_ADDR_UNSPECIFIED(&l->addresses[1].sa.in6.sin6_addr));
	assert_int_equal(l->timeout_usec, CONFIG_DEFAULT_TIMEOUT_USEC);
	assert_int_equal(l->deadline_usec, CONFIG_DEFAULT_DEADLINE_USEC);
	assert_int_equal(c->max_clients, CONFIG_DEFAULT_MAX_CLIENTS);
	assert_memory_equal(l->greeting->data, CONFIG_DEFAULT_GREETING, strlen(CONFIG_DEFAULT_GREETING));
}

static void test_family_spellings(void **state)
{
	static const struct {
		const char *text;
		int family;
	} cases[] = {
		{ "inet", AF_INET },   { "AF_INET", AF_INET },   { "PF_INET", AF_INET },   { "Inet", AF_INET },
		{ "inet6", AF_INET6 }, { "AF_INET6", AF_INET6 }, { "pf_inet6", AF_INET6 }, { "any", AF_UNSPEC },
	};
	char text[256];

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		snprintf(text, sizeof(text), "[a]\nfamily = %s\nport = 7\n", cases[i].text);
		_cleanup_(config_freep) struct config *c = load_ok(text);
		assert_int_equal(c->listeners[0].family, cases[i].family);
	}
	for (const char *const *u = (const char *const[]){ "unix", "AF_UNIX", "PF_UNIX", NULL }; *u; u++) {
		snprintf(text, sizeof(text), "[a]\nfamily = %s\npath = /tmp/x.sock\n", *u);
		_cleanup_(config_freep) struct config *c = load_ok(text);
		assert_int_equal(c->listeners[0].family, AF_UNIX);
	}
}

static void test_types_and_protocols(void **state)
{
	static const struct {
		const char *text;
		int type, protocol;
	} cases[] = {
		{ "type = stream\nprotocol = tcp", SOCK_STREAM, IPPROTO_TCP },
		{ "type = SOCK_STREAM\nprotocol = 6", SOCK_STREAM, IPPROTO_TCP },
		{ "type = dgram\nprotocol = udp", SOCK_DGRAM, IPPROTO_UDP },
		{ "type = SOCK_DGRAM\nprotocol = 17", SOCK_DGRAM, IPPROTO_UDP },
		{ "type = dgram\nprotocol = 0", SOCK_DGRAM, 0 },
		{ "type = stream\nprotocol = sctp", SOCK_STREAM, IPPROTO_SCTP },
	};
	char text[256];

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		snprintf(text, sizeof(text), "[a]\nfamily = inet\nhost = 127.0.0.1\n%s\nport = 7\n", cases[i].text);
		_cleanup_(config_freep) struct config *c = load_ok(text);
		assert_int_equal(c->listeners[0].type, cases[i].type);
		assert_int_equal(c->listeners[0].protocol, cases[i].protocol);
		assert_int_equal(c->listeners[0].addresses[0].protocol, cases[i].protocol);
	}
}

static void test_host_forms(void **state)
{
	static const struct {
		const char *host;
		int family;
		const char *address;
	} cases[] = {
		{ "127.0.0.1", AF_INET, "127.0.0.1" },
		{ "2130706433", AF_INET, "127.0.0.1" },
		{ "0x7f000002", AF_INET, "127.0.0.2" },
		{ "0", AF_INET, "0.0.0.0" },
		{ "::1", AF_INET6, "::1" },
		{ "[::1]", AF_INET6, "::1" },
		{ "localhost", AF_INET, "127.0.0.1" },
	};
	char text[256], buf[INET6_ADDRSTRLEN];

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		snprintf(text, sizeof(text), "[a]\nhost = %s\nport = 7\n", cases[i].host);
		_cleanup_(config_freep) struct config *c = load_ok(text);
		bool found = false;

		/* Among the addresses, not first: Debian's /etc/hosts gives
		 * localhost ::1 too, and getaddrinfo() may sort it first. */
		for (size_t k = 0; k < c->listeners[0].n_addresses && !found; k++) {
			const struct address *a = &c->listeners[0].addresses[k];
			inet_ntop(a->family, a->family == AF_INET ? (void *)&a->sa.in.sin_addr : (void *)&a->sa.in6.sin6_addr,
				  buf, sizeof(buf));
			found = a->family == cases[i].family && streq(buf, cases[i].address);
		}
		if (!found)
			fail_msg("host = %s does not give %s", cases[i].host, cases[i].address);
	}
}

static void test_host_scope_and_broadcast(void **state)
{
	_cleanup_(config_freep) struct config *c =
		load_ok("[ll]\nhost = fe80::1%lo\nport = 7\n[b]\ntype = dgram\nhost = <broadcast>\nport = 9\n"
			"[w]\nfamily = inet6\nhost =\nport = 8\n");
	const struct address *a = &c->listeners[0].addresses[0];
	char buf[ADDRESS_STRING_MAX];

	assert_int_equal(a->family, AF_INET6);
	assert_int_equal(a->sa.in6.sin6_scope_id, 1); /* lo */
	assert_string_equal(address_to_string(a, buf), "[fe80::1%lo]:7");
	a = &c->listeners[1].addresses[0];
	assert_true(a->broadcast);
	assert_int_equal(a->sa.in.sin_addr.s_addr, htonl(INADDR_BROADCAST));
	assert_int_equal(c->listeners[2].n_addresses, 1);
	assert_string_equal(address_to_string(&c->listeners[2].addresses[0], buf), "[::]:8");
}

static void test_port_forms(void **state)
{
	_cleanup_(config_freep) struct config *c = load_ok("[a]\nhost=127.0.0.1\nport = 0\n"
							   "[b]\nhost=127.0.0.1\nport = 65535\n"
							   "[c]\nhost=127.0.0.1\nport = qotd\n"
							   "[d]\nhost=127.0.0.1\ntype = dgram\nport = daytime\n");

	assert_int_equal(address_port(&c->listeners[0].addresses[0]), 0);
	assert_int_equal(address_port(&c->listeners[1].addresses[0]), 65535);
	assert_int_equal(address_port(&c->listeners[2].addresses[0]), 17);
	assert_int_equal(address_port(&c->listeners[3].addresses[0]), 13);
}

static void test_unix_paths(void **state)
{
	_cleanup_(config_freep) struct config *c =
		load_ok("[a]\nfamily = unix\npath = /run/g.sock\n[b]\npath = @greet\ntype = seqpacket\n");
	char buf[ADDRESS_STRING_MAX];

	assert_string_equal(address_to_string(&c->listeners[0].addresses[0], buf), "/run/g.sock");
	assert_int_equal(c->listeners[1].family, AF_UNIX);
	assert_int_equal(c->listeners[1].type, SOCK_SEQPACKET);
	assert_string_equal(address_to_string(&c->listeners[1].addresses[0], buf), "@greet");
	assert_int_equal(c->listeners[1].addresses[0].sa.un.sun_path[0], '\0');
	assert_int_equal(c->listeners[1].addresses[0].len, offsetof(struct sockaddr_un, sun_path) + 6);
}

static void test_greetings(void **state)
{
	char dir[] = "/tmp/greetingd-test-XXXXXX", path[64], text[1024];
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/hello.txt", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("from a file\n", f);
	fclose(f);

	snprintf(text, sizeof(text),
		 "[greetingd]\ngreeting = global\\r\\n\ntimeout = 500ms\ndeadline = 5s\nmax-clients = 10\n"
		 "[a]\nport = 1\n[b]\nport = 2\ngreeting = tab\\there \\\\ \\x41\\x7e\ntimeout = 2min\ndeadline = 3min\n"
		 "[c]\nport = 3\ngreeting-file = %s\n[d]\nport = 4\ngreeting-file = hello.txt\n", path);
	snprintf(path, sizeof(path), "%s/t.conf", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);

	_cleanup_(config_freep) struct config *c = NULL;
	assert_int_equal(config_load(path, &c), 0);
	assert_int_equal(c->max_clients, 10);
	assert_int_equal(c->listeners[0].greeting->size, 8);
	assert_memory_equal(c->listeners[0].greeting->data, "global\r\n", 8);
	assert_int_equal(c->listeners[0].timeout_usec, 500 * USEC_PER_MSEC);
	assert_int_equal(c->listeners[1].greeting->size, 13);
	assert_memory_equal(c->listeners[1].greeting->data, "tab\there \\ A~", 13);
	assert_int_equal(c->listeners[1].timeout_usec, 120 * USEC_PER_SEC);
	assert_int_equal(c->listeners[0].deadline_usec, 5 * USEC_PER_SEC); /* inherited */
	assert_int_equal(c->listeners[1].deadline_usec, 180 * USEC_PER_SEC);
	assert_memory_equal(c->listeners[2].greeting->data, "from a file\n", 12);
	assert_memory_equal(c->listeners[3].greeting->data, "from a file\n", 12); /* relative to t.conf */

	snprintf(text, sizeof(text), "rm -rf %s", dir);
	assert_int_equal(system(text), 0);
}

static void test_inih_syntax(void **state)
{
	/* Comments, blank lines, CRLF, a BOM, indentation, ':' separators. */
	_cleanup_(config_freep) struct config *c =
		load_ok("\xEF\xBB\xBF; comment\r\n# another\n\n[a]   ; trailing comment\n"
			"   port = 7 ; inline\n\thost: 127.0.0.1\n");

	assert_int_equal(c->n_listeners, 1);
	assert_int_equal(address_port(&c->listeners[0].addresses[0]), 7);
	assert_int_equal(c->listeners[0].addresses[0].family, AF_INET);
}

static void test_errors_values(void **state)
{
	EXPECT_ERROR("[a]\nfamily = ipx\nport = 7\n",
		     "t.conf:2: family: \"ipx\" is not one of inet, inet6, unix or any (AF_INET, PF_INET, AF_INET6, "
		     "AF_UNIX, PF_UNIX are accepted too)");
	EXPECT_ERROR("[a]\ntype = raw\nport = 7\n", "t.conf:2: type: \"raw\" is not one of stream, dgram or seqpacket");
	EXPECT_ERROR("[a]\nport = 7\nprotocol = nosuch\n",
		     "t.conf:3: protocol: \"nosuch\" is not a number between 0 and 255 or a name from /etc/protocols");
	EXPECT_ERROR("[a]\nport = 7\nprotocol = 256\n",
		     "t.conf:3: protocol: \"256\" is not a number between 0 and 255 or a name from /etc/protocols");
	EXPECT_ERROR("[a]\ntype = dgram\nprotocol = tcp\nport = 7\n", "t.conf:3: protocol: protocol 6 does not go with type = dgram");
	EXPECT_ERROR("[a]\nprotocol = udp\nport = 7\n", "t.conf:2: protocol: protocol 17 does not go with type = stream");
	EXPECT_ERROR("[a]\nprotocol = icmp\nport = 7\n",
		     "t.conf:2: protocol: protocol 1 is not supported: use 0, tcp, udp, udplite or sctp");
	/* Not untested code: SCTP seqpacket is refused until it can be tested. */
	EXPECT_ERROR("[a]\nfamily = inet\ntype = seqpacket\nport = 7\n",
		     "t.conf:3: type: seqpacket over inet or inet6 (SCTP) is not supported yet: use family = unix, or type = "
		     "stream with protocol = sctp");
	EXPECT_ERROR("[a]\ntype = seqpacket\nprotocol = sctp\nport = 7\n",
		     "t.conf:2: type: seqpacket over inet or inet6 (SCTP) is not supported yet: use family = unix, or type = "
		     "stream with protocol = sctp");
	EXPECT_ERROR("[a]\nfamily = inet6\nhost = ::1\nprotocol = sctp\ntype = SOCK_SEQPACKET\nport = 7\n",
		     "t.conf:5: type: seqpacket over inet or inet6 (SCTP) is not supported yet: use family = unix, or type = "
		     "stream with protocol = sctp");
	EXPECT_ERROR("[a]\nport = htpp\n", "t.conf:2: port: \"htpp\" is not a number or a known tcp service");
	EXPECT_ERROR("[a]\nport = 65536\n", "t.conf:2: port: \"65536\" is out of range: a port is between 0 and 65535");
	EXPECT_ERROR("[a]\nport = -1\n", "t.conf:2: port: \"-1\" is not a number or a known tcp service");
	EXPECT_ERROR("[a]\nport = 12 34\n", "t.conf:2: port: \"12 34\" is not a number or a known tcp service");
	EXPECT_ERROR("[a]\ntype = dgram\nport = ssh\n", "t.conf:3: port: \"ssh\" is not a number or a known udp service");
	EXPECT_ERROR("[a]\nhost = 4294967296\nport = 7\n",
		     "t.conf:2: host: \"4294967296\" is above 4294967295 (0xffffffff), the largest IPv4 address");
	EXPECT_ERROR("[a]\nfamily = inet6\nhost = 2130706433\nport = 7\n",
		     "t.conf:3: host: an integer host is IPv4, but family = inet6");
	EXPECT_ERROR("[a]\nfamily = inet\nhost = ::1\nport = 7\n",
		     "t.conf:3: host: \"::1\" does not resolve to IPv4: Address family for hostname not supported");
	EXPECT_ERROR("[a]\nhost = [::1\nport = 7\n", "t.conf:2: host: \"[::1\" is not an IPv6 address in brackets");
	EXPECT_ERROR("[a]\nhost = <broadcast>\nport = 7\n", "t.conf:2: host: <broadcast> needs type = dgram");
	EXPECT_ERROR("[a]\ntype = dgram\nfamily = inet6\nhost = <broadcast>\nport = 7\n",
		     "t.conf:4: host: <broadcast> is IPv4, but family = inet6");
	EXPECT_ERROR("[a]\npath = run/x\n", "t.conf:2: path: \"run/x\" must be an absolute path, or @name for the abstract namespace");
	EXPECT_ERROR("[a]\npath = @\n", "t.conf:2: path: \"@\" an abstract name is 1 to 107 characters after @");
	EXPECT_ERROR("[a]\nport = 7\ngreeting = bad \\q\n", "t.conf:3: greeting: unknown escape \"\\q\": use \\n \\r \\t \\\\ or \\xHH");
	EXPECT_ERROR("[a]\nport = 7\ngreeting = \\x4\n", "t.conf:3: greeting: unknown escape \"\\x4\": use \\n \\r \\t \\\\ or \\xHH");
	EXPECT_ERROR("[a]\nport = 7\ngreeting =\n", "t.conf:3: greeting: is empty");
	EXPECT_ERROR("[a]\nport = 7\ngreeting-file = /nonexistent/g.txt\n",
		     "t.conf:3: greeting-file: cannot read /nonexistent/g.txt: No such file or directory");
	EXPECT_ERROR("[a]\nport = 7\ngreeting-file = /dev/null\n", "t.conf:3: greeting-file: /dev/null is not a regular file");
	EXPECT_ERROR("[a]\nport = 7\ngreeting-file = /\n", "t.conf:3: greeting-file: cannot read /: Is a directory");
	EXPECT_ERROR("[a]\nport = 7\ntimeout = soon\n",
		     "t.conf:3: timeout: \"soon\" is not a duration between 1ms and 60min (e.g. 10s, 500ms, 2min)");
	EXPECT_ERROR("[a]\nport = 7\ndeadline = 0\n",
		     "t.conf:3: deadline: \"0\" is not a duration between 1ms and 60min (e.g. 10s, 500ms, 2min)");
	EXPECT_ERROR("[a]\nport = 7\ntimeout = 61min\n",
		     "t.conf:3: timeout: \"61min\" is not a duration between 1ms and 60min (e.g. 10s, 500ms, 2min)");
	EXPECT_ERROR("[greetingd]\nmax-clients = 0\n[a]\nport = 7\n",
		     "t.conf:2: max-clients: \"0\" is not a number between 1 and 1000000");
	EXPECT_ERROR("[greetingd]\nworkers = 65\n[a]\nport = 7\n", "t.conf:2: workers: \"65\" is not a number between 1 and 64");
	EXPECT_ERROR("[greetingd]\nworkers = 2\n[a]\nhost = 127.0.0.1\nport = 0\n",
		     "t.conf:5: port: port 0 would give each of the 2 workers another port; name one");
}

static void test_errors_structure(void **state)
{
	EXPECT_ERROR("port = 7\n[a]\nport = 7\n",
		     "t.conf:1: port: key outside any section: put it under [greetingd] or a listener's [name]");
	EXPECT_ERROR("[a]\nport = 7\nprot = 0\n",
		     "t.conf:3: prot: unknown key; [a] takes family, type, protocol, host, port, path, greeting, "
		     "greeting-file, timeout, deadline, max-clients, allow, deny, limit-exempt, source-prefix4, source-prefix6, "
		     "max-clients-per-source, rate, rate-burst, udp-source-check, max-amplification, log-clients");
	EXPECT_ERROR("[greetingd]\nport = 7\n[a]\nport = 7\n", "t.conf:2: port: only valid in a listener's section");
	EXPECT_ERROR("[a]\nport = 7\nmax-clients = 0\n", "t.conf:3: max-clients: \"0\" is not a number between 1 and 1000000");
	EXPECT_ERROR("[a]\nport = 7\nworkers = 3\n", "t.conf:3: workers: only valid in [greetingd]");
	EXPECT_ERROR("[a]\nport = 7\nport = 8\n", "t.conf:3: port: already set at line 2");
	EXPECT_ERROR("[a]\nport = 7\n[b]\nport = 8\n[a]\nport = 9\n", "t.conf:5: section [a] is already defined at line 1");
	EXPECT_ERROR("[a\nport = 7\n", "t.conf:1: section header without a closing ]");
	EXPECT_ERROR("[a b]\nport = 7\n",
		     "t.conf:1: section name must be 1 to 64 characters of letters, digits, '_', '.' and '-'");
	EXPECT_ERROR("[a] x\nport = 7\n", "t.conf:1: unexpected text after the section header");
	EXPECT_ERRORS("[a]\nport 7\n", "t.conf:2: expected \"key = value\" or a [section] header",
		      "t.conf:1: [a]: a port is required (a number, or a service name)");
	EXPECT_ERRORS("[a]\nport ; = 7\n", "t.conf:2: expected \"key = value\" or a [section] header",
		      "t.conf:1: [a]: a port is required (a number, or a service name)");
	EXPECT_ERROR("[a]\nfamily = inet\npath = /run/x\nport = 7\n", "t.conf:3: path: only used with family = unix, not inet");
	EXPECT_ERROR("[a]\nfamily = unix\nport = 7\npath = /x\n", "t.conf:3: port: not used with family = unix; use path");
	EXPECT_ERROR("[a]\nfamily = unix\n", "t.conf:1: [a]: family = unix needs a path");
	EXPECT_ERROR("[a]\nhost = 127.0.0.1\n", "t.conf:1: [a]: a port is required (a number, or a service name)");
	EXPECT_ERROR("[a]\nport = 7\ngreeting = x\ngreeting-file = /etc/hostname\n",
		     "t.conf:4: greeting-file: greeting and greeting-file exclude each other; keep one");
	EXPECT_ERROR("[greetingd]\n", "t.conf: no listeners: add a [name] section with a port or a path");
	EXPECT_ERROR("[a]\nhost = 127.0.0.1\nport = 7\n[b]\nhost = 127.0.0.1\nport = 7\n",
		     "t.conf:4: [b]: stream 127.0.0.1:7 is also [a] at line 1");
}

/* Everything the kernel would refuse to bind at start is refused by the check. */
static void test_overlaps(void **state)
{
	EXPECT_ERROR("[a]\npath = /run/x.sock\n[b]\ntype = dgram\npath = /run/x.sock\n",
		     "t.conf:3: [b]: dgram /run/x.sock overlaps stream /run/x.sock of [a] at line 1");
	EXPECT_ERROR("[a]\npath = @g\n[b]\ntype = seqpacket\npath = @g\n",
		     "t.conf:3: [b]: seqpacket @g overlaps stream @g of [a] at line 1");
	EXPECT_ERROR("[a]\npath = @g\n[b]\npath = @g\n", "t.conf:3: [b]: stream @g is also [a] at line 1");
	EXPECT_ERROR("[a]\nhost = 127.0.0.1\nport = 7\n[b]\nhost = 127.0.0.1\nport = 7\nprotocol = tcp\n",
		     "t.conf:4: [b]: stream 127.0.0.1:7 (protocol tcp) overlaps stream 127.0.0.1:7 of [a] at line 1");
	EXPECT_ERROR("[a]\nhost = 127.0.0.1\nport = 7\n[b]\nport = 7\n",
		     "t.conf:4: [b]: stream 0.0.0.0:7 overlaps stream 127.0.0.1:7 of [a] at line 1");
	EXPECT_ERROR("[a]\nport = 7\n[b]\nhost = 127.0.0.1\nport = 7\n",
		     "t.conf:3: [b]: stream 127.0.0.1:7 overlaps stream 0.0.0.0:7 of [a] at line 1");
	EXPECT_ERROR("[a]\nport = 7\n[b]\nhost = ::1\nport = 7\n",
		     "t.conf:3: [b]: stream [::1]:7 overlaps stream [::]:7 of [a] at line 1");
	EXPECT_ERROR("[a]\ntype = dgram\nhost = 127.0.0.1\nport = 7\n[b]\ntype = dgram\nprotocol = udp\nfamily = inet\nport = 7\n",
		     "t.conf:5: [b]: dgram 0.0.0.0:7 (protocol udp) overlaps dgram 127.0.0.1:7 of [a] at line 1");
	EXPECT_ERROR("[a]\nhost = fe80::1%lo\nport = 7\n[b]\nhost = [fe80::1%lo]\nport = 7\n",
		     "t.conf:4: [b]: stream [fe80::1%lo]:7 is also [a] at line 1");
	/* One error per listener, on the later section, in file order. */
	EXPECT_ERRORS("[a]\nport = 7\n[b]\nport = 7\n[c]\nhost = 127.0.0.1\nport = 7\n[d]\npath = @g\n[e]\npath = @g\n",
		      "t.conf:3: [b]: stream 0.0.0.0:7 is also [a] at line 1",
		      "t.conf:5: [c]: stream 127.0.0.1:7 overlaps stream 0.0.0.0:7 of [a] at line 1",
		      "t.conf:10: [e]: stream @g is also [d] at line 8");

	/* What the kernel binds side by side. */
	static const char *const distinct[] = {
		"[a]\nfamily = inet6\nport = 7\n[b]\nhost = 127.0.0.1\nport = 7\n", /* :: is IPV6_V6ONLY */
		"[a]\nhost = 127.0.0.1\nport = 0\n[b]\nhost = 127.0.0.1\nport = 0\n",
		"[a]\nhost = 127.0.0.1\nport = 7\n[b]\ntype = dgram\nhost = 127.0.0.1\nport = 7\n",
		"[a]\ntype = dgram\nport = 7\n[b]\ntype = dgram\nprotocol = udplite\nport = 7\n",
		"[a]\nport = 7\n[b]\nprotocol = sctp\nport = 7\n",
		"[a]\nhost = 127.0.0.1\nport = 7\n[b]\nhost = 127.0.0.2\nport = 7\n[c]\nhost = 127.0.0.1\nport = 8\n",
		"[a]\nhost = fe80::1%1\nport = 7\n[b]\nhost = fe80::1%2\nport = 7\n",
		"[a]\npath = /g\n[b]\npath = @/g\n[c]\npath = /g2\n",
	};
	for (size_t i = 0; i < ELEMENTSOF(distinct); i++) {
		_cleanup_(config_freep) struct config *c = load_ok(distinct[i]);
		assert_true(c->n_listeners >= 2);
	}
}

static void test_errors_all_reported(void **state)
{
	/* Every error of the file in one run, in file order for each pass. */
	EXPECT_ERRORS("[a]\nport = htpp\nbogus = 1\n[b]\ntype = datagram\nport = 1\n[c]\nport = 2\nport = 3\n",
		      "t.conf:3: bogus: unknown key; [a] takes family, type, protocol, host, port, path, greeting, "
		      "greeting-file, timeout, deadline, max-clients, allow, deny, limit-exempt, source-prefix4, source-prefix6, "
		      "max-clients-per-source, rate, rate-burst, udp-source-check, max-amplification, log-clients",
		      "t.conf:9: port: already set at line 8",
		      "t.conf:2: port: \"htpp\" is not a number or a known tcp service",
		      "t.conf:5: type: \"datagram\" is not one of stream, dgram or seqpacket");
}

static void test_long_lines(void **state)
{
	/* Debian's inih splits lines at 200 bytes: never parse half a line. */
	char text[1024];
	int n = snprintf(text, sizeof(text), "[a]\nport = 7\ngreeting = %0*d\n[b]\nport = 8\n", 190, 0);

	assert_true(n > 0);
	EXPECT_ERROR(text, "t.conf:3: greeting: line is 201 bytes long; inih reads lines of at most 197 bytes");
	/* The key, when the line has one: indented, with ':', or none at all. */
	snprintf(text, sizeof(text), "[a]\nport = 7\n\tgreeting-file: /%0*d\n", 250, 0);
	EXPECT_ERROR(text, "t.conf:3: greeting-file: line is 267 bytes long; inih reads lines of at most 197 bytes");
	snprintf(text, sizeof(text), "[a]\nport = 7\n; %0*d\n", 250, 0);
	EXPECT_ERROR(text, "t.conf:3: line is 252 bytes long; inih reads lines of at most 197 bytes");
	snprintf(text, sizeof(text), "[a]\nport = 7\nno key here %0*d = 1\n", 250, 0);
	EXPECT_ERROR(text, "t.conf:3: line is 266 bytes long; inih reads lines of at most 197 bytes");
	snprintf(text, sizeof(text), "[a]\nport = 7\ngreeting = %0*d\n", 186, 0);
	_cleanup_(config_freep) struct config *c = load_ok(text); /* 197 bytes: fits */
	assert_int_equal(c->listeners[0].greeting->size, 186);
}

static void test_binary_input(void **state)
{
	static const char nul[] = "[a]\nport = 7\n\x00\n";
	struct config *c = NULL;

	assert_int_equal(config_load_string("t.conf", nul, sizeof(nul) - 1, &c), -EINVAL);
	assert_int_equal(c->n_errors, 1);
	assert_string_equal(c->errors[0], "t.conf:3: line contains a NUL byte; is this a text file?");
	config_free(c);

	/* Random bytes: no crash, no hang, errors or not. */
	srand(42);
	for (int round = 0; round < 2000; round++) {
		char buf[600];
		size_t len = (size_t)rand() % sizeof(buf);
		for (size_t i = 0; i < len; i++)
			buf[i] = (char)("[]=;#:\n \\ax0pt"[rand() % 15] ^ (rand() % 8 == 0 ? rand() : 0));
		c = NULL;
		int r = config_load_string("fuzz", buf, len, &c);
		assert_true(r == 0 || r == -EINVAL);
		config_free(c);
	}
}

static void test_too_many_errors(void **state)
{
	_cleanup_free_ char *text = malloc(200 * 12 + 16);
	struct config *c = NULL;
	size_t n = 0;

	n += (size_t)sprintf(text, "[a]\nport = 7\n");
	for (int i = 0; i < 200; i++)
		n += (size_t)sprintf(text + n, "x%d = 1\n", i);
	assert_int_equal(config_load_string("t.conf", text, n, &c), -EINVAL);
	assert_int_equal(c->n_errors, CONFIG_ERRORS_MAX + 1);
	assert_string_equal(c->errors[CONFIG_ERRORS_MAX], "t.conf: too many errors, giving up after 100");
	config_free(c);
}

static void test_missing_file(void **state)
{
	struct config *c = NULL;

	assert_int_equal(config_load("/nonexistent.conf", &c), -EINVAL);
	assert_int_equal(c->n_errors, 1);
	assert_string_equal(c->errors[0], "/nonexistent.conf: cannot read: No such file or directory");
	config_free(c);
}

static void test_dgram_greeting_size(void **state)
{
	char dir[] = "/tmp/greetingd-test-XXXXXX", path[64], text[1024];
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/big", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	for (int i = 0; i < 70000; i++)
		fputc('x', f);
	fclose(f);
	snprintf(text, sizeof(text), "[s]\nport = 7\ngreeting-file = %s\n[d]\ntype = dgram\nport = 7\ngreeting-file = %s\n",
		 path, path);
	EXPECT_ERROR(text, "t.conf:4: [d]: the greeting is 70000 bytes; a message carries at most 65507");
	unlink(path);
	rmdir(dir);
}

/* Whether allow and deny of listener i let src (an IPv4 or IPv6 literal) in. */
static bool lets_in(const struct config *c, size_t i, const char *src)
{
	union sockaddr_union sa = {};
	socklen_t len;
	_cleanup_(policy_unrefp) struct policy *p = policy_new(c->listeners[i].name, c, &c->listeners[i], 0);

	assert_non_null(p);
	if (inet_pton(AF_INET, src, &sa.in.sin_addr) == 1) {
		sa.in.sin_family = AF_INET;
		len = sizeof(sa.in);
	} else {
		assert_int_equal(inet_pton(AF_INET6, src, &sa.in6.sin6_addr), 1);
		sa.in6.sin6_family = AF_INET6;
		len = sizeof(sa.in6);
	}
	return policy_allows(p, &sa.sa, len);
}

static void test_access(void **state)
{
	/* Lines add up; the longest prefix decides, deny on a tie; a listener's
	 * own allow replaces [greetingd]'s, its deny is still inherited. */
	_cleanup_(config_freep) struct config *c = load_ok(
		"[greetingd]\nallow = 192.0.2.0/24\nallow = 2001:db8::/32 10.0.0.0/8\ndeny = 192.0.2.128/25\n"
		"[inherits]\nport = 1\n"
		"[own]\nport = 2\nallow = 198.51.100.0/24 192.0.2.7\ndeny = 198.51.100.9\nallow = 198.51.100.9\n"
		"[open]\nport = 3\ndeny = 203.0.113.0/24\n"
		"[local]\npath = @t\n");

	assert_true(lets_in(c, 0, "192.0.2.1"));
	assert_false(lets_in(c, 0, "192.0.2.200")); /* /25 deny beats /24 allow */
	assert_true(lets_in(c, 0, "2001:db8::1"));
	assert_true(lets_in(c, 0, "10.1.2.3"));
	assert_false(lets_in(c, 0, "198.51.100.1")); /* allow is set: the rest is out */
	assert_false(lets_in(c, 1, "192.0.2.1"));    /* its own allow replaced [greetingd]'s */
	assert_true(lets_in(c, 1, "192.0.2.7"));
	assert_true(lets_in(c, 1, "198.51.100.1"));
	assert_false(lets_in(c, 1, "198.51.100.9")); /* a tie: deny wins */
	assert_false(lets_in(c, 1, "192.0.2.200"));  /* [greetingd]'s deny, inherited */
	assert_true(lets_in(c, 2, "192.0.2.1"));     /* a deny of its own: allow still inherited */
	assert_true(lets_in(c, 2, "192.0.2.200"));   /* and [greetingd]'s deny replaced */
	assert_false(lets_in(c, 2, "203.0.113.5"));  /* not in the inherited allow */
	assert_false(lets_in(c, 2, "198.51.100.1"));
	assert_int_equal(addrlist_size(&c->listeners[3].access), 0); /* unix: nothing inherited */

	EXPECT_ERROR("[a]\nport = 7\nallow = 192.0.2.1/24\n",
		     "t.conf:3: allow: 192.0.2.1/24 has host bits set: did you mean 192.0.2.0/24?");
	EXPECT_ERROR("[a]\nport = 7\ndeny = 10.0.0.0/8 10.0.0.0/33\n",
		     "t.conf:3: deny: /33 is longer than an IPv4 address (32 bits)");
	EXPECT_ERROR("[a]\nport = 7\nallow = ::1\nallow = localhost\n",
		     "t.conf:4: allow: \"localhost\" is not an IPv4 or IPv6 address");
	EXPECT_ERROR("[greetingd]\nallow = 192.0.2.0/24\n[a]\nport = 7\nallow =\n",
		     "t.conf:5: allow: is empty: name prefixes (every source: 0.0.0.0/0 ::/0)");
	EXPECT_ERROR("[a]\npath = /run/a.sock\nallow = 192.0.2.0/24\n",
		     "t.conf:3: allow: not for unix listeners: a unix peer has no address (the socket file's permissions "
		     "say who may connect)");
}

static void test_limits(void **state)
{
	_cleanup_(config_freep) struct config *c = load_ok(
		"[greetingd]\nsource-prefix4 = 20\nmax-clients-per-source = 8\n"
		"[tcp]\nport = 1\n"
		"[udp]\ntype = dgram\nport = 2\nlimit-exempt = 192.0.2.0/24\nlimit-exempt = 10.0.0.1\n"
		"[none]\nport = 3\nlimit-exempt =\nrate = 5\n"
		"[again]\nport = 4\nlimit-exempt = 192.0.2.0/24\nlimit-exempt =\nlimit-exempt = ::2\nrate-burst = 7\n");
	const struct limits *tcp = &c->listeners[0].limits, *udp = &c->listeners[1].limits;

	assert_int_equal(tcp->prefix4, 20);
	assert_int_equal(tcp->prefix6, 56);
	assert_int_equal(tcp->max_per_source, 8);
	assert_int_equal(tcp->rate, 0);                          /* stream: no rate by default */
	assert_int_equal(udp->rate, CONFIG_DEFAULT_DGRAM_RATE); /* datagram: 20 */
	assert_int_equal(udp->burst, 2 * CONFIG_DEFAULT_DGRAM_RATE);
	assert_false(tcp->exempt_own);                          /* 127.0.0.0/8 ::1 inherited, not copied */
	assert_ptr_equal(listener_exempt(c, &c->listeners[0]), &c->limits.exempt);
	assert_int_equal(addrlist_size(&c->limits.exempt), 2);
	assert_true(udp->exempt_own);                           /* its own two lines replace them */
	assert_int_equal(addrlist_size(&udp->exempt), 2);
	assert_true(c->listeners[2].limits.exempt_own);         /* an empty line: nobody */
	assert_int_equal(addrlist_size(&c->listeners[2].limits.exempt), 0);
	assert_int_equal(c->listeners[2].limits.rate, 5);
	assert_int_equal(c->listeners[2].limits.burst, 10);
	assert_int_equal(addrlist_size(&c->listeners[3].limits.exempt), 1); /* cleared, then ::2 */
	assert_int_equal(c->listeners[3].limits.burst, 7);
	assert_true(udp->source_check);
	assert_int_equal(c->listeners[0].max_clients, 0); /* only the process's bound */
	assert_int_equal(udp->max_amplification, 0);

	EXPECT_ERROR("[a]\nport = 7\nsource-prefix4 = 33\n",
		     "t.conf:3: source-prefix4: \"33\" is not a number between 0 and 32");
	EXPECT_ERROR("[a]\ntype = dgram\nport = 7\nudp-source-check = maybe\n",
		     "t.conf:4: udp-source-check: \"maybe\" is not yes or no");
	EXPECT_ERROR("[a]\ntype = dgram\nport = 7\nmax-amplification = 70000\n",
		     "t.conf:4: max-amplification: \"70000\" is not a number between 0 and 65507");
	EXPECT_ERROR("[a]\nport = 7\nrate = fast\n", "t.conf:3: rate: \"fast\" is not a number between 0 and 1000000");
	EXPECT_ERROR("[a]\nport = 7\nlimit-exempt = 127.0.0.1/8\n",
		     "t.conf:3: limit-exempt: 127.0.0.1/8 has host bits set: did you mean 127.0.0.0/8?");
	EXPECT_ERROR("[a]\npath = @a\nmax-clients-per-source = 3\n",
		     "t.conf:3: max-clients-per-source: not for unix listeners: a unix peer has no address");
}

/* log-clients: no by default; [greetingd]'s is every listener's unless it
 * says otherwise; a unix listener may have it too. */
static void test_log_clients(void **state)
{
	_cleanup_(config_freep) struct config *c = load_ok("[a]\nport = 7\n");
	_cleanup_(config_freep) struct config *d = load_ok("[greetingd]\nlog-clients = yes\n[a]\nport = 7\n"
							   "[b]\nport = 8\nlog-clients = no\n[c]\npath = @c\n");
	_cleanup_(config_freep) struct config *e = load_ok("[a]\nport = 7\n[b]\nport = 8\nlog-clients = on\n");

	assert_false(c->log_clients);
	assert_false(c->listeners[0].log_clients);
	assert_true(d->log_clients);
	assert_true(d->listeners[0].log_clients);
	assert_false(d->listeners[1].log_clients);
	assert_true(d->listeners[2].log_clients);
	assert_false(e->listeners[0].log_clients);
	assert_true(e->listeners[1].log_clients);
	EXPECT_ERROR("[a]\nport = 7\nlog-clients = maybe\n", "t.conf:3: log-clients: \"maybe\" is not yes or no");
	EXPECT_ERROR("[greetingd]\nlog-clients = 2\n[a]\nport = 7\n", "t.conf:2: log-clients: \"2\" is not yes or no");
	EXPECT_ERROR("[a]\nport = 7\nlog-clients = yes\nlog-clients = no\n", "t.conf:4: log-clients: already set at line 3");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shipped_config),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_family_spellings),
		cmocka_unit_test(test_types_and_protocols),
		cmocka_unit_test(test_host_forms),
		cmocka_unit_test(test_host_scope_and_broadcast),
		cmocka_unit_test(test_port_forms),
		cmocka_unit_test(test_unix_paths),
		cmocka_unit_test(test_greetings),
		cmocka_unit_test(test_inih_syntax),
		cmocka_unit_test(test_errors_values),
		cmocka_unit_test(test_errors_structure),
		cmocka_unit_test(test_overlaps),
		cmocka_unit_test(test_errors_all_reported),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_binary_input),
		cmocka_unit_test(test_too_many_errors),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_dgram_greeting_size),
		cmocka_unit_test(test_access),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_log_clients),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
