/* greetload: a load generator for greeting servers.
 *
 *   greetload tcp HOST PORT EXPECTED [-c CONNS] [-t THREADS] [-d SECONDS] [-s SOURCES] [-b ADDR] [-f]
 *       keeps CONNS connections in flight: connect, read to EOF, check every
 *       byte against EXPECTED, close; prints greetings/s, p50 and p99 latency
 *   greetload udp HOST PORT EXPECTED [-c OUTSTANDING] [-t THREADS] [-d SECONDS] [-s SOURCES] [-b ADDR] [-f]
 *       keeps OUTSTANDING requests in flight; a reply not back within 1 s is lost
 *   greetload hold HOST PORT N [-s SOURCES] [-b ADDR]
 *       opens N connections that never read, prints "held N", waits for stdin EOF
 *
 * Client addresses rotate over ADDR..ADDR+SOURCES-1 (default 127.0.0.1 and
 * 16) so that ephemeral ports do not run out; UDP sockets are bound to them
 * only when -b is given (else the kernel picks 127.0.0.1).
 *
 * -f, flood: a source that does not wait for the server. It prints
 * "flooding" once its sockets are set up, then runs for SECONDS or until its
 * stdin reaches EOF, whichever comes first. tcp: CONNS connections in
 * flight, each closed and replaced as soon as the server answers; a
 * connection closed (or reset) with no byte is "refused", not an error. udp:
 * batches of 64 empty datagrams (sendmmsg) as fast as they go, from one
 * socket per address; replies are read between batches, into an 8 MiB
 * receive buffer, and those the buffer still dropped (SO_RXQ_OVFL) are
 * counted as "dropped" replies. Every reply read is checked byte for byte.
 * sent=/sent_rate= are requests (connections, datagrams) made; rate= is
 * replies (ok + dropped) per second over elapsed_us. cpu_us= is greetload's
 * own CPU time (user + system, kernel work done in its name included).
 *
 * The output is one line of key=value. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

static struct sockaddr_in server;
static char *expected;
static size_t expected_size;
static unsigned conns = 64, threads = 1, seconds = 5, sources = 16;
static uint32_t first_source = 0x7f000001; /* 127.0.0.1, host order */
static int bind_udp, flood;
static atomic_uint_fast64_t total_ok, total_bad, total_lost, total_sent, total_refused, total_dropped;
static volatile int stop;
static pthread_barrier_t ready; /* every worker set up, and main */

#define LAT_BUCKETS 100000 /* microseconds, capped */

struct worker {
	pthread_t thread;
	unsigned id;
	uint32_t *latency; /* histogram, 1 us buckets */
};

static void die(const char *what)
{
	fprintf(stderr, "greetload: %s: %s\n", what, strerror(errno));
	exit(1);
}

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static int tcp_connect(unsigned n)
{
	struct sockaddr_in src = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		die("socket");
	src.sin_addr.s_addr = htonl(first_source + n % sources);
	(void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0)
		die("bind");
	if (connect(fd, (struct sockaddr *)&server, sizeof(server)) < 0 && errno != EINPROGRESS)
		die("connect");
	return fd;
}

struct conn {
	int fd;
	size_t got;
	uint64_t start;
	char buf[];
};

static void *tcp_worker(void *arg)
{
	struct worker *w = arg;
	unsigned n = conns / threads + (w->id < conns % threads), counter = w->id;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct conn **c = calloc(n, sizeof(*c));

	for (unsigned i = 0; i < n; i++) {
		c[i] = malloc(sizeof(struct conn) + expected_size + 1);
		c[i]->fd = -1;
	}
	for (unsigned i = 0; i < n; i++) {
		c[i]->fd = tcp_connect(counter++);
		total_sent++;
		c[i]->got = 0;
		c[i]->start = now_us();
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = i };
		if (epoll_ctl(ep, EPOLL_CTL_ADD, c[i]->fd, &ev) < 0)
			die("epoll_ctl");
	}
	pthread_barrier_wait(&ready);
	while (!stop) {
		struct epoll_event ev[256];
		int k = epoll_wait(ep, ev, 256, 100);
		for (int j = 0; j < k; j++) {
			struct conn *x = c[ev[j].data.u32];
			ssize_t r = recv(x->fd, x->buf + x->got, expected_size + 1 - x->got, 0);
			if (r < 0 && errno == EAGAIN)
				continue;
			if (r > 0) {
				x->got += (size_t)r;
				if (x->got <= expected_size)
					continue;
			}
			if (r == 0 && x->got == expected_size && memcmp(x->buf, expected, expected_size) == 0) {
				uint64_t lat = now_us() - x->start;
				w->latency[lat < LAT_BUCKETS ? lat : LAT_BUCKETS - 1]++;
				total_ok++;
			} else if (flood && x->got == 0 && (r == 0 || errno == ECONNRESET)) {
				total_refused++; /* closed at once, not a byte: the server's refusal */
			} else {
				total_bad++;
			}
			close(x->fd);
			x->fd = -1;
			if (stop)
				continue;
			x->fd = tcp_connect(counter++);
			total_sent++;
			x->got = 0;
			x->start = now_us();
			struct epoll_event add = { .events = EPOLLIN, .data.u32 = ev[j].data.u32 };
			if (epoll_ctl(ep, EPOLL_CTL_ADD, x->fd, &add) < 0)
				die("epoll_ctl");
		}
	}
	for (unsigned i = 0; i < n; i++) {
		if (c[i]->fd >= 0)
			close(c[i]->fd);
		free(c[i]);
	}
	free(c);
	close(ep);
	return NULL;
}

/* A UDP socket connected to the server, bound to the n-th client address
 * when -b was given. */
static int udp_socket(unsigned n)
{
	struct sockaddr_in src = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(first_source + n % sources) };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0 || (bind_udp && bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0) ||
	    connect(fd, (struct sockaddr *)&server, sizeof(server)) < 0)
		die("udp socket");
	return fd;
}

#define FLOOD_BATCH 64

/* Reads every reply queued on fd; counts the byte-exact ones, and the
 * replies the socket had to drop since the last read (SO_RXQ_OVFL). */
static void flood_drain(int fd, uint32_t *overflows)
{
	static __thread char bufs[FLOOD_BATCH][64];
	static __thread char control[FLOOD_BATCH][CMSG_SPACE(sizeof(uint32_t))];
	struct mmsghdr m[FLOOD_BATCH];
	struct iovec iov[FLOOD_BATCH];
	int k;

	do {
		for (unsigned j = 0; j < FLOOD_BATCH; j++) {
			iov[j] = (struct iovec){ bufs[j], sizeof(bufs[j]) };
			m[j].msg_hdr = (struct msghdr){ .msg_iov = &iov[j], .msg_iovlen = 1, .msg_control = control[j],
							.msg_controllen = sizeof(control[j]) };
		}
		k = recvmmsg(fd, m, FLOOD_BATCH, MSG_DONTWAIT, NULL);
		for (int j = 0; j < k; j++) {
			if (m[j].msg_len == expected_size && memcmp(bufs[j], expected, expected_size) == 0)
				total_ok++;
			else
				total_bad++;
			for (struct cmsghdr *cm = CMSG_FIRSTHDR(&m[j].msg_hdr); cm; cm = CMSG_NXTHDR(&m[j].msg_hdr, cm))
				if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SO_RXQ_OVFL) {
					uint32_t o;
					memcpy(&o, CMSG_DATA(cm), sizeof(o));
					total_dropped += o - *overflows; /* the counter wraps, so does this */
					*overflows = o;
				}
		}
	} while (k == FLOOD_BATCH);
}

/* -f udp: empty datagrams in batches of 64, as fast as they go, round robin
 * over one socket per client address; a socket's replies are read after each
 * batch it sends. */
static void *udp_flood(void *arg)
{
	struct worker *w = arg;
	unsigned n = sources, k = 0;
	int *fds = calloc(n, sizeof(int)), one = 1, big = 8 << 20;
	uint32_t *overflows = calloc(n, sizeof(uint32_t));
	struct mmsghdr m[FLOOD_BATCH];
	struct iovec iov = { (char *)"", 0 };

	for (unsigned i = 0; i < n; i++) {
		fds[i] = udp_socket(w->id + i * threads);
		if (setsockopt(fds[i], SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big)) < 0)
			(void)setsockopt(fds[i], SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
		(void)setsockopt(fds[i], SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one));
	}
	for (unsigned j = 0; j < FLOOD_BATCH; j++)
		m[j].msg_hdr = (struct msghdr){ .msg_iov = &iov, .msg_iovlen = 1 };
	pthread_barrier_wait(&ready);
	while (!stop) {
		int sent = sendmmsg(fds[k], m, FLOOD_BATCH, MSG_DONTWAIT);
		if (sent > 0)
			total_sent += (unsigned)sent;
		flood_drain(fds[k], &overflows[k]);
		k = (k + 1) % n;
	}
	for (unsigned i = 0; i < n; i++) {
		flood_drain(fds[i], &overflows[i]);
		close(fds[i]);
	}
	free(fds);
	free(overflows);
	return NULL;
}

static void *udp_worker(void *arg)
{
	struct worker *w = arg;
	unsigned n = conns / threads + (w->id < conns % threads);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	int *fds = calloc(n, sizeof(int));
	uint64_t *sent = calloc(n, sizeof(uint64_t));
	char buf[65536];

	for (unsigned i = 0; i < n; i++) {
		fds[i] = udp_socket(w->id * n + i);
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = i };
		epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev);
		sent[i] = now_us();
		(void)send(fds[i], "", 0, 0);
	}
	pthread_barrier_wait(&ready);
	while (!stop) {
		struct epoll_event ev[256];
		int k = epoll_wait(ep, ev, 256, 50);
		uint64_t now = now_us();
		for (int j = 0; j < k; j++) {
			unsigned i = ev[j].data.u32;
			ssize_t r = recv(fds[i], buf, sizeof(buf), 0);
			if (r < 0)
				continue;
			if ((size_t)r == expected_size && memcmp(buf, expected, expected_size) == 0) {
				uint64_t lat = now - sent[i];
				w->latency[lat < LAT_BUCKETS ? lat : LAT_BUCKETS - 1]++;
				total_ok++;
			} else {
				total_bad++;
			}
			sent[i] = now;
			(void)send(fds[i], "", 0, 0);
		}
		for (unsigned i = 0; i < n; i++)
			if (now - sent[i] > 1000000) { /* lost: ask again */
				total_lost++;
				sent[i] = now;
				(void)send(fds[i], "", 0, 0);
			}
	}
	for (unsigned i = 0; i < n; i++)
		close(fds[i]);
	free(fds);
	free(sent);
	close(ep);
	return NULL;
}

static uint64_t percentile(struct worker *w, unsigned nw, double p)
{
	uint64_t total = 0, seen = 0;

	for (unsigned t = 0; t < nw; t++)
		for (unsigned i = 0; i < LAT_BUCKETS; i++)
			total += w[t].latency[i];
	for (unsigned i = 0; i < LAT_BUCKETS; i++) {
		for (unsigned t = 0; t < nw; t++)
			seen += w[t].latency[i];
		if (total && seen >= p * (double)total)
			return i;
	}
	return 0;
}

static void hold(unsigned n)
{
	int rcv = 1024;
	char c;

	for (unsigned i = 0; i < n; i++) {
		int fd = tcp_connect(i);
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	}
	printf("held %u\n", n);
	fflush(stdout);
	while (read(STDIN_FILENO, &c, 1) > 0)
		;
}

int main(int argc, char *argv[])
{
	struct worker *w;
	FILE *f;
	int opt;
	uint64_t begin, elapsed;

	if (argc < 5) {
		fprintf(stderr, "usage: see the top of bench/greetload.c\n");
		return 2;
	}
	server.sin_family = AF_INET;
	if (inet_pton(AF_INET, argv[2], &server.sin_addr) != 1)
		return fprintf(stderr, "greetload: %s: not an IPv4 address\n", argv[2]), 2;
	server.sin_port = htons((uint16_t)atoi(argv[3]));
	optind = 5;
	while ((opt = getopt(argc, argv, "c:t:d:s:b:f")) >= 0)
		switch (opt) {
		case 'c': conns = (unsigned)atoi(optarg); break;
		case 't': threads = (unsigned)atoi(optarg); break;
		case 'd': seconds = (unsigned)atoi(optarg); break;
		case 's': sources = (unsigned)atoi(optarg); break;
		case 'b': {
			struct in_addr a;
			if (inet_pton(AF_INET, optarg, &a) != 1)
				return fprintf(stderr, "greetload: -b %s: not an IPv4 address\n", optarg), 2;
			first_source = ntohl(a.s_addr);
			bind_udp = 1;
			break;
		}
		case 'f': flood = 1; break;
		default: return 2;
		}
	if (strcmp(argv[1], "hold") == 0) {
		hold((unsigned)atoi(argv[4]));
		return 0;
	}
	f = fopen(argv[4], "r");
	if (!f)
		die(argv[4]);
	expected = malloc(1 << 20);
	expected_size = fread(expected, 1, 1 << 20, f);
	fclose(f);
	if (threads == 0 || conns < threads || sources == 0 || seconds == 0)
		return fprintf(stderr, "greetload: bad -c, -t, -d or -s\n"), 2;

	w = calloc(threads, sizeof(*w));
	pthread_barrier_init(&ready, NULL, threads + 1);
	begin = now_us();
	for (unsigned t = 0; t < threads; t++) {
		w[t].id = t;
		w[t].latency = calloc(LAT_BUCKETS, sizeof(uint32_t));
		pthread_create(&w[t].thread, NULL,
			       strcmp(argv[1], "udp") == 0 ? (flood ? udp_flood : udp_worker) : tcp_worker, &w[t]);
	}
	pthread_barrier_wait(&ready);
	if (flood) {
		/* The window: SECONDS, or until stdin's EOF (the bench's end of a round). */
		struct pollfd in = { .fd = STDIN_FILENO, .events = POLLIN };
		uint64_t end = now_us() + (uint64_t)seconds * 1000000;
		char c;
		begin = now_us();
		printf("flooding\n");
		fflush(stdout);
		for (uint64_t t; (t = now_us()) < end;) {
			int r = poll(&in, 1, (int)((end - t) / 1000) + 1);
			if (r < 0 && errno != EINTR)
				die("poll");
			if (r > 0 && read(STDIN_FILENO, &c, 1) <= 0)
				break;
		}
	} else {
		struct timespec d = { .tv_sec = seconds };
		nanosleep(&d, NULL); /* the measuring window */
	}
	stop = 1;
	elapsed = now_us() - begin;
	for (unsigned t = 0; t < threads; t++)
		pthread_join(w[t].thread, NULL);
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	printf("ok=%llu bad=%llu lost=%llu refused=%llu dropped=%llu sent=%llu elapsed_us=%llu cpu_us=%llu sent_rate=%.0f "
	       "rate=%.0f p50_us=%llu p99_us=%llu\n",
	       (unsigned long long)total_ok, (unsigned long long)total_bad, (unsigned long long)total_lost,
	       (unsigned long long)total_refused, (unsigned long long)total_dropped, (unsigned long long)total_sent,
	       (unsigned long long)elapsed,
	       (unsigned long long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 +
		       (unsigned long long)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec),
	       (double)total_sent * 1e6 / (double)elapsed,
	       (double)(total_ok + total_dropped) * 1e6 / (double)elapsed, (unsigned long long)percentile(w, threads, 0.50),
	       (unsigned long long)percentile(w, threads, 0.99));
	for (unsigned t = 0; t < threads; t++)
		free(w[t].latency);
	free(w);
	free(expected);
	return total_bad > 0 ? 1 : 0;
}
