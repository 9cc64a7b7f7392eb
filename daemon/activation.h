/* Socket activation: the sockets systemd passes (LISTEN_FDS), checked
 * before use; and inetd-style connections. */
#pragma once

#include <stdbool.h>

#include "address.h"

struct server;
struct config;

/* Adopts every listening socket systemd passed into s (see server_apply()
 * for how they meet the configuration). A connected socket (Accept=yes) is
 * not adopted but returned in *ret_connection; -1 if none. Returns the
 * number of sockets adopted, or a logged -errno. */
int activation_collect(struct server *s, int *ret_connection);

/* Whether standard input is a connected stream or seqpacket socket, as an
 * inetd (or systemd-socket-activate --inetd) passes it. */
bool activation_stdin_is_connection(void);

/* inetd style: the connection on standard input, moved off fds 0 and 1 so
 * that closing it closes the connection. Returns it, or a logged -errno. */
int activation_take_stdin(void);

/* Whether fd, bound to a, is an inet6 wildcard socket that takes IPv4 too
 * (IPV6_V6ONLY off, as systemd's ListenStream=P passes [::]:P). */
bool activation_is_dual_stack(int fd, const struct address *a);

/* The greeting section for a connection: the one whose address it came to. */
const struct listener_config *activation_match_connection(const struct config *c, int fd);
