/* Serving.
 *
 * Stream and unix seqpacket: accept in batches; try to send the greeting at
 * once. Most clients are done there, with no allocation: greeted, closed.
 * A client whose socket buffer is full becomes a struct client with an
 * EPOLLOUT source and a deadline (client.c). Over TCP, a client that has
 * sent us bytes, or whose greeting is large, lingers half-closed until its
 * EOF: closing earlier would let its next byte draw an RST that destroys
 * what is still undelivered. At the deadline, a client that has not read is
 * reset.
 *
 * Datagram: recvmmsg() a batch, sendmmsg() the greeting back to each sender,
 * from the address it wrote to (IP_PKTINFO/IPV6_PKTINFO); see datagram.c.
 * Replies the kernel cannot take now (EAGAIN) are dropped and counted, never
 * waited for.
 *
 * max-clients is checked before each accept: reaching it, or running out of
 * fds, pauses accepting; a client that closes, or a short timer, resumes it.
 *
 * Each socket serves a policy (policy.h): its section's settings, shared
 * with the clients in flight. A reload swaps policies; clients keep theirs.
 *
 * This file: listeners, accepting, server_apply() and the life cycle. */
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>

#include "activation.h"
#include "client.h"
#include "config.h"
#include "datagram.h"
#include "listener.h"
#include "log.h"
#include "macro.h"
#include "policy.h"
#include "server.h"

#define ACCEPT_BATCH 64
#define RESUME_RETRY_USEC (250 * USEC_PER_MSEC)

/* One socket. A configured listener with several addresses has several. */
struct listener {
	struct server *server;
	struct listener *next;
	char *fdname;               /* activated: its FileDescriptorName= */
	struct address requested;   /* as configured: port 0 stays 0 */
	struct address address;     /* as bound */
	int fd;
	bool activated;             /* systemd's: never closed, its path never removed */
	bool accepting;             /* its io source is on (stream listeners) */
	struct socket_file file;    /* the socket file it bound, removed at close if still ours */
	struct policy *policy;      /* what it serves; NULL until server_apply() */
	struct policy *claim;       /* server_apply(): the policy it will serve */
	bool unmatched;             /* activated, and no section claims it */
	sd_event_source *io;
	struct dgram_batch *batch;  /* datagram sockets */
};

/* One listener's counters, by its section's name: they go on across reloads. */
struct listener_stats {
	struct listener_stats *next;
	struct server_counters counters;
	unsigned in_flight; /* its clients on the slow path: for its max-clients */
	char name[];
};

struct server {
	sd_event *event;
	struct listener *listeners;
	struct client_set *clients;
	struct sources *sources; /* per-source limits and rates: one table for the process */
	unsigned max_clients;
	bool accepting, paused, stopping;
	bool reuseport, inet_only; /* workers: SO_REUSEPORT; all but the first leave unix sockets alone */
	sd_event_source *resume_timer, *stop_timer;
	struct dropping {            /* prefixes over their rate: their summaries */
		struct source_handle source;
		struct policy *policy;
		const char *what;
	} dropping[64];
	unsigned n_dropping;
	sd_event_source *drop_timer;
	struct server_counters own, *counters; /* counters: &own, or a worker's shared slot */
	struct server_counters *all; /* what server_stats() sums: counters, or, in the first worker, every worker's */
	unsigned n_all;
	uint64_t own_dgram_ports[65536 / 64]; /* see server_is_own_address() */
	struct listener_stats *stats; /* every name served so far, in the order first served */
	in_addr_t *broadcasts;  /* the local interfaces' broadcast addresses, at the last apply */
	size_t n_broadcasts;
};

static const char *listener_name(const struct listener *l, char buf[static 32])
{
	if (l->policy)
		return l->policy->name;
	if (l->fdname)
		return l->fdname;
	snprintf(buf, 32, "fd%d", l->fd); /* an unnamed socket systemd passed */
	return buf;
}

/* Accepting */

static bool accept_error_is_client(int error)
{
	/* Errors of one connection, not of the listening socket (see accept(2)). */
	switch (error) {
	case ECONNABORTED: case EPROTO: case EPERM: case ENETDOWN: case ENOPROTOOPT:
	case EHOSTDOWN: case ENONET: case EHOSTUNREACH: case EOPNOTSUPP: case ENETUNREACH:
	case EINTR:
		return true;
	}
	return false;
}

static bool server_should_accept(const struct server *s)
{
	return !s->paused && client_set_size(s->clients) < s->max_clients && !s->stopping;
}

/* A listener under its own max-clients. */
static bool listener_has_room(const struct listener *l)
{
	const struct policy *p = l->policy;

	return !p || !p->max_clients || !p->in_flight || *p->in_flight < p->max_clients;
}

static void server_update_accepting(struct server *s);

/* A refused connection: closed at once, without a byte of greeting. why:
 * for the log, or NULL when the caller has said it (per prefix, for a rate). */
static void connection_refuse(const struct client_context *ctx, enum client_outcome outcome, const char *why)
{
	char peer[ADDRESS_STRING_MAX];

	if (why && log_get_max_level() >= LOG_INFO)
		log_client_struct_errno(LOG_INFO, 0, CLIENT_LOG(ctx, MESSAGE_ID_CLIENT_REFUSED), "client %s %s",
					client_context_peer_string(ctx, peer), why);
	client_access(ctx, outcome, 0, 0);
	safe_close(ctx->fd);
}

#define DROP_SUMMARY_INTERVAL_USEC (10 * USEC_PER_SEC)

static void log_rate_drops(const struct policy *p, const char *prefix, const char *what, uint64_t dropped,
			   uint64_t period_usec)
{
	const struct log_fields f = { .listener = p->name, .message_id = MESSAGE_ID_CLIENT_REFUSED };

	if (period_usec == 0)
		log_client_struct_errno(LOG_NOTICE, 0, &f, "%s: over rate %u/s, dropping its %s", prefix, p->rate, what);
	else
		log_client_struct_errno(LOG_NOTICE, 0, &f, "%s: %llu %s over rate %u/s dropped in %llu s", prefix,
					(unsigned long long)dropped, what, p->rate,
					(unsigned long long)(period_usec / USEC_PER_SEC));
}

/* Every second while a prefix said to be dropping may have drops not yet
 * summed up: a flood that stops gets its last summary too. */
static int on_drop_timer(sd_event_source *es, uint64_t usec, void *userdata)
{
	struct server *s = userdata;

	for (unsigned i = 0; i < s->n_dropping;) {
		struct dropping *d = &s->dropping[i];
		char prefix[SOURCES_PREFIX_STRING_MAX];
		uint64_t dropped, period;

		switch (sources_flush_drops(s->sources, d->source, usec, DROP_SUMMARY_INTERVAL_USEC, &dropped, &period)) {
		case SOURCES_FLUSH_DUE:
			log_rate_drops(d->policy, sources_prefix_to_string(s->sources, d->source, prefix), d->what, dropped,
				       period);
			i++;
			break;
		case SOURCES_FLUSH_WAIT:
			i++;
			break;
		case SOURCES_FLUSH_DONE:
			policy_unref(d->policy);
			*d = s->dropping[--s->n_dropping];
			break;
		}
	}
	if (s->n_dropping > 0)
		(void)sd_event_source_set_time(es, usec + USEC_PER_SEC);
	(void)sd_event_source_set_enabled(es, s->n_dropping > 0 ? SD_EVENT_ONESHOT : SD_EVENT_OFF);
	return 0;
}

/* Remembers a prefix that began dropping, for its summaries; a few dozen at
 * most: the others' come only with their next drop. */
static void dropping_add(struct server *s, struct policy *p, struct source_handle h, uint64_t now_usec,
			 const char *what)
{
	for (unsigned i = 0; i < s->n_dropping; i++)
		if (s->dropping[i].source.index == h.index && s->dropping[i].source.generation == h.generation)
			return;
	if (s->n_dropping == ELEMENTSOF(s->dropping))
		return;
	if (!s->drop_timer &&
	    sd_event_add_time(s->event, &s->drop_timer, CLOCK_MONOTONIC, 0, USEC_PER_SEC, on_drop_timer, s) < 0)
		return;
	s->dropping[s->n_dropping++] = (struct dropping){ .source = h, .policy = policy_ref(p), .what = what };
	if (s->n_dropping == 1) {
		(void)sd_event_source_set_time(s->drop_timer, now_usec + USEC_PER_SEC);
		(void)sd_event_source_set_enabled(s->drop_timer, SD_EVENT_ONESHOT);
	}
}

void server_note_rate_drop(struct server *s, struct policy *p, struct source_handle h, uint64_t now_usec,
			   const char *what)
{
	char prefix[SOURCES_PREFIX_STRING_MAX];
	uint64_t dropped, period;

	if (!sources_note_drop(s->sources, h, now_usec, DROP_SUMMARY_INTERVAL_USEC, &dropped, &period))
		return;
	log_rate_drops(p, sources_prefix_to_string(s->sources, h, prefix), what, dropped, period);
	dropping_add(s, p, h, now_usec, what);
}

/* The one place a connection is admitted or refused, with everything that
 * is known of it in ctx, in DESIGN section 6's order: allow and deny, then
 * the rate, then max-clients-per-source. Takes ctx->fd. */
static void connection_admit(struct server *s, struct client_context *ctx)
{
	const struct policy *p = ctx->policy;

	COUNT(s->counters, p, accepted, 1);
	if (!policy_allows(p, ctx->peer, ctx->peer_len)) {
		COUNT(s->counters, p, denied, 1);
		connection_refuse(ctx, CLIENT_DENIED, "denied");
		return;
	}
	if (policy_limits(p, ctx->peer, ctx->peer_len)) {
		uint64_t now = 0;
		struct source_handle h;

		(void)sd_event_now(s->event, CLOCK_MONOTONIC, &now);
		h = sources_lookup(s->sources, p->scope, ctx->peer, ctx->peer_len, p->prefix4, p->prefix6, now);
		if (!sources_take_token(s->sources, h, p->rate, p->burst, now)) {
			COUNT(s->counters, p, rate_limited, 1);
			server_note_rate_drop(s, ctx->policy, h, now, "connections");
			connection_refuse(ctx, CLIENT_RATE_LIMITED, NULL);
			return;
		}
		if (!sources_acquire(s->sources, h, p->max_per_source)) {
			COUNT(s->counters, p, limited, 1);
			connection_refuse(ctx, CLIENT_LIMITED, "refused: its source has max-clients-per-source in flight");
			return;
		}
		ctx->source = h; /* released when the client is done */
	}
	client_greet(s->clients, ctx);
}

static int on_accept(sd_event_source *es, int fd, uint32_t revents, void *userdata)
{
	struct listener *l = userdata;
	struct server *s = l->server;
	/* A specific bind is the local address of its clients; a wildcard's is read when asked. */
	bool local_known = !address_is_wildcard(&l->address) && l->address.family != AF_UNIX;

	/* Every accept counts against max-clients: a batch never overshoots it. */
	for (unsigned i = 0; i < ACCEPT_BATCH && server_should_accept(s) && listener_has_room(l); i++) {
		union sockaddr_union peer;
		socklen_t len = sizeof(peer);
		int cfd = accept4(fd, &peer.sa, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		char name[32];

		if (cfd < 0) {
			if (errno == EAGAIN)
				break;
			if (accept_error_is_client(errno))
				continue;
			/* EMFILE, ENFILE, ENOBUFS, ENOMEM: wait for resources instead of spinning. */
			log_client_struct_errno(LOG_WARNING, errno, LOG_LISTENER(listener_name(l, name)),
						"cannot accept, pausing: %m");
			s->paused = true;
			break;
		}
		connection_admit(s, &(struct client_context){
			.policy = l->policy, .fd = cfd, .peer = &peer.sa, .peer_len = len,
			.local = local_known ? &l->address.sa.sa : NULL, .local_len = local_known ? l->address.len : 0 });
	}
	server_update_accepting(s);
	return 0;
}

static int on_datagram(sd_event_source *es, int fd, uint32_t revents, void *userdata)
{
	struct listener *l = userdata;
	struct server *s = l->server;
	struct dgram_env env = { .server = s, .sources = s->sources, .counters = s->counters };

	(void)sd_event_now(s->event, CLOCK_MONOTONIC, &env.now_usec);
	dgram_serve(l->batch, &env, l->policy);
	return 0;
}

static int on_resume_timer(sd_event_source *es, uint64_t usec, void *userdata)
{
	struct server *s = userdata;

	s->resume_timer = sd_event_source_disable_unref(s->resume_timer);
	s->paused = false;
	server_update_accepting(s);
	return 0;
}

/* Each stream listener on when the server accepts and it has room of its
 * own; off otherwise. */
static void server_set_accepting(struct server *s, bool on)
{
	s->accepting = on;
	for (struct listener *l = s->listeners; l; l = l->next) {
		bool want = on && listener_has_room(l);

		if (l->io && address_is_connection_oriented(&l->address) && want != l->accepting) {
			(void)sd_event_source_set_enabled(l->io, want ? SD_EVENT_ON : SD_EVENT_OFF);
			l->accepting = want;
		}
	}
}

/* Accept unless paused (out of fds or memory), full, or stopping; each
 * listener also while it is under its own max-clients. */
static void server_update_accepting(struct server *s)
{
	bool on = server_should_accept(s);

	if (s->paused && !s->resume_timer)
		(void)sd_event_add_time_relative(s->event, &s->resume_timer, CLOCK_MONOTONIC, RESUME_RETRY_USEC, 0,
						 on_resume_timer, s);
	server_set_accepting(s, on);
	if (s->stopping && client_set_size(s->clients) == 0)
		(void)sd_event_exit(s->event, 0);
}

/* A client left: an fd and a slot are free, so accepting may work again. */
static void on_client_done(void *userdata)
{
	struct server *s = userdata;

	s->paused = false;
	s->resume_timer = sd_event_source_disable_unref(s->resume_timer);
	server_update_accepting(s);
}

/* Listeners */

static struct listener *listener_free(struct listener *l)
{
	if (!l)
		return NULL;
	sd_event_source_disable_unref(l->io);
	listener_close(l->fd, &l->address, l->activated ? NULL : &l->file);
	policy_unref(l->policy);
	policy_unref(l->claim);
	dgram_batch_free(l->batch);
	free(l->fdname);
	free(l);
	return NULL;
}

/* Takes fd, also on failure. file: the socket file fd created (NULL: none, or systemd's). */
static struct listener *listener_new(struct server *s, const char *name, const char *fdname, const struct address *requested,
				     const struct address *bound, int fd, const struct socket_file *file, bool activated)
{
	struct listener *l = calloc(1, sizeof(*l));
	bool connections = address_is_connection_oriented(bound);
	int r;

	if (!l) {
		listener_close(fd, bound, file);
		return log_listener_errno(LOG_ERR, ENOMEM, name, "cannot serve: %m"), NULL;
	}
	*l = (struct listener){ .server = s, .requested = *requested, .address = *bound, .fd = fd, .activated = activated,
				.fdname = fdname ? strdup(fdname) : NULL };
	if (file)
		l->file = *file;
	if (!connections)
		l->batch = dgram_batch_new(fd, bound->family);
	if ((fdname && !l->fdname) || (!connections && !l->batch)) {
		listener_free(l);
		return log_listener_errno(LOG_ERR, ENOMEM, name, "cannot serve: %m"), NULL;
	}
	r = sd_event_add_io(s->event, &l->io, fd, EPOLLIN, connections ? on_accept : on_datagram, l);
	if (r < 0) {
		listener_free(l);
		return log_listener_errno(LOG_ERR, r, name, "cannot watch its socket: %m"), NULL;
	}
	/* Off until server_apply() has given it a policy. */
	(void)sd_event_source_set_enabled(l->io, SD_EVENT_OFF);
	return l;
}

int server_add_activated(struct server *s, int fd, const char *fdname, const struct address *a)
{
	char label[32];
	struct listener *l;

	snprintf(label, sizeof(label), "fd%d", fd); /* for unnamed sockets */
	l = listener_new(s, fdname ?: label, fdname, a, a, fd, NULL, true);

	if (!l)
		return -ENOMEM;
	l->next = s->listeners;
	s->listeners = l;
	return 0;
}

/* Whether lc is family any with an empty host: 0.0.0.0 and :: on one port. */
static bool wants_both_wildcards(const struct listener_config *lc)
{
	bool inet = false, inet6 = false;

	if (lc->family != AF_UNSPEC)
		return false;
	for (size_t i = 0; i < lc->n_addresses; i++) {
		const struct address *a = &lc->addresses[i];
		if (!address_is_wildcard(a) || address_port(a) != address_port(&lc->addresses[0]))
			return false;
		inet |= a->family == AF_INET;
		inet6 |= a->family == AF_INET6;
	}
	return inet && inet6;
}

/* Whether a socket systemd passed is the one a configured address (of lc)
 * asks for. A dual-stack [::]:P (what ListenStream=P passes) is both of the
 * wildcard addresses of a listener with family any and an empty host. */
static bool activated_matches(const struct listener *l, const struct listener_config *lc, const struct address *a)
{
	int listening = address_is_connection_oriented(a) ? 1 : -1;

	if (a->family == AF_INET && wants_both_wildcards(lc) && address_port(a) == address_port(&l->address) &&
	    a->type == l->address.type && (a->protocol == 0 || a->protocol == l->address.protocol) &&
	    activation_is_dual_stack(l->fd, &l->address))
		return true;

	if (a->family == AF_UNIX) {
		size_t len = a->len - offsetof(struct sockaddr_un, sun_path);
		bool abstract = a->sa.un.sun_path[0] == '\0';
		return sd_is_socket_unix(l->fd, a->type, listening, a->sa.un.sun_path, abstract ? len : 0) > 0;
	}
	/* Port 0 would match any port: such a listener is never systemd's. */
	return address_port(a) != 0 && sd_is_socket_sockaddr(l->fd, a->type, &a->sa.sa, a->len, listening) > 0 &&
	       (a->protocol == 0 || a->protocol == l->address.protocol);
}

/* A socket for a, of lc (whose policy is p): unclaimed, or, for a socket
 * systemd passed, claimed by lc already (a dual-stack one serves both of its
 * wildcard addresses). */
static struct listener *find_unclaimed(struct server *s, const struct listener_config *lc, const struct policy *p,
				       const struct address *a)
{
	for (struct listener *l = s->listeners; l; l = l->next)
		if (l->activated ? (!l->claim || l->claim == p) && activated_matches(l, lc, a)
				 : !l->claim && (address_equal(&l->requested, a) || address_equal(&l->address, a)))
			return l;
	return NULL;
}

/* A reload binds its new sockets before it closes the old ones, so a new
 * address that overlaps an old one of ours on the same port (127.0.0.1:P
 * becoming 0.0.0.0:P), or a new type on the same socket path, finds it
 * taken. Says so, and what to do. */
static void explain_port_in_use(const struct server *s, const struct address *a)
{
	char buf[ADDRESS_STRING_MAX], name[32];

	for (const struct listener *l = s->listeners; l; l = l->next) {
		const struct address *old = &l->address;

		if (l->activated || old->family != a->family)
			continue;
		if (a->family == AF_UNIX && old->len == a->len && memcmp(&old->sa, &a->sa, a->len) == 0) {
			log_listener(LOG_ERR, listener_name(l, name),
				     "%s %s holds its path until the new sockets are bound: restart greetingd to make this change",
				     type_to_string(old->type), address_to_string(old, buf));
			return;
		}
		if (a->family != AF_UNIX && old->type == a->type && address_port(old) == address_port(a)) {
			log_listener(LOG_ERR, listener_name(l, name),
				     "%s holds port %u until the new sockets are bound: restart greetingd to make this change",
				     address_to_string(old, buf), address_port(a));
			return;
		}
	}
}

static void listeners_free(struct listener *l)
{
	while (l) {
		struct listener *next = l->next;
		listener_free(l);
		l = next;
	}
}

static void policies_free(struct policy **p, size_t n)
{
	for (size_t i = 0; p && i < n; i++)
		policy_unref(p[i]);
	free(p);
}

/* The block of the listener named name, made the first time. NULL if out of memory. */
static struct listener_stats *server_listener_stats(struct server *s, const char *name)
{
	struct listener_stats **tail = &s->stats, *st;
	size_t len = strlen(name);

	for (st = s->stats; st; tail = &st->next, st = st->next)
		if (streq(st->name, name))
			return st;
	st = calloc(1, sizeof(*st) + len + 1);
	if (!st)
		return NULL;
	memcpy(st->name, name, len + 1);
	*tail = st;
	return st;
}

/* A policy of this server's: counting in its listener's counters. */
static struct policy *server_policy_new(struct server *s, const char *name, const struct config *c,
					const struct listener_config *lc, int type)
{
	struct policy *p = policy_new(name, c, lc, type);
	struct listener_stats *st = p ? server_listener_stats(s, name) : NULL;

	if (!st)
		return policy_unref(p);
	p->stats = &st->counters;
	p->in_flight = &st->in_flight;
	return p;
}

/* One policy per section. NULL if out of memory. */
static struct policy **policies_new(struct server *s, const struct config *c)
{
	struct policy **p = calloc(c->n_listeners ?: 1, sizeof(*p));

	if (!p)
		return NULL;
	for (size_t i = 0; i < c->n_listeners; i++) {
		const struct listener_config *lc = &c->listeners[i];
		p[i] = server_policy_new(s, lc->name, c, lc, lc->type);
		if (!p[i]) {
			policies_free(p, i);
			return NULL;
		}
	}
	return p;
}

/* Plan: every socket c asks for, claimed or bound, with its new policy in
 * l->claim. Allocates all that the commit needs. Returns the sockets bound
 * now in *ret_fresh; on failure nothing is left claimed or bound. */
static int server_plan(struct server *s, const struct config *c, struct policy **policies, struct listener **ret_fresh)
{
	struct listener *fresh = NULL, *l;
	int r = 0;

	for (size_t i = 0; i < c->n_listeners && r == 0; i++) {
		const struct listener_config *lc = &c->listeners[i];
		/* family = any and several addresses: IPv4 alone will do if IPv6 is off. */
		bool named = false, ipv6_optional = lc->family == AF_UNSPEC && lc->n_addresses > 1;
		size_t skipped = 0;

		for (l = s->listeners; l; l = l->next)
			if (l->activated && l->fdname && streq(l->fdname, lc->name) && !l->claim) {
				l->claim = policy_ref(policies[i]);
				named = true;
			}
		for (size_t j = 0; j < lc->n_addresses && !named; j++) {
			struct address bound = lc->addresses[j];
			struct socket_file file;
			int fd;

			if (s->inet_only && bound.family == AF_UNIX)
				continue;
			if (s->reuseport && bound.family != AF_UNIX && address_port(&bound) == 0) {
				/* The file may say workers = 1 for the next start; these run now. */
				r = log_listener_errno(LOG_ERR, EINVAL, lc->name,
						       "port 0 would give each running worker another port; name one");
				break;
			}
			l = find_unclaimed(s, lc, policies[i], &lc->addresses[j]);
			if (l) {
				if (!l->claim)
					l->claim = policy_ref(policies[i]);
				continue;
			}
			fd = listener_open(lc->name, &bound, s->reuseport, ipv6_optional, &file);
			if (ipv6_optional && listener_ipv6_unavailable(&bound, -fd)) {
				skipped++;
				continue;
			}
			if (fd == -EADDRINUSE)
				explain_port_in_use(s, &bound);
			if (fd < 0) {
				r = fd;
				break;
			}
			l = listener_new(s, lc->name, NULL, &lc->addresses[j], &bound, fd, &file, false);
			if (!l) {
				r = -ENOMEM;
				break;
			}
			l->claim = policy_ref(policies[i]);
			l->next = fresh;
			fresh = l;
		}
		if (r == 0 && skipped > 0 && skipped == lc->n_addresses)
			r = log_listener_errno(LOG_ERR, EADDRNOTAVAIL, lc->name,
					       "none of its addresses can be used here");
	}
	/* Sockets systemd passed that no section claims answer with the global greeting. */
	for (l = s->listeners; r == 0 && l; l = l->next) {
		char label[32];

		l->unmatched = l->activated && !l->claim;
		if (!l->unmatched)
			continue;
		snprintf(label, sizeof(label), "fd%d", l->fd);
		l->claim = server_policy_new(s, l->fdname ?: label, c, NULL, l->address.type);
		if (!l->claim)
			r = log_error_errno(ENOMEM, "cannot apply the configuration: %m");
	}
	if (r < 0) {
		listeners_free(fresh);
		for (l = s->listeners; l; l = l->next)
			l->claim = policy_unref(l->claim);
		return r;
	}
	*ret_fresh = fresh;
	return 0;
}

/* Says what an activated socket serves: once, and again when that changes. */
static void announce_activated(const struct listener *l)
{
	const struct policy *old = l->policy, *new = l->claim;
	char buf[ADDRESS_STRING_MAX];

	if (old && streq(old->name, new->name) && (!l->unmatched || old->greeting == new->greeting))
		return;
	if (!l->unmatched)
		log_listener(LOG_INFO, new->name, "serves the %s socket %s that systemd passed%s%s%s",
			     type_to_string(l->address.type), address_to_string(&l->address, buf),
			     l->fdname ? " as \"" : "", l->fdname ?: "", l->fdname ? "\"" : "");
	else
		log_listener(LOG_NOTICE, new->name,
			     "the %s socket %s that systemd passed matches no listener: answering with the global greeting",
			     type_to_string(l->address.type), address_to_string(&l->address, buf));
}

/* The broadcast addresses of the local interfaces, read again at each
 * apply (start and reload): a datagram from one is a spoofed request that
 * every host of the subnet would answer. Keeps the old list if it cannot. */
static void broadcasts_update(struct server *s)
{
	struct ifaddrs *all = NULL;
	in_addr_t *list = NULL;
	size_t n = 0, allocated = 0;

	if (getifaddrs(&all) < 0) {
		log_warning_errno(errno, "cannot list the local interfaces' broadcast addresses, keeping the old list: %m");
		return;
	}
	for (struct ifaddrs *i = all; i; i = i->ifa_next) {
		if (!(i->ifa_flags & IFF_BROADCAST) || !i->ifa_broadaddr || i->ifa_broadaddr->sa_family != AF_INET)
			continue;
		if (n == allocated) {
			in_addr_t *more = reallocarray(list, allocated ? 2 * allocated : 4, sizeof(*list));
			if (!more) {
				free(list);
				freeifaddrs(all);
				return;
			}
			list = more;
			allocated = allocated ? 2 * allocated : 4;
		}
		list[n++] = ((const struct sockaddr_in *)i->ifa_broadaddr)->sin_addr.s_addr;
	}
	freeifaddrs(all);
	free(s->broadcasts);
	s->broadcasts = list;
	s->n_broadcasts = n;
}

bool server_is_broadcast(const struct server *s, in_addr_t a)
{
	for (size_t i = 0; i < s->n_broadcasts; i++)
		if (s->broadcasts[i] == a)
			return true;
	return false;
}

/* The ports of our datagram sockets, as a bitmap: most sources are on none,
 * and are told so without walking the listeners. */
static void own_ports_update(struct server *s)
{
	memset(s->own_dgram_ports, 0, sizeof(s->own_dgram_ports));
	for (const struct listener *l = s->listeners; l; l = l->next)
		if (l->address.family != AF_UNIX && !address_is_connection_oriented(&l->address)) {
			uint16_t port = address_port(&l->address);
			s->own_dgram_ports[port / 64] |= UINT64_C(1) << (port % 64);
		}
}

/* Makes the server serve c, in two phases so that a failure changes nothing.
 * Plan (server_plan()): each section claims the sockets systemd passed under
 * its name; failing that, for each of its addresses, a passed socket or one
 * of ours that matches it, or a socket bound now. Commit, which cannot fail:
 * claimed sockets take their section's policy (clients in flight keep
 * theirs); passed sockets nobody claimed answer with the global greeting;
 * our own unclaimed sockets close, after the new ones are live. */
int server_apply(struct server *s, const struct config *c)
{
	struct policy **policies = policies_new(s, c);
	struct listener *fresh = NULL, **tail, *l, *next;
	char buf[ADDRESS_STRING_MAX], name[32];
	int r;

	if (!policies)
		return log_error_errno(ENOMEM, "cannot apply the configuration: %m");
	r = server_plan(s, c, policies, &fresh);
	policies_free(policies, c->n_listeners); /* the claims hold what is used */
	if (r < 0)
		return r;

	for (l = fresh; l; l = l->next)
		log_listener(LOG_INFO, l->claim->name, "listening on %s %s", type_to_string(l->address.type),
			 address_to_string(&l->address, buf));
	for (tail = &s->listeners; (l = *tail);) {
		if (!l->claim) {
			log_listener(LOG_INFO, listener_name(l, name), "no longer configured: closing %s",
				 address_to_string(&l->address, buf));
			*tail = l->next;
			listener_free(l);
			continue;
		}
		if (l->activated)
			announce_activated(l);
		tail = &l->next;
	}
	for (l = fresh; l; l = next) {
		next = l->next;
		l->next = s->listeners;
		s->listeners = l;
	}
	for (l = s->listeners; l; l = l->next) {
		policy_unref(l->policy);
		l->policy = TAKE_PTR(l->claim);
	}
	s->max_clients = c->max_clients;
	own_ports_update(s);
	broadcasts_update(s);
	server_set_accepting(s, server_should_accept(s));
	for (l = s->listeners; l; l = l->next)
		if (!address_is_connection_oriented(&l->address))
			(void)sd_event_source_set_enabled(l->io, SD_EVENT_ON);
	return 0;
}

int server_add_connection(struct server *s, int fd, struct policy *p)
{
	union sockaddr_union peer;
	socklen_t len = sizeof(peer);

	if (getpeername(fd, &peer.sa, &len) < 0) {
		safe_close(fd);
		return log_error_errno(errno, "cannot inspect the connection: %m");
	}
	connection_admit(s, &(struct client_context){ .policy = p, .fd = fd, .peer = &peer.sa, .peer_len = len });
	s->stopping = true; /* one client, then exit */
	server_update_accepting(s);
	return 0;
}

bool server_is_own_address(const struct server *s, const struct sockaddr *src)
{
	const struct sockaddr_in *in = (const struct sockaddr_in *)src;
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)src;
	uint16_t port = ntohs(src->sa_family == AF_INET ? in->sin_port : in6->sin6_port);

	if (!(s->own_dgram_ports[port / 64] & UINT64_C(1) << (port % 64)))
		return false;
	for (const struct listener *l = s->listeners; l; l = l->next) {
		const struct address *a = &l->address;

		if (a->family == AF_UNIX || address_is_connection_oriented(a) || address_port(a) != port)
			continue;
		if (address_is_wildcard(a) && (a->family == src->sa_family || a->family == AF_INET6))
			return true;
		if (a->family != src->sa_family)
			continue;
		if (a->family == AF_INET ? a->sa.in.sin_addr.s_addr == in->sin_addr.s_addr
					 : IN6_ARE_ADDR_EQUAL(&a->sa.in6.sin6_addr, &in6->sin6_addr))
			return true;
	}
	return false;
}

/* Server */

int server_new(sd_event *event, unsigned max_clients, struct server **ret)
{
	struct server *s = calloc(1, sizeof(*s));
	int r;

	if (!s)
		return -ENOMEM;
	s->event = sd_event_ref(event);
	s->max_clients = max_clients;
	s->counters = s->all = &s->own;
	s->n_all = 1;
	s->accepting = true;
	r = sources_new(SOURCES_CAPACITY_DEFAULT, &s->sources);
	if (r >= 0)
		r = client_set_new(event, s->sources, on_client_done, s, &s->clients);
	if (r < 0) {
		server_free(s);
		return r;
	}
	client_set_counters(s->clients, s->counters);
	*ret = s;
	return 0;
}

static int on_stop_deadline(sd_event_source *es, uint64_t usec, void *userdata)
{
	struct server *s = userdata;

	log_warning("%u clients still in flight at the stop deadline, closing them", client_set_size(s->clients));
	return sd_event_exit(s->event, 0);
}

void server_stop(struct server *s, uint64_t deadline_usec)
{
	if (s->stopping)
		return;
	s->stopping = true;
	listeners_free(TAKE_PTR(s->listeners));
	if (client_set_size(s->clients) > 0) {
		log_info("stopping: finishing %u clients in flight", client_set_size(s->clients));
		(void)sd_event_add_time_relative(s->event, &s->stop_timer, CLOCK_MONOTONIC, deadline_usec, 0,
						 on_stop_deadline, s);
	}
	server_update_accepting(s);
}

struct server *server_free(struct server *s)
{
	if (!s)
		return NULL;
	client_set_free(s->clients);
	listeners_free(s->listeners);
	sources_free(s->sources);
	free(s->broadcasts);
	while (s->stats) {
		struct listener_stats *st = s->stats;
		s->stats = st->next;
		free(st);
	}
	sd_event_source_disable_unref(s->resume_timer);
	sd_event_source_disable_unref(s->stop_timer);
	sd_event_source_disable_unref(s->drop_timer);
	while (s->n_dropping > 0)
		policy_unref(s->dropping[--s->n_dropping].policy);
	sd_event_unref(s->event);
	free(s);
	return NULL;
}

void server_freep(struct server **s)
{
	server_free(*s);
}

void server_set_worker(struct server *s, unsigned index, struct server_counters *shared, unsigned n)
{
	unsigned capacity = sources_capacity_for_workers(n);
	int r = sources_resize_unused(s->sources, capacity);

	if (r < 0)
		log_warning_errno(r, "cannot size the per-source table to %u sources, keeping %u: %m", capacity,
				  SOURCES_CAPACITY_DEFAULT);
	else
		log_debug("per-source table: %u sources in this process", capacity);
	s->reuseport = true;
	s->inet_only = index > 0;
	s->counters = s->all = &shared[index];
	if (index == 0)
		s->n_all = n;
	client_set_counters(s->clients, s->counters);
}

bool server_stopping(const struct server *s)
{
	return s->stopping;
}

unsigned server_n_listeners(const struct server *s)
{
	unsigned n = 0;
	for (const struct listener *l = s->listeners; l; l = l->next)
		n++;
	return n;
}

static void stats_add(struct server_stats *st, const struct server_counters *c)
{
	st->accepted += atomic_load_explicit(&c->accepted, memory_order_relaxed);
	st->greeted += atomic_load_explicit(&c->greeted, memory_order_relaxed);
	st->failed += atomic_load_explicit(&c->failed, memory_order_relaxed);
	st->timed_out += atomic_load_explicit(&c->timed_out, memory_order_relaxed);
	st->bad_source += atomic_load_explicit(&c->bad_source, memory_order_relaxed);
	st->denied += atomic_load_explicit(&c->denied, memory_order_relaxed);
	st->limited += atomic_load_explicit(&c->limited, memory_order_relaxed);
	st->rate_limited += atomic_load_explicit(&c->rate_limited, memory_order_relaxed);
	st->too_small += atomic_load_explicit(&c->too_small, memory_order_relaxed);
}

struct server_stats server_stats(const struct server *s)
{
	struct server_stats st = {};

	for (const struct server_counters *c = s->all; c < s->all + s->n_all; c++)
		stats_add(&st, c);
	return st;
}

const char *server_stats_format(const struct server_stats *st, char *buf, size_t size)
{
	snprintf(buf, size,
		 "accepted %llu, greeted %llu, failed %llu, timed-out %llu, bad-source %llu, denied %llu, limited %llu, "
		 "rate-limited %llu, too-small %llu",
		 (unsigned long long)st->accepted, (unsigned long long)st->greeted, (unsigned long long)st->failed,
		 (unsigned long long)st->timed_out, (unsigned long long)st->bad_source, (unsigned long long)st->denied,
		 (unsigned long long)st->limited, (unsigned long long)st->rate_limited, (unsigned long long)st->too_small);
	return buf;
}

void server_log_listener_stats(const struct server *s)
{
	char buf[SERVER_STATS_STRING_MAX];

	for (const struct listener_stats *l = s->stats; l; l = l->next) {
		struct server_stats st = {};

		stats_add(&st, &l->counters);
		log_listener(LOG_INFO, l->name, "%s", server_stats_format(&st, buf, sizeof(buf)));
	}
}
