/* Datagrams: recvmmsg() a batch, sendmmsg() the greeting back, from the
 * address each request was sent to. See server.c. */
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "datagram.h"
#include "log.h"
#include "macro.h"
#include "server.h"
#include "sources.h"

#define DGRAM_BATCH 64
#define DGRAM_ROUNDS 4 /* batches per wake-up, for fairness */

typedef union {
	char buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
	struct cmsghdr align;
} control_buffer;

/* One datagram socket's buffers. */
struct dgram_batch {
	int fd, family;
	bool v6only; /* an inet6 socket that IPv4 cannot reach: a mapped source there is forged */
	struct mmsghdr in[DGRAM_BATCH], out[DGRAM_BATCH];
	union sockaddr_union names[DGRAM_BATCH];
	control_buffer in_control[DGRAM_BATCH], out_control[DGRAM_BATCH];
};

struct dgram_batch *dgram_batch_new(int fd, int family)
{
	struct dgram_batch *b = calloc(1, sizeof(struct dgram_batch));

	int v6only = 0;
	socklen_t len = sizeof(v6only);

	if (b) {
		b->fd = fd;
		b->family = family;
		b->v6only = family == AF_INET6 && getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &len) == 0 && v6only;
	}
	return b;
}

struct dgram_batch *dgram_batch_free(struct dgram_batch *b)
{
	free(b);
	return NULL;
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

/* The source of a datagram as an inet address, in place when it can be (this
 * runs for every datagram): an IPv4-mapped one on a dual-stack socket is the
 * IPv4 address it maps, built in *storage. */
static const struct sockaddr *source_inet(const struct sockaddr *peer, socklen_t len, union inet_sockaddr *storage)
{
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)peer;

	if (peer->sa_family != AF_INET6 || len < sizeof(*in6) || !IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
		return peer;
	storage->in = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = in6->sin6_port };
	memcpy(&storage->in.sin_addr, &in6->sin6_addr.s6_addr[12], sizeof(storage->in.sin_addr));
	return &storage->sa;
}

static uint16_t sockaddr_port(const struct sockaddr *sa)
{
	return ntohs(sa->sa_family == AF_INET ? ((const struct sockaddr_in *)sa)->sin_port
					      : ((const struct sockaddr_in6 *)sa)->sin6_port);
}

enum verdict {
	ADMIT,
	NO_ADDRESS, /* an unbound unix peer: nothing to answer */
	BAD_SOURCE, /* a source a reply could start a loop with */
	DENIED,     /* by allow and deny */
	RATE_LIMITED, /* over its source's rate */
	TOO_SMALL,  /* the reply would be more than max-amplification times the request */
};

/* A reply to port 0, to a port below 1024 (echo, daytime, chargen, DNS,
 * NTP...) or to one of our own sockets could start a loop between two
 * servers that one spoofed datagram sets off and nothing ends
 * (CVE-2024-2169); an unspecified, multicast or broadcast source is a
 * forged one, and the last would make a whole subnet answer; so is an
 * IPv4-mapped source where IPv4 cannot come. */
const char *dgram_bad_source(const struct server *s, bool v6only, const struct sockaddr *peer, socklen_t len)
{
	union inet_sockaddr storage;
	const struct sockaddr *src;

	if (v6only && peer->sa_family == AF_INET6 &&
	    IN6_IS_ADDR_V4MAPPED(&((const struct sockaddr_in6 *)peer)->sin6_addr))
		return "an IPv4-mapped source on an IPv6-only socket";
	src = source_inet(peer, len, &storage);
	if (sockaddr_port(src) < 1024)
		return "its source port is below 1024";
	if (src->sa_family == AF_INET) {
		in_addr_t a = ((const struct sockaddr_in *)src)->sin_addr.s_addr;

		if (a == htonl(INADDR_ANY))
			return "its source is unspecified";
		if (IN_MULTICAST(ntohl(a)))
			return "its source is a multicast address";
		if (a == htonl(INADDR_BROADCAST) || server_is_broadcast(s, a))
			return "its source is a broadcast address";
	} else {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)src)->sin6_addr;

		if (IN6_IS_ADDR_UNSPECIFIED(a))
			return "its source is unspecified";
		if (IN6_IS_ADDR_MULTICAST(a))
			return "its source is a multicast address";
	}
	if (server_is_own_address(s, src))
		return "it comes from one of greetingd's own sockets";
	return NULL;
}

/* The one place a datagram (of size bytes) is admitted or refused, before
 * any reply, in DESIGN section 6's order: the source check, allow and
 * deny, the rate, max-amplification. */
static enum verdict dgram_admit(const struct dgram_batch *b, const struct dgram_env *env, const struct client_context *ctx,
				size_t size)
{
	const struct policy *p = ctx->policy;
	char buf[ADDRESS_STRING_MAX];
	const char *why;

	if (b->family == AF_UNIX) {
		if (ctx->peer_len > offsetof(struct sockaddr_un, sun_path))
			return ADMIT;
		log_client_struct_errno(LOG_DEBUG, 0, CLIENT_LOG(ctx, NULL),
					"datagram from an unbound unix socket: no reply possible");
		return NO_ADDRESS;
	}
	if (p->source_check && (why = dgram_bad_source(env->server, b->v6only, ctx->peer, ctx->peer_len))) {
		if (log_get_max_level() >= LOG_DEBUG)
			log_client_struct_errno(LOG_DEBUG, 0, CLIENT_LOG(ctx, MESSAGE_ID_CLIENT_REFUSED),
						"datagram from %s dropped: %s", client_context_peer_string(ctx, buf),
						why);
		return BAD_SOURCE;
	}
	if (!policy_allows(p, ctx->peer, ctx->peer_len)) {
		if (log_get_max_level() >= LOG_INFO)
			log_client_struct_errno(LOG_INFO, 0, CLIENT_LOG(ctx, MESSAGE_ID_CLIENT_REFUSED),
						"datagram from %s denied", client_context_peer_string(ctx, buf));
		return DENIED;
	}
	if (policy_limits(p, ctx->peer, ctx->peer_len)) {
		struct source_handle h = sources_lookup(env->sources, p->scope, ctx->peer, ctx->peer_len, p->prefix4,
							p->prefix6, env->now_usec);
		if (!sources_take_token(env->sources, h, p->rate, p->burst, env->now_usec)) {
			server_note_rate_drop(env->server, ctx->policy, h, env->now_usec, "datagrams");
			return RATE_LIMITED;
		}
	}
	if (p->max_amplification > 0 && p->greeting->size > (uint64_t)p->max_amplification * size) {
		if (log_get_max_level() >= LOG_DEBUG)
			log_client_struct_errno(LOG_DEBUG, 0, CLIENT_LOG(ctx, MESSAGE_ID_CLIENT_REFUSED),
						"datagram of %zu bytes from %s: a reply of %zu is over %u times it",
						size, client_context_peer_string(ctx, buf), p->greeting->size,
						p->max_amplification);
		return TOO_SMALL;
	}
	return ADMIT;
}

/* The access lines of replies first..first+n-1 of a batch: the
 * greeting, or, failed, nothing. A datagram is answered in the turn it
 * came: 0 ms. */
static void dgram_log_replies(const struct dgram_batch *b, unsigned first, unsigned n, const struct policy *p,
			      enum client_outcome outcome)
{
	for (unsigned i = first; i < first + n; i++) {
		const struct msghdr *m = &b->out[i].msg_hdr;
		struct client_context ctx = { .policy = (struct policy *)p, .fd = b->fd, .peer = m->msg_name,
					      .peer_len = m->msg_namelen, .datagram = true };

		client_context_log_access(&ctx, outcome, outcome == CLIENT_GREETED ? p->greeting->size : 0, 0);
	}
}

/* Sends the k replies of a batch. One the kernel cannot take now is dropped
 * and counted, never waited for: an unconnected socket is always writable,
 * so waiting would spin, and one peer that never reads would stop the
 * listener for everyone. */
static void dgram_flush(struct dgram_batch *b, unsigned k, const struct policy *p, struct server_counters *counters)
{
	char buf[ADDRESS_STRING_MAX];

	for (unsigned next = 0; next < k;) {
		int n = sendmmsg(b->fd, b->out + next, k - next, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0) {
			if (_unlikely_(p->log_clients))
				dgram_log_replies(b, next, (unsigned)n, p, CLIENT_GREETED);
			next += (unsigned)n;
			COUNT(counters, p, greeted, (unsigned)n);
			continue;
		}
		if (errno != EINTR) {
			struct msghdr *m = &b->out[next].msg_hdr;
			struct client_context ctx = { .policy = (struct policy *)p, .fd = b->fd, .peer = m->msg_name,
						      .peer_len = m->msg_namelen, .datagram = true };
			log_client_struct_errno(LOG_INFO, errno, CLIENT_LOG(&ctx, NULL),
						"cannot reply to %s, dropping the reply: %m",
						client_context_peer_string(&ctx, buf));
			COUNT(counters, p, failed, 1);
			if (_unlikely_(p->log_clients))
				dgram_log_replies(b, next, 1, p, CLIENT_FAILED);
			next++;
		}
	}
}

/* A datagram refused: counted under the rule that refused it, and its
 * access line. */
static void dgram_refused(struct server_counters *counters, const struct client_context *ctx, enum verdict v)
{
	static const enum client_outcome outcomes[] = {
		[NO_ADDRESS] = CLIENT_FAILED,         [BAD_SOURCE] = CLIENT_BAD_SOURCE, [DENIED] = CLIENT_DENIED,
		[RATE_LIMITED] = CLIENT_RATE_LIMITED, [TOO_SMALL] = CLIENT_TOO_SMALL,
	};
	const struct policy *p = ctx->policy;

	switch (v) {
	case ADMIT:
		assert(!"an admitted datagram is no refusal");
		return;
	case NO_ADDRESS:
		COUNT(counters, p, failed, 1);
		break;
	case BAD_SOURCE:
		COUNT(counters, p, bad_source, 1);
		break;
	case DENIED:
		COUNT(counters, p, denied, 1);
		break;
	case RATE_LIMITED:
		COUNT(counters, p, rate_limited, 1);
		break;
	case TOO_SMALL:
		COUNT(counters, p, too_small, 1);
		break;
	}
	client_access(ctx, outcomes[v], 0, 0);
}

void dgram_serve(struct dgram_batch *b, const struct dgram_env *env, struct policy *p)
{
	struct server_counters *counters = env->counters;
	struct iovec iov = { .iov_base = p->greeting->data, .iov_len = p->greeting->size };
	/* Control data is the destination address (pktinfo), for inet only. */
	bool pktinfo = b->family != AF_UNIX;

	for (unsigned round = 0; round < DGRAM_ROUNDS; round++) {
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
		/* MSG_TRUNC: msg_len is each datagram's real size, for max-amplification. */
		n = recvmmsg(b->fd, b->in, DGRAM_BATCH, MSG_DONTWAIT | MSG_CMSG_CLOEXEC | MSG_TRUNC, NULL);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				log_client_struct_errno(LOG_WARNING, errno, LOG_LISTENER(p->name),
							"cannot receive: %m");
			return;
		}
		COUNT(counters, p, accepted, (unsigned)n);
		for (int i = 0; i < n; i++) {
			struct msghdr *in = &b->in[i].msg_hdr, *out = &b->out[k].msg_hdr;
			struct client_context ctx = { .policy = p, .fd = b->fd, .peer = in->msg_name,
						      .peer_len = in->msg_namelen, .datagram = true };
			enum verdict v;

			if (_unlikely_(b->family == AF_UNIX && in->msg_controllen > 0))
				close_passed_fds(in);
			v = dgram_admit(b, env, &ctx, b->in[i].msg_len);
			if (v != ADMIT) {
				dgram_refused(counters, &ctx, v);
				continue;
			}
			*out = (struct msghdr){ .msg_name = in->msg_name, .msg_namelen = in->msg_namelen,
						.msg_iov = &iov, .msg_iovlen = 1 };
			reply_control(in, out, &b->out_control[k]);
			k++;
		}
		dgram_flush(b, k, p, counters);
		if (n < DGRAM_BATCH)
			return;
	}
}
