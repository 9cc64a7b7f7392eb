/* What server.c, client.c and datagram.c share: not an interface for
 * anything else. */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "address.h"
#include "config.h"
#include "greeting.h"
#include "listener.h"
#include "server.h"

#define NAME_MAX_LEN 64

/* Adds to a counter that has one writer: a plain load and store, no locked
 * instruction, yet a whole value for the first worker reading it. */
static inline void count(_Atomic uint64_t *counter, uint64_t n)
{
	atomic_store_explicit(counter, atomic_load_explicit(counter, memory_order_relaxed) + n, memory_order_relaxed);
}

struct dgram_batch;

/* One socket. A configured listener with several addresses has several. */
struct listener {
	struct server *server;
	struct listener *next;
	char *name;                 /* the section it serves, or its fd's name while unmatched */
	char *fdname;               /* activated: its FileDescriptorName= */
	struct address requested;   /* as configured: port 0 stays 0 */
	struct address address;     /* as bound */
	struct greeting *greeting;
	uint64_t timeout_usec;
	int fd;
	bool activated;             /* systemd's: never closed, its path never removed */
	struct socket_file file;    /* the socket file it bound, removed at close if still ours */
	const struct listener_config *claim; /* server_apply(): the section it will serve */
	sd_event_source *io;
	struct dgram_batch *batch;
};

/* A client on the slow path. Clients are not sd-event sources: they share
 * one epoll set and one timer, and sit in a list ordered by deadline, so
 * that ten thousand of them cost a little over a megabyte. */
struct client {
	struct server *server;
	struct client *prev, *next; /* by deadline */
	int fd;
	bool tcp, lingering;
	struct greeting *greeting;
	size_t sent, delivered; /* handed to the kernel; known taken by the peer */
	uint64_t timeout_usec, deadline;
	char name[NAME_MAX_LEN + 1];
};

struct server {
	sd_event *event;
	struct listener *listeners;
	struct client *clients, *clients_tail; /* earliest deadline first */
	unsigned n_clients, max_clients;
	bool accepting, paused, stopping;
	bool reuseport, inet_only; /* workers: SO_REUSEPORT; all but the first leave unix sockets alone */
	int client_epoll;
	sd_event_source *client_io, *client_timer;
	sd_event_source *resume_timer, *stop_timer;
	struct server_counters own, *counters; /* counters: &own, or a worker's shared slot */
	struct server_counters *all; /* what server_stats() sums: counters, or, in the first worker, every worker's */
	unsigned n_all;
};

/* server.c */
void server_update_accepting(struct server *s);

/* client.c */
void greet_connection(struct server *s, const struct listener *l, int fd);
struct client *client_free(struct client *c);
int on_client_events(sd_event_source *es, int fd, uint32_t revents, void *userdata);
int on_client_timer(sd_event_source *es, uint64_t usec, void *userdata);

/* datagram.c */
struct dgram_batch *dgram_batch_new(void);
void dgram_batch_free(struct dgram_batch *b);
int on_datagram(sd_event_source *es, int fd, uint32_t revents, void *userdata);
