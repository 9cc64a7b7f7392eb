/* Serving greetings on sd-event: the listening sockets, and the clients
 * that could not be greeted in a single send. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "address.h"
#include "greeting.h"

struct server;

struct server_stats {
	uint64_t accepted, greeted, failed, bad_source;
};

/* One worker's counters. Each has one writer, its own worker; the first
 * reads them all for STATUS=. Workers keep theirs in shared memory. */
struct server_counters {
	_Atomic uint64_t accepted, greeted, failed;
	_Atomic uint64_t bad_source; /* datagrams from a source never answered: port < 1024, our own */
};

int server_new(sd_event *event, unsigned max_clients, struct server **ret);
struct server *server_free(struct server *s);
void server_freep(struct server **s);

struct config;

/* Adopts a socket systemd passed (bound to a, named fdname or NULL): it is
 * never closed before the server is freed, and its path never removed. It
 * serves nothing until server_apply(). Takes fd. */
int server_add_activated(struct server *s, int fd, const char *fdname, const struct address *a);

/* Serves c: see server.c. On failure nothing changed; the error is logged. */
int server_apply(struct server *s, const struct config *c);

/* Greets one already connected client (inetd style) and returns when done. */
int server_add_connection(struct server *s, int fd, struct greeting *g, uint64_t timeout_usec);

/* Stops accepting; the event loop exits once clients in flight are done, or
 * after the deadline. */
void server_stop(struct server *s, uint64_t deadline_usec);

/* Worker index of n: bind inet sockets with SO_REUSEPORT, leave unix sockets
 * to the first (index 0), count in shared[index]; the first's server_stats()
 * sums all n. Before server_apply(). */
void server_set_worker(struct server *s, unsigned index, struct server_counters *shared, unsigned n);

bool server_stopping(const struct server *s);
unsigned server_n_listeners(const struct server *s);
struct server_stats server_stats(const struct server *s);
