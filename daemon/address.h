/* The seed's socket vocabulary: family, type, protocol, host and port, parsed
 * and resolved into socket addresses. Shared by greetingd and greet; it
 * logs nothing: errors come back as -errno and a message for the caller. */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

/* Fits "[v6%scope]:port", and "@" plus a whole sun_path with every byte
 * escaped as \xHH (4 * 108 + 2). */
#define ADDRESS_STRING_MAX 448

union sockaddr_union {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
	struct sockaddr_un un;
	struct sockaddr_storage storage;
};

/* One socket's worth of address: what socket(2) and bind(2) need. */
struct address {
	int family, type, protocol;
	bool broadcast; /* <broadcast>: SO_BROADCAST */
	socklen_t len;
	union sockaddr_union sa;
};

#define ADDRESS_HOST_BROADCAST "<broadcast>"

int family_from_string(const char *s);   /* AF_*, AF_UNSPEC for "any"; -EINVAL */
int type_from_string(const char *s);     /* SOCK_*; -EINVAL */
/* 0..255; tcp, udp, udplite, sctp (any case) without /etc/protocols; other
 * names from /etc/protocols. -EINVAL, -ERANGE */
int protocol_from_string(const char *s);
const char *family_to_string(int family);
const char *type_to_string(int type);
const char *protocol_to_string(int protocol); /* tcp, udp, udplite, sctp; NULL for others */

/* Whether protocol fits family and type; on failure a message in err. */
int protocol_check(int family, int type, int protocol, char *err, size_t errlen);

/* A port number, numeric string or service name for this type/protocol:
 * -EINVAL (malformed), -ERANGE (above 65535), -ENOENT (unknown service). */
int port_from_string(const char *s, int type, int protocol, uint16_t *ret);

/* A UNIX socket path: absolute, or @name for the abstract namespace. */
int address_from_unix_path(const char *path, int type, struct address *ret, char *err, size_t errlen);

/* Every address host stands for (see greetingd.conf(5)), with port, in the
 * order getaddrinfo() gives, without duplicates. A NULL or empty host is the
 * wildcard address: for family any, 0.0.0.0 and :: both. */
int address_resolve(int family, int type, int protocol, const char *host, uint16_t port,
		    struct address **ret, size_t *ret_n, char *err, size_t errlen);

bool address_equal(const struct address *a, const struct address *b);
uint16_t address_port(const struct address *a);
void address_set_port(struct address *a, uint16_t port);
bool address_is_wildcard(const struct address *a);

/* 127.0.0.1:12345, [::1]:12345, [fe80::1%eth0]:7, /run/x.sock, @name; in a
 * unix path, bytes that are not printable ASCII, and backslashes, are \xHH. */
const char *address_to_string(const struct address *a, char buf[static ADDRESS_STRING_MAX]);

/* The host of an inet or inet6 socket address as a log field or an access
 * line gives it: no brackets, no zone, an IPv4-mapped one as the IPv4
 * address it maps (what a dual-stack socket reports of an IPv4 client);
 * and its port. -EAFNOSUPPORT for another family, or a short address. */
#define ADDRESS_HOST_MAX INET6_ADDRSTRLEN
int sockaddr_host(const struct sockaddr *sa, socklen_t len, char buf[static ADDRESS_HOST_MAX], uint16_t *ret_port);
