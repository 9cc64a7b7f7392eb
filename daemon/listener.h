/* Opening the sockets a listener section asks for. */
#pragma once

#include <stdbool.h>

#include "address.h"

/* Whether clients of this kind of socket are accept()ed (stream, and
 * seqpacket on unix) or answered one message at a time (dgram, and SCTP's
 * one-to-many seqpacket). */
bool address_is_connection_oriented(const struct address *a);

/* Creates a non-blocking socket for a, binds it and, if connection-oriented,
 * listens. On success *a holds the bound address (the port the kernel chose
 * for port 0). A stale UNIX socket file (nothing accepts on it) is replaced;
 * a live one, or any other file, is an error. reuseport: SO_REUSEPORT on
 * inet sockets, for workers. ipv6_optional: an IPv6 address the host cannot
 * use (IPv6 turned off) is only warned about, and -EAFNOSUPPORT or
 * -EADDRNOTAVAIL returned. Logs its errors with name. */
int listener_open(const char *name, struct address *a, bool reuseport, bool ipv6_optional);

/* Whether error (an errno) on a is IPv6 being turned off on this host: in
 * the kernel (ipv6.disable=1), or on the interface (disable_ipv6: ::1 gone). */
bool listener_ipv6_unavailable(const struct address *a, int error);

/* A socket systemd passed, bound to a: sets what listener_open() sets for
 * replies to leave from the address each request came to (IP_PKTINFO,
 * IPV6_RECVPKTINFO; both on a dual_stack inet6 socket). Returns -errno. */
int listener_adopt(int fd, const struct address *a, bool dual_stack);

/* Closes fd; for a socket file we created, removes it. Returns -1. */
int listener_close(int fd, const struct address *a, bool remove_path);
