/* Serving greetings on sd-event: the listening sockets, and through
 * client.c and datagram.c, their clients. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "address.h"
#include "counters.h"
#include "greeting.h"
#include "sources.h"

struct server;
struct config;

struct server_stats {
	uint64_t accepted, greeted, failed, bad_source, denied, limited, rate_limited, too_small, timed_out;
};

int server_new(sd_event *event, unsigned max_clients, struct server **ret);
struct server *server_free(struct server *s);
void server_freep(struct server **s);

/* Adopts a socket systemd passed (bound to a, named fdname or NULL): it is
 * never closed before the server is freed, and its path never removed. It
 * serves nothing until server_apply(). Takes fd. */
int server_add_activated(struct server *s, int fd, const char *fdname, const struct address *a);

/* Serves c: see server.c. On failure nothing changed; the error is logged. */
int server_apply(struct server *s, const struct config *c);

/* Greets one already connected client (inetd style) under policy p; the
 * event loop exits when it is done. Takes fd. */
struct policy;
int server_add_connection(struct server *s, int fd, struct policy *p);

/* Stops accepting; the event loop exits once clients in flight are done, or
 * after the deadline. */
void server_stop(struct server *s, uint64_t deadline_usec);

/* Worker index of n: bind inet sockets with SO_REUSEPORT, leave unix sockets
 * to the first (index 0), count in shared[index]; the first's server_stats()
 * sums all n. Before server_apply(). */
void server_set_worker(struct server *s, unsigned index, struct server_counters *shared, unsigned n);

/* Whether src (an inet address) is one of this server's datagram sockets:
 * its exact address and port or, for a wildcard-bound socket, any address
 * on its port (an inet6 wildcard also for IPv4: it may be dual-stack). A
 * source no reply may go to, lest two of them answer each other forever. */
bool server_is_own_address(const struct server *s, const struct sockaddr *src);

/* Whether a (network order) is the broadcast address of a local interface,
 * as they were at the last server_apply(). */
bool server_is_broadcast(const struct server *s, in_addr_t a);

/* A source of p's over its rate, under handle h of s's table: one line when
 * it begins, then a summary of how many of its what ("datagrams",
 * "connections") were dropped every interval while it goes on, and once
 * more at the end. */
void server_note_rate_drop(struct server *s, struct policy *p, struct source_handle h, uint64_t now_usec,
			   const char *what);

/* "accepted N, greeted N, ...": every counter, for STATUS= and the log. */
#define SERVER_STATS_STRING_MAX 320
const char *server_stats_format(const struct server_stats *st, char *buf, size_t size);
/* One log line per listener served so far, with its own counters. */
void server_log_listener_stats(const struct server *s);

bool server_stopping(const struct server *s);
unsigned server_n_listeners(const struct server *s);
struct server_stats server_stats(const struct server *s);
