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
 * that closes, or a short timer, resumes it. */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <systemd/sd-daemon.h>

#include "config.h"
#include "listener.h"
#include "log.h"
#include "macro.h"
#include "server.h"

#define ACCEPT_BATCH 64
#define DGRAM_BATCH 64
#define DGRAM_ROUNDS 4                    /* batches per wake-up, for fairness */
#define RESUME_RETRY_USEC (250 * USEC_PER_MSEC)
#define NAME_MAX_LEN 64

typedef union {
	char buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
	struct cmsghdr align;
} control_buffer;

/* Replies in flight on one datagram socket. */
struct dgram_batch {
	struct mmsghdr in[DGRAM_BATCH], out[DGRAM_BATCH];
	union sockaddr_union names[DGRAM_BATCH];
	control_buffer in_control[DGRAM_BATCH], out_control[DGRAM_BATCH];
	struct greeting *greeting; /* what pending replies carry: a reload waits for them */
	struct iovec iov;
	unsigned pending, next;
};

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
	int client_epoll;
	sd_event_source *client_io, *client_timer;
	sd_event_source *resume_timer, *stop_timer;
	struct server_stats stats;
};

static void server_update_accepting(struct server *s);

/* Clients */

static void client_unlink(struct client *c)
{
	struct server *s = c->server;

	if (c->prev)
		c->prev->next = c->next;
	else
		s->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		s->clients_tail = c->prev;
	c->prev = c->next = NULL;
}

/* Arms the one client timer for the earliest deadline. */
static void client_timer_update(struct server *s)
{
	if (!s->clients) {
		(void)sd_event_source_set_enabled(s->client_timer, SD_EVENT_OFF);
		return;
	}
	(void)sd_event_source_set_time(s->client_timer, s->clients->deadline);
	(void)sd_event_source_set_enabled(s->client_timer, SD_EVENT_ONESHOT);
}

/* (Re)places c at now + its timeout: from the tail, where equal timeouts put it. */
static void client_schedule(struct client *c)
{
	struct server *s = c->server;
	struct client *after;
	uint64_t now = 0;

	(void)sd_event_now(s->event, CLOCK_MONOTONIC, &now);
	c->deadline = now + c->timeout_usec;
	if (c->prev || s->clients == c)
		client_unlink(c);
	for (after = s->clients_tail; after && after->deadline > c->deadline; after = after->prev)
		;
	c->prev = after;
	c->next = after ? after->next : s->clients;
	if (c->next)
		c->next->prev = c;
	else
		s->clients_tail = c;
	if (after)
		after->next = c;
	else
		s->clients = c;
	if (s->clients == c)
		client_timer_update(s);
}

static struct client *client_free(struct client *c)
{
	struct server *s;
	bool first;

	if (!c)
		return NULL;
	s = c->server;
	first = s->clients == c;
	client_unlink(c);
	safe_close(c->fd); /* also leaves the epoll set */
	greeting_unref(c->greeting);
	s->n_clients--;
	free(c);
	if (first)
		client_timer_update(s);
	s->paused = false; /* an fd was freed: accepting may work again */
	s->resume_timer = sd_event_source_disable_unref(s->resume_timer);
	server_update_accepting(s);
	return NULL;
}

static int client_watch(struct client *c, int op, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };

	return epoll_ctl(c->server->client_epoll, op, c->fd, &ev) < 0 ? negative_errno() : 0;
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
	if (shutdown(c->fd, SHUT_WR) < 0 || client_watch(c, EPOLL_CTL_MOD, EPOLLIN) < 0) {
		client_free(c);
		return;
	}
	c->lingering = true;
}

static void client_io(struct client *c)
{
	int fd = c->fd;
	ssize_t n;

	if (c->lingering) {
		if (client_drain(fd) < 0)
			client_free(c);
		return;
	}
	n = send(fd, c->greeting->data + c->sent, c->greeting->size - c->sent, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		log_client_errno(LOG_DEBUG, errno, "[%s] client went away mid-greeting: %m", c->name);
		c->server->stats.failed++;
		client_free(c);
		return;
	}
	c->sent += (size_t)n;
	if (c->sent < c->greeting->size)
		return;
	c->server->stats.greeted++;
	if (c->tcp)
		client_linger(c);
	else
		client_free(c); /* unix: the greeting is in the peer's queue already */
	return;
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
 * reader is served to the end, one that stopped reading is dropped with an
 * RST, so that the kernel lets go of its undelivered bytes too. A lingering
 * client whose greeting is all delivered is closed quietly. */
static void client_timeout(struct client *c)
{
	int unsent = 0;
	size_t delivered;

	(void)ioctl(c->fd, SIOCOUTQ, &unsent); /* bytes the peer has not taken yet */
	delivered = c->sent - MIN(c->sent, (size_t)MAX(unsent, 0));
	if (c->lingering && unsent == 0) {
		client_free(c);
		return;
	}
	if (delivered > c->delivered) {
		c->delivered = delivered;
		client_schedule(c);
		return;
	}
	log_client_errno(LOG_INFO, 0, "[%s] client stopped reading its greeting (%zu of %zu bytes delivered), dropped",
			 c->name, delivered, c->greeting->size);
	c->server->stats.failed++;
	(void)setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &(struct linger){ .l_onoff = 1, .l_linger = 0 },
			 sizeof(struct linger));
	client_free(c);
}

static int on_client_timer(sd_event_source *es, uint64_t usec, void *userdata)
{
	struct server *s = userdata;

	while (s->clients && s->clients->deadline <= usec)
		client_timeout(s->clients); /* frees it, or moves it later */
	client_timer_update(s);
	return 0;
}

/* The slow path: a client that needs more than one send, or lingers. Takes fd. */
static struct client *client_new(struct server *s, const struct listener *l, int fd, size_t sent)
{
	struct client *c = malloc(sizeof(*c));
	int r;

	if (!c) {
		log_client_errno(LOG_ERR, ENOMEM, "[%s] cannot serve a client: %m", l->name);
		s->stats.failed++;
		safe_close(fd);
		return NULL;
	}
	*c = (struct client){ .server = s, .fd = fd, .tcp = l->address.family != AF_UNIX,
			      .greeting = greeting_ref(l->greeting), .sent = sent, .timeout_usec = l->timeout_usec };
	snprintf(c->name, sizeof(c->name), "%s", l->name);
	s->n_clients++;
	client_schedule(c);
	r = client_watch(c, EPOLL_CTL_ADD, EPOLLOUT);
	if (r < 0) {
		log_client_errno(LOG_ERR, r, "[%s] cannot watch a client: %m", l->name);
		s->stats.failed++;
		return client_free(c);
	}
	server_update_accepting(s);
	return c;
}

/* A greeting this small leaves in the first flight of segments. */
#define CLOSE_AT_ONCE_MAX 4096

/* Greets a freshly connected client. Takes fd. */
static void greet_connection(struct server *s, const struct listener *l, int fd)
{
	const struct greeting *g = l->greeting;
	ssize_t n = send(fd, g->data, g->size, MSG_DONTWAIT | MSG_NOSIGNAL);
	struct client *c;

	if (_likely_(n == (ssize_t)g->size)) {
		s->stats.greeted++;
		/* Unix sockets deliver at once; TCP may lose undelivered bytes to
		 * an RST if the client has written, or writes soon. */
		if (_likely_(l->address.family == AF_UNIX || (g->size <= CLOSE_AT_ONCE_MAX && client_drain(fd) <= 0))) {
			safe_close(fd);
			return;
		}
		c = client_new(s, l, fd, g->size);
		if (c)
			client_linger(c);
		return;
	}
	if (n < 0 && errno != EAGAIN) {
		log_client_errno(LOG_DEBUG, errno, "[%s] client went away before its greeting: %m", l->name);
		s->stats.failed++;
		safe_close(fd);
		return;
	}
	/* A seqpacket message goes whole or not at all, so n is 0 or -1 there. */
	client_new(s, l, fd, n > 0 ? (size_t)n : 0);
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
		s->stats.accepted++;
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
static void server_update_accepting(struct server *s)
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

/* Datagrams */

/* The reply's source: the address the request was sent to. ipi_spec_dst is
 * the local address even when the request went to a broadcast address. */
static void reply_control(struct msghdr *in, struct msghdr *out, control_buffer *buf)
{
	struct cmsghdr *cm, *reply;

	out->msg_control = NULL;
	out->msg_controllen = 0;
	for (cm = CMSG_FIRSTHDR(in); cm; cm = CMSG_NXTHDR(in, cm)) {
		if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo got, send = { 0 };
			memcpy(&got, CMSG_DATA(cm), sizeof(got));
			send.ipi_spec_dst = got.ipi_spec_dst;
			out->msg_control = buf->buf;
			out->msg_controllen = CMSG_SPACE(sizeof(send));
			reply = CMSG_FIRSTHDR(out);
			*reply = (struct cmsghdr){ .cmsg_len = CMSG_LEN(sizeof(send)), .cmsg_level = IPPROTO_IP,
						   .cmsg_type = IP_PKTINFO };
			memcpy(CMSG_DATA(reply), &send, sizeof(send));
			return;
		}
		if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_PKTINFO) {
			struct in6_pktinfo got, send = { 0 };
			memcpy(&got, CMSG_DATA(cm), sizeof(got));
			if (IN6_IS_ADDR_MULTICAST(&got.ipi6_addr))
				return; /* let the kernel pick a unicast source */
			send.ipi6_addr = got.ipi6_addr;
			if (IN6_IS_ADDR_LINKLOCAL(&got.ipi6_addr))
				send.ipi6_ifindex = got.ipi6_ifindex;
			out->msg_control = buf->buf;
			out->msg_controllen = CMSG_SPACE(sizeof(send));
			reply = CMSG_FIRSTHDR(out);
			*reply = (struct cmsghdr){ .cmsg_len = CMSG_LEN(sizeof(send)), .cmsg_level = IPPROTO_IPV6,
						   .cmsg_type = IPV6_PKTINFO };
			memcpy(CMSG_DATA(reply), &send, sizeof(send));
			return;
		}
	}
}

/* Sends what is pending; on EAGAIN waits for EPOLLOUT. Returns whether all went. */
static bool dgram_flush(struct listener *l)
{
	struct dgram_batch *b = l->batch;
	char buf[ADDRESS_STRING_MAX];

	while (b->next < b->pending) {
		int n = sendmmsg(l->fd, b->out + b->next, b->pending - b->next, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0) {
			b->next += (unsigned)n;
			l->server->stats.greeted += (unsigned)n;
			continue;
		}
		if (errno == EAGAIN) {
			(void)sd_event_source_set_io_events(l->io, EPOLLOUT);
			return false;
		}
		if (errno != EINTR) {
			struct msghdr *m = &b->out[b->next].msg_hdr;
			struct address peer = { .family = ((struct sockaddr *)m->msg_name)->sa_family, .len = m->msg_namelen };
			memcpy(&peer.sa, m->msg_name, m->msg_namelen);
			log_client_errno(LOG_INFO, errno, "[%s] cannot reply to %s: %m", l->name, address_to_string(&peer, buf));
			l->server->stats.failed++;
			b->next++;
		}
	}
	b->pending = b->next = 0;
	(void)sd_event_source_set_io_events(l->io, EPOLLIN);
	return true;
}

static int on_datagram(sd_event_source *es, int fd, uint32_t revents, void *userdata)
{
	struct listener *l = userdata;
	struct dgram_batch *b = l->batch;

	if (b->pending > 0 && !dgram_flush(l))
		return 0;
	if (b->greeting != l->greeting) {
		greeting_unref(b->greeting);
		b->greeting = greeting_ref(l->greeting);
		b->iov = (struct iovec){ .iov_base = b->greeting->data, .iov_len = b->greeting->size };
	}
	for (unsigned round = 0; round < DGRAM_ROUNDS; round++) {
		unsigned k = 0;
		int n;

		for (unsigned i = 0; i < DGRAM_BATCH; i++)
			b->in[i].msg_hdr = (struct msghdr){
				.msg_name = &b->names[i], .msg_namelen = sizeof(b->names[i]),
				.msg_control = b->in_control[i].buf, .msg_controllen = sizeof(b->in_control[i]),
			};
		/* No buffer: the content does not matter, any datagram (empty,
		 * or too long and truncated) is answered the same. */
		n = recvmmsg(fd, b->in, DGRAM_BATCH, MSG_DONTWAIT, NULL);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				log_client_errno(LOG_WARNING, errno, "[%s] cannot receive: %m", l->name);
			return 0;
		}
		for (int i = 0; i < n; i++) {
			struct msghdr *in = &b->in[i].msg_hdr, *out = &b->out[k].msg_hdr;
			if (l->address.family == AF_UNIX && in->msg_namelen <= offsetof(struct sockaddr_un, sun_path)) {
				/* An unbound unix client has no address to answer. */
				log_client_errno(LOG_DEBUG, 0, "[%s] datagram from an unbound unix socket: no reply possible", l->name);
				l->server->stats.failed++;
				continue;
			}
			*out = (struct msghdr){ .msg_name = in->msg_name, .msg_namelen = in->msg_namelen,
						.msg_iov = &b->iov, .msg_iovlen = 1 };
			reply_control(in, out, &b->out_control[k]);
			k++;
		}
		l->server->stats.accepted += (unsigned)n;
		b->pending = k;
		b->next = 0;
		if (!dgram_flush(l) || n < DGRAM_BATCH)
			return 0;
	}
	return 0;
}

/* Listeners */

static struct listener *listener_free(struct listener *l)
{
	if (!l)
		return NULL;
	sd_event_source_disable_unref(l->io);
	listener_close(l->fd, &l->address, !l->activated);
	greeting_unref(l->greeting);
	if (l->batch)
		greeting_unref(l->batch->greeting);
	free(l->batch);
	free(l->fdname);
	free(l->name);
	free(l);
	return NULL;
}

/* Takes fd, also on failure. */
static struct listener *listener_new(struct server *s, const char *name, const char *fdname, const struct address *requested,
				     const struct address *bound, int fd, bool activated)
{
	struct listener *l = calloc(1, sizeof(*l));
	bool connections = address_is_connection_oriented(bound);
	int r;

	if (!l) {
		listener_close(fd, bound, !activated);
		return log_error_errno(ENOMEM, "[%s] cannot serve: %m", name), NULL;
	}
	*l = (struct listener){ .server = s, .requested = *requested, .address = *bound, .fd = fd, .activated = activated,
				.name = strdup(name), .fdname = fdname ? strdup(fdname) : NULL };
	if (!connections)
		l->batch = calloc(1, sizeof(*l->batch));
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
	l = listener_new(s, fdname ?: label, fdname, a, a, fd, true);

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
		bool named = false;

		for (l = s->listeners; l; l = l->next)
			if (l->activated && l->fdname && streq(l->fdname, lc->name) && !l->claim) {
				l->claim = lc;
				named = true;
			}
		for (size_t j = 0; j < lc->n_addresses && !named; j++) {
			struct address bound = lc->addresses[j];
			int fd;

			l = find_unclaimed(s, &lc->addresses[j]);
			if (l) {
				l->claim = lc;
				continue;
			}
			fd = listener_open(lc->name, &bound);
			if (fd < 0) {
				r = fd;
				break;
			}
			l = listener_new(s, lc->name, NULL, &lc->addresses[j], &bound, fd, false);
			if (!l) {
				r = -ENOMEM;
				break;
			}
			l->claim = lc;
			l->next = fresh;
			fresh = l;
		}
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
	s->stats.accepted++;
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

unsigned server_n_listeners(const struct server *s)
{
	unsigned n = 0;
	for (const struct listener *l = s->listeners; l; l = l->next)
		n++;
	return n;
}

struct server_stats server_stats(const struct server *s)
{
	return s->stats;
}
