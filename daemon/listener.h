/* Opening the sockets a listener section asks for. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "address.h"

/* The socket file a listener created by binding a path: the only file it
 * may remove, and only while the path still leads to that very inode. */
struct socket_file {
	dev_t dev;
	ino_t ino;
	bool created;
};

/* Whether clients of this kind of socket are accept()ed (stream, and
 * seqpacket on unix) or answered one message at a time (dgram, and SCTP's
 * one-to-many seqpacket). */
bool address_is_connection_oriented(const struct address *a);

/* Creates a non-blocking socket for a, binds it and, if connection-oriented,
 * listens. On success *a holds the bound address (the port the kernel chose
 * for port 0) and *ret_file the socket file bound (created = false for inet
 * and abstract sockets). A stale UNIX socket file (one that refuses
 * connections) is replaced; a live one, of any type, or any other file, is
 * an error (-EADDRINUSE, -EEXIST). reuseport: SO_REUSEPORT on inet sockets,
 * for workers. ipv6_optional: an IPv6 address the host cannot use (IPv6
 * turned off) is only warned about, and -EAFNOSUPPORT or -EADDRNOTAVAIL
 * returned. Logs its errors with name. */
int listener_open(const char *name, struct address *a, bool reuseport, bool ipv6_optional, struct socket_file *ret_file);

/* Whether error (an errno) on a is IPv6 being turned off on this host: in
 * the kernel (ipv6.disable=1), or on the interface (disable_ipv6: ::1 gone). */
bool listener_ipv6_unavailable(const struct address *a, int error);

/* A socket systemd passed, bound to a: sets what listener_open() sets for
 * replies to leave from the address each request came to (IP_PKTINFO,
 * IPV6_RECVPKTINFO; both on a dual_stack inet6 socket). Returns -errno. */
int listener_adopt(int fd, const struct address *a, bool dual_stack);

/* Closes fd. file, if not NULL, is what listener_open() bound: its path is
 * removed if it still leads to that socket file, never if another process
 * or another of our sockets has bound it since. Returns -1. */
int listener_close(int fd, const struct address *a, const struct socket_file *file);
