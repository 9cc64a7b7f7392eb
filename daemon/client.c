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

#include "log.h"
#include "macro.h"
#include "server-internal.h"

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

struct client *client_free(struct client *c)
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

/* Who is on fd, for a log line at level: "ADDRESS:PORT", or "pid P uid U"
 * on a unix socket. It costs a system call or two, so it is only worked out
 * when the line is logged at all. */
static const char *client_peer(int fd, int level, char buf[static ADDRESS_STRING_MAX])
{
	struct address a = { .len = sizeof(a.sa) };
	struct ucred cred;
	socklen_t len = sizeof(cred);

	buf[0] = '\0';
	if (level > log_get_max_level())
		return buf;
	if (getpeername(fd, &a.sa.sa, &a.len) < 0)
		return strcpy(buf, "(gone)");
	a.family = a.sa.sa.sa_family;
	if (a.family == AF_UNIX && getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
		snprintf(buf, ADDRESS_STRING_MAX, "pid %d uid %u", (int)cred.pid, (unsigned)cred.uid);
	else
		address_to_string(&a, buf);
	return buf;
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
	char peer[ADDRESS_STRING_MAX];

	if (c->lingering) {
		if (client_drain(fd) < 0)
			client_free(c);
		return;
	}
	n = send(fd, c->greeting->data + c->sent, c->greeting->size - c->sent, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		log_client_errno(LOG_DEBUG, errno, "[%s] client %s went away mid-greeting: %m", c->name,
				 client_peer(fd, LOG_DEBUG, peer));
		count(&c->server->counters->failed, 1);
		client_free(c);
		return;
	}
	c->sent += (size_t)n;
	if (c->sent < c->greeting->size)
		return;
	count(&c->server->counters->greeted, 1);
	if (c->tcp)
		client_linger(c);
	else
		client_free(c); /* unix: the greeting is in the peer's queue already */
	return;
}

/* The clients' epoll set is readable: serve what it says. */
int on_client_events(sd_event_source *es, int fd, uint32_t revents, void *userdata)
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
	char peer[ADDRESS_STRING_MAX];

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
	log_client_errno(LOG_INFO, 0, "[%s] client %s stopped reading its greeting (%zu of %zu bytes delivered), dropped",
			 c->name, client_peer(c->fd, LOG_INFO, peer), delivered, c->greeting->size);
	count(&c->server->counters->failed, 1);
	(void)setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &(struct linger){ .l_onoff = 1, .l_linger = 0 },
			 sizeof(struct linger));
	client_free(c);
}

int on_client_timer(sd_event_source *es, uint64_t usec, void *userdata)
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
	char peer[ADDRESS_STRING_MAX];
	int r;

	if (!c) {
		log_client_errno(LOG_ERR, ENOMEM, "[%s] cannot serve client %s: %m", l->name, client_peer(fd, LOG_ERR, peer));
		count(&s->counters->failed, 1);
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
		log_client_errno(LOG_ERR, r, "[%s] cannot watch client %s: %m", l->name, client_peer(fd, LOG_ERR, peer));
		count(&s->counters->failed, 1);
		return client_free(c);
	}
	server_update_accepting(s);
	return c;
}

/* A greeting this small leaves in the first flight of segments. */
#define CLOSE_AT_ONCE_MAX 4096

/* Greets a freshly connected client. Takes fd. */
void greet_connection(struct server *s, const struct listener *l, int fd)
{
	const struct greeting *g = l->greeting;
	ssize_t n = send(fd, g->data, g->size, MSG_DONTWAIT | MSG_NOSIGNAL);
	struct client *c;
	char peer[ADDRESS_STRING_MAX];

	if (_likely_(n == (ssize_t)g->size)) {
		count(&s->counters->greeted, 1);
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
		log_client_errno(LOG_DEBUG, errno, "[%s] client %s went away before its greeting: %m", l->name,
				 client_peer(fd, LOG_DEBUG, peer));
		count(&s->counters->failed, 1);
		safe_close(fd);
		return;
	}
	/* A seqpacket message goes whole or not at all, so n is 0 or -1 there. */
	client_new(s, l, fd, n > 0 ? (size_t)n : 0);
}
