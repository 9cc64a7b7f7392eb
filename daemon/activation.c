#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "activation.h"
#include "config.h"
#include "listener.h"
#include "log.h"
#include "macro.h"
#include "server.h"

/* The address, type and protocol of a socket systemd passed. */
static int address_from_fd(int fd, struct address *ret)
{
	socklen_t len = sizeof(int);

	*ret = (struct address){ .len = sizeof(ret->sa) };
	if (getsockname(fd, &ret->sa.sa, &ret->len) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_TYPE, &ret->type, &len) < 0)
		return negative_errno();
	len = sizeof(int);
	if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &ret->protocol, &len) < 0)
		ret->protocol = 0;
	ret->family = ret->sa.sa.sa_family;
	return 0;
}

static int fd_nonblock(int fd)
{
	int flags = fcntl(fd, F_GETFL);

	if (flags < 0 || (!(flags & O_NONBLOCK) && fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0))
		return -1;
	return 0;
}

bool activation_is_dual_stack(int fd, const struct address *a)
{
	int v6only = 1;
	socklen_t len = sizeof(v6only);

	if (a->family != AF_INET6 || !address_is_wildcard(a))
		return false;
	return getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &len) == 0 && !v6only;
}

int activation_collect(struct server *s, int *ret_connection)
{
	char **names = NULL;
	char buf[ADDRESS_STRING_MAX];
	int n, adopted = 0, r = 0;

	*ret_connection = -1;
	n = sd_listen_fds_with_names(true, &names);
	if (n < 0)
		return log_error_errno(n, "cannot read the sockets systemd passed: %m");
	for (int i = 0; i < n; i++) {
		int fd = SD_LISTEN_FDS_START + i;
		const char *name = names && names[i] && !streq(names[i], "unknown") ? names[i] : NULL;
		struct address a;

		if (sd_is_socket(fd, AF_UNSPEC, 0, -1) <= 0 || address_from_fd(fd, &a) < 0 ||
		    (a.family != AF_INET && a.family != AF_INET6 && a.family != AF_UNIX)) {
			log_warning("fd %d%s%s%s that systemd passed is not an inet, inet6 or unix socket, ignoring", fd,
				    name ? " (\"" : "", name ?: "", name ? "\")" : "");
			continue;
		}
		/* systemd may pass blocking sockets; the event loop needs them not to block. */
		if (fd_nonblock(fd) < 0) {
			r = log_error_errno(errno, "fd %d that systemd passed: cannot make it non-blocking: %m", fd);
			break;
		}
		if (a.type != SOCK_DGRAM && sd_is_socket(fd, AF_UNSPEC, 0, 0) > 0 && !(a.family != AF_UNIX && a.type == SOCK_SEQPACKET)) {
			/* Connected, not listening: Accept=yes. */
			if (*ret_connection >= 0) {
				log_warning("fd %d: a second connection passed, ignoring", fd);
				continue;
			}
			*ret_connection = fd;
			continue;
		}
		r = listener_adopt(fd, &a, activation_is_dual_stack(fd, &a));
		if (r < 0)
			log_warning_errno(r, "fd %d that systemd passed: cannot ask for the destination of datagrams (%m), "
					  "replies may leave from another address, ignoring", fd);
		r = server_add_activated(s, fd, name, &a);
		if (r < 0)
			break;
		log_debug("systemd passed fd %d%s%s%s: %s %s", fd, name ? " \"" : "", name ?: "", name ? "\"" : "",
			  type_to_string(a.type), address_to_string(&a, buf));
		adopted++;
	}
	for (int i = 0; names && names[i]; i++)
		free(names[i]);
	free(names);
	return r < 0 ? r : adopted;
}

int activation_take_stdin(void)
{
	int fd, null;

	if (sd_is_socket(STDIN_FILENO, AF_UNSPEC, 0, 0) <= 0)
		return log_error_errno(ENOTSOCK, "--inetd: standard input is not a connected socket");
	fd = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3);
	if (fd < 0 || fd_nonblock(fd) < 0)
		return log_error_errno(errno, "--inetd: cannot take the connection: %m");
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(null, STDOUT_FILENO) < 0) {
		safe_close(null);
		safe_close(fd);
		return log_error_errno(errno, "--inetd: cannot release standard input and output: %m");
	}
	safe_close(null);
	return fd;
}

bool activation_stdin_is_connection(void)
{
	union sockaddr_union peer;
	socklen_t len = sizeof(peer), type_len = sizeof(int);
	int type;

	/* A socket that is not listening: a tty, /dev/null, a pipe or a
	 * listening socket is no connection. */
	if (sd_is_socket(STDIN_FILENO, AF_UNSPEC, 0, 0) <= 0)
		return false;
	/* A connection's type, and a peer: not a datagram socket, nor a stream
	 * socket that was never connected. */
	if (getsockopt(STDIN_FILENO, SOL_SOCKET, SO_TYPE, &type, &type_len) < 0 ||
	    (type != SOCK_STREAM && type != SOCK_SEQPACKET))
		return false;
	return getpeername(STDIN_FILENO, &peer.sa, &len) == 0;
}

static bool same_host(const struct address *a, const struct address *b)
{
	if (a->family == AF_INET)
		return a->sa.in.sin_addr.s_addr == b->sa.in.sin_addr.s_addr;
	return memcmp(&a->sa.in6.sin6_addr, &b->sa.in6.sin6_addr, sizeof(struct in6_addr)) == 0;
}

const struct listener_config *activation_match_connection(const struct config *c, int fd)
{
	struct address local;

	if (address_from_fd(fd, &local) < 0)
		return NULL;
	for (size_t i = 0; i < c->n_listeners; i++)
		for (size_t j = 0; j < c->listeners[i].n_addresses; j++) {
			const struct address *a = &c->listeners[i].addresses[j];
			if (a->family != local.family || a->type != local.type)
				continue;
			if (a->family == AF_UNIX ? a->len == local.len && memcmp(&a->sa, &local.sa, a->len) == 0
						 : address_port(a) == address_port(&local) &&
							   (address_is_wildcard(a) || same_host(a, &local)))
				return &c->listeners[i];
		}
	return NULL;
}
