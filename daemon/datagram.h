/* Datagrams: recvmmsg() a batch, sendmmsg() the greeting back, from the
 * address each request was sent to. See server.c. */
#pragma once

#include "counters.h"
#include "policy.h"

struct server;
struct dgram_batch;

/* Buffers for the datagram socket fd. */
struct dgram_batch *dgram_batch_new(int fd, int family);
struct dgram_batch *dgram_batch_free(struct dgram_batch *b);

struct sources;

/* What a wake-up of a datagram socket works with: the server (its own
 * addresses), the per-source table and the loop's time, the counters. */
struct dgram_env {
	struct server *server;
	struct sources *sources;
	uint64_t now_usec;
	struct server_counters *counters;
};

/* Reads what is queued on the socket (a few batches at most, for fairness)
 * and answers each admitted datagram with p's greeting. */
void dgram_serve(struct dgram_batch *b, const struct dgram_env *env, struct policy *p);

/* Why a reply to peer, an inet or inet6 source that came to a socket of
 * server s (v6only: an IPv6-only one), could not be sent safely, or NULL:
 * udp-source-check (greetingd.conf(5)). */
const char *dgram_bad_source(const struct server *s, bool v6only, const struct sockaddr *peer, socklen_t len);
