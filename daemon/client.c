/* Clients: the fast path (send, close) and the slow one (a struct client
 * until the greeting is delivered, or the client gives up). See server.c. */
#include <errno.h>
#include <linux/sockios.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "client.h"
#include "counters.h"
#include "log.h"
#include "macro.h"
#include "sources.h"

/* A client on the slow path. Clients are not sd-event sources: they share
 * one epoll set and one timer, and sit in a list ordered by deadline, so
 * that ten thousand of them cost a little over a megabyte. */
struct client {
	struct client_set *set;
	struct client *prev, *next; /* by wake */
	struct client_context ctx;  /* holds a reference to its policy; peer and local point below */
	union inet_sockaddr peer, local;
	bool tcp, lingering;
	size_t sent, delivered; /* handed to the kernel; known taken by the peer */
	uint64_t wake;          /* the next check: the idle timeout, or the end */
	uint64_t end;           /* the policy's deadline for the whole greeting: its accept's loop time + deadline */
};

struct client_set {
	sd_event *event;
	struct client *clients, *clients_tail; /* earliest wake first */
	unsigned n_clients;
	int epoll;
	sd_event_source *io, *timer;
	struct server_counters *counters;
	struct sources *sources;
	void (*on_change)(void *userdata);
	void *userdata;
};

static void client_unlink(struct client *c)
{
	struct client_set *cs = c->set;

	if (c->prev)
		c->prev->next = c->next;
	else
		cs->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		cs->clients_tail = c->prev;
	c->prev = c->next = NULL;
}

/* Arms the one client timer for the earliest wake. */
static void client_timer_update(struct client_set *cs)
{
	if (!cs->clients) {
		(void)sd_event_source_set_enabled(cs->timer, SD_EVENT_OFF);
		return;
	}
	(void)sd_event_source_set_time(cs->timer, cs->clients->wake);
	(void)sd_event_source_set_enabled(cs->timer, SD_EVENT_ONESHOT);
}

/* (Re)places c at now + its timeout, or its end if sooner: from the tail,
 * where equal timeouts put it. */
static void client_schedule(struct client *c, uint64_t now)
{
	struct client_set *cs = c->set;
	struct client *after;

	c->wake = MIN(now + c->ctx.policy->timeout_usec, c->end);
	if (c->prev || cs->clients == c)
		client_unlink(c);
	for (after = cs->clients_tail; after && after->wake > c->wake; after = after->prev)
		;
	c->prev = after;
	c->next = after ? after->next : cs->clients;
	if (c->next)
		c->next->prev = c;
	else
		cs->clients_tail = c;
	if (after)
		after->next = c;
	else
		cs->clients = c;
	if (cs->clients == c)
		client_timer_update(cs);
}

/* A client is done: its fd closed, its place in its source's count freed. */
static void client_context_close(struct client_set *cs, const struct client_context *ctx)
{
	safe_close(ctx->fd); /* also leaves the epoll set */
	sources_release(cs->sources, ctx->source);
}

/* A slow-path client comes or goes: its listener's count of clients in flight. */
static void client_in_flight(const struct client *c, int delta)
{
	if (c->ctx.policy->in_flight)
		*c->ctx.policy->in_flight += (unsigned)delta;
}

/* Its access line, if its listener logs them: the time since its accept
 * is the loop's, read when the accept's turn began and now's (no clock
 * read), so a client served in one turn took 0 ms. */
static void client_log_access(const struct client *c, enum client_outcome outcome)
{
	uint64_t now = 0;

	if (_likely_(!c->ctx.policy->log_clients))
		return;
	(void)sd_event_now(c->set->event, CLOCK_MONOTONIC, &now);
	client_context_log_access(&c->ctx, outcome, c->sent,
				  now - MIN(now, c->end - c->ctx.policy->deadline_usec));
}

/* A slow-path client ends, how is for its access line. */
static void client_free(struct client *c, enum client_outcome outcome)
{
	struct client_set *cs = c->set;
	bool first = cs->clients == c;

	client_log_access(c, outcome);
	client_unlink(c);
	client_context_close(cs, &c->ctx);
	client_in_flight(c, -1);
	policy_unref(c->ctx.policy);
	cs->n_clients--;
	free(c);
	if (first)
		client_timer_update(cs);
	cs->on_change(cs->userdata); /* an fd and a slot were freed: accepting may go on */
}

/* Who a client is, for a log line at level: only worked out (a system
 * call or two) when the line is logged at all. */
static const char *peer_string(const struct client_context *ctx, int level, char buf[static ADDRESS_STRING_MAX])
{
	buf[0] = '\0';
	return level > log_get_max_level() ? buf : client_context_peer_string(ctx, buf);
}

static int client_watch(struct client *c, int op, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };

	return epoll_ctl(c->set->epoll, op, c->ctx.fd, &ev) < 0 ? negative_errno() : 0;
}

/* Reads and discards what the client sent, 64 KiB at most per call so that
 * a client that never stops writing cannot hold the loop: -1 at EOF or on
 * an error, 0 if there was nothing, 1 if bytes were read and more may follow. */
static int client_drain(int fd)
{
	char buf[4096];
	bool got = false;
	ssize_t k = 0;

	for (unsigned i = 0; i < 16; i++) {
		k = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (k <= 0)
			break;
		got = true;
	}
	if (k > 0)
		return 1;
	if (k == 0 || (errno != EAGAIN && errno != EINTR))
		return -1;
	return got;
}

/* The greeting is with the kernel, but may still be on its way. Closing now
 * would answer any byte the client sends later with an RST, destroying what
 * is not yet delivered; so half-close, and wait for the client's EOF. */
static void client_linger(struct client *c)
{
	if (shutdown(c->ctx.fd, SHUT_WR) < 0 || client_watch(c, EPOLL_CTL_MOD, EPOLLIN) < 0) {
		client_free(c, CLIENT_GREETED);
		return;
	}
	c->lingering = true;
}

static void client_io(struct client *c)
{
	const struct greeting *g = c->ctx.policy->greeting;
	char peer[ADDRESS_STRING_MAX];
	ssize_t n;

	if (c->lingering) {
		if (client_drain(c->ctx.fd) < 0)
			client_free(c, CLIENT_GREETED);
		return;
	}
	n = send(c->ctx.fd, g->data + c->sent, g->size - c->sent, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		log_client_struct_errno(LOG_DEBUG, errno, CLIENT_LOG(&c->ctx, NULL),
					"client %s went away mid-greeting: %m", peer_string(&c->ctx, LOG_DEBUG, peer));
		COUNT(c->set->counters, c->ctx.policy, failed, 1);
		client_free(c, CLIENT_FAILED);
		return;
	}
	c->sent += (size_t)n;
	if (c->sent < g->size)
		return;
	COUNT(c->set->counters, c->ctx.policy, greeted, 1);
	if (c->tcp)
		client_linger(c);
	else
		client_free(c, CLIENT_GREETED); /* unix: the greeting is in the peer's queue already */
}

/* The clients' epoll set is readable: serve what it says. */
static int on_client_events(sd_event_source *es, int fd, uint32_t revents, void *userdata)
{
	struct epoll_event ev[64];
	int n = epoll_wait(fd, ev, ELEMENTSOF(ev), 0);

	for (int i = 0; i < n; i++)
		client_io(ev[i].data.ptr);
	return 0;
}

/* Every timeout, a client must have taken more of its greeting: a slow
 * reader is served to the end of its deadline, one that stopped reading is
 * dropped; so is one that has not taken it all by its deadline, however
 * steadily it reads. A drop is an RST, so that the kernel lets go of the
 * undelivered bytes too. A lingering client whose greeting is all delivered
 * is closed quietly. */
static void client_timeout(struct client *c, uint64_t now)
{
	int unsent = 0;
	size_t delivered;
	char peer[ADDRESS_STRING_MAX];

	(void)ioctl(c->ctx.fd, SIOCOUTQ, &unsent); /* bytes the peer has not taken yet */
	delivered = c->sent - MIN(c->sent, (size_t)MAX(unsent, 0));
	if (c->lingering && unsent == 0) {
		client_free(c, CLIENT_GREETED);
		return;
	}
	if (now >= c->end)
		log_client_struct_errno(LOG_INFO, 0, CLIENT_LOG(&c->ctx, MESSAGE_ID_CLIENT_DROPPED),
					"client %s did not take its greeting within its deadline "
					"(%zu of %zu bytes delivered), dropped", peer_string(&c->ctx, LOG_INFO, peer),
					delivered, c->ctx.policy->greeting->size);
	else if (delivered > c->delivered) {
		c->delivered = delivered;
		client_schedule(c, now);
		return;
	} else
		log_client_struct_errno(LOG_INFO, 0, CLIENT_LOG(&c->ctx, MESSAGE_ID_CLIENT_DROPPED),
					"client %s stopped reading its greeting (%zu of %zu bytes delivered), dropped",
					peer_string(&c->ctx, LOG_INFO, peer), delivered, c->ctx.policy->greeting->size);
	COUNT(c->set->counters, c->ctx.policy, timed_out, 1);
	(void)setsockopt(c->ctx.fd, SOL_SOCKET, SO_LINGER, &(struct linger){ .l_onoff = 1, .l_linger = 0 },
			 sizeof(struct linger));
	client_free(c, now >= c->end ? CLIENT_DEADLINE : CLIENT_TIMED_OUT);
}

static int on_client_timer(sd_event_source *es, uint64_t usec, void *userdata)
{
	struct client_set *cs = userdata;

	while (cs->clients && cs->clients->wake <= usec)
		client_timeout(cs->clients, usec); /* frees it, or moves it later */
	client_timer_update(cs);
	return 0;
}

/* Keeps an inet address in c's own storage; a unix one is read from the fd when asked. */
static const struct sockaddr *keep_address(const struct sockaddr *sa, socklen_t len, union inet_sockaddr *storage)
{
	if (!sa || sa->sa_family == AF_UNIX || len > sizeof(*storage))
		return NULL;
	memcpy(storage, sa, len);
	return &storage->sa;
}

/* The slow path: a client that needs more than one send, or lingers. Takes ctx->fd. */
static struct client *client_new(struct client_set *cs, const struct client_context *ctx, size_t sent)
{
	struct client *c = malloc(sizeof(*c));
	char peer[ADDRESS_STRING_MAX];
	uint64_t now = 0;
	int r;

	if (!c) {
		log_client_struct_errno(LOG_ERR, ENOMEM, CLIENT_LOG(ctx, NULL), "cannot serve client %s: %m",
				 peer_string(ctx, LOG_ERR, peer));
		COUNT(cs->counters, ctx->policy, failed, 1);
		client_access(ctx, CLIENT_FAILED, sent, 0);
		client_context_close(cs, ctx);
		return NULL;
	}
	*c = (struct client){ .set = cs, .ctx = *ctx, .sent = sent,
			      .tcp = ctx->peer ? ctx->peer->sa_family != AF_UNIX : true };
	c->ctx.peer = keep_address(ctx->peer, ctx->peer_len, &c->peer);
	c->ctx.local = keep_address(ctx->local, ctx->local_len, &c->local);
	policy_ref(c->ctx.policy);
	client_in_flight(c, +1);
	cs->n_clients++;
	(void)sd_event_now(cs->event, CLOCK_MONOTONIC, &now);
	c->end = now + c->ctx.policy->deadline_usec;
	client_schedule(c, now);
	r = client_watch(c, EPOLL_CTL_ADD, EPOLLOUT);
	if (r < 0) {
		log_client_struct_errno(LOG_ERR, r, CLIENT_LOG(ctx, NULL), "cannot watch client %s: %m",
				 peer_string(ctx, LOG_ERR, peer));
		COUNT(cs->counters, ctx->policy, failed, 1);
		client_free(c, CLIENT_FAILED);
		return NULL;
	}
	return c;
}

/* A greeting this small leaves in the first flight of segments. */
#define CLOSE_AT_ONCE_MAX 4096

void client_greet(struct client_set *cs, const struct client_context *ctx)
{
	const struct greeting *g = ctx->policy->greeting;
	ssize_t n = send(ctx->fd, g->data, g->size, MSG_DONTWAIT | MSG_NOSIGNAL);
	bool unix_peer = ctx->peer && ctx->peer->sa_family == AF_UNIX;
	struct client *c;
	char peer[ADDRESS_STRING_MAX];

	if (_likely_(n == (ssize_t)g->size)) {
		COUNT(cs->counters, ctx->policy, greeted, 1);
		/* Unix sockets deliver at once; TCP may lose undelivered bytes to
		 * an RST if the client has written, or writes soon. */
		if (_likely_(unix_peer || (g->size <= CLOSE_AT_ONCE_MAX && client_drain(ctx->fd) <= 0))) {
			client_access(ctx, CLIENT_GREETED, g->size, 0);
			client_context_close(cs, ctx);
			return;
		}
		c = client_new(cs, ctx, g->size);
		if (c)
			client_linger(c);
		return;
	}
	if (n < 0 && errno != EAGAIN) {
		log_client_struct_errno(LOG_DEBUG, errno, CLIENT_LOG(ctx, NULL),
					"client %s went away before its greeting: %m",
					peer_string(ctx, LOG_DEBUG, peer));
		COUNT(cs->counters, ctx->policy, failed, 1);
		client_access(ctx, CLIENT_FAILED, 0, 0);
		client_context_close(cs, ctx);
		return;
	}
	/* A seqpacket message goes whole or not at all, so n is 0 or -1 there. */
	client_new(cs, ctx, n > 0 ? (size_t)n : 0);
}

int client_set_new(sd_event *event, struct sources *sources, void (*on_change)(void *userdata), void *userdata,
		   struct client_set **ret)
{
	struct client_set *cs = calloc(1, sizeof(*cs));
	int r;

	if (!cs)
		return -ENOMEM;
	*cs = (struct client_set){ .event = sd_event_ref(event), .sources = sources, .on_change = on_change,
				   .userdata = userdata };
	cs->epoll = epoll_create1(EPOLL_CLOEXEC);
	if (cs->epoll < 0) {
		r = negative_errno();
		client_set_free(cs);
		return r;
	}
	r = sd_event_add_io(event, &cs->io, cs->epoll, EPOLLIN, on_client_events, cs);
	if (r >= 0)
		r = sd_event_add_time(event, &cs->timer, CLOCK_MONOTONIC, UINT64_MAX, 50 * USEC_PER_MSEC,
				      on_client_timer, cs);
	if (r >= 0)
		r = sd_event_source_set_enabled(cs->timer, SD_EVENT_OFF);
	if (r < 0) {
		client_set_free(cs);
		return r;
	}
	*ret = cs;
	return 0;
}

/* A client still in flight when greetingd stops: greeted if lingering
 * with all of its greeting delivered, else cut short. */
static enum client_outcome client_outcome_at_stop(const struct client *c)
{
	int unsent = 0;

	if (c->lingering && ioctl(c->ctx.fd, SIOCOUTQ, &unsent) == 0 && unsent == 0)
		return CLIENT_GREETED;
	return CLIENT_STOPPED;
}

struct client_set *client_set_free(struct client_set *cs)
{
	if (!cs)
		return NULL;
	cs->on_change = NULL;
	while (cs->clients) {
		struct client *c = cs->clients;
		if (c->ctx.policy->log_clients)
			client_log_access(c, client_outcome_at_stop(c));
		client_unlink(c);
		client_context_close(cs, &c->ctx);
		client_in_flight(c, -1);
		policy_unref(c->ctx.policy);
		free(c);
	}
	sd_event_source_disable_unref(cs->io);
	sd_event_source_disable_unref(cs->timer);
	safe_close(cs->epoll);
	sd_event_unref(cs->event);
	free(cs);
	return NULL;
}

void client_set_counters(struct client_set *cs, struct server_counters *counters)
{
	cs->counters = counters;
}

unsigned client_set_size(const struct client_set *cs)
{
	return cs->n_clients;
}
