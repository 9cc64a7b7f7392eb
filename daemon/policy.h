/* What a listener does for its clients, and who a client is.
 *
 * A policy is one listener section's settings as the server applies them:
 * its name, greeting, timeout and deadline (and, later, its limits, lists
 * and template). It is shared by reference count between the listening sockets
 * of the section and every client still being served, so a reload swaps a
 * listener's policy at once while clients in flight finish under the one
 * they began with.
 *
 * A client context is what every per-client rule reads: the policy, the
 * client's socket, its peer and the local address it reached. Stream and
 * datagram paths each build one where a client is admitted or refused. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "address.h"
#include "addrlist.h"
#include "counters.h"
#include "sources.h"
#include "greeting.h"
#include "log.h"

struct policy {
	unsigned refs;
	bool log_clients;       /* an access line per client: read where every client ends, beside greeting */
	struct greeting *greeting;
	uint64_t timeout_usec;  /* idle limit */
	uint64_t deadline_usec; /* the whole greeting's */
	struct addrlist access; /* allow and deny (config.h's tags), sealed */
	bool access_set, allow_set; /* any list; an allow list */
	struct addrlist exempt; /* limit-exempt, sealed */
	unsigned prefix4, prefix6, max_per_source, rate, burst;
	bool limited;           /* a per-source limit or a rate applies */
	bool source_check;      /* udp-source-check */
	unsigned max_amplification;
	uint32_t scope;         /* its sources' own in the table: the name's hash, the same across reloads */
	struct server_counters *stats; /* the listener's counters, kept by the server across reloads */
	unsigned *in_flight;    /* the listener's clients in flight, kept there too; NULL outside a server */
	unsigned max_clients;   /* the listener's own bound on them; 0: none */
	char name[]; /* the section's, or an unmatched activated socket's */
};

struct config;
struct listener_config;

/* The policy of section lc of c, or with lc NULL, of [greetingd] for a
 * socket of type (SOCK_STREAM...) that no section claims: what a section
 * with no keys of its own would have. Named name. NULL if out of memory. */
struct policy *policy_new(const char *name, const struct config *c, const struct listener_config *lc, int type);
struct policy *policy_ref(struct policy *p);
/* Whether allow and deny let a client from sa in: the longest prefix of
 * either list that holds it decides, deny on a tie; one in neither list is
 * let in unless allow is set. Without lists, or for a unix peer, true; the
 * first costs no call, on every connection and datagram. */
bool policy_allows_listed(const struct policy *p, const struct sockaddr *sa, socklen_t len);
static inline bool policy_allows(const struct policy *p, const struct sockaddr *sa, socklen_t len)
{
	return !p->access_set || policy_allows_listed(p, sa, len);
}

/* Whether the per-source limits and rates apply to a client from sa: not
 * without any, not to a limit-exempt source, not to a unix peer. */
bool policy_limits_listed(const struct policy *p, const struct sockaddr *sa, socklen_t len);
static inline bool policy_limits(const struct policy *p, const struct sockaddr *sa, socklen_t len)
{
	return p->limited && policy_limits_listed(p, sa, len);
}
struct policy *policy_unref(struct policy *p);
void policy_unrefp(struct policy **p);

/* An inet or inet6 socket address, and no bigger. */
union inet_sockaddr {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

/* Who a client is. peer and local point into storage of whoever built the
 * context; a NULL one is read from fd when asked (a unix stream peer's path,
 * the local address of a wildcard bind). peer is the client's address for
 * every rule, log line and access line: behind a PROXY header, once there
 * is one, the header's source goes here (the connection's own beside it). */
struct client_context {
	struct policy *policy;
	struct source_handle source; /* acquired for max-clients-per-source; null: none held */
	int fd;                      /* the connection; for a datagram, the listening socket */
	const struct sockaddr *peer;
	socklen_t peer_len;
	const struct sockaddr *local;
	socklen_t local_len;
	bool datagram;               /* one datagram: its source may be forged */
};

/* A log entry about the client: its listener, its address, what happened
 * (a MESSAGE_ID_*, or NULL). */
#define CLIENT_LOG(ctx, id)                                                                              \
	(&(const struct log_fields){ .message_id = (id), .listener = (ctx)->policy->name, .remote = (ctx)->peer, \
				     .remote_len = (ctx)->peer_len })

/* How a client ended, as its access line says it. */
enum client_outcome {
	CLIENT_GREETED,      /* its whole greeting sent (a datagram: answered) */
	CLIENT_TIMED_OUT,    /* took nothing of it for its timeout */
	CLIENT_DEADLINE,     /* had not taken it all at its deadline */
	CLIENT_DENIED,       /* allow and deny */
	CLIENT_LIMITED,      /* max-clients-per-source */
	CLIENT_RATE_LIMITED, /* rate */
	CLIENT_BAD_SOURCE,   /* udp-source-check */
	CLIENT_TOO_SMALL,    /* max-amplification */
	CLIENT_FAILED,       /* went away, reset, a reply the kernel refused, out of memory */
	CLIENT_STOPPED,      /* still in flight when greetingd stopped */
	_CLIENT_OUTCOME_MAX,
};

/* Logs the access line of a client that ended (log-clients): its listener,
 * address and port, how it ended, the bytes sent, the time since its
 * accept. Not rate-limited, never waiting (dropped and counted if the log
 * backs up). */
void client_context_log_access(const struct client_context *ctx, enum client_outcome outcome, uint64_t bytes,
			       uint64_t usec);
/* Where every client ends. Without log-clients, one test of a flag beside
 * the greeting, which the caller has just read: no clock, no formatting. */
static inline void client_access(const struct client_context *ctx, enum client_outcome outcome, uint64_t bytes,
				 uint64_t usec)
{
	if (_unlikely_(ctx->policy->log_clients))
		client_context_log_access(ctx, outcome, bytes, usec);
}

/* The client's address for a log line: "ADDRESS:PORT", "pid P uid U" for
 * a unix stream peer, or its escaped path for a unix datagram peer. */
const char *client_context_peer_string(const struct client_context *ctx, char buf[static ADDRESS_STRING_MAX]);

/* The local address the client reached, read once from the socket if the
 * context does not hold it. -errno on failure. */
int client_context_local(const struct client_context *ctx, struct address *ret);
