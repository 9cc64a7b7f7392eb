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

/* Reads what is queued on the socket (a few batches at most, for fairness)
 * and answers each admitted datagram with p's greeting. */
void dgram_serve(struct dgram_batch *b, const struct server *s, struct policy *p, struct server_counters *counters);
