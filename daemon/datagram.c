/* Datagrams: recvmmsg() a batch, sendmmsg() the greeting back, from the
 * address each request was sent to. See server.c. */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "listener.h"
#include "log.h"
#include "macro.h"
#include "server-internal.h"

#define DGRAM_BATCH 64
#define DGRAM_ROUNDS 4 /* batches per wake-up, for fairness */

typedef union {
	char buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
	struct cmsghdr align;
} control_buffer;

/* Replies in flight on one datagram socket. */
struct dgram_batch {
	struct mmsghdr in[DGRAM_BATCH], out[DGRAM_BATCH];
	union sockaddr_union names[DGRAM_BATCH];
	control_buffer in_control[DGRAM_BATCH], out_control[DGRAM_BATCH];
	struct greeting *greeting; /* what replies carry: b->iov points into it */
	struct iovec iov;
	unsigned pending, next;
};

struct dgram_batch *dgram_batch_new(void)
{
	return calloc(1, sizeof(struct dgram_batch));
}

void dgram_batch_free(struct dgram_batch *b)
{
	if (!b)
		return;
	greeting_unref(b->greeting);
	free(b);
}

/* The reply's source: the address the request was sent to. ipi_spec_dst is
 * the local address even when the request went to a broadcast address. */
static void set_control(struct msghdr *out, control_buffer *buf, int level, int type, const void *data, size_t len)
{
	struct cmsghdr *cm;

	out->msg_control = buf->buf;
	out->msg_controllen = CMSG_SPACE(len);
	cm = CMSG_FIRSTHDR(out);
	*cm = (struct cmsghdr){ .cmsg_len = CMSG_LEN(len), .cmsg_level = level, .cmsg_type = type };
	memcpy(CMSG_DATA(cm), data, len);
}

static void reply_control(struct msghdr *in, struct msghdr *out, control_buffer *buf)
{
	out->msg_control = NULL;
	out->msg_controllen = 0;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(in); cm; cm = CMSG_NXTHDR(in, cm)) {
		if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo got, send = { 0 };
			memcpy(&got, CMSG_DATA(cm), sizeof(got));
			send.ipi_spec_dst = got.ipi_spec_dst;
			set_control(out, buf, IPPROTO_IP, IP_PKTINFO, &send, sizeof(send));
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
			set_control(out, buf, IPPROTO_IPV6, IPV6_PKTINFO, &send, sizeof(send));
			return;
		}
	}
}

/* A unix peer may pass fds (SCM_RIGHTS) with any datagram. The receive
 * buffer has no room for control data on unix sockets, so the kernel closes
 * them; should some arrive all the same, they are closed here, or any local
 * user could fill greetingd's fd table. */
static void close_passed_fds(struct msghdr *in)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(in); cm; cm = CMSG_NXTHDR(in, cm)) {
		size_t n;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(fd));
			safe_close(fd);
		}
	}
}

/* The source of a datagram as an inet address: an IPv4-mapped one on a
 * dual-stack socket is the IPv4 address it maps. */
static struct address source_address(const union sockaddr_union *peer, socklen_t len)
{
	struct address a = { .family = peer->sa.sa_family, .len = len };

	memcpy(&a.sa, peer, MIN((size_t)len, sizeof(a.sa)));
	if (a.family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&peer->in6.sin6_addr)) {
		a = (struct address){ .family = AF_INET, .len = sizeof(struct sockaddr_in) };
		a.sa.in = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = peer->in6.sin6_port };
		memcpy(&a.sa.in.sin_addr, &peer->in6.sin6_addr.s6_addr[12], sizeof(a.sa.in.sin_addr));
	}
	return a;
}

/* Whether src is one of this process's datagram sockets: its exact address
 * and port or, for a wildcard-bound socket, any address on its port (an
 * inet6 wildcard also for IPv4: it may be dual-stack). */
static bool source_is_ours(const struct server *s, const struct address *src)
{
	for (const struct listener *l = s->listeners; l; l = l->next) {
		const struct address *a = &l->address;

		if (a->family == AF_UNIX || address_is_connection_oriented(a) || address_port(a) != address_port(src))
			continue;
		if (address_is_wildcard(a) && (a->family == src->family || a->family == AF_INET6))
			return true;
		if (a->family != src->family)
			continue;
		if (a->family == AF_INET ? a->sa.in.sin_addr.s_addr == src->sa.in.sin_addr.s_addr
					 : IN6_ARE_ADDR_EQUAL(&a->sa.in6.sin6_addr, &src->sa.in6.sin6_addr))
			return true;
	}
	return false;
}

/* Whether a datagram from peer gets a reply: the one place a datagram is
 * admitted or refused, before any reply. An unbound unix peer has no address
 * to answer. Over inet, a reply to port 0, to a port below 1024 (echo,
 * daytime, chargen, DNS, NTP...) or to one of our own sockets could start a
 * loop between two servers that one spoofed datagram sets off and nothing
 * ends (CVE-2024-2169): such a source is dropped and counted. */
static bool datagram_source_ok(const struct listener *l, const union sockaddr_union *peer, socklen_t len)
{
	struct server_counters *counters = l->server->counters;
	char buf[ADDRESS_STRING_MAX];
	const char *why;
	struct address src;

	/* An unbound peer leaves no address at all: ask the listener, not peer. */
	if (l->address.family == AF_UNIX) {
		if (len > offsetof(struct sockaddr_un, sun_path))
			return true;
		log_client_errno(LOG_DEBUG, 0, "[%s] datagram from an unbound unix socket: no reply possible", l->name);
		count(&counters->failed, 1);
		return false;
	}
	src = source_address(peer, len);
	if (address_port(&src) < 1024)
		why = "its source port is below 1024";
	else if (source_is_ours(l->server, &src))
		why = "it comes from one of greetingd's own sockets";
	else
		return true;
	if (log_get_max_level() >= LOG_DEBUG)
		log_client_errno(LOG_DEBUG, 0, "[%s] datagram from %s dropped: %s", l->name, address_to_string(&src, buf), why);
	count(&counters->bad_source, 1);
	return false;
}

/* A reply that cannot go: logged (rate-limited) and counted. */
static void reply_dropped(struct listener *l, const struct msghdr *m, int error)
{
	struct address peer = { .family = ((struct sockaddr *)m->msg_name)->sa_family, .len = m->msg_namelen };
	char buf[ADDRESS_STRING_MAX];

	memcpy(&peer.sa, m->msg_name, m->msg_namelen);
	log_client_errno(LOG_INFO, error, "[%s] cannot reply to %s, dropping the reply: %m", l->name,
			 address_to_string(&peer, buf));
	count(&l->server->counters->failed, 1);
}

/* Sends the replies of one batch. A reply the kernel cannot take now (a unix
 * peer's queue is full, or the UDP send buffer: EAGAIN) is dropped like any
 * other that fails, never waited for: an unconnected datagram socket is
 * always writable, so waiting for EPOLLOUT would spin, and one peer that
 * never reads would stop the listener for everyone. */
static void dgram_flush(struct listener *l)
{
	struct dgram_batch *b = l->batch;

	while (b->next < b->pending) {
		int n = sendmmsg(l->fd, b->out + b->next, b->pending - b->next, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0) {
			b->next += (unsigned)n;
			count(&l->server->counters->greeted, (unsigned)n);
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else {
			/* sendmmsg() stops at the first that fails: skip it, send the rest. */
			reply_dropped(l, &b->out[b->next].msg_hdr, n < 0 ? errno : EIO);
			b->next++;
		}
	}
	b->pending = b->next = 0;
}

int on_datagram(sd_event_source *es, int fd, uint32_t revents, void *userdata)
{
	struct listener *l = userdata;
	struct dgram_batch *b = l->batch;

	if (b->greeting != l->greeting) {
		greeting_unref(b->greeting);
		b->greeting = greeting_ref(l->greeting);
		b->iov = (struct iovec){ .iov_base = b->greeting->data, .iov_len = b->greeting->size };
	}
	for (unsigned round = 0; round < DGRAM_ROUNDS; round++) {
		/* Control data is the destination address (pktinfo), for inet only. */
		bool pktinfo = l->address.family != AF_UNIX;
		unsigned k = 0;
		int n;

		for (unsigned i = 0; i < DGRAM_BATCH; i++)
			b->in[i].msg_hdr = (struct msghdr){
				.msg_name = &b->names[i], .msg_namelen = sizeof(b->names[i]),
				.msg_control = pktinfo ? b->in_control[i].buf : NULL,
				.msg_controllen = pktinfo ? sizeof(b->in_control[i]) : 0,
			};
		/* No buffer: the content does not matter, any datagram (empty,
		 * or too long and truncated) is answered the same. */
		n = recvmmsg(fd, b->in, DGRAM_BATCH, MSG_DONTWAIT | MSG_CMSG_CLOEXEC, NULL);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				log_client_errno(LOG_WARNING, errno, "[%s] cannot receive: %m", l->name);
			return 0;
		}
		for (int i = 0; i < n; i++) {
			struct msghdr *in = &b->in[i].msg_hdr, *out = &b->out[k].msg_hdr;
			if (in->msg_controllen > 0)
				close_passed_fds(in);
			if (!datagram_source_ok(l, &b->names[i], in->msg_namelen))
				continue;
			*out = (struct msghdr){ .msg_name = in->msg_name, .msg_namelen = in->msg_namelen,
						.msg_iov = &b->iov, .msg_iovlen = 1 };
			reply_control(in, out, &b->out_control[k]);
			k++;
		}
		count(&l->server->counters->accepted, (unsigned)n);
		b->pending = k;
		b->next = 0;
		dgram_flush(l);
		if (n < DGRAM_BATCH)
			return 0;
	}
	return 0;
}
