#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "listener.h"
#include "log.h"
#include "macro.h"

#define LISTEN_BACKLOG 4096 /* the kernel caps it at net.core.somaxconn */

bool address_is_connection_oriented(const struct address *a)
{
	return a->type == SOCK_STREAM || (a->type == SOCK_SEQPACKET && a->family == AF_UNIX);
}

static bool is_path_socket(const struct address *a)
{
	return a->family == AF_UNIX && a->sa.un.sun_path[0] != '\0';
}

static int set_option(int fd, int level, int option)
{
	int one = 1;
	return setsockopt(fd, level, option, &one, sizeof(one)) < 0 ? negative_errno() : 0;
}

/* EADDRINUSE on a socket path: is anybody there? Only a socket file that
 * refuses connections (ECONNREFUSED) is stale and may be removed. A live
 * socket of another type answers EPROTOTYPE: it is in use all the same. */
static int unix_path_release(const char *name, const struct address *a)
{
	_cleanup_close_ int probe = -1;
	const char *path = a->sa.un.sun_path;
	struct stat st;

	if (lstat(path, &st) < 0)
		return log_listener_errno(LOG_ERR, errno, name, "cannot inspect %s: %m", path);
	if (!S_ISSOCK(st.st_mode))
		return log_listener_errno(LOG_ERR, EEXIST, name, "%s exists and is not a socket; not replacing it",
					  path);
	probe = socket(AF_UNIX, a->type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (probe < 0)
		return log_listener_errno(LOG_ERR, errno, name, "cannot create a probe socket: %m");
	if (connect(probe, &a->sa.sa, a->len) == 0 || errno == EAGAIN || errno == EINPROGRESS)
		return log_listener_errno(LOG_ERR, EADDRINUSE, name, "%s is in use by a running process", path);
	if (errno == EPROTOTYPE)
		return log_listener_errno(LOG_ERR, EADDRINUSE, name,
					  "%s is in use by a running process, with a socket of another type than %s",
					  path, type_to_string(a->type));
	if (errno != ECONNREFUSED)
		return log_listener_errno(LOG_ERR, errno, name, "cannot tell whether %s is in use: %m", path);
	if (unlink(path) < 0 && errno != ENOENT)
		return log_listener_errno(LOG_ERR, errno, name, "cannot remove the stale socket %s: %m", path);
	log_listener(LOG_INFO, name, "removed the stale socket %s", path);
	return 0;
}

bool listener_ipv6_unavailable(const struct address *a, int error)
{
	return a->family == AF_INET6 && (error == EAFNOSUPPORT || error == EADDRNOTAVAIL);
}

/* Right after bind(): which inode the path now leads to, so that we remove
 * this file and no other. */
static int socket_file_record(const char *name, const struct address *a, struct socket_file *ret)
{
	struct stat st;

	if (lstat(a->sa.un.sun_path, &st) < 0)
		return log_listener_errno(LOG_ERR, errno, name, "cannot inspect the socket file %s: %m",
					  a->sa.un.sun_path);
	*ret = (struct socket_file){ .dev = st.st_dev, .ino = st.st_ino, .created = true };
	return 0;
}

int listener_open(const char *name, struct address *a, bool reuseport, bool ipv6_optional, struct socket_file *ret_file)
{
	_cleanup_close_ int fd = -1;
	struct socket_file file = {};
	char buf[ADDRESS_STRING_MAX];
	int r;

	fd = socket(a->family, a->type | SOCK_CLOEXEC | SOCK_NONBLOCK, a->protocol);
	if (fd < 0 && ipv6_optional && listener_ipv6_unavailable(a, errno))
		goto skip;
	if (fd < 0)
		return log_listener_errno(LOG_ERR, errno, name, "cannot create a socket (%s %s): %m",
					  family_to_string(a->family), type_to_string(a->type));
	r = 0;
	if (a->family == AF_INET6)
		r = set_option(fd, IPPROTO_IPV6, IPV6_V6ONLY); /* :: must not take 0.0.0.0's port */
	if (r == 0 && a->family != AF_UNIX && a->type == SOCK_STREAM)
		r = set_option(fd, SOL_SOCKET, SO_REUSEADDR); /* restart while old clients sit in TIME_WAIT */
	if (r == 0 && reuseport && a->family != AF_UNIX)
		r = set_option(fd, SOL_SOCKET, SO_REUSEPORT); /* each worker its own socket, the kernel spreads clients */
	if (r == 0 && a->broadcast)
		r = set_option(fd, SOL_SOCKET, SO_BROADCAST);
	/* Replies leave from the address the request came to. */
	if (r == 0 && a->type == SOCK_DGRAM && a->family == AF_INET)
		r = set_option(fd, IPPROTO_IP, IP_PKTINFO);
	if (r == 0 && a->type == SOCK_DGRAM && a->family == AF_INET6)
		r = set_option(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO);
	if (r < 0)
		return log_listener_errno(LOG_ERR, r, name, "cannot set socket options on %s: %m",
					  address_to_string(a, buf));

	r = bind(fd, &a->sa.sa, a->len);
	if (r < 0 && errno == EADDRINUSE && is_path_socket(a)) {
		r = unix_path_release(name, a);
		if (r < 0)
			return r;
		r = bind(fd, &a->sa.sa, a->len);
	}
	if (r < 0 && ipv6_optional && listener_ipv6_unavailable(a, errno))
		goto skip;
	if (r < 0 && errno == ENOENT && is_path_socket(a))
		return log_listener_errno(LOG_ERR, errno, name, "cannot bind %s: its directory does not exist",
				       address_to_string(a, buf));
	if (r < 0)
		return log_listener_errno(LOG_ERR, errno, name, "cannot bind %s %s: %m", type_to_string(a->type),
				       address_to_string(a, buf));
	if (is_path_socket(a)) {
		r = socket_file_record(name, a, &file);
		if (r < 0)
			return r; /* the file stays: without its inode we cannot tell it is ours */
	}
	if (a->type != SOCK_DGRAM && listen(fd, LISTEN_BACKLOG) < 0) {
		r = log_listener_errno(LOG_ERR, errno, name, "cannot listen on %s: %m", address_to_string(a, buf));
		listener_close(TAKE_FD(fd), a, &file);
		return r;
	}
	if (a->family != AF_UNIX && address_port(a) == 0) {
		union sockaddr_union sa;
		socklen_t len = sizeof(sa);
		if (getsockname(fd, &sa.sa, &len) < 0)
			return log_listener_errno(LOG_ERR, errno, name, "cannot read the bound address: %m");
		address_set_port(a, a->family == AF_INET ? ntohs(sa.in.sin_port) : ntohs(sa.in6.sin6_port));
		log_listener(LOG_INFO, name, "port 0: the kernel chose port %u", address_port(a));
	}
	*ret_file = file;
	return TAKE_FD(fd);
skip:
	r = -errno;
	log_listener_errno(LOG_WARNING, r, name, "skipping %s: %m (is IPv6 turned off?)", address_to_string(a, buf));
	return r;
}

int listener_adopt(int fd, const struct address *a, bool dual_stack)
{
	int r;

	if (a->type != SOCK_DGRAM || a->family == AF_UNIX)
		return 0;
	if (a->family == AF_INET)
		return set_option(fd, IPPROTO_IP, IP_PKTINFO);
	r = set_option(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO);
	if (r == 0 && dual_stack)
		r = set_option(fd, IPPROTO_IP, IP_PKTINFO); /* IPv4 requests arrive on it too */
	return r;
}

int listener_close(int fd, const struct address *a, const struct socket_file *file)
{
	struct stat st;

	/* Our socket is still open, so its inode cannot have been reused: the
	 * same st_dev and st_ino mean the path is still our file. */
	if (fd >= 0 && file && file->created && is_path_socket(a) && lstat(a->sa.un.sun_path, &st) == 0 &&
	    S_ISSOCK(st.st_mode) && st.st_dev == file->dev && st.st_ino == file->ino)
		(void)unlink(a->sa.un.sun_path);
	return safe_close(fd);
}
