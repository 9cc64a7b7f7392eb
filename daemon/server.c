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
#include <sys/socket.h>

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
	struct iovec greeting;
	unsigned pending, next;
};

struct listener {
	struct server *server;
	struct listener *next;
	char *name;
	struct address address;
	struct greeting *greeting;
	uint64_t timeout_usec;
	int fd;
	bool activated;
	sd_event_source *io;
	struct dgram_batch *batch;
};

struct client {
	struct server *server;
	struct client *prev, *next;
	int fd;
	bool tcp, lingering;
	struct greeting *greeting;
	size_t sent, delivered; /* handed to the kernel; known taken by the peer */
	uint64_t timeout_usec;
	sd_event_source *io, *timer;
	char name[NAME_MAX_LEN + 1];
};

struct server {
	sd_event *event;
	struct listener *listeners;
	struct client *clients;
	unsigned n_clients, max_clients;
	bool accepting, paused, stopping;
	sd_event_source *resume_timer, *stop_timer;
	struct server_stats stats;
};

static void server_update_accepting(struct server *s);

/* Clients */

static struct client *client_free(struct client *c)
{
	struct server *s;

	if (!c)
		return NULL;
	s = c->server;
	sd_event_source_disable_unref(c->io);
	sd_event_source_disable_unref(c->timer);
	safe_close(c->fd);
	greeting_unref(c->greeting);
	if (c->prev)
		c->prev->next = c->next;
	else
		s->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->n_clients--;
	free(c);
	s->paused = false; /* an fd was freed: accepting may work again */
	s->resume_timer = sd_event_source_disable_unref(s->resume_timer);
	server_update_accepting(s);
	return NULL;
}

/* Reads and discards what the client sent: -1 at EOF or on an error, 0 if
 * there was nothing, 1 if bytes were read and more may follow. */
static int client_drain(int fd)
{
	char buf[4096];
	bool got = false;
	ssize_t k;

	while ((k = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
		got = true;
	if (k == 0 || (errno != EAGAIN && errno != EINTR))
		return -1;
	return got;
}

/* The greeting is with the kernel, but may still be on its way. Closing now
 * would answer any byte the client sends later with an RST, destroying what
 * is not yet delivered; so half-close, and wait for the client's EOF. */
static void client_linger(struct client *c)
{
	if (shutdown(c->fd, SHUT_WR) < 0 || sd_event_source_set_io_events(c->io, EPOLLIN) < 0) {
		client_free(c);
		return;
	}
	c->lingering = true;
}

static int on_client_io(sd_event_source *es, int fd, uint32_t revents, void *userdata)
{
	struct client *c = userdata;
	ssize_t n;

	if (c->lingering) {
		if (client_drain(fd) < 0)
			client_free(c);
		return 0;
	}
	n = send(fd, c->greeting->data + c->sent, c->greeting->size - c->sent, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		log_client_errno(LOG_DEBUG, errno, "[%s] client went away mid-greeting: %m", c->name);
		c->server->stats.failed++;
		client_free(c);
		return 0;
	}
	c->sent += (size_t)n;
	if (c->sent < c->greeting->size)
		return 0;
	c->server->stats.greeted++;
	if (c->tcp)
		client_linger(c);
	else
		client_free(c); /* unix: the greeting is in the peer's queue already */
	return 0;
}

/* Every timeout, a client must have taken more of its greeting: a slow
 * reader is served to the end, one that stopped reading is dropped with an
 * RST, so that the kernel lets go of its undelivered bytes too. A lingering
 * client whose greeting is all delivered is closed quietly. */
static int on_client_timeout(sd_event_source *es, uint64_t usec, void *userdata)
{
	struct client *c = userdata;
	int unsent = 0;
	size_t delivered;

	(void)ioctl(c->fd, SIOCOUTQ, &unsent); /* bytes the peer has not taken yet */
	delivered = c->sent - MIN(c->sent, (size_t)MAX(unsent, 0));
	if (c->lingering && unsent == 0)
		return client_free(c), 0;
	if (delivered > c->delivered) {
		c->delivered = delivered;
		if (sd_event_source_set_time_relative(es, c->timeout_usec) >= 0 &&
		    sd_event_source_set_enabled(es, SD_EVENT_ONESHOT) >= 0)
			return 0;
	}
	log_client_errno(LOG_INFO, 0, "[%s] client stopped reading its greeting (%zu of %zu bytes delivered), dropped",
			 c->name, delivered, c->greeting->size);
	c->server->stats.failed++;
	(void)setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &(struct linger){ .l_onoff = 1, .l_linger = 0 },
			 sizeof(struct linger));
	client_free(c);
	return 0;
}

/* The slow path: a client that needs more than one send, or lingers. Takes fd. */
static struct client *client_new(struct server *s, const struct listener *l, int fd, size_t sent)
{
	struct client *c = calloc(1, sizeof(*c));
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
	c->next = s->clients;
	if (c->next)
		c->next->prev = c;
	s->clients = c;
	s->n_clients++;
	r = sd_event_add_io(s->event, &c->io, fd, EPOLLOUT, on_client_io, c);
	if (r >= 0)
		r = sd_event_add_time_relative(s->event, &c->timer, CLOCK_MONOTONIC, l->timeout_usec,
					       50 * USEC_PER_MSEC, on_client_timeout, c);
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

/* Accept unless paused (out of fds or memory), full, or stopping. */
static void server_update_accepting(struct server *s)
{
	bool on = !s->paused && s->n_clients < s->max_clients && !s->stopping;

	if (s->paused && !s->resume_timer)
		(void)sd_event_add_time_relative(s->event, &s->resume_timer, CLOCK_MONOTONIC, RESUME_RETRY_USEC, 0,
						 on_resume_timer, s);
	if (on != s->accepting) {
		s->accepting = on;
		for (struct listener *l = s->listeners; l; l = l->next)
			if (l->io && address_is_connection_oriented(&l->address))
				(void)sd_event_source_set_enabled(l->io, on ? SD_EVENT_ON : SD_EVENT_OFF);
	}
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
						.msg_iov = &b->greeting, .msg_iovlen = 1 };
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
	free(l->batch);
	free(l->name);
	free(l);
	return NULL;
}

int server_add_listener(struct server *s, const char *name, const struct address *a, int fd, struct greeting *g,
			uint64_t timeout_usec, bool activated)
{
	struct listener *l = calloc(1, sizeof(*l));
	bool connections = address_is_connection_oriented(a);
	int r;

	if (!l) {
		listener_close(fd, a, !activated);
		return log_error_errno(ENOMEM, "[%s] cannot serve: %m", name);
	}
	*l = (struct listener){ .server = s, .address = *a, .fd = fd, .activated = activated,
				.greeting = greeting_ref(g), .timeout_usec = timeout_usec, .name = strdup(name) };
	if (!connections) {
		l->batch = calloc(1, sizeof(*l->batch));
		if (l->batch)
			l->batch->greeting = (struct iovec){ .iov_base = g->data, .iov_len = g->size };
	}
	if (!l->name || (!connections && !l->batch)) {
		listener_free(l);
		return log_error_errno(ENOMEM, "[%s] cannot serve: %m", name);
	}
	r = sd_event_add_io(s->event, &l->io, fd, EPOLLIN, connections ? on_accept : on_datagram, l);
	if (r < 0) {
		listener_free(l);
		return log_error_errno(r, "[%s] cannot watch its socket: %m", name);
	}
	if (connections && !s->accepting)
		(void)sd_event_source_set_enabled(l->io, SD_EVENT_OFF);
	l->next = s->listeners;
	s->listeners = l;
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

	if (!s)
		return -ENOMEM;
	s->event = sd_event_ref(event);
	s->max_clients = max_clients;
	s->accepting = true;
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
