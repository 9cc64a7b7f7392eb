#include <assert.h>
#include <endian.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/random.h>

#include "addrlist.h"
#include "macro.h"
#include "sources.h"

#define NONE UINT32_MAX
#define CAPACITY_MAX (1U << 24)

/* Token counts are in millionths of a token: a refill adds elapsed_usec *
 * rate of them, an exact integer, so no error adds up over a long run. */
#define TOKEN USEC_PER_SEC

/* Hashed and compared as three words: the masked address, then scope,
 * family and prefix length packed into one. */
struct source_key {
	uint64_t address[2];
	uint64_t meta;
};

/* 88 bytes on x86-64; with its bucket's head, 92: 5.75 MiB for 64 Ki. */
struct source {
	struct source_key key;
	uint32_t chain_next;   /* next in this bucket's chain, most recent first */
	uint32_t lru_prev;     /* toward the most recently seen */
	uint32_t lru_next;     /* toward the least recently seen */
	uint32_t bucket;
	uint32_t in_flight;
	uint32_t dropped;      /* since the last summary; saturates */
	uint64_t generation;   /* 0: never used */
	uint64_t tokens;       /* in TOKEN units; UINT64_MAX: full, burst not known yet */
	uint64_t refill_usec;
	uint64_t summary_usec; /* UINT64_MAX: no summary yet */
	uint64_t last_seen_usec;
};

struct sources {
	uint32_t capacity; /* entries and buckets, a power of two */
	uint32_t used;     /* entries [0, used) were handed out; they are never freed */
	uint32_t lru_head, lru_tail;
	uint64_t next_generation;
	uint64_t hash_words[2]; /* the SipHash key, as two little-endian words */
	uint32_t *buckets;
	struct source *entries;
};

static uint64_t rotl(uint64_t x, unsigned b)
{
	return (x << b) | (x >> (64 - b));
}

/* Always inlined: with the round counts known, key_bucket() is straight-line code. */
static inline __attribute__((always_inline)) void sip_round(uint64_t v[4])
{
	v[0] += v[1];
	v[1] = rotl(v[1], 13);
	v[1] ^= v[0];
	v[0] = rotl(v[0], 32);
	v[2] += v[3];
	v[3] = rotl(v[3], 16);
	v[3] ^= v[2];
	v[0] += v[3];
	v[3] = rotl(v[3], 21);
	v[3] ^= v[0];
	v[2] += v[1];
	v[1] = rotl(v[1], 17);
	v[1] ^= v[2];
	v[2] = rotl(v[2], 32);
}

static uint64_t load_le64(const uint8_t *p)
{
	uint64_t x = 0;

	for (unsigned i = 0; i < 8; i++)
		x |= (uint64_t)p[i] << (8 * i);
	return x;
}

/* SipHash-1-3 of a source_key, on every datagram and connection a limit
 * applies to: siphash(key, 24, hash_key, 1, 3), unrolled for three words
 * already in registers (the key's bytes read little-endian, as siphash()
 * reads them). The generic loop with its round counts as arguments cost
 * some 630 instructions here; this, about a fifth of that. */
static uint64_t siphash13_words(const uint64_t k[static 2], const struct source_key *key)
{
	uint64_t v[4] = {
		k[0] ^ 0x736f6d6570736575ULL,
		k[1] ^ 0x646f72616e646f6dULL,
		k[0] ^ 0x6c7967656e657261ULL,
		k[1] ^ 0x7465646279746573ULL,
	};
	const uint64_t m[4] = {
		le64toh(key->address[0]),
		le64toh(key->address[1]),
		le64toh(key->meta),
		(uint64_t)sizeof(*key) << 56,
	};

	for (unsigned i = 0; i < ELEMENTSOF(m); i++) {
		v[3] ^= m[i];
		sip_round(v);
		v[0] ^= m[i];
	}
	v[2] ^= 0xff;
	sip_round(v);
	sip_round(v);
	sip_round(v);
	return v[0] ^ v[1] ^ v[2] ^ v[3];
}

uint64_t siphash(const void *data, size_t size, const uint8_t key[static 16], unsigned c, unsigned d)
{
	const uint8_t *p = data;
	uint64_t k0 = load_le64(key), k1 = load_le64(key + 8);
	uint64_t v[4] = {
		k0 ^ 0x736f6d6570736575ULL,
		k1 ^ 0x646f72616e646f6dULL,
		k0 ^ 0x6c7967656e657261ULL,
		k1 ^ 0x7465646279746573ULL,
	};
	uint8_t last[8] = {};
	uint64_t m;
	size_t i;

	for (i = 0; i + 8 <= size; i += 8) {
		m = load_le64(p + i);
		v[3] ^= m;
		for (unsigned r = 0; r < c; r++)
			sip_round(v);
		v[0] ^= m;
	}
	memcpy(last, p + i, size - i);
	m = load_le64(last) | (uint64_t)(size & 0xff) << 56;
	v[3] ^= m;
	for (unsigned r = 0; r < c; r++)
		sip_round(v);
	v[0] ^= m;
	v[2] ^= 0xff;
	for (unsigned r = 0; r < d; r++)
		sip_round(v);
	return v[0] ^ v[1] ^ v[2] ^ v[3];
}

/* A per-table key that never blocks: at early boot, before the pool is
 * initialized, GRND_INSECURE still gives bytes no outsider can guess;
 * a kernel older than 5.6 does not know it, and waits for the pool. */
static int random_key(uint8_t key[static 16])
{
	static const int flags[] = { GRND_NONBLOCK, GRND_INSECURE, 0 };
	ssize_t n = -1;

	for (size_t i = 0; i < ELEMENTSOF(flags); i++) {
		n = getrandom(key, 16, flags[i]);
		if (n >= 0 || (errno != EAGAIN && errno != EINVAL))
			break;
	}
	if (n < 0)
		return negative_errno();
	return n == 16 ? 0 : -EIO;
}

/* Empty buckets and entries for capacity (checked by the caller). */
static int table_alloc(struct sources *t, unsigned capacity)
{
	uint32_t *buckets = malloc(capacity * sizeof(*buckets));
	struct source *entries = calloc(capacity, sizeof(*entries));

	if (!buckets || !entries) {
		free(buckets);
		free(entries);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < capacity; i++)
		buckets[i] = NONE;
	free(t->buckets);
	free(t->entries);
	t->buckets = buckets;
	t->entries = entries;
	t->capacity = capacity;
	return 0;
}

static bool capacity_valid(unsigned capacity)
{
	return capacity >= 2 && capacity <= CAPACITY_MAX && (capacity & (capacity - 1)) == 0;
}

int sources_new(unsigned capacity, struct sources **ret)
{
	_cleanup_(sources_freep) struct sources *t = NULL;
	uint8_t key[16];
	int r;

	if (!capacity_valid(capacity))
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->lru_head = t->lru_tail = NONE;
	t->next_generation = 1;
	r = table_alloc(t, capacity);
	if (r < 0)
		return r;
	r = random_key(key);
	if (r < 0)
		return r;
	t->hash_words[0] = load_le64(key);
	t->hash_words[1] = load_le64(key + 8);
	*ret = TAKE_PTR(t);
	return 0;
}

int sources_resize_unused(struct sources *t, unsigned capacity)
{
	if (!capacity_valid(capacity))
		return -EINVAL;
	if (t->used > 0)
		return -EBUSY;
	return capacity == t->capacity ? 0 : table_alloc(t, capacity);
}

unsigned sources_capacity_for_workers(unsigned n)
{
	unsigned capacity = SOURCES_CAPACITY_DEFAULT;

	while (capacity > SOURCES_CAPACITY_WORKER_MIN && (uint64_t)capacity * n > SOURCES_CAPACITY_DEFAULT)
		capacity /= 2;
	return capacity;
}

struct sources *sources_free(struct sources *t)
{
	if (!t)
		return NULL;
	free(t->buckets);
	free(t->entries);
	return mfree(t);
}

void sources_freep(struct sources **t)
{
	sources_free(*t);
}

/* Clears every bit of the 128-bit address b after the first prefix: a
 * word at a time, in network order. */
static void mask_address(uint8_t b[static 16], unsigned prefix)
{
	for (unsigned i = 0; i < 16; i += 8) {
		unsigned kept = prefix < 64 ? prefix : 64;
		uint64_t w;

		memcpy(&w, b + i, sizeof(w));
		w &= htobe64(kept == 0 ? 0 : UINT64_MAX << (64 - kept));
		memcpy(b + i, &w, sizeof(w));
		prefix -= kept;
	}
}

static bool key_from_sockaddr(const struct sockaddr *sa, socklen_t len, uint32_t scope, unsigned prefix4,
			      unsigned prefix6, struct source_key *ret)
{
	static const uint8_t v4_mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	/* NAT64's well-known prefix (RFC 6052): behind a translator every IPv4
	 * client comes as 64:ff9b::A.B.C.D, and would otherwise be one /56. */
	static const uint8_t nat64[12] = { 0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0 };
	uint8_t bytes[16] = {};
	unsigned family, prefix;

	assert(prefix4 <= 32 && prefix6 <= 128);
	if (!sa || len < sizeof(sa_family_t))
		return false;
	if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		memcpy(bytes, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		family = 4;
		prefix = prefix4;
	} else if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		const uint8_t *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;

		if (memcmp(a, v4_mapped, sizeof(v4_mapped)) == 0 || memcmp(a, nat64, sizeof(nat64)) == 0) {
			memcpy(bytes, a + 12, 4);
			family = 4;
			prefix = prefix4;
		} else {
			memcpy(bytes, a, 16);
			family = 6;
			prefix = prefix6;
		}
	} else
		return false;
	mask_address(bytes, prefix);
	memcpy(ret->address, bytes, sizeof(bytes));
	ret->meta = (uint64_t)scope << 16 | family << 8 | prefix;
	return true;
}

static bool key_equal(const struct source_key *a, const struct source_key *b)
{
	return a->address[0] == b->address[0] && a->address[1] == b->address[1] && a->meta == b->meta;
}

static uint32_t key_bucket(const struct sources *t, const struct source_key *key)
{
	return (uint32_t)siphash13_words(t->hash_words, key) & (t->capacity - 1);
}

static void lru_unlink(struct sources *t, uint32_t i)
{
	struct source *e = &t->entries[i];

	if (e->lru_prev == NONE)
		t->lru_head = e->lru_next;
	else
		t->entries[e->lru_prev].lru_next = e->lru_next;
	if (e->lru_next == NONE)
		t->lru_tail = e->lru_prev;
	else
		t->entries[e->lru_next].lru_prev = e->lru_prev;
}

static void lru_push_front(struct sources *t, uint32_t i)
{
	struct source *e = &t->entries[i];

	e->lru_prev = NONE;
	e->lru_next = t->lru_head;
	if (t->lru_head == NONE)
		t->lru_tail = i;
	else
		t->entries[t->lru_head].lru_prev = i;
	t->lru_head = i;
}

/* Takes entry i out of its bucket's chain, which is never longer than
 * SOURCES_CHAIN_MAX. */
static void chain_unlink(struct sources *t, uint32_t i)
{
	uint32_t *link = &t->buckets[t->entries[i].bucket];

	while (*link != i) {
		assert(*link != NONE);
		link = &t->entries[*link].chain_next;
	}
	*link = t->entries[i].chain_next;
}

static struct source_handle handle_of(const struct sources *t, uint32_t i)
{
	return (struct source_handle){ .index = i, .generation = t->entries[i].generation };
}

struct source_handle sources_lookup(struct sources *t, uint32_t scope, const struct sockaddr *sa, socklen_t len,
				    unsigned prefix4, unsigned prefix6, uint64_t now_usec)
{
	struct source_key key;
	struct source *e;
	uint32_t bucket, i, *link, victim;
	unsigned length = 0;

	if (!key_from_sockaddr(sa, len, scope, prefix4, prefix6, &key))
		return (struct source_handle){};
	bucket = key_bucket(t, &key);
	for (link = &t->buckets[bucket]; *link != NONE; link = &t->entries[*link].chain_next) {
		i = *link;
		e = &t->entries[i];
		if (key_equal(&e->key, &key)) {
			/* To the front of its chain and of the list: a chain
			 * that overflows loses its least recently seen. */
			*link = e->chain_next;
			e->chain_next = t->buckets[bucket];
			t->buckets[bucket] = i;
			if (e->in_flight == 0) { /* a pinned entry is in no list */
				lru_unlink(t, i);
				lru_push_front(t, i);
			}
			e->last_seen_usec = now_usec;
			return handle_of(t, i);
		}
		length++;
	}

	/* A source with clients in flight is pinned: forgetting it would let
	 * it past max-clients-per-source (its clients' releases would then be
	 * ignored), and a flood of spoofed datagrams could do that on purpose.
	 * Pinned entries are in no LRU list and no chain overflow takes them;
	 * with nothing left to forget, the new source goes untracked (a null
	 * handle: no limit), which needs more sources in flight than the
	 * table holds. */
	if (length >= SOURCES_CHAIN_MAX) {
		/* Only keys aimed at one bucket get here: they evict each
		 * other, and the lookup stays SOURCES_CHAIN_MAX compares. */
		uint32_t *victim_link = NULL;

		for (link = &t->buckets[bucket]; *link != NONE; link = &t->entries[*link].chain_next)
			if (t->entries[*link].in_flight == 0)
				victim_link = link;
		if (!victim_link)
			return (struct source_handle){};
		victim = *victim_link;
		*victim_link = t->entries[victim].chain_next;
		lru_unlink(t, victim);
	} else if (t->used < t->capacity)
		victim = t->used++;
	else if (t->lru_tail != NONE) {
		victim = t->lru_tail;
		chain_unlink(t, victim);
		lru_unlink(t, victim);
	} else
		return (struct source_handle){};

	e = &t->entries[victim];
	*e = (struct source){
		.key = key,
		.chain_next = t->buckets[bucket],
		.bucket = bucket,
		.generation = t->next_generation++,
		.tokens = UINT64_MAX,
		.refill_usec = now_usec,
		.summary_usec = UINT64_MAX,
		.last_seen_usec = now_usec,
	};
	t->buckets[bucket] = victim;
	lru_push_front(t, victim);
	return handle_of(t, victim);
}

static struct source *entry_of(const struct sources *t, struct source_handle h)
{
	if (!t || h.generation == 0 || h.index >= t->capacity)
		return NULL;
	if (t->entries[h.index].generation != h.generation)
		return NULL;
	return &t->entries[h.index];
}

bool sources_handle_valid(const struct sources *t, struct source_handle h)
{
	return entry_of(t, h) != NULL;
}

bool sources_take_token(struct sources *t, struct source_handle h, unsigned rate, unsigned burst, uint64_t now_usec)
{
	struct source *e = entry_of(t, h);
	uint64_t full = (uint64_t)MAX(burst, 1U) * TOKEN;

	if (!e || rate == 0)
		return true;
	/* A clock that steps back refills nothing, and never later either. */
	if (now_usec > e->refill_usec) {
		uint64_t elapsed = now_usec - e->refill_usec;

		if (e->tokens < full) {
			/* Past the test, elapsed * rate <= missing < 2^53:
			 * no overflow, however long the gap. */
			uint64_t missing = full - e->tokens;

			if (elapsed > missing / rate)
				e->tokens = full;
			else
				e->tokens += elapsed * rate;
		}
		e->refill_usec = now_usec;
	}
	/* A new bucket, or one made smaller, holds what it can; one made
	 * larger fills up at the rate. */
	e->tokens = MIN(e->tokens, full);
	if (e->tokens < TOKEN)
		return false;
	e->tokens -= TOKEN;
	return true;
}

bool sources_acquire(struct sources *t, struct source_handle h, unsigned max_in_flight)
{
	struct source *e = entry_of(t, h);

	if (!e)
		return true;
	if (max_in_flight != 0 && e->in_flight >= max_in_flight)
		return false;
	if (e->in_flight == UINT32_MAX)
		return false;
	if (e->in_flight++ == 0)
		lru_unlink(t, (uint32_t)(e - t->entries)); /* pinned: never forgotten while in flight */
	return true;
}

void sources_release(struct sources *t, struct source_handle h)
{
	struct source *e = entry_of(t, h);

	if (!e)
		return;
	assert(e->in_flight > 0);
	if (e->in_flight > 0 && --e->in_flight == 0)
		lru_push_front(t, (uint32_t)(e - t->entries)); /* forgettable again */
}

bool sources_note_drop(struct sources *t, struct source_handle h, uint64_t now_usec, uint64_t interval_usec,
		       uint64_t *ret_dropped, uint64_t *ret_period_usec)
{
	struct source *e = entry_of(t, h);
	uint64_t period = 0;

	if (!e)
		return false;
	if (e->dropped < UINT32_MAX)
		e->dropped++;
	if (e->summary_usec != UINT64_MAX) {
		/* A clock that steps back delays the summary, never floods. */
		if (now_usec < e->summary_usec || now_usec - e->summary_usec < interval_usec)
			return false;
		period = now_usec - e->summary_usec;
	}
	if (ret_dropped)
		*ret_dropped = e->dropped;
	if (ret_period_usec)
		*ret_period_usec = period;
	e->dropped = 0;
	e->summary_usec = now_usec;
	return true;
}

enum sources_flush sources_flush_drops(struct sources *t, struct source_handle h, uint64_t now_usec,
				       uint64_t interval_usec, uint64_t *ret_dropped, uint64_t *ret_period_usec)
{
	struct source *e = entry_of(t, h);

	if (!e || e->summary_usec == UINT64_MAX)
		return SOURCES_FLUSH_DONE;
	if (now_usec < e->summary_usec || now_usec - e->summary_usec < interval_usec)
		return SOURCES_FLUSH_WAIT;
	if (e->dropped == 0)
		return SOURCES_FLUSH_DONE;
	*ret_dropped = e->dropped;
	*ret_period_usec = now_usec - e->summary_usec;
	e->dropped = 0;
	e->summary_usec = now_usec;
	return SOURCES_FLUSH_DUE;
}

const char *sources_prefix_to_string(const struct sources *t, struct source_handle h,
				     char buf[static SOURCES_PREFIX_STRING_MAX])
{
	const struct source *e = entry_of(t, h);
	struct prefix p;

	if (!e)
		return "?";
	p = (struct prefix){ .family = ((e->key.meta >> 8) & 0xff) == 4 ? AF_INET : AF_INET6, .len = e->key.meta & 0xff };
	memcpy(p.bytes, e->key.address, sizeof(p.bytes));
	return prefix_to_string(&p, buf, SOURCES_PREFIX_STRING_MAX);
}
