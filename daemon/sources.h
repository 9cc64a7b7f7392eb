/* The per-source table: what greetingd remembers about each source prefix
 * (clients in flight, a token bucket for the rate, the drops not yet told),
 * in a table of fixed size made once, so a flood of spoofed sources costs
 * no memory: when full, the least recently seen source is forgotten.
 *
 * A source is a scope (the caller's: a listener, or 0 for one table-wide
 * view), a family and a prefix length, and the address masked to that
 * prefix. An IPv4-mapped IPv6 address is the IPv4 address. Lookups hash
 * the key with SipHash-1-3 under a random key drawn per table, so an
 * attacker cannot aim collisions; a chain is still never longer than
 * SOURCES_CHAIN_MAX, so even one who knew the key cannot make a lookup
 * slow, only forget his own sources early.
 *
 * A client keeps a handle, never a pointer: a handle to an entry since
 * given to another source is stale, and every function ignores it. Nothing
 * here allocates after sources_new(), logs, or reads a clock. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* The table greetingd makes: about 64 Ki sources (DESIGN section 6). With
 * workers, that many in all (each process has a table), but never fewer
 * than WORKER_MIN a process: so that the memory of a table each does not
 * grow with the number of workers past what one unit's MemoryMax= holds. */
#define SOURCES_CAPACITY_DEFAULT (64U * 1024U)
#define SOURCES_CAPACITY_WORKER_MIN 2048U
/* Entries compared, at most, by one lookup. */
#define SOURCES_CHAIN_MAX 16
/* "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255/128" and its NUL. */
#define SOURCES_PREFIX_STRING_MAX 50

struct sources;

/* An entry as it was when looked up: index and generation. The null handle
 * (all zero) is what a lookup of a non-IP address returns. */
struct source_handle {
	uint32_t index;
	uint64_t generation;
};

/* capacity: a power of two from 2 to 2^24. -EINVAL, -ENOMEM, or the error
 * of getrandom(). */
int sources_new(unsigned capacity, struct sources **ret);
/* Gives a table nothing was ever looked up in another capacity (as
 * sources_new()): -EINVAL, -EBUSY once a source went in, -ENOMEM. */
int sources_resize_unused(struct sources *t, unsigned capacity);
/* A table's capacity in each of n processes: the default shared out, in
 * powers of two, down to SOURCES_CAPACITY_WORKER_MIN. */
unsigned sources_capacity_for_workers(unsigned n);
struct sources *sources_free(struct sources *t);
void sources_freep(struct sources **t);

/* The entry of this source, made if new (which may forget the least
 * recently seen one), marked seen at now_usec. prefix4 <= 32, prefix6 <=
 * 128. A null handle for an address that is not AF_INET or AF_INET6. */
struct source_handle sources_lookup(struct sources *t, uint32_t scope, const struct sockaddr *sa, socklen_t len,
				    unsigned prefix4, unsigned prefix6, uint64_t now_usec);

/* One token from the source's bucket, which holds burst tokens (at least
 * one) and gains rate per second, exactly: no rounding accumulates. A new
 * source's bucket is full. rate 0: always true, the bucket untouched. */
bool sources_take_token(struct sources *t, struct source_handle h, unsigned rate, unsigned burst, uint64_t now_usec);

/* One more client in flight, unless max_in_flight (0: no limit) are
 * already; each true is paired with one sources_release(). */
bool sources_acquire(struct sources *t, struct source_handle h, unsigned max_in_flight);
void sources_release(struct sources *t, struct source_handle h);

/* Counts one drop. True when a summary line is due for this source: at its
 * first drop, then at most once per interval_usec; ret_dropped gets the
 * drops since the previous summary (this one included), ret_period_usec the
 * time since it (0 for the first). Either may be NULL. */
bool sources_note_drop(struct sources *t, struct source_handle h, uint64_t now_usec, uint64_t interval_usec,
		       uint64_t *ret_dropped, uint64_t *ret_period_usec);

/* After sources_note_drop() said a line was due: whether a summary of the
 * drops since is due now, with no drop to bring it (a flood that stopped).
 * WAIT: not yet, ask again; DUE: *ret_dropped in *ret_period_usec, counted
 * as summed up; DONE: nothing dropped in a whole interval, or the source was
 * forgotten: nothing more to say of it. */
enum sources_flush { SOURCES_FLUSH_WAIT, SOURCES_FLUSH_DUE, SOURCES_FLUSH_DONE };
enum sources_flush sources_flush_drops(struct sources *t, struct source_handle h, uint64_t now_usec,
				       uint64_t interval_usec, uint64_t *ret_dropped, uint64_t *ret_period_usec);

/* "198.51.100.0/24", "2001:db8:0:100::/56"; "?" for a null or stale
 * handle. */
const char *sources_prefix_to_string(const struct sources *t, struct source_handle h,
				     char buf[static SOURCES_PREFIX_STRING_MAX]);

/* True if h still names the entry it was given for. */
bool sources_handle_valid(const struct sources *t, struct source_handle h);

/* SipHash-c-d (Aumasson and Bernstein) of data under key; the table uses
 * c = 1, d = 3. Here for its test vectors. */
uint64_t siphash(const void *data, size_t size, const uint8_t key[static 16], unsigned c, unsigned d);
