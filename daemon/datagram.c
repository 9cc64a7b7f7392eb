/* Datagrams: recvmmsg() a batch, sendmmsg() the greeting back, from the
 * address each request was sent to. See server.c. */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "datagram.h"
#include "log.h"
#include "macro.h"
#include "server.h"

#define DGRAM_BATCH 64
#define DGRAM_ROUNDS 4 /* batches per wake-up, for fairness */

typedef union {
	char buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
	struct cmsghdr align;
} control_buffer;

/* One datagram socket's buffers. */
struct dgram_batch {
	int fd, family;
	struct mmsghdr in[DGRAM_BATCH], out[DGRAM_BATCH];
	union sockaddr_union names[DGRAM_BATCH];
	control_buffer in_control[DGRAM_BATCH], out_control[DGRAM_BATCH];
};

struct dgram_batch *dgram_batch_new(int fd, int family)
{
	struct dgram_batch *b = calloc(1, sizeof(struct dgram_batch));

	if (b) {
		b->fd = fd;
		b->family = family;
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

/* The one place a datagram is answered or not. */
static bool dgram_admit(const struct dgram_batch *b, const struct client_context *ctx)
{
	if (b->family == AF_UNIX && ctx->peer_len <= offsetof(struct sockaddr_un, sun_path)) {
		/* An unbound unix client has no address to answer. */
		log_client_errno(LOG_DEBUG, 0, "[%s] datagram from an unbound unix socket: no reply possible",
				 ctx->policy->name);
		return false;
	}
	return true;
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
			next += (unsigned)n;
			count(&counters->greeted, (unsigned)n);
			continue;
		}
		if (errno != EINTR) {
			struct msghdr *m = &b->out[next].msg_hdr;
			struct client_context ctx = { .policy = (struct policy *)p, .fd = b->fd, .peer = m->msg_name,
						      .peer_len = m->msg_namelen };
			log_client_errno(LOG_INFO, errno, "[%s] cannot reply to %s: %m", p->name,
					 client_context_peer_string(&ctx, buf));
			count(&counters->failed, 1);
			next++;
		}
	}
}

void dgram_serve(struct dgram_batch *b, const struct server *s, struct policy *p, struct server_counters *counters)
{
	struct iovec iov = { .iov_base = p->greeting->data, .iov_len = p->greeting->size };

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
		n = recvmmsg(b->fd, b->in, DGRAM_BATCH, MSG_DONTWAIT, NULL);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				log_client_errno(LOG_WARNING, errno, "[%s] cannot receive: %m", p->name);
			return;
		}
		count(&counters->accepted, (unsigned)n);
		for (int i = 0; i < n; i++) {
			struct msghdr *in = &b->in[i].msg_hdr, *out = &b->out[k].msg_hdr;
			struct client_context ctx = { .policy = p, .fd = b->fd, .peer = in->msg_name,
						      .peer_len = in->msg_namelen };

			if (!dgram_admit(b, &ctx)) {
				count(&counters->failed, 1);
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
