/* What the server counts. */
#pragma once

#include <stdatomic.h>
#include <stdint.h>

/* One worker's counters. Each has one writer, its own worker; the first
 * reads them all for STATUS=. Workers keep theirs in shared memory. */
struct server_counters {
	_Atomic uint64_t accepted, greeted, failed;
	_Atomic uint64_t bad_source; /* datagrams from a source never answered: port < 1024, our own */
	_Atomic uint64_t denied;     /* clients and datagrams refused by allow and deny */
	_Atomic uint64_t limited;    /* clients refused by max-clients-per-source */
	_Atomic uint64_t rate_limited; /* clients and datagrams over their source's rate */
	_Atomic uint64_t too_small;  /* datagrams whose reply max-amplification forbids */
	_Atomic uint64_t timed_out;  /* clients dropped at their timeout or deadline */
};

/* Counts n in a process's totals and in a listener's own (policy p's
 * stats, which a policy made outside a server lacks). */
#define COUNT(totals, p, field, n)                              \
	do {                                                    \
		count(&(totals)->field, (n));                   \
		if ((p)->stats)                                 \
			count(&(p)->stats->field, (n));         \
	} while (0)

/* Adds to a counter that has one writer: a plain load and store, no locked
 * instruction, yet a whole value for the first worker reading it. */
static inline void count(_Atomic uint64_t *counter, uint64_t n)
{
	atomic_store_explicit(counter, atomic_load_explicit(counter, memory_order_relaxed) + n, memory_order_relaxed);
}
