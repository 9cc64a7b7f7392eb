/* testtool: the test suite's clients and waiting helpers, so that the shell
 * tests never sleep and can ask for many clients at once.
 *
 *   wait-file FILE TEXT [SECONDS [N]]   until FILE has N lines (default 1) containing
 *                                   TEXT; prints the last
 *   notify-collect SOCKET OUT       binds a NOTIFY_SOCKET, appends each message to
 *                                   OUT in the background; prints the collector's PID
 *   flood HOST PORT N EXPECTED      N stream clients at once, each must read EXPECTED
 *   slow HOST PORT EXPECTED         reads 2 KiB at a time, 2 ms apart, tiny buffer
 *   write-first HOST PORT BYTES EXPECTED   sends BYTES first, then reads
 *   stall HOST PORT N SECONDS       N clients that never read; each must be
 *                                   closed by the server within SECONDS; prints how
 *                                   many were dropped, and how many of those by an RST
 *   send-unbound PATH [N]           N datagrams (default 1) from an unbound unix socket
 *   udp HOST PORT SIZE EXPECTED     one datagram of SIZE bytes; the reply must be EXPECTED
 *   firehose HOST PORT SECONDS      writes as fast as it can for SECONDS, never reads
 *   udp-sink HOST PORT              binds a UDP socket, prints "bound", never reads nor
 *                                   answers (a resolver that does not answer); runs
 *                                   until killed
 *   hammer HOST TCP UDP STOP G...   TCP and UDP clients, one after the other, until
 *                                   the file STOP exists; every reply must be one of
 *                                   the greeting files G, none refused, none lost
 *   dgram-deaf SERVER OWN N SECONDS unix datagram client bound at OWN: sends N
 *                                   datagrams to SERVER (within SECONDS), never
 *                                   reads a reply; prints "sent K of N", then waits
 *                                   to be killed
 *   send-fds SERVER OWN N K         unix datagram client bound at OWN: N datagrams to
 *                                   SERVER, each with K fds attached (SCM_RIGHTS);
 *                                   each reply must come before the next is sent
 *   udp-from SRC SPORT DST DPORT MODE  one datagram to DST:DPORT from SRC:SPORT, IPv4
 *                                   through a raw socket (spoofed: SPORT may be in use
 *                                   or 0), IPv6 from a socket bound there. MODE: send
 *                                   (nothing more), reply (SRC:SPORT must get one
 *                                   within 5 s), none (SRC:SPORT must get none: a
 *                                   probe from another socket is answered first)
 *   cpu-ticks PID MS                the CPU ticks (user + system) PID uses in MS
 *                                   milliseconds: a measurement window, not a wait
 *   send-from FROM PATH             one datagram from a unix socket bound to FROM (a
 *                                   path or @name, any bytes), connected elsewhere so
 *                                   that the server's reply fails (EPERM)
 *   trickle PATH COUNT              a unix stream server: to each client in turn, a
 *                                   byte every 0.3 s (COUNT of them, then EOF; 0:
 *                                   forever); prints "listening", then for each
 *                                   client "client done: received N bytes"
 *   listen-unix PATH TYPE           another program on a socket path: binds PATH
 *                                   (stream, dgram or seqpacket), prints "listening",
 *                                   then answers each client "testtool\n" until killed
 *   fifo-hold PATH                  opens the FIFO PATH for reading, shrinks it to 4 KiB,
 *                                   prints "holding", and never reads: a log reader
 *                                   that is there but stuck; runs until killed
 *   udp-burst SRC HOST PORT N       N datagrams at once from SRC (an address; any port
 *                                   of 1024 and up), then counts the replies that come
 *                                   within half a second: prints "replies K"
 *   (the stream clients bind to $TESTTOOL_SOURCE first, when it is set)
 *   udp-spoof-flood DST DPORT N     N one-byte IPv4 datagrams to DST:DPORT, each from
 *                                   another spoofed source in 127.1.0.0/8 (port 40000),
 *                                   through a raw socket, paced to let the server read;
 *                                   prints "sent N"
 *   dns-slow HOST PORT MS           a DNS server on HOST:PORT (UDP) that answers every
 *                                   A query with 127.0.0.1 (others with no address),
 *                                   each MS milliseconds after it came; prints "bound";
 *                                   runs until killed */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>

#include "address.h"
#include "macro.h"
#include "strutil.h"

static _printf_(1, 2) _Noreturn void die(const char *format, ...)
{
	va_list ap;

	fputs("testtool: ", stderr);
	va_start(ap, format);
	vfprintf(stderr, format, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static unsigned number(const char *s)
{
	uint64_t v;
	if (parse_unsigned(s, false, 1000000000, &v) < 0)
		die("\"%s\" is not a number", s);
	return (unsigned)v;
}

static struct address resolve(const char *host, const char *port_text)
{
	_cleanup_free_ struct address *a = NULL;
	char err[256];
	uint16_t port;
	size_t n;

	if (host[0] == '/' || host[0] == '@') {
		struct address u;
		if (address_from_unix_path(host, SOCK_STREAM, &u, err, sizeof(err)) < 0)
			die("%s: %s", host, err);
		return u;
	}
	if (port_from_string(port_text, SOCK_STREAM, 0, &port) < 0)
		die("bad port %s", port_text);
	if (address_resolve(AF_UNSPEC, SOCK_STREAM, 0, host, port, &a, &n, err, sizeof(err)) < 0)
		die("%s", err);
	return a[0];
}

static char *read_file(const char *path, size_t *size)
{
	FILE *f = fopen(path, "re");
	char *buf;
	long n;

	if (!f || fseek(f, 0, SEEK_END) < 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0)
		die("cannot read %s: %s", path, strerror(errno));
	buf = malloc((size_t)n + 1);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n)
		die("cannot read %s", path);
	fclose(f);
	*size = (size_t)n;
	return buf;
}

/* A non-blocking client socket, connecting. rcvbuf > 0 shrinks its buffer. */
/* Binds fd to $TESTTOOL_SOURCE, an address of family, when it is set. */
static void bind_source(int fd, int family)
{
	const char *source = getenv("TESTTOOL_SOURCE");
	union sockaddr_union sa = {};
	socklen_t len;

	if (!source)
		return;
	if (family == AF_INET && inet_pton(AF_INET, source, &sa.in.sin_addr) == 1) {
		sa.in.sin_family = AF_INET;
		len = sizeof(sa.in);
	} else if (family == AF_INET6 && inet_pton(AF_INET6, source, &sa.in6.sin6_addr) == 1) {
		sa.in6.sin6_family = AF_INET6;
		len = sizeof(sa.in6);
	} else
		die("TESTTOOL_SOURCE=%s is no address of the server's family", source);
	if (bind(fd, &sa.sa, len) < 0)
		die("bind %s: %s", source, strerror(errno));
}

static int client_socket(const struct address *a, int rcvbuf)
{
	int fd = socket(a->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		die("socket: %s", strerror(errno));
	bind_source(fd, a->family);
	if (rcvbuf > 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (connect(fd, &a->sa.sa, a->len) < 0 && errno != EINPROGRESS && errno != EAGAIN)
		die("connect: %s", strerror(errno));
	return fd;
}

static int wait_fd(int fd, short events, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	int r = poll(&p, 1, timeout_ms);
	if (r < 0 && errno != EINTR)
		die("poll: %s", strerror(errno));
	return r;
}

/* Reads fd to EOF (blocking with a deadline), chunk bytes per read. */
static size_t read_all(int fd, char *buf, size_t cap, size_t chunk, int pause_ms, uint64_t deadline)
{
	size_t got = 0;

	for (;;) {
		ssize_t n;
		if (now_ms() > deadline)
			die("no EOF after %zu bytes before the deadline", got);
		if (wait_fd(fd, POLLIN, 1000) <= 0)
			continue;
		n = recv(fd, buf + got, MIN(chunk, cap - got), 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0)
			die("recv after %zu bytes: %s", got, strerror(errno));
		if (n == 0)
			return got;
		got += (size_t)n;
		if (got == cap)
			die("more than %zu bytes", cap - 1);
		if (pause_ms)
			(void)wait_fd(-1, 0, pause_ms); /* this client is slow on purpose */
	}
}

static void expect_equal(const char *what, const char *got, size_t n, const char *want, size_t m)
{
	if (n != m || memcmp(got, want, n) != 0)
		die("%s: got %zu bytes, expected %zu%s", what, n, m, n == m ? " (different bytes)" : "");
}

static int cmd_wait_file(int argc, char *argv[])
{
	unsigned seconds = argc > 4 ? number(argv[4]) : 10, want = argc > 5 ? number(argv[5]) : 1;
	uint64_t deadline = now_ms() + seconds * 1000ULL;
	int in = inotify_init1(IN_CLOEXEC);

	if (in < 0)
		die("inotify: %s", strerror(errno));
	for (;;) {
		/* Watch before reading, so a write in between is not missed. */
		int w = inotify_add_watch(in, argv[2], IN_MODIFY | IN_CLOSE_WRITE);
		FILE *f = fopen(argv[2], "re");
		char line[4096], last[4096];
		char evbuf[4096];
		unsigned found = 0;

		while (f && fgets(line, sizeof(line), f))
			if (strstr(line, argv[3])) {
				memcpy(last, line, sizeof(line));
				if (++found == want) {
					fputs(last, stdout);
					return 0;
				}
			}
		if (f)
			fclose(f);
		if (w < 0) /* not created yet: look again shortly */
			(void)wait_fd(-1, 0, 20);
		else if (now_ms() < deadline && wait_fd(in, POLLIN, (int)(deadline - now_ms())) > 0)
			(void)!read(in, evbuf, sizeof(evbuf));
		if (now_ms() >= deadline) {
			fprintf(stderr, "testtool: %u of %u lines with \"%s\" in %s within %us\n", found, want, argv[3],
				argv[2], seconds);
			return 1;
		}
		if (w >= 0)
			inotify_rm_watch(in, w);
	}
}

static int cmd_notify_collect(int argc, char *argv[])
{
	struct address a;
	char err[256];
	pid_t pid;
	int fd, out;

	if (address_from_unix_path(argv[2], SOCK_DGRAM, &a, err, sizeof(err)) < 0)
		die("%s", err);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, &a.sa.sa, a.len) < 0)
		die("cannot bind %s: %s", argv[2], strerror(errno));
	out = open(argv[3], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (out < 0)
		die("cannot open %s: %s", argv[3], strerror(errno));
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid > 0) {
		printf("%d\n", (int)pid);
		return 0;
	}
	fclose(stdout);
	for (;;) {
		char buf[4096];
		ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			_exit(1);
		/* One line per message, its assignments separated by '|'. */
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] == '\n')
				buf[i] = '|';
		buf[n] = '\n';
		(void)!write(out, buf, (size_t)n + 1);
	}
}

static int cmd_flood(int argc, char *argv[])
{
	struct address a = resolve(argv[2], argv[3]);
	unsigned n = number(argv[4]), done = 0;
	size_t want_size;
	_cleanup_free_ char *want = read_file(argv[5], &want_size);
	struct conn {
		int fd;
		size_t got;
		char *buf;
	} *c = calloc(n, sizeof(*c));
	int ep = epoll_create1(EPOLL_CLOEXEC);
	uint64_t deadline = now_ms() + 60000;

	if (!c || ep < 0)
		die("setup failed");
	for (unsigned i = 0; i < n; i++) {
		c[i].fd = client_socket(&a, 0);
		c[i].buf = malloc(want_size + 1);
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = i };
		if (!c[i].buf || epoll_ctl(ep, EPOLL_CTL_ADD, c[i].fd, &ev) < 0)
			die("epoll_ctl: %s", strerror(errno));
	}
	while (done < n) {
		struct epoll_event ev[64];
		int k = epoll_wait(ep, ev, 64, 1000);
		if (now_ms() > deadline)
			die("%u of %u clients greeted before the deadline", done, n);
		for (int j = 0; j < k; j++) {
			struct conn *x = &c[ev[j].data.u32];
			ssize_t r = recv(x->fd, x->buf + x->got, want_size + 1 - x->got, 0);
			if (r < 0 && errno == EAGAIN)
				continue;
			if (r < 0)
				die("client %u: %s after %zu bytes", ev[j].data.u32, strerror(errno), x->got);
			if (r > 0) {
				x->got += (size_t)r;
				if (x->got > want_size)
					die("client %u: more than the greeting", ev[j].data.u32);
				continue;
			}
			expect_equal("flood", x->buf, x->got, want, want_size);
			close(x->fd);
			free(x->buf);
			done++;
		}
	}
	free(c);
	printf("greeted %u\n", done);
	return 0;
}

static int cmd_slow(int argc, char *argv[])
{
	struct address a = resolve(argv[2], argv[3]);
	size_t want_size, got;
	_cleanup_free_ char *want = read_file(argv[4], &want_size);
	_cleanup_free_ char *buf = malloc(want_size + 1);
	int fd = client_socket(&a, 4096);

	got = read_all(fd, buf, want_size + 1, 2048, 2, now_ms() + 60000);
	expect_equal("slow reader", buf, got, want, want_size);
	printf("slow reader read %zu bytes\n", got);
	return 0;
}

static int cmd_write_first(int argc, char *argv[])
{
	struct address a = resolve(argv[2], argv[3]);
	size_t bytes = number(argv[4]), want_size, got, sent = 0;
	_cleanup_free_ char *want = read_file(argv[5], &want_size);
	_cleanup_free_ char *buf = malloc(want_size + 1);
	_cleanup_free_ char *junk = calloc(1, bytes + 1);
	int fd = client_socket(&a, 0);

	if (wait_fd(fd, POLLOUT, 10000) <= 0)
		die("connect timed out");
	/* Write until the server stops taking it or all is sent. */
	while (sent < bytes) {
		ssize_t n = send(fd, junk + sent, bytes - sent, MSG_NOSIGNAL);
		if (n < 0 && errno == EAGAIN && wait_fd(fd, POLLOUT, 200) > 0)
			continue;
		if (n < 0)
			break;
		sent += (size_t)n;
	}
	got = read_all(fd, buf, want_size + 1, 65536, 0, now_ms() + 60000);
	expect_equal("client that wrote first", buf, got, want, want_size);
	printf("wrote %zu bytes first, then read %zu\n", sent, got);
	return 0;
}

/* The pending error on a socket: ECONNRESET after an RST, 0 after a FIN. */
static int socket_error(int fd)
{
	int error = 0;
	socklen_t len = sizeof(error);

	return getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) < 0 ? errno : error;
}

static int cmd_stall(int argc, char *argv[])
{
	struct address a = resolve(argv[2], argv[3]);
	unsigned n = number(argv[4]), seconds = number(argv[5]), dropped = 0, reset = 0;
	_cleanup_free_ int *fds = calloc(n, sizeof(int));
	uint64_t deadline = now_ms() + seconds * 1000ULL;

	for (unsigned i = 0; i < n; i++)
		fds[i] = client_socket(&a, 1024);
	printf("stalling %u\n", n);
	fflush(stdout);
	/* Wait, without reading, for the server to give up on each: a hang-up. */
	for (unsigned i = 0; i < n; i++) {
		struct pollfd p = { .fd = fds[i], .events = POLLRDHUP };
		for (;;) {
			int64_t left = (int64_t)deadline - (int64_t)now_ms();
			if (left <= 0)
				die("%u of %u stalled clients dropped within %us", dropped, n, seconds);
			if (poll(&p, 1, (int)left) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)))
				break;
		}
		dropped++;
		if (socket_error(fds[i]) == ECONNRESET)
			reset++;
		close(fds[i]);
	}
	printf("dropped %u reset %u\n", dropped, reset);
	return 0;
}

static int cmd_send_unbound(int argc, char *argv[])
{
	struct address a;
	char err[256];
	int fd;

	if (address_from_unix_path(argv[2], SOCK_DGRAM, &a, err, sizeof(err)) < 0)
		die("%s", err);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	for (unsigned i = 0, n = argc > 3 ? number(argv[3]) : 1; i < n; i++)
		if (fd < 0 || sendto(fd, "x", 1, 0, &a.sa.sa, a.len) != 1)
			die("cannot send to %s: %s", argv[2], strerror(errno));
	close(fd);
	return 0;
}

static int cmd_udp(int argc, char *argv[])
{
	struct address a = resolve(argv[2], argv[3]);
	size_t size = number(argv[4]), want_size;
	_cleanup_free_ char *want = read_file(argv[5], &want_size);
	_cleanup_free_ char *out = calloc(1, size + 1), *in = malloc(65536);
	int fd = socket(a.family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ssize_t n;

	if (fd < 0 || connect(fd, &a.sa.sa, a.len) < 0 || send(fd, out, size, 0) != (ssize_t)size)
		die("cannot send %zu bytes: %s", size, strerror(errno));
	if (wait_fd(fd, POLLIN, 5000) <= 0)
		die("no reply to a %zu-byte datagram", size);
	n = recv(fd, in, 65536, 0);
	if (n < 0)
		die("recv: %s", strerror(errno));
	expect_equal("datagram reply", in, (size_t)n, want, want_size);
	close(fd);
	printf("a %zu-byte datagram was answered\n", size);
	return 0;
}

static int cmd_firehose(int argc, char *argv[])
{
	struct address a = resolve(argv[2], argv[3]);
	uint64_t end = now_ms() + number(argv[4]) * 1000ULL;
	static char junk[65536];
	unsigned long long sent = 0;
	int fd = client_socket(&a, 0);

	printf("writing\n");
	fflush(stdout);
	while (now_ms() < end) {
		ssize_t n = send(fd, junk, sizeof(junk), MSG_NOSIGNAL);
		if (n > 0)
			sent += (size_t)n;
		else if (errno == EAGAIN || errno == EINPROGRESS || errno == ENOTCONN)
			(void)wait_fd(fd, POLLOUT, 100);
		else
			break; /* the server gave up on us: fine */
	}
	printf("wrote %llu bytes\n", sent);
	return 0;
}

/* Which of the greetings buf is, or -1. */
static int cmd_listen_unix(int argc, char *argv[])
{
	static const char answer[] = "testtool\n";
	struct address a;
	char err[256];
	int type = type_from_string(argv[3]), fd;

	if (type < 0)
		die("bad type %s", argv[3]);
	if (address_from_unix_path(argv[2], type, &a, err, sizeof(err)) < 0)
		die("%s", err);
	fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, &a.sa.sa, a.len) < 0 || (type != SOCK_DGRAM && listen(fd, 16) < 0))
		die("cannot listen on %s: %s", argv[2], strerror(errno));
	printf("listening\n");
	fflush(stdout);
	for (;;) {
		union sockaddr_union peer;
		socklen_t len = sizeof(peer);
		char buf[512];
		int cfd;

		if (type == SOCK_DGRAM) {
			if (recvfrom(fd, buf, sizeof(buf), 0, &peer.sa, &len) >= 0 && len > offsetof(struct sockaddr_un, sun_path))
				(void)sendto(fd, answer, sizeof(answer) - 1, 0, &peer.sa, len);
			continue;
		}
		cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
		if (cfd < 0)
			continue;
		(void)!write(cfd, answer, sizeof(answer) - 1);
		close(cfd);
	}
}

static int which_greeting(const char *buf, size_t n, char **greetings, size_t *sizes, int count)
{
	for (int i = 0; i < count; i++)
		if (n == sizes[i] && memcmp(buf, greetings[i], n) == 0)
			return i;
	return -1;
}

static int cmd_hammer(int argc, char *argv[])
{
	struct address tcp = resolve(argv[2], argv[3]), udp = resolve(argv[2], argv[4]);
	int count = argc - 6;
	char **greetings = calloc((size_t)count, sizeof(char *)), buf[65536];
	size_t *sizes = calloc((size_t)count, sizeof(size_t));
	unsigned long tcp_ok = 0, udp_ok = 0, seen[16] = { 0 };

	if (count > 16)
		die("at most 16 greetings");
	for (int i = 0; i < count; i++)
		greetings[i] = read_file(argv[6 + i], &sizes[i]);
	udp.type = SOCK_DGRAM;
	while (access(argv[5], F_OK) < 0) {
		int fd = client_socket(&tcp, 0), g;
		size_t n;
		ssize_t k;

		n = read_all(fd, buf, sizeof(buf), sizeof(buf), 0, now_ms() + 10000);
		close(fd);
		if ((g = which_greeting(buf, n, greetings, sizes, count)) < 0)
			die("TCP reply %lu: %zu bytes that are no configured greeting", tcp_ok + 1, n);
		seen[g]++;
		tcp_ok++;

		fd = socket(udp.family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || connect(fd, &udp.sa.sa, udp.len) < 0 || send(fd, "", 0, 0) < 0)
			die("UDP request %lu: %s", udp_ok + 1, strerror(errno));
		if (wait_fd(fd, POLLIN, 2000) <= 0)
			die("UDP request %lu: no reply within 2s", udp_ok + 1);
		k = recv(fd, buf, sizeof(buf), 0);
		if (k < 0)
			die("UDP request %lu: %s", udp_ok + 1, strerror(errno));
		if ((g = which_greeting(buf, (size_t)k, greetings, sizes, count)) < 0)
			die("UDP reply %lu: %zd bytes that are no configured greeting", udp_ok + 1, k);
		seen[g]++;
		udp_ok++;
		close(fd);
		if (tcp_ok == 1) {
			printf("hammering\n");
			fflush(stdout);
		}
	}
	printf("tcp %lu udp %lu", tcp_ok, udp_ok);
	for (int i = 0; i < count; i++)
		printf(" g%d %lu", i + 1, seen[i]);
	printf("\n");
	for (int i = 0; i < count; i++)
		free(greetings[i]);
	free(greetings);
	free(sizes);
	return 0;
}

static int cmd_udp_sink(int argc, char *argv[])
{
	struct address a = resolve(argv[2], argv[3]);
	int fd = socket(a.family, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, &a.sa.sa, a.len) < 0)
		die("udp-sink: cannot bind: %s", strerror(errno));
	printf("bound\n");
	fflush(stdout);
	for (;;)
		pause();
}

static int cmd_dgram_deaf(int argc, char *argv[])
{
	struct address server, own;
	struct timeval tv = { .tv_usec = 100000 };
	unsigned n = number(argv[4]), sent = 0;
	uint64_t deadline = now_ms() + number(argv[5]) * 1000ULL;
	char err[256];
	int fd;

	if (address_from_unix_path(argv[2], SOCK_DGRAM, &server, err, sizeof(err)) < 0 ||
	    address_from_unix_path(argv[3], SOCK_DGRAM, &own, err, sizeof(err)) < 0)
		die("%s", err);
	/* Not connected: a peer connected to the server escapes the kernel's
	 * queue limit (net.unix.max_dgram_qlen), and poll() on an unconnected
	 * socket says nothing about the server's queue; so a blocking send
	 * that gives up after 100 ms, until the deadline. */
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, &own.sa.sa, own.len) < 0 || setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		die("cannot set up %s: %s", argv[3], strerror(errno));
	while (sent < n && now_ms() < deadline) {
		if (sendto(fd, "x", 1, 0, &server.sa.sa, server.len) == 1)
			sent++;
		else if (errno != EAGAIN && errno != EINTR)
			die("send: %s", strerror(errno));
	}
	printf("sent %u of %u\n", sent, n);
	fflush(stdout);
	for (;;)
		pause(); /* the test kills us; meanwhile our queue stays full */
}

/* utime + stime of a process, in clock ticks (proc(5)). */
static unsigned long long cpu_ticks(const char *pid)
{
	char path[64], buf[1024], *p;
	unsigned long long utime, stime;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%s/stat", pid);
	f = fopen(path, "re");
	if (!f)
		die("cannot open %s: %s", path, strerror(errno));
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* Fields 14 and 15, counted after the command name, which may hold spaces. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
		die("cannot parse %s", path);
	return utime + stime;
}

static int cmd_cpu_ticks(int argc, char *argv[])
{
	unsigned long long before = cpu_ticks(argv[2]);

	(void)wait_fd(-1, 0, (int)number(argv[3]));
	printf("%llu\n", cpu_ticks(argv[2]) - before);
	return 0;
}

static int cmd_send_fds(int argc, char *argv[])
{
	struct address server, own;
	unsigned n = number(argv[4]), k = number(argv[5]);
	_cleanup_free_ char *control = NULL;
	char err[256], reply[65536];
	int fd, null = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (address_from_unix_path(argv[2], SOCK_DGRAM, &server, err, sizeof(err)) < 0 ||
	    address_from_unix_path(argv[3], SOCK_DGRAM, &own, err, sizeof(err)) < 0)
		die("%s", err);
	if (k == 0 || k > 253) /* SCM_MAX_FD */
		die("K must be 1 to 253");
	control = calloc(1, CMSG_SPACE(k * sizeof(int)));
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (!control || null < 0 || fd < 0 || bind(fd, &own.sa.sa, own.len) < 0)
		die("cannot set up %s: %s", argv[3], strerror(errno));
	for (unsigned i = 0; i < n; i++) {
		struct iovec iov = { .iov_base = (char *)"x", .iov_len = 1 };
		struct msghdr m = { .msg_name = &server.sa, .msg_namelen = server.len, .msg_iov = &iov, .msg_iovlen = 1,
				    .msg_control = control, .msg_controllen = CMSG_SPACE(k * sizeof(int)) };
		struct cmsghdr *cm = CMSG_FIRSTHDR(&m);

		*cm = (struct cmsghdr){ .cmsg_len = CMSG_LEN(k * sizeof(int)), .cmsg_level = SOL_SOCKET, .cmsg_type = SCM_RIGHTS };
		for (unsigned j = 0; j < k; j++)
			memcpy(CMSG_DATA(cm) + j * sizeof(int), &null, sizeof(int));
		if (sendmsg(fd, &m, 0) != 1)
			die("datagram %u: %s", i + 1, strerror(errno));
		if (wait_fd(fd, POLLIN, 5000) <= 0 || recv(fd, reply, sizeof(reply), 0) < 0)
			die("no reply to datagram %u", i + 1);
	}
	printf("sent %u datagrams with %u fds each, all answered\n", n, k);
	return 0;
}

/* An IPv4 UDP datagram with any source, through a raw socket (IP_HDRINCL):
 * the kernel fills in the IP checksum, length and id; UDP checksum 0 is "none". */
static void send_spoofed(const struct address *src, const struct address *dst)
{
	struct {
		struct iphdr ip;
		struct udphdr udp;
		char payload[1];
	} __attribute__((packed)) p = {
		.ip = { .version = 4, .ihl = 5, .ttl = 64, .protocol = IPPROTO_UDP,
			.saddr = src->sa.in.sin_addr.s_addr, .daddr = dst->sa.in.sin_addr.s_addr },
		.udp = { .source = src->sa.in.sin_port, .dest = dst->sa.in.sin_port, .len = htons(sizeof(struct udphdr) + 1) },
		.payload = "x",
	};
	int fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);

	if (fd < 0 || sendto(fd, &p, sizeof(p), 0, &dst->sa.sa, dst->len) != (ssize_t)sizeof(p))
		die("cannot send a spoofed datagram: %s", strerror(errno));
	close(fd);
}

static int cmd_udp_spoof_flood(int argc, char *argv[])
{
	struct address dst = resolve(argv[2], argv[3]);
	unsigned n = number(argv[4]);
	struct {
		struct iphdr ip;
		struct udphdr udp;
		char payload[1];
	} __attribute__((packed)) p = {
		.ip = { .version = 4, .ihl = 5, .ttl = 64, .protocol = IPPROTO_UDP, .daddr = dst.sa.in.sin_addr.s_addr },
		.udp = { .source = htons(40000), .dest = dst.sa.in.sin_port, .len = htons(sizeof(struct udphdr) + 1) },
		.payload = "x",
	};
	int fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);

	if (fd < 0 || dst.family != AF_INET)
		die("udp-spoof-flood: %s", fd < 0 ? strerror(errno) : "IPv4 only");
	for (unsigned i = 0; i < n; i++) {
		p.ip.saddr = htonl(0x7f010000u + i); /* 127.1.0.0 and up: a new source each */
		if (sendto(fd, &p, sizeof(p), 0, &dst.sa.sa, dst.len) != (ssize_t)sizeof(p) && errno != ENOBUFS)
			die("udp-spoof-flood: %s", strerror(errno));
		if (i % 256 == 255)
			(void)poll(NULL, 0, 1); /* pacing, so that the server's socket buffer does not drop most */
	}
	close(fd);
	printf("sent %u\n", n);
	return 0;
}

static int cmd_udp_from(int argc, char *argv[])
{
	struct address src = resolve(argv[2], argv[3]), dst = resolve(argv[4], argv[5]);
	const char *mode = argv[6];
	char buf[65536];
	int bound = -1;

	if (!streq(mode, "send") && !streq(mode, "reply") && !streq(mode, "none"))
		die("MODE is send, reply or none");
	if (src.family != dst.family)
		die("%s and %s are not of one family", argv[2], argv[4]);
	if (!streq(mode, "send") || src.family == AF_INET6) {
		bound = socket(src.family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (bound < 0 || bind(bound, &src.sa.sa, src.len) < 0)
			die("cannot bind %s:%s: %s", argv[2], argv[3], strerror(errno));
	}
	if (src.family == AF_INET)
		send_spoofed(&src, &dst);
	else if (sendto(bound, "x", 1, 0, &dst.sa.sa, dst.len) != 1)
		die("cannot send from %s:%s: %s", argv[2], argv[3], strerror(errno));
	if (streq(mode, "reply") && (wait_fd(bound, POLLIN, 5000) <= 0 || recv(bound, buf, sizeof(buf), 0) < 0))
		die("no reply to %s:%s", argv[2], argv[3]);
	if (streq(mode, "none")) {
		/* The server reads in order: once the probe is answered, a reply
		 * to the first datagram would already be queued here. */
		int probe = socket(dst.family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (probe < 0 || sendto(probe, "x", 1, 0, &dst.sa.sa, dst.len) != 1 || wait_fd(probe, POLLIN, 5000) <= 0)
			die("the probe was not answered");
		if (recv(bound, buf, sizeof(buf), MSG_DONTWAIT) >= 0)
			die("%s:%s got a reply", argv[2], argv[3]);
		close(probe);
	}
	printf("%s:%s -> %s:%s: %s\n", argv[2], argv[3], argv[4], argv[5], mode);
	return 0;
}

static int cmd_send_from(int argc, char *argv[])
{
	struct address from, to;
	struct sockaddr_un other;
	socklen_t len = sizeof(other);
	char err[256];
	int fd, peer;

	if (address_from_unix_path(argv[2], SOCK_DGRAM, &from, err, sizeof(err)) < 0 ||
	    address_from_unix_path(argv[3], SOCK_DGRAM, &to, err, sizeof(err)) < 0)
		die("%s", err);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	peer = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || peer < 0 || bind(fd, &from.sa.sa, from.len) < 0)
		die("cannot bind %s: %s", argv[2], strerror(errno));
	/* A unix datagram socket connected to another peer refuses the server's reply. */
	if (bind(peer, (struct sockaddr *)&(sa_family_t){ AF_UNIX }, sizeof(sa_family_t)) < 0 ||
	    getsockname(peer, (struct sockaddr *)&other, &len) < 0 || connect(fd, (struct sockaddr *)&other, len) < 0)
		die("cannot connect to a second socket: %s", strerror(errno));
	if (sendto(fd, "x", 1, 0, &to.sa.sa, to.len) != 1)
		die("cannot send to %s: %s", argv[3], strerror(errno));
	close(fd);
	close(peer);
	return 0;
}

/* One trickle client: 'x' every 300 ms, then EOF; counts what it sends us. */
static unsigned long trickle_client(int fd, unsigned count)
{
	unsigned long received = 0;
	unsigned sent = 0;
	uint64_t next = now_ms() + 300;
	char buf[4096];

	for (;;) {
		int64_t left = (int64_t)next - (int64_t)now_ms();
		bool all_sent = count > 0 && sent == count;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int r = poll(&p, 1, all_sent ? -1 : left > 0 ? (int)left : 0);

		if (r < 0 && errno != EINTR)
			die("poll: %s", strerror(errno));
		if (r > 0) {
			ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
			if (n <= 0 && !(n < 0 && (errno == EAGAIN || errno == EINTR)))
				return received;
			if (n > 0)
				received += (unsigned long)n;
			continue;
		}
		if (r < 0 || all_sent || now_ms() < next)
			continue;
		if (send(fd, "x", 1, MSG_NOSIGNAL) != 1)
			return received;
		next += 300;
		if (++sent == count)
			(void)shutdown(fd, SHUT_WR);
	}
}

static int cmd_trickle(int argc, char *argv[])
{
	struct address a;
	char err[256];
	unsigned count = number(argv[3]);
	int fd;

	if (address_from_unix_path(argv[2], SOCK_STREAM, &a, err, sizeof(err)) < 0)
		die("%s", err);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, &a.sa.sa, a.len) < 0 || listen(fd, 16) < 0)
		die("cannot listen on %s: %s", argv[2], strerror(errno));
	printf("listening\n");
	fflush(stdout);
	for (;;) {
		int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			die("accept: %s", strerror(errno));
		printf("client done: received %lu bytes\n", trickle_client(c, count));
		fflush(stdout);
		close(c);
	}
}

static int cmd_fifo_hold(int argc, char *argv[])
{
	int fd = open(argv[2], O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0 || fcntl(fd, F_SETPIPE_SZ, 4096) < 0)
		die("fifo-hold %s: %s", argv[2], strerror(errno));
	printf("holding\n");
	fflush(stdout);
	for (;;)
		pause();
}

static int cmd_udp_burst(int argc, char *argv[])
{
	struct address a = resolve(argv[3], argv[4]);
	unsigned n = number(argv[5]), replies = 0;
	uint64_t deadline;
	char buf[2048];
	int fd = socket(a.family, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		die("socket: %s", strerror(errno));
	setenv("TESTTOOL_SOURCE", argv[2], 1);
	bind_source(fd, a.family);
	if (connect(fd, &a.sa.sa, a.len) < 0)
		die("connect: %s", strerror(errno));
	for (unsigned i = 0; i < n; i++)
		if (send(fd, "", 0, 0) < 0)
			die("send: %s", strerror(errno));
	/* A measurement window, not a wait for readiness: the replies that are
	 * not coming cannot be waited for any other way. */
	deadline = now_ms() + 500;
	for (uint64_t now = now_ms(); now < deadline; now = now_ms())
		if (wait_fd(fd, POLLIN, (int)(deadline - now)) > 0 && recv(fd, buf, sizeof(buf), MSG_DONTWAIT) >= 0)
			replies++;
	printf("replies %u\n", replies);
	return 0;
}

static int cmd_dns_slow(int argc, char *argv[])
{
	struct address a = resolve(argv[2], argv[3]);
	unsigned delay = number(argv[4]);
	int fd = socket(a.family, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, &a.sa.sa, a.len) < 0)
		die("dns-slow: cannot bind: %s", strerror(errno));
	printf("bound\n");
	fflush(stdout);
	for (;;) {
		static const unsigned char answer[] = { 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1 };
		unsigned char q[512 + sizeof(answer)];
		union sockaddr_union from;
		socklen_t len = sizeof(from);
		ssize_t n = recvfrom(fd, q, 512, 0, &from.sa, &len);
		size_t end = 12;

		if (n < 12)
			continue;
		while (end < (size_t)n && q[end] != 0) /* the question's name, label by label */
			end += q[end] + 1u;
		if (end + 5 > (size_t)n)
			continue;
		end += 5; /* the root label, QTYPE, QCLASS */
		(void)poll(NULL, 0, (int)delay); /* the slowness this server is for */
		q[2] = 0x81; /* a response, recursion desired */
		q[3] = 0x80; /* recursion available, no error */
		q[6] = q[7] = q[8] = q[9] = q[10] = q[11] = 0;
		if (q[end - 4] == 0 && q[end - 3] == 1) { /* QTYPE A */
			memcpy(q + end, answer, sizeof(answer));
			q[7] = 1;
			end += sizeof(answer);
		}
		(void)sendto(fd, q, end, 0, &from.sa, len);
	}
}

int main(int argc, char *argv[])
{
	static const struct {
		const char *name;
		int args;
		int (*run)(int argc, char *argv[]);
	} commands[] = {
		{ "wait-file", 2, cmd_wait_file },   { "notify-collect", 2, cmd_notify_collect },
		{ "flood", 4, cmd_flood },           { "slow", 3, cmd_slow },
		{ "write-first", 4, cmd_write_first }, { "stall", 4, cmd_stall },
		{ "send-unbound", 1, cmd_send_unbound },  { "hammer", 5, cmd_hammer },
		{ "udp", 4, cmd_udp },                 { "firehose", 3, cmd_firehose },
		{ "udp-sink", 2, cmd_udp_sink },        { "fifo-hold", 1, cmd_fifo_hold },
		{ "dns-slow", 3, cmd_dns_slow },       { "udp-burst", 4, cmd_udp_burst },
		{ "udp-spoof-flood", 3, cmd_udp_spoof_flood },
		{ "dgram-deaf", 4, cmd_dgram_deaf },   { "cpu-ticks", 2, cmd_cpu_ticks },
		{ "send-fds", 4, cmd_send_fds },       { "udp-from", 5, cmd_udp_from },
		{ "send-from", 2, cmd_send_from },     { "trickle", 2, cmd_trickle },
		{ "listen-unix", 2, cmd_listen_unix },
	};

	signal(SIGPIPE, SIG_IGN);
	for (size_t i = 0; argc > 1 && i < ELEMENTSOF(commands); i++)
		if (streq(argv[1], commands[i].name)) {
			if (argc < commands[i].args + 2)
				die("%s needs %d arguments", argv[1], commands[i].args);
			return commands[i].run(argc, argv);
		}
	die("usage: see the top of tests/testtool.c");
}
