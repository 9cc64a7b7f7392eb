/* greet: the seed's client. Connects, prints what it reads until the server
 * closes; over datagrams, sends one and prints the reply. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "address.h"
#include "macro.h"
#include "strutil.h"

static int arg_family = AF_UNSPEC;
static int arg_type = SOCK_STREAM;
static const char *arg_unix;
static uint64_t arg_timeout_usec = 10 * USEC_PER_SEC;
static const char *arg_source;
/* -w bounds the whole exchange, connecting and reading: this is when it ends. */
static uint64_t deadline_usec;

static void help(void)
{
	printf("Usage: greet [-4|-6] [-u] [-w TIMEOUT] [--source ADDR] HOST PORT\n"
	       "       greet [-u|-s] --unix PATH\n\n"
	       "Connect to a greeting server and print its greeting.\n\n"
	       "  -4, -6             IPv4 or IPv6 only\n"
	       "  -u, --udp          datagrams: send one, print the reply\n"
	       "  -s, --seqpacket    seqpacket (with --unix)\n"
	       "      --unix PATH    a UNIX socket: a path, or @name (abstract)\n"
	       "      --source ADDR  send from this local address\n"
	       "  -w, --timeout T    give up when the whole exchange takes longer than T\n"
	       "                     (default 10s; 500ms, 2min)\n"
	       "  -h, --help         show this help\n\n"
	       "HOST and PORT take greetingd.conf's forms: a name, an address, an integer,\n"
	       "a port number or a service name. See greet(1).\n");
}

static int fail(const char *format, ...) _printf_(1, 2);
static int fail(const char *format, ...)
{
	va_list ap;

	fputs("greet: ", stderr);
	va_start(ap, format);
	vfprintf(stderr, format, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

static uint64_t now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
}

/* Waits for events on fd until the deadline; 0 when it has passed. */
static int wait_for(int fd, short events)
{
	struct pollfd p = { .fd = fd, .events = events };
	int r;

	do {
		uint64_t now = now_usec();
		if (now >= deadline_usec)
			return 0;
		/* Rounded up, so that poll() never returns just before the deadline. */
		r = poll(&p, 1, (int)((deadline_usec - now + USEC_PER_MSEC - 1) / USEC_PER_MSEC));
	} while (r < 0 ? errno == EINTR : r == 0);
	return r;
}

/* Writes all of buf to stdout, as it arrives: with write(2), so that
 * nothing waits in a buffer and every error is seen. -errno on failure. */
static int write_stdout(const char *buf, size_t n)
{
	while (n > 0) {
		ssize_t k = write(STDOUT_FILENO, buf, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && errno == EAGAIN) {
			if (wait_for(STDOUT_FILENO, POLLOUT) == 0)
				return -ETIMEDOUT;
			continue;
		}
		if (k < 0)
			return negative_errno();
		buf += k;
		n -= (size_t)k;
	}
	return 0;
}

/* The socket must never become fd 0, 1 or 2: a missing stdout would make
 * greet write the greeting back into its socket. 0 and 2 are opened on
 * /dev/null if closed; a closed stdout is an error (-EBADF). */
static int std_fds_check(void)
{
	bool out_closed = fcntl(STDOUT_FILENO, F_GETFD) < 0 && errno == EBADF;

	for (int fd = STDIN_FILENO; fd <= STDERR_FILENO; fd += 2) {
		int null;
		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		null = open("/dev/null", O_RDWR | O_NOCTTY);
		if (null < 0)
			return negative_errno();
		if (null != fd) {
			/* With stdout closed too, /dev/null may land on 1: keep 1 closed. */
			if (dup2(null, fd) < 0) {
				safe_close(null);
				return negative_errno();
			}
			safe_close(null);
		}
	}
	return out_closed ? -EBADF : 0;
}

/* Connects within the timeout; -errno, or -ETIMEDOUT. */
static int connect_to(const struct address *a)
{
	_cleanup_close_ int fd = socket(a->family, a->type | SOCK_CLOEXEC | SOCK_NONBLOCK, a->protocol);
	int error = 0;
	socklen_t len = sizeof(error);

	if (fd < 0)
		return negative_errno();
	if (a->family == AF_UNIX && a->type == SOCK_DGRAM) {
		/* Autobind, so the server has an address to answer. */
		sa_family_t family = AF_UNIX;
		if (bind(fd, (struct sockaddr *)&family, sizeof(family)) < 0)
			return negative_errno();
	}
	if (arg_source) {
		_cleanup_free_ struct address *src = NULL;
		char err[256];
		size_t n;
		if (address_resolve(a->family, a->type, a->protocol, arg_source, 0, &src, &n, err, sizeof(err)) < 0)
			return -EADDRNOTAVAIL;
		if (bind(fd, &src[0].sa.sa, src[0].len) < 0)
			return negative_errno();
	}
	if (a->broadcast && setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &(int){ 1 }, sizeof(int)) < 0)
		return negative_errno();
	if (connect(fd, &a->sa.sa, a->len) == 0)
		return TAKE_FD(fd);
	if (errno != EINPROGRESS && errno != EAGAIN)
		return negative_errno();
	if (wait_for(fd, POLLOUT) == 0)
		return -ETIMEDOUT;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) < 0)
		return negative_errno();
	return error ? -error : TAKE_FD(fd);
}

/* Copies what fd delivers to stdout until EOF (or one message, for dgram). */
static int print_reply(int fd, const char *where)
{
	static char buf[65536];

	if (arg_type == SOCK_DGRAM && send(fd, "", 0, 0) < 0)
		return fail("cannot send to %s: %s", where, strerror(errno));
	for (;;) {
		ssize_t n;
		if (wait_for(fd, POLLIN) == 0)
			return fail("%s: no %s within the timeout", where, arg_type == SOCK_DGRAM ? "reply" : "end of greeting");
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0)
			return fail("cannot read from %s: %s", where, strerror(errno));
		if (n > 0) {
			int r = write_stdout(buf, (size_t)n);
			if (r < 0)
				return fail("cannot write the greeting: %s", r == -ETIMEDOUT ? "timed out" : strerror(-r));
		}
		if (n == 0 || arg_type == SOCK_DGRAM)
			return 0;
	}
}

static int run(int argc, char *argv[])
{
	static const struct option options[] = {
		{ "udp", no_argument, NULL, 'u' },
		{ "seqpacket", no_argument, NULL, 's' },
		{ "unix", required_argument, NULL, 'U' },
		{ "timeout", required_argument, NULL, 'w' },
		{ "source", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	_cleanup_free_ struct address *addresses = NULL;
	char err[256], where[ADDRESS_STRING_MAX];
	size_t n = 0;
	uint16_t port;
	int c, r;

	r = std_fds_check();
	if (r == -EBADF)
		return fail("standard output is closed: nowhere to print the greeting");
	if (r < 0)
		return fail("cannot open /dev/null: %s", strerror(-r));
	r = -ENOENT;
	while ((c = getopt_long(argc, argv, "46usw:h", options, NULL)) >= 0)
		switch (c) {
		case '4': arg_family = AF_INET; break;
		case '6': arg_family = AF_INET6; break;
		case 'u': arg_type = SOCK_DGRAM; break;
		case 's': arg_type = SOCK_SEQPACKET; break;
		case 'U': arg_unix = optarg; break;
		case 'S': arg_source = optarg; break;
		case 'w':
			if (parse_duration_usec(optarg, &arg_timeout_usec) < 0 || arg_timeout_usec < USEC_PER_MSEC ||
			    arg_timeout_usec > 3600 * USEC_PER_SEC)
				return fail("-w: \"%s\" is not a duration between 1ms and 60min", optarg), 2;
			break;
		case 'h': help(); return 0;
		default: return 2;
		}
	if (arg_unix) {
		if (optind != argc)
			return fail("--unix takes no HOST or PORT"), 2;
		addresses = calloc(1, sizeof(*addresses));
		if (!addresses)
			return fail("out of memory");
		if (address_from_unix_path(arg_unix, arg_type, addresses, err, sizeof(err)) < 0)
			return fail("--unix: \"%s\" %s", arg_unix, err), 2;
		n = 1;
	} else {
		if (argc - optind != 2)
			return fail("expected HOST and PORT; see --help"), 2;
		if (arg_type == SOCK_SEQPACKET)
			return fail("--seqpacket needs --unix"), 2;
		r = port_from_string(argv[optind + 1], arg_type, 0, &port);
		if (r < 0)
			return fail("\"%s\" is not a port number or a known %s service", argv[optind + 1],
				    arg_type == SOCK_DGRAM ? "udp" : "tcp"), 2;
		if (address_resolve(arg_family, arg_type, 0, argv[optind], port, &addresses, &n, err, sizeof(err)) < 0)
			return fail("%s", err);
	}
	/* Like any client: try each address in turn, report the last failure. */
	deadline_usec = now_usec() + arg_timeout_usec;
	for (size_t i = 0; i < n; i++) {
		_cleanup_close_ int fd = connect_to(&addresses[i]);
		address_to_string(&addresses[i], where);
		if (fd >= 0)
			return print_reply(fd, where);
		r = fd;
		if (n > 1)
			fprintf(stderr, "greet: %s: %s\n", where, strerror(-r));
	}
	return fail("cannot connect to %s: %s", where, r == -ETIMEDOUT ? "timed out" : strerror(-r));
}

int main(int argc, char *argv[])
{
	return run(argc, argv);
}
