/* Serving.
 *
 * Stream and unix seqpacket: accept in batches; try to send the greeting at
 * once. Most clients are done there, with no allocation: greeted, closed.
 * A client whose socket buffer is full becomes a struct client with an
 * EPOLLOUT source and a deadline. Over TCP, a client that has sent us bytes,
 * or whose greeting is large, lingers half-closed until its EOF: closing
 * earlier would let its next byte draw an RST that destroys what is still
 * undelivered. At the deadline, a client that has not read is reset.
 *
 * Datagram: recvmmsg() a batch, sendmmsg() the greeting back to each sender,
 * from the address it wrote to (IP_PKTINFO/IPV6_PKTINFO). Replies the
 * kernel cannot take now wait for EPOLLOUT; nothing is read meanwhile.
 *
 * Running out of fds, or reaching max-clients, pauses accepting; a client
 * that closes, or a short timer, resumes it.
 *
 * This file: listeners, accepting, server_apply() and the life cycle;
 * client.c: clients; datagram.c: datagrams. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>

#include "listener.h"
#include "log.h"
#include "macro.h"
#include "server-internal.h"

#define ACCEPT_BATCH 64
#define RESUME_RETRY_USEC (250 * USEC_PER_MSEC)

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

static int on_accept(sd_event_source *es, int fd, uint32_t revents, void *userdata)
{
	struct listener *l = userdata;
	struct server *s = l->server;

	for (unsigned i = 0; i < ACCEPT_BATCH && !s->paused; i++) {
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno == EAGAIN)
				return 0;
			if (accept_error_is_client(errno))
				continue;
			/* EMFILE, ENFILE, ENOBUFS, ENOMEM: wait for resources instead of spinning. */
			log_client_errno(LOG_WARNING, errno, "[%s] cannot accept, pausing: %m", l->name);
			s->paused = true;
			server_update_accepting(s);
			return 0;
		}
		count(&s->counters->accepted, 1);
		greet_connection(s, l, cfd);
	}
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

static bool server_should_accept(const struct server *s)
{
	return !s->paused && s->n_clients < s->max_clients && !s->stopping;
}

static void server_set_accepting(struct server *s, bool on)
{
	s->accepting = on;
	for (struct listener *l = s->listeners; l; l = l->next)
		if (l->io && address_is_connection_oriented(&l->address))
			(void)sd_event_source_set_enabled(l->io, on ? SD_EVENT_ON : SD_EVENT_OFF);
}

/* Accept unless paused (out of fds or memory), full, or stopping. */
void server_update_accepting(struct server *s)
{
	bool on = server_should_accept(s);

	if (s->paused && !s->resume_timer)
		(void)sd_event_add_time_relative(s->event, &s->resume_timer, CLOCK_MONOTONIC, RESUME_RETRY_USEC, 0,
						 on_resume_timer, s);
	if (on != s->accepting)
		server_set_accepting(s, on);
	if (s->stopping && s->n_clients == 0)
		(void)sd_event_exit(s->event, 0);
}

/* Listeners */

static struct listener *listener_free(struct listener *l)
{
	if (!l)
		return NULL;
	sd_event_source_disable_unref(l->io);
	listener_close(l->fd, &l->address, l->activated ? NULL : &l->file);
	greeting_unref(l->greeting);
	dgram_batch_free(l->batch);
	free(l->fdname);
	free(l->name);
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
		return log_error_errno(ENOMEM, "[%s] cannot serve: %m", name), NULL;
	}
	*l = (struct listener){ .server = s, .requested = *requested, .address = *bound, .fd = fd, .activated = activated,
				.name = strdup(name), .fdname = fdname ? strdup(fdname) : NULL };
	if (file)
		l->file = *file;
	if (!connections)
		l->batch = dgram_batch_new();
	if (!l->name || (fdname && !l->fdname) || (!connections && !l->batch)) {
		listener_free(l);
		return log_error_errno(ENOMEM, "[%s] cannot serve: %m", name), NULL;
	}
	r = sd_event_add_io(s->event, &l->io, fd, EPOLLIN, connections ? on_accept : on_datagram, l);
	if (r < 0) {
		listener_free(l);
		return log_error_errno(r, "[%s] cannot watch its socket: %m", name), NULL;
	}
	/* Off until server_apply() has given it a greeting. */
	(void)sd_event_source_set_enabled(l->io, SD_EVENT_OFF);
	return l;
}

/* Points l at what a section (or the global defaults) says. */
static int listener_configure(struct listener *l, const char *name, struct greeting *g, uint64_t timeout_usec)
{
	if (!streq(l->name, name)) {
		char *copy = strdup(name);
		if (!copy)
			return -ENOMEM;
		free(l->name);
		l->name = copy;
	}
	if (l->greeting != g) {
		greeting_unref(l->greeting);
		l->greeting = greeting_ref(g);
	}
	l->timeout_usec = timeout_usec;
	return 0;
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

/* Whether a socket systemd passed is the one a configured address asks for. */
static bool activated_matches(const struct listener *l, const struct address *a)
{
	int listening = address_is_connection_oriented(a) ? 1 : -1;

	if (a->family == AF_UNIX) {
		size_t len = a->len - offsetof(struct sockaddr_un, sun_path);
		bool abstract = a->sa.un.sun_path[0] == '\0';
		return sd_is_socket_unix(l->fd, a->type, listening, a->sa.un.sun_path, abstract ? len : 0) > 0;
	}
	/* Port 0 would match any port: such a listener is never systemd's. */
	return address_port(a) != 0 && sd_is_socket_sockaddr(l->fd, a->type, &a->sa.sa, a->len, listening) > 0 &&
	       (a->protocol == 0 || a->protocol == l->address.protocol);
}

static struct listener *find_unclaimed(struct server *s, const struct address *a)
{
	for (struct listener *l = s->listeners; l; l = l->next)
		if (!l->claim && (l->activated ? activated_matches(l, a)
					       : address_equal(&l->requested, a) || address_equal(&l->address, a)))
			return l;
	return NULL;
}

/* A reload binds its new sockets before it closes the old ones, so a new
 * address that overlaps an old one of ours on the same port (127.0.0.1:P
 * becoming 0.0.0.0:P), or a new type on the same socket path, finds it
 * taken. Says so, and what to do. */
static void explain_port_in_use(const struct server *s, const struct address *a)
{
	char buf[ADDRESS_STRING_MAX];

	if (a->family == AF_UNIX) {
		for (const struct listener *l = s->listeners; l; l = l->next)
			if (!l->activated && l->address.family == AF_UNIX && l->address.len == a->len &&
			    memcmp(&l->address.sa, &a->sa, a->len) == 0) {
				log_error("[%s] %s %s holds its path until the new sockets are bound: restart greetingd to make this change",
					  l->name, type_to_string(l->address.type), address_to_string(&l->address, buf));
				return;
			}
		return;
	}
	for (const struct listener *l = s->listeners; l; l = l->next)
		if (!l->activated && l->address.family == a->family && l->address.type == a->type &&
		    address_port(&l->address) == address_port(a)) {
			log_error("[%s] %s holds port %u until the new sockets are bound: restart greetingd to make this change",
				  l->name, address_to_string(&l->address, buf), address_port(a));
			return;
		}
}

/* Makes the server serve c, in two phases so that a failure changes nothing.
 * Plan: each section claims the sockets systemd passed under its name; failing
 * that, for each of its addresses, a passed socket or one of ours that matches
 * it, or a socket bound now. Commit: claimed sockets take their section's
 * greeting (clients in flight keep theirs); passed sockets nobody claimed answer
 * with the global greeting; our own unclaimed sockets close, after the new
 * ones are live. */
int server_apply(struct server *s, const struct config *c)
{
	struct listener *fresh = NULL, **tail, *l, *next;
	char buf[ADDRESS_STRING_MAX];
	int r = 0;

	for (l = s->listeners; l; l = l->next)
		l->claim = NULL;
	for (size_t i = 0; i < c->n_listeners && r == 0; i++) {
		const struct listener_config *lc = &c->listeners[i];
		/* family = any and several addresses: IPv4 alone will do if IPv6 is off. */
		bool named = false, ipv6_optional = lc->family == AF_UNSPEC && lc->n_addresses > 1;
		size_t skipped = 0;

		for (l = s->listeners; l; l = l->next)
			if (l->activated && l->fdname && streq(l->fdname, lc->name) && !l->claim) {
				l->claim = lc;
				named = true;
			}
		for (size_t j = 0; j < lc->n_addresses && !named; j++) {
			struct address bound = lc->addresses[j];
			struct socket_file file;
			int fd;

			if (s->inet_only && bound.family == AF_UNIX)
				continue;
			l = find_unclaimed(s, &lc->addresses[j]);
			if (l) {
				l->claim = lc;
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
			l->claim = lc;
			l->next = fresh;
			fresh = l;
		}
		if (r == 0 && skipped > 0 && skipped == lc->n_addresses)
			r = log_error_errno(EADDRNOTAVAIL, "[%s] none of its addresses can be used here", lc->name);
	}
	if (r < 0) {
		while (fresh) {
			next = fresh->next;
			listener_free(fresh);
			fresh = next;
		}
		return r;
	}

	for (l = fresh; l; l = l->next)
		log_info("[%s] listening on %s %s", l->claim->name, type_to_string(l->address.type),
			 address_to_string(&l->address, buf));
	for (tail = &s->listeners; (l = *tail);) {
		const struct listener_config *lc = l->claim;
		/* Said once, and again only when what it serves changes. */
		bool announce = l->activated && (!l->greeting || !streq(l->name, lc ? lc->name : l->fdname ?: l->name) ||
						 (!lc && l->greeting != c->greeting));

		if (!lc && !l->activated) {
			log_info("[%s] no longer configured: closing %s", l->name, address_to_string(&l->address, buf));
			*tail = l->next;
			listener_free(l);
			continue;
		}
		if (announce && lc)
			log_info("[%s] serves the %s socket %s that systemd passed%s%s%s", lc->name, type_to_string(l->address.type),
				 address_to_string(&l->address, buf), l->fdname ? " as \"" : "", l->fdname ?: "",
				 l->fdname ? "\"" : "");
		else if (announce)
			log_notice("[%s] the %s socket %s that systemd passed matches no listener: answering with the global greeting",
				   l->fdname ?: l->name, type_to_string(l->address.type), address_to_string(&l->address, buf));
		r = lc ? listener_configure(l, lc->name, lc->greeting, lc->timeout_usec)
		       : listener_configure(l, l->fdname ?: l->name, c->greeting, c->timeout_usec);
		if (r < 0)
			return log_error_errno(r, "cannot apply the configuration: %m");
		tail = &l->next;
	}
	for (l = fresh; l; l = next) {
		next = l->next;
		r = listener_configure(l, l->claim->name, l->claim->greeting, l->claim->timeout_usec);
		l->next = s->listeners;
		s->listeners = l;
		if (r < 0)
			return log_error_errno(r, "cannot apply the configuration: %m");
	}
	s->max_clients = c->max_clients;
	server_set_accepting(s, server_should_accept(s));
	for (l = s->listeners; l; l = l->next)
		if (!address_is_connection_oriented(&l->address))
			(void)sd_event_source_set_enabled(l->io, SD_EVENT_ON);
	return 0;
}

int server_add_connection(struct server *s, int fd, struct greeting *g, uint64_t timeout_usec)
{
	/* greet_connection() and client_new() copy what they keep of it. */
	struct listener l = { .name = (char *)"connection", .greeting = g, .timeout_usec = timeout_usec };
	socklen_t len = sizeof(l.address.sa);

	if (getsockname(fd, &l.address.sa.sa, &len) < 0)
		return log_error_errno(errno, "cannot inspect the connection: %m");
	l.address.family = l.address.sa.sa.sa_family;
	count(&s->counters->accepted, 1);
	greet_connection(s, &l, fd);
	s->stopping = true; /* one client, then exit */
	server_update_accepting(s);
	return 0;
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
	s->client_epoll = -1;
	s->client_epoll = epoll_create1(EPOLL_CLOEXEC);
	if (s->client_epoll < 0) {
		r = negative_errno();
		server_free(s);
		return r;
	}
	r = sd_event_add_io(event, &s->client_io, s->client_epoll, EPOLLIN, on_client_events, s);
	if (r >= 0)
		r = sd_event_add_time(event, &s->client_timer, CLOCK_MONOTONIC, UINT64_MAX, 50 * USEC_PER_MSEC,
				      on_client_timer, s);
	if (r >= 0)
		r = sd_event_source_set_enabled(s->client_timer, SD_EVENT_OFF);
	if (r < 0) {
		server_free(s);
		return r;
	}
	*ret = s;
	return 0;
}

static int on_stop_deadline(sd_event_source *es, uint64_t usec, void *userdata)
{
	struct server *s = userdata;

	log_warning("%u clients still in flight at the stop deadline, closing them", s->n_clients);
	return sd_event_exit(s->event, 0);
}

void server_stop(struct server *s, uint64_t deadline_usec)
{
	if (s->stopping)
		return;
	s->stopping = true;
	while (s->listeners) {
		struct listener *l = s->listeners;
		s->listeners = l->next;
		listener_free(l);
	}
	if (s->n_clients > 0) {
		log_info("stopping: finishing %u clients in flight", s->n_clients);
		(void)sd_event_add_time_relative(s->event, &s->stop_timer, CLOCK_MONOTONIC, deadline_usec, 0,
						 on_stop_deadline, s);
	}
	server_update_accepting(s);
}

struct server *server_free(struct server *s)
{
	if (!s)
		return NULL;
	s->stopping = true; /* no re-arming from client_free */
	while (s->clients)
		client_free(s->clients);
	while (s->listeners) {
		struct listener *l = s->listeners;
		s->listeners = l->next;
		listener_free(l);
	}
	sd_event_source_disable_unref(s->resume_timer);
	sd_event_source_disable_unref(s->stop_timer);
	sd_event_source_disable_unref(s->client_io);
	sd_event_source_disable_unref(s->client_timer);
	safe_close(s->client_epoll);
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
	s->reuseport = true;
	s->inet_only = index > 0;
	s->counters = s->all = &shared[index];
	if (index == 0)
		s->n_all = n;
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

struct server_stats server_stats(const struct server *s)
{
	struct server_stats st = {};

	for (const struct server_counters *c = s->all; c < s->all + s->n_all; c++) {
		st.accepted += atomic_load_explicit(&c->accepted, memory_order_relaxed);
		st.greeted += atomic_load_explicit(&c->greeted, memory_order_relaxed);
		st.failed += atomic_load_explicit(&c->failed, memory_order_relaxed);
	}
	return st;
}
