#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <net/if.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "address.h"
#include "macro.h"
#include "strutil.h"

static const struct {
	const char *name;
	int value;
} families[] = {
	{ "inet", AF_INET },   { "af_inet", AF_INET },   { "pf_inet", AF_INET },
	{ "inet6", AF_INET6 }, { "af_inet6", AF_INET6 }, { "pf_inet6", AF_INET6 },
	{ "unix", AF_UNIX },   { "af_unix", AF_UNIX },   { "pf_unix", AF_UNIX },
	{ "any", AF_UNSPEC },  { "af_unspec", AF_UNSPEC },
}, types[] = {
	{ "stream", SOCK_STREAM },       { "sock_stream", SOCK_STREAM },
	{ "dgram", SOCK_DGRAM },         { "sock_dgram", SOCK_DGRAM },
	{ "seqpacket", SOCK_SEQPACKET }, { "sock_seqpacket", SOCK_SEQPACKET },
}, protocols[] = {
	/* The ones greetingd serves, known without /etc/protocols (netbase). */
	{ "tcp", IPPROTO_TCP }, { "udp", IPPROTO_UDP }, { "udplite", IPPROTO_UDPLITE }, { "sctp", IPPROTO_SCTP },
};

int family_from_string(const char *s)
{
	for (size_t i = 0; i < ELEMENTSOF(families); i++)
		if (strcasecmp(s, families[i].name) == 0)
			return families[i].value;
	return -EINVAL;
}

int type_from_string(const char *s)
{
	for (size_t i = 0; i < ELEMENTSOF(types); i++)
		if (strcasecmp(s, types[i].name) == 0)
			return types[i].value;
	return -EINVAL;
}

const char *family_to_string(int family)
{
	switch (family) {
	case AF_INET: return "inet";
	case AF_INET6: return "inet6";
	case AF_UNIX: return "unix";
	case AF_UNSPEC: return "any";
	}
	return "?";
}

const char *type_to_string(int type)
{
	switch (type) {
	case SOCK_STREAM: return "stream";
	case SOCK_DGRAM: return "dgram";
	case SOCK_SEQPACKET: return "seqpacket";
	}
	return "?";
}

int protocol_from_string(const char *s)
{
	struct protoent *p;
	uint64_t v;
	int r;

	r = parse_unsigned(s, false, 255, &v);
	if (r != -EINVAL)
		return r < 0 ? r : (int)v;
	for (size_t i = 0; i < ELEMENTSOF(protocols); i++)
		if (strcasecmp(s, protocols[i].name) == 0)
			return protocols[i].value;
	p = getprotobyname(s);
	endprotoent();
	return p ? p->p_proto : -EINVAL;
}

const char *protocol_to_string(int protocol)
{
	for (size_t i = 0; i < ELEMENTSOF(protocols); i++)
		if (protocols[i].value == protocol)
			return protocols[i].name;
	return NULL;
}

int protocol_check(int family, int type, int protocol, char *err, size_t errlen)
{
	bool ip = family != AF_UNIX;

	if (!ip) {
		if (protocol == 0)
			return 0;
		snprintf(err, errlen, "unix sockets take protocol 0 only");
		return -EINVAL;
	}
	switch (protocol) {
	case 0:
		if (type != SOCK_SEQPACKET)
			return 0;
		snprintf(err, errlen, "seqpacket over inet or inet6 needs protocol = sctp");
		return -EINVAL;
	case IPPROTO_TCP:
		if (type == SOCK_STREAM)
			return 0;
		break;
	case IPPROTO_UDP:
	case IPPROTO_UDPLITE:
		if (type == SOCK_DGRAM)
			return 0;
		break;
	case IPPROTO_SCTP:
		if (type == SOCK_STREAM || type == SOCK_SEQPACKET)
			return 0;
		break;
	default:
		snprintf(err, errlen, "protocol %d is not supported: use 0, tcp, udp, udplite or sctp", protocol);
		return -EINVAL;
	}
	snprintf(err, errlen, "protocol %d does not go with type = %s", protocol, type_to_string(type));
	return -EINVAL;
}

static const char *service_protocol(int type, int protocol)
{
	if (protocol == IPPROTO_SCTP)
		return "sctp";
	return type == SOCK_DGRAM ? "udp" : "tcp";
}

int port_from_string(const char *s, int type, int protocol, uint16_t *ret)
{
	struct servent *se;
	uint64_t v;
	int r;

	r = parse_unsigned(s, false, UINT16_MAX, &v);
	if (r == 0)
		*ret = (uint16_t)v;
	if (r != -EINVAL)
		return r;
	/* Service names are letters, digits and dashes; anything else is a typo. */
	if (!isalpha((unsigned char)s[0]) || s[strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")])
		return -EINVAL;
	se = getservbyname(s, service_protocol(type, protocol));
	endservent();
	if (!se)
		return -ENOENT;
	*ret = ntohs((uint16_t)se->s_port);
	return 0;
}

int address_from_unix_path(const char *path, int type, struct address *ret, char *err, size_t errlen)
{
	size_t len = strlen(path);

	*ret = (struct address){ .family = AF_UNIX, .type = type };
	ret->sa.un.sun_family = AF_UNIX;
	if (path[0] == '@') {
		/* Abstract: a leading NUL, then the name, not NUL-terminated. */
		if (len < 2 || len > sizeof(ret->sa.un.sun_path)) {
			snprintf(err, errlen, "an abstract name is 1 to %zu characters after @",
				 sizeof(ret->sa.un.sun_path) - 1);
			return -EINVAL;
		}
		memcpy(ret->sa.un.sun_path + 1, path + 1, len - 1);
		ret->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
		return 0;
	}
	if (path[0] != '/') {
		snprintf(err, errlen, "must be an absolute path, or @name for the abstract namespace");
		return -EINVAL;
	}
	if (len >= sizeof(ret->sa.un.sun_path)) {
		snprintf(err, errlen, "is %zu bytes long; a socket path holds at most %zu", len,
			 sizeof(ret->sa.un.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	memcpy(ret->sa.un.sun_path, path, len + 1);
	ret->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
	return 0;
}

static void address_set_inet(struct address *a, int type, int protocol, uint32_t host_order, uint16_t port)
{
	*a = (struct address){ .family = AF_INET, .type = type, .protocol = protocol, .len = sizeof(struct sockaddr_in) };
	a->sa.in.sin_family = AF_INET;
	a->sa.in.sin_addr.s_addr = htonl(host_order);
	a->sa.in.sin_port = htons(port);
}

static void address_set_inet6_any(struct address *a, int type, int protocol, uint16_t port)
{
	*a = (struct address){ .family = AF_INET6, .type = type, .protocol = protocol, .len = sizeof(struct sockaddr_in6) };
	a->sa.in6.sin6_family = AF_INET6;
	a->sa.in6.sin6_addr = in6addr_any;
	a->sa.in6.sin6_port = htons(port);
}

static int family_mismatch(int family, const char *what, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s is IPv4, but family = %s", what, family_to_string(family));
	return -EAFNOSUPPORT;
}

/* A listener may not become a thousand sockets because DNS says so. */
#define ADDRESSES_MAX 64

/* getaddrinfo() for a name or a literal: each new address, in an array of
 * no more entries than getaddrinfo() gave (and at most ADDRESSES_MAX). */
static int resolve_name(int family, int type, int protocol, const char *host, bool numeric, uint16_t port,
			struct address **ret, size_t *ret_n, char *err, size_t errlen)
{
	struct addrinfo hints = {
		.ai_family = family,
		.ai_socktype = type,
		.ai_protocol = protocol,
		.ai_flags = numeric ? AI_NUMERICHOST : 0,
	}, *res = NULL;
	_cleanup_free_ struct address *out = NULL;
	size_t n = 0, max = 0;
	int r;

	r = getaddrinfo(host, NULL, &hints, &res);
	if (r != 0) {
		snprintf(err, errlen, "\"%s\" does not resolve%s: %s", host,
			 family == AF_UNSPEC ? "" : family == AF_INET ? " to IPv4" : " to IPv6",
			 r == EAI_SYSTEM ? strerror(errno) : gai_strerror(r));
		return r == EAI_MEMORY ? -ENOMEM : -EADDRNOTAVAIL;
	}
	for (struct addrinfo *ai = res; ai && max < ADDRESSES_MAX; ai = ai->ai_next)
		max++;
	out = calloc(MAX(max, 1), sizeof(*out));
	if (!out) {
		freeaddrinfo(res);
		return -ENOMEM;
	}
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		struct address a = { .family = ai->ai_family, .type = type, .protocol = protocol };
		bool seen = false;

		if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) || ai->ai_addrlen > sizeof(a.sa))
			continue;
		a.len = ai->ai_addrlen;
		memcpy(&a.sa, ai->ai_addr, ai->ai_addrlen);
		address_set_port(&a, port);
		for (size_t i = 0; i < n && !seen; i++)
			seen = address_equal(&out[i], &a);
		if (seen)
			continue;
		if (n == max) {
			freeaddrinfo(res);
			snprintf(err, errlen, "\"%s\" resolves to more than %d addresses", host, ADDRESSES_MAX);
			return -E2BIG;
		}
		out[n++] = a;
	}
	freeaddrinfo(res);
	if (n == 0) {
		snprintf(err, errlen, "\"%s\" has no IPv4 or IPv6 address", host);
		return -EADDRNOTAVAIL;
	}
	*ret = TAKE_PTR(out);
	*ret_n = n;
	return 0;
}

int address_resolve(int family, int type, int protocol, const char *host, uint16_t port,
		    struct address **ret, size_t *ret_n, char *err, size_t errlen)
{
	struct address fixed[2], *out;
	size_t n = 0;
	uint64_t v;
	int r;

	if (!host || !*host) {
		if (family != AF_INET6)
			address_set_inet(&fixed[n++], type, protocol, INADDR_ANY, port);
		if (family != AF_INET)
			address_set_inet6_any(&fixed[n++], type, protocol, port);
	} else if (streq(host, ADDRESS_HOST_BROADCAST)) {
		if (family == AF_INET6)
			return family_mismatch(family, ADDRESS_HOST_BROADCAST, err, errlen);
		address_set_inet(&fixed[n], type, protocol, INADDR_BROADCAST, port);
		fixed[n++].broadcast = true;
	} else if (isdigit((unsigned char)host[0]) && (r = parse_unsigned(host, true, UINT64_MAX, &v)) != -EINVAL) {
		/* An integer: an IPv4 address in host byte order, as in the seed. */
		if (r < 0 || v > UINT32_MAX) {
			snprintf(err, errlen, "\"%s\" is above 4294967295 (0xffffffff), the largest IPv4 address", host);
			return -ERANGE;
		}
		if (family == AF_INET6)
			return family_mismatch(family, "an integer host", err, errlen);
		address_set_inet(&fixed[n++], type, protocol, (uint32_t)v, port);
	} else if (host[0] == '[') {
		/* [v6] as in URLs: strip the brackets, accept only an IPv6 literal. */
		size_t len = strlen(host);
		_cleanup_free_ char *inner = NULL;

		if (len < 3 || host[len - 1] != ']' || family == AF_INET || family == AF_UNIX) {
			snprintf(err, errlen, "\"%s\" is not an IPv6 address in brackets%s", host,
				 family == AF_INET ? " usable with family = inet" : "");
			return -EINVAL;
		}
		inner = strndup(host + 1, len - 2);
		if (!inner)
			return -ENOMEM;
		return resolve_name(AF_INET6, type, protocol, inner, true, port, ret, ret_n, err, errlen);
	} else {
		return resolve_name(family, type, protocol, host, false, port, ret, ret_n, err, errlen);
	}
	/* Only what is used: a file of many listeners costs what they hold. */
	out = malloc(n * sizeof(*out));
	if (!out)
		return -ENOMEM;
	memcpy(out, fixed, n * sizeof(*out));
	*ret = out;
	*ret_n = n;
	return 0;
}

bool address_equal(const struct address *a, const struct address *b)
{
	return a->family == b->family && a->type == b->type && a->protocol == b->protocol && a->len == b->len &&
	       memcmp(&a->sa, &b->sa, a->len) == 0;
}

uint16_t address_port(const struct address *a)
{
	switch (a->family) {
	case AF_INET: return ntohs(a->sa.in.sin_port);
	case AF_INET6: return ntohs(a->sa.in6.sin6_port);
	}
	return 0;
}

void address_set_port(struct address *a, uint16_t port)
{
	if (a->family == AF_INET)
		a->sa.in.sin_port = htons(port);
	else if (a->family == AF_INET6)
		a->sa.in6.sin6_port = htons(port);
}

bool address_is_wildcard(const struct address *a)
{
	return (a->family == AF_INET && a->sa.in.sin_addr.s_addr == htonl(INADDR_ANY)) ||
	       (a->family == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(&a->sa.in6.sin6_addr));
}

/* A peer chooses its unix path, and an abstract name may hold any byte: a
 * newline or "<2>" in a log line would forge lines and priorities. So
 * everything but printable ASCII, and the backslash itself, becomes \xHH.
 * out holds 4 * n + 1 bytes. */
static void escape_bytes(const char *in, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c >= 0x20 && c < 0x7f && c != '\\') {
			*out++ = (char)c;
			continue;
		}
		*out++ = '\\';
		*out++ = 'x';
		*out++ = hex[c >> 4];
		*out++ = hex[c & 0xf];
	}
	*out = '\0';
}

_Static_assert(ADDRESS_STRING_MAX >= 4 * sizeof(((struct sockaddr_un *)0)->sun_path) + 2, "an escaped sun_path fits");

const char *address_to_string(const struct address *a, char buf[static ADDRESS_STRING_MAX])
{
	char host[INET6_ADDRSTRLEN], scope[IF_NAMESIZE + 1] = "";
	size_t pathlen;

	switch (a->family) {
	case AF_INET:
		inet_ntop(AF_INET, &a->sa.in.sin_addr, host, sizeof(host));
		snprintf(buf, ADDRESS_STRING_MAX, "%s:%u", host, address_port(a));
		break;
	case AF_INET6:
		inet_ntop(AF_INET6, &a->sa.in6.sin6_addr, host, sizeof(host));
		if (a->sa.in6.sin6_scope_id != 0) {
			scope[0] = '%';
			if (!if_indextoname(a->sa.in6.sin6_scope_id, scope + 1))
				snprintf(scope + 1, sizeof(scope) - 1, "%u", a->sa.in6.sin6_scope_id);
		}
		snprintf(buf, ADDRESS_STRING_MAX, "[%s%s]:%u", host, scope, address_port(a));
		break;
	case AF_UNIX:
		pathlen = a->len > offsetof(struct sockaddr_un, sun_path) ? a->len - offsetof(struct sockaddr_un, sun_path) : 0;
		pathlen = MIN(pathlen, sizeof(a->sa.un.sun_path)); /* a->len may count the union's slack */
		if (pathlen == 0)
			snprintf(buf, ADDRESS_STRING_MAX, "(unnamed)");
		else if (a->sa.un.sun_path[0] == '\0') {
			buf[0] = '@';
			escape_bytes(a->sa.un.sun_path + 1, pathlen - 1, buf + 1);
		} else
			escape_bytes(a->sa.un.sun_path, strnlen(a->sa.un.sun_path, pathlen), buf);
		break;
	default:
		snprintf(buf, ADDRESS_STRING_MAX, "(family %d)", a->family);
	}
	return buf;
}

int sockaddr_host(const struct sockaddr *sa, socklen_t len, char buf[static ADDRESS_HOST_MAX], uint16_t *ret_port)
{
	const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

	if (sa && sa->sa_family == AF_INET && len >= sizeof(*in)) {
		inet_ntop(AF_INET, &in->sin_addr, buf, ADDRESS_HOST_MAX);
		*ret_port = ntohs(in->sin_port);
		return 0;
	}
	if (!sa || sa->sa_family != AF_INET6 || len < sizeof(*in6))
		return -EAFNOSUPPORT;
	if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
		inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], buf, ADDRESS_HOST_MAX);
	else
		inet_ntop(AF_INET6, &in6->sin6_addr, buf, ADDRESS_HOST_MAX);
	*ret_port = ntohs(in6->sin6_port);
	return 0;
}
