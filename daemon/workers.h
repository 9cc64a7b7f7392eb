/* workers = N: N - 1 more processes, forked at start, each with its own
 * event loop and SO_REUSEPORT sockets, so that the kernel spreads clients
 * over the cores. The first process alone talks to systemd, serves unix
 * sockets and reads the configuration; it hands each reload to the others
 * over a socket pair (a sealed memfd, see config-serial.c) and waits for
 * every one to acknowledge it. A worker that dies stops them all. */
#pragma once

#include <signal.h>
#include <stdbool.h>
#include <systemd/sd-event.h>

#include "counters.h"

struct workers;

struct workers_callbacks {
	/* The first: a worker exited (the callback tells whether that was expected). */
	void (*died)(void *userdata, const siginfo_t *si);
	/* A worker: the first sent a configuration; the return value (0 or
	 * -errno) is what the worker acknowledges. */
	int (*received)(void *userdata, int memfd);
	/* The first: every worker has acknowledged; failed of them refused. */
	void (*acknowledged)(void *userdata, unsigned failed);
};

/* Forks n - 1 workers. Returns 0 in the first process, 1 in a new worker,
 * or a logged -errno; *ret is this process's view in both. */
int workers_start(unsigned n, struct workers **ret);
struct workers *workers_free(struct workers *w);
void workers_freep(struct workers **w);

/* Watches the other processes on e. */
int workers_attach(struct workers *w, sd_event *e, const struct workers_callbacks *cb, void *userdata);

unsigned workers_index(const struct workers *w);    /* 0 in the first */
struct server_counters *workers_counters(struct workers *w); /* one slot per worker, shared */

/* The first: hands the configuration in memfd to every worker. Returns the
 * number of workers asked, whose answers the acknowledged callback sums
 * up; *ret_failed: those it could not even ask (counted there too). */
unsigned workers_send_config(struct workers *w, int memfd, unsigned *ret_failed);

/* The first: SIGTERM to every worker still running, and wait for them. */
void workers_stop(struct workers *w);
/* The first: sig to every worker still running. */
void workers_kill(struct workers *w, int sig);
void workers_wait(struct workers *w);
