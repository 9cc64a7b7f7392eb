/* greetload: a load generator for greeting servers.
 *
 *   greetload tcp HOST PORT EXPECTED [-c CONNS] [-t THREADS] [-d SECONDS] [-s SOURCES]
 *       keeps CONNS connections in flight: connect, read to EOF, check every
 *       byte against EXPECTED, close; prints greetings/s, p50 and p99 latency
 *   greetload udp HOST PORT EXPECTED [-c OUTSTANDING] [-t THREADS] [-d SECONDS]
 *       keeps OUTSTANDING requests in flight; a reply not back within 1 s is lost
 *   greetload hold HOST PORT N [-s SOURCES]
 *       opens N connections that never read, prints "held N", waits for stdin EOF
 *
 * Client addresses rotate over 127.0.0.1..127.0.0.SOURCES (default 16) so that
 * ephemeral ports do not run out. The output is one line of key=value. */
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
static atomic_uint_fast64_t total_ok, total_bad, total_lost;
static volatile int stop;

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
	src.sin_addr.s_addr = htonl(0x7f000001 + n % sources);
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
		c[i]->got = 0;
		c[i]->start = now_us();
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = i };
		if (epoll_ctl(ep, EPOLL_CTL_ADD, c[i]->fd, &ev) < 0)
			die("epoll_ctl");
	}
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
			} else {
				total_bad++;
			}
			close(x->fd);
			x->fd = -1;
			if (stop)
				continue;
			x->fd = tcp_connect(counter++);
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

static void *udp_worker(void *arg)
{
	struct worker *w = arg;
	unsigned n = conns / threads + (w->id < conns % threads);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	int *fds = calloc(n, sizeof(int));
	uint64_t *sent = calloc(n, sizeof(uint64_t));
	char buf[65536];

	for (unsigned i = 0; i < n; i++) {
		fds[i] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fds[i] < 0 || connect(fds[i], (struct sockaddr *)&server, sizeof(server)) < 0)
			die("udp socket");
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = i };
		epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev);
		sent[i] = now_us();
		(void)send(fds[i], "", 0, 0);
	}
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
	while ((opt = getopt(argc, argv, "c:t:d:s:")) >= 0)
		switch (opt) {
		case 'c': conns = (unsigned)atoi(optarg); break;
		case 't': threads = (unsigned)atoi(optarg); break;
		case 'd': seconds = (unsigned)atoi(optarg); break;
		case 's': sources = (unsigned)atoi(optarg); break;
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
	begin = now_us();
	for (unsigned t = 0; t < threads; t++) {
		w[t].id = t;
		w[t].latency = calloc(LAT_BUCKETS, sizeof(uint32_t));
		pthread_create(&w[t].thread, NULL, strcmp(argv[1], "udp") == 0 ? udp_worker : tcp_worker, &w[t]);
	}
	struct timespec d = { .tv_sec = seconds };
	nanosleep(&d, NULL); /* the measuring window */
	stop = 1;
	elapsed = now_us() - begin;
	for (unsigned t = 0; t < threads; t++)
		pthread_join(w[t].thread, NULL);
	printf("ok=%llu bad=%llu lost=%llu rate=%.0f p50_us=%llu p99_us=%llu\n", (unsigned long long)total_ok,
	       (unsigned long long)total_bad, (unsigned long long)total_lost, (double)total_ok * 1e6 / (double)elapsed,
	       (unsigned long long)percentile(w, threads, 0.50), (unsigned long long)percentile(w, threads, 0.99));
	for (unsigned t = 0; t < threads; t++)
		free(w[t].latency);
	free(w);
	free(expected);
	return total_bad > 0 ? 1 : 0;
}
