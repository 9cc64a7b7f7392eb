#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "macro.h"
#include "policy.h"

struct policy *policy_new(const char *name, const struct config *c, const struct listener_config *lc, int type)
{
	size_t len = strlen(name);
	struct policy *p = malloc(sizeof(*p) + len + 1);
	struct limits global;
	const struct limits *l = &global;

	if (!p)
		return NULL;
	if (lc) {
		*p = (struct policy){ .refs = 1, .greeting = greeting_ref(lc->greeting), .timeout_usec = lc->timeout_usec,
				      .deadline_usec = lc->deadline_usec, .max_clients = lc->max_clients };
		l = &lc->limits;
	} else {
		*p = (struct policy){ .refs = 1, .greeting = greeting_ref(c->greeting), .timeout_usec = c->timeout_usec,
				      .deadline_usec = c->deadline_usec };
		global = c->limits; /* read only: its lists stay c's */
		limits_resolve(&global, type);
	}
	if (addrlist_copy(&p->access, lc ? &lc->access : &c->access) < 0 ||
	    addrlist_copy(&p->exempt, lc ? listener_exempt(c, lc) : &c->limits.exempt) < 0) {
		policy_unref(p);
		return NULL;
	}
	p->access_set = addrlist_size(&p->access) > 0;
	p->allow_set = addrlist_tags(&p->access) & ADDRLIST_TAG_BIT(ACCESS_ALLOW);
	p->log_clients = lc ? lc->log_clients : c->log_clients;
	p->source_check = l->source_check;
	p->max_amplification = l->max_amplification;
	p->prefix4 = l->prefix4;
	p->prefix6 = l->prefix6;
	p->max_per_source = l->max_per_source;
	p->rate = l->rate;
	p->burst = l->burst;
	p->limited = l->max_per_source > 0 || l->rate > 0;
	/* FNV-1a of the name: a listener's sources stay its own across reloads. */
	p->scope = 2166136261u;
	for (const char *q = name; *q; q++)
		p->scope = (p->scope ^ (uint8_t)*q) * 16777619u;
	memcpy(p->name, name, len + 1);
	return p;
}

struct policy *policy_ref(struct policy *p)
{
	if (p)
		p->refs++;
	return p;
}

struct policy *policy_unref(struct policy *p)
{
	if (!p || --p->refs > 0)
		return NULL;
	greeting_unref(p->greeting);
	addrlist_free(&p->access);
	addrlist_free(&p->exempt);
	free(p);
	return NULL;
}

bool policy_allows_listed(const struct policy *p, const struct sockaddr *sa, socklen_t len)
{
	struct addrlist_match m;

	/* A unix peer has no address to judge (an unmatched unix socket from
	 * systemd takes [greetingd]'s lists, which are not for it). */
	if (sa->sa_family == AF_UNIX)
		return true;
	if (!addrlist_match(&p->access, sa, len, &m))
		return !p->allow_set;
	return !(m.tags & ADDRLIST_TAG_BIT(ACCESS_DENY));
}

bool policy_limits_listed(const struct policy *p, const struct sockaddr *sa, socklen_t len)
{
	if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)
		return false;
	return !addrlist_match(&p->exempt, sa, len, NULL);
}

void policy_unrefp(struct policy **p)
{
	policy_unref(*p);
}

static void address_from_sockaddr(const struct sockaddr *sa, socklen_t len, struct address *ret)
{
	*ret = (struct address){ .family = sa->sa_family, .len = MIN(len, (socklen_t)sizeof(ret->sa)) };
	memcpy(&ret->sa, sa, ret->len);
}

/* The words of an access line: stable, grep and fail2ban read them. */
static const char *const outcome_names[_CLIENT_OUTCOME_MAX] = {
	[CLIENT_GREETED] = "greeted",         [CLIENT_TIMED_OUT] = "timed-out",
	[CLIENT_DEADLINE] = "deadline",       [CLIENT_DENIED] = "denied",
	[CLIENT_LIMITED] = "limited",         [CLIENT_RATE_LIMITED] = "rate-limited",
	[CLIENT_BAD_SOURCE] = "bad-source",   [CLIENT_TOO_SMALL] = "too-small",
	[CLIENT_FAILED] = "failed",           [CLIENT_STOPPED] = "stopped",
};

/* A unix peer's path, escaped already but for its spaces, which would let it
 * pass for more words of the line: "\x20" as the other bytes. */
static void escape_spaces(const char *in, char *out, size_t size)
{
	size_t n = 0;

	for (; *in && n + 5 <= size; in++) {
		if (*in == ' ') {
			memcpy(out + n, "\\x20", 4);
			n += 4;
		} else
			out[n++] = *in;
	}
	out[n] = '\0';
}

/* "[name] client ADDRESS port PORT: OUTCOME, N bytes in N ms", or for a
 * datagram "[name] datagram from ADDRESS port PORT: ..." (see ACCESS LINES
 * in greetingd.conf(5), which promises this form): an inet address bare
 * (IPv6 without brackets, IPv4-mapped as IPv4); a unix peer's bound path,
 * or "-", and port "-". A datagram's source may be forged, so that a flood
 * of them refused goes through the per-client limit, as other lines about
 * them; a refused connection's line never does. */
void client_context_log_access(const struct client_context *ctx, enum client_outcome outcome, uint64_t bytes,
			       uint64_t usec)
{
	char host[4 * ADDRESS_STRING_MAX] = "-", port[8] = "-", line[4 * ADDRESS_STRING_MAX + 128];
	uint16_t number;

	assert(outcome < _CLIENT_OUTCOME_MAX);
	if (sockaddr_host(ctx->peer, ctx->peer_len, host, &number) == 0)
		snprintf(port, sizeof(port), "%u", number);
	else if (ctx->peer && ctx->peer->sa_family == AF_UNIX && ctx->peer_len > offsetof(struct sockaddr_un, sun_path)) {
		char path[ADDRESS_STRING_MAX];
		struct address a;

		address_from_sockaddr(ctx->peer, ctx->peer_len, &a);
		escape_spaces(address_to_string(&a, path), host, sizeof(host));
	}
	snprintf(line, sizeof(line), "%s %s port %s: %s, %llu bytes in %llu ms", ctx->datagram ? "datagram from" : "client",
		 host, port, outcome_names[outcome], (unsigned long long)bytes, (unsigned long long)(usec / USEC_PER_MSEC));
	if (ctx->datagram && outcome != CLIENT_GREETED)
		log_client_struct_errno(LOG_INFO, 0, CLIENT_LOG(ctx, MESSAGE_ID_ACCESS), "%s", line);
	else
		log_struct_errno(LOG_INFO, 0, CLIENT_LOG(ctx, MESSAGE_ID_ACCESS), "%s", line);
}

const char *client_context_peer_string(const struct client_context *ctx, char buf[static ADDRESS_STRING_MAX])
{
	struct address a = { .len = sizeof(a.sa) };
	struct ucred cred = {};
	socklen_t len = sizeof(cred);

	if (ctx->peer)
		address_from_sockaddr(ctx->peer, ctx->peer_len, &a);
	else if (getpeername(ctx->fd, &a.sa.sa, &a.len) < 0)
		return strcpy(buf, "(gone)");
	else
		a.family = a.sa.sa.sa_family;
	/* A unix stream peer is usually unnamed: the process says more. A
	 * datagram's fd is the listening socket, which has no peer process. */
	if (a.family == AF_UNIX && getsockopt(ctx->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && cred.pid > 0)
		snprintf(buf, ADDRESS_STRING_MAX, "pid %d uid %u", (int)cred.pid, (unsigned)cred.uid);
	else
		address_to_string(&a, buf);
	return buf;
}

int client_context_local(const struct client_context *ctx, struct address *ret)
{
	if (ctx->local) {
		address_from_sockaddr(ctx->local, ctx->local_len, ret);
		return 0;
	}
	*ret = (struct address){ .len = sizeof(ret->sa) };
	if (getsockname(ctx->fd, &ret->sa.sa, &ret->len) < 0)
		return negative_errno();
	ret->family = ret->sa.sa.sa_family;
	return 0;
}
