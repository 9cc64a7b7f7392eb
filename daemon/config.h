/* The configuration file: INI read through inih, validated whole. Every
 * error is collected as "FILE:LINE: KEY: message"; a config with any error
 * is not used. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "address.h"
#include "addrlist.h"
#include "greeting.h"

#define CONFIG_DEFAULT_GREETING "Thank you for connecting\n"
#define CONFIG_DEFAULT_TIMEOUT_USEC (10 * USEC_PER_SEC)
#define CONFIG_DEFAULT_DEADLINE_USEC (60 * USEC_PER_SEC)
#define CONFIG_DEFAULT_MAX_CLIENTS 16384
#define CONFIG_ERRORS_MAX 100
#define CONFIG_WORKERS_MAX 64

/* The tags of allow and deny in an access list (addrlist.h). */
enum { ACCESS_ALLOW, ACCESS_DENY };

/* Per-source limits (DESIGN section 6): what makes one source, how many of
 * its clients may be in flight, how many new ones a second, and who is
 * exempt. rate and burst UNSET in [greetingd]: by the listener's type. */
#define CONFIG_LIMIT_UNSET UINT32_MAX
#define CONFIG_DEFAULT_LIMIT_EXEMPT "127.0.0.0/8 ::1"
#define CONFIG_DEFAULT_MAX_PER_SOURCE 64
#define CONFIG_DEFAULT_DGRAM_RATE 20
struct limits {
	struct addrlist exempt; /* sealed; a listener's only if exempt_own */
	bool exempt_own;        /* a listener's own lines: else [greetingd]'s list applies, not copied */
	unsigned prefix4, prefix6;
	unsigned max_per_source; /* 0: none */
	unsigned rate, burst;    /* new clients a second (0: none), and at once */
	bool source_check;       /* udp-source-check: datagrams from sources a reply could loop with, dropped */
	unsigned max_amplification; /* reply bytes per request byte, for datagrams; 0: no cap */
};

/* One [section] other than [greetingd]: one service, one or more sockets. */
struct listener_config {
	char *name;
	unsigned line; /* of the [name] header */
	int family, type, protocol;
	struct greeting *greeting;
	uint64_t timeout_usec;  /* idle: a client that takes nothing for this long is dropped */
	uint64_t deadline_usec; /* whole: a client not greeted within this is dropped */
	struct addrlist access; /* allow and deny, sealed; empty on unix listeners */
	struct limits limits;   /* resolved: no UNSET */
	unsigned max_clients;   /* its own clients in flight at most; 0: only the process's bound */
	bool log_clients;       /* an access line for each client */
	struct address *addresses; /* what host (or path) resolved to */
	size_t n_addresses;
};

struct config {
	char *path;
	struct greeting *greeting; /* [greetingd]: the default, and for unmatched activated fds */
	uint64_t timeout_usec, deadline_usec;
	unsigned max_clients;
	unsigned workers; /* processes, each with its own SO_REUSEPORT sockets */
	bool log_clients; /* [greetingd]'s: what listeners inherit */
	struct addrlist access; /* [greetingd]'s allow and deny: what listeners inherit */
	struct limits limits;   /* [greetingd]'s: what listeners inherit */
	struct listener_config *listeners;
	size_t n_listeners;
	char **errors;
	size_t n_errors;
};

/* The limit-exempt list that applies to l: its own, or [greetingd]'s. */
/* Resolves what [greetingd] leaves UNSET (rate, burst) for a listener of type. */
void limits_resolve(struct limits *l, int type);

static inline const struct addrlist *listener_exempt(const struct config *c, const struct listener_config *l)
{
	return l->limits.exempt_own ? &l->limits.exempt : &c->limits.exempt;
}

/* Reads and validates path. Returns 0, -EINVAL when the file has errors (they
 * are in (*ret)->errors), or -ENOMEM; *ret is set in the first two cases. */
int config_load(const char *path, struct config **ret);
/* The same over text in memory; name is used in messages. */
int config_load_string(const char *name, const char *text, size_t size, struct config **ret);

struct config *config_free(struct config *c);
void config_freep(struct config **c);

/* config-serial.c */
/* A loaded configuration (errors included) as bytes, for the reload child
 * to hand back and the workers to receive. The format is private to one
 * build; the reader checks every length and value: -EBADMSG, never a crash. */
int config_serialize(const struct config *c, int fd);
int config_deserialize(const void *data, size_t size, struct config **ret);
/* A sealed memfd (no write, shrink or grow) holding the bytes, at offset 0. */
int config_serialize_to_memfd(const struct config *c);
/* Reads such a memfd; -EPERM if it is not sealed against write and shrink. */
int config_from_memfd(int fd, struct config **ret);
