/* Address prefixes and lists of them: parsing, printing, longest-prefix match. */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "addrlist.h"
#include "macro.h"

/* A word longer than this is no address and is not copied. */
#define ADDRESS_TEXT_MAX INET6_ADDRSTRLEN

static unsigned family_bits(int family)
{
	return family == AF_INET ? 32 : 128;
}

static const char *family_name(int family)
{
	return family == AF_INET ? "IPv4" : "IPv6";
}

/* Clears every bit of bytes past len. */
static void bytes_mask(uint8_t *bytes, unsigned size, unsigned len)
{
	for (unsigned i = 0; i < size; i++) {
		if (len >= 8 * (i + 1))
			continue;
		bytes[i] &= len > 8 * i ? (uint8_t)(0xff << (8 - (len - 8 * i))) : 0;
	}
}

/* ::ffff:0:0/96, where a dual-stack socket puts IPv4 peers. */
static bool bytes_v4mapped(const uint8_t *bytes)
{
	static const uint8_t head[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	return memcmp(bytes, head, sizeof(head)) == 0;
}

/* The number after "/": digits only. Saturates at 999, longer than any address. */
static int prefix_length_parse(const char *s, size_t size, unsigned *ret)
{
	unsigned v = 0;

	if (size == 0)
		return -EINVAL;
	for (size_t i = 0; i < size; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = MIN(v * 10 + (unsigned)(s[i] - '0'), 999u);
	}
	*ret = v;
	return 0;
}

/* prefix_parse() over word[0, size): words of a config line are not NUL-terminated. */
static int prefix_parse_n(const char *word, size_t size, struct prefix *ret, char *err,
			  size_t errlen)
{
	const char *slash = memchr(word, '/', size);
	size_t address_size = slash ? (size_t)(slash - word) : size;
	const char *scope = memchr(word, '%', address_size);
	int w = (int)MIN(size, 256u); /* of the word, enough to recognise it in a message */
	char text[ADDRESS_TEXT_MAX], buf[PREFIX_STRING_MAX];
	struct prefix p = {};
	uint8_t masked[16];

	if (memchr(word, ',', size)) {
		snprintf(err, errlen, "%.*s: separate addresses with spaces, not commas", w, word);
		return -EINVAL;
	}
	if (scope) {
		snprintf(err, errlen, "%.*s has a scope id: a prefix holds sources of every interface; remove \"%.*s\"",
			 w, word, (int)MIN((size_t)(word + address_size - scope), 256u), scope);
		return -EINVAL;
	}
	if (address_size >= sizeof(text))
		goto malformed;
	memcpy(text, word, address_size);
	text[address_size] = '\0';
	/* inet_pton() and never getaddrinfo(): a name here would be a DNS query per config load. */
	p.family = memchr(text, ':', address_size) ? AF_INET6 : AF_INET;
	if (inet_pton(p.family, text, p.bytes) != 1)
		goto malformed;

	p.len = family_bits(p.family);
	if (slash) {
		size_t len_size = size - address_size - 1;

		if (prefix_length_parse(slash + 1, len_size, &p.len) < 0) {
			snprintf(err, errlen,
				 "%.*s: the prefix length after \"/\" must be a number of bits", w,
				 word);
			return -EINVAL;
		}
		if (p.len > family_bits(p.family)) {
			snprintf(err, errlen, "/%.*s is longer than an %s address (%u bits)",
				 (int)MIN(len_size, 64u), slash + 1, family_name(p.family),
				 family_bits(p.family));
			return -EINVAL;
		}
	}

	/* A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d and they are
	 * matched as IPv4: a mapped prefix would never match anything. */
	if (p.family == AF_INET6 && p.len >= 96 && bytes_v4mapped(p.bytes)) {
		struct prefix v4 = { .family = AF_INET, .len = p.len - 96 };

		memcpy(v4.bytes, p.bytes + 12, 4);
		prefix_to_string(&v4, buf, sizeof(buf));
		if (!slash)
			*strchr(buf, '/') = '\0';
		snprintf(err, errlen, "%.*s is an IPv4-mapped IPv6 address: write it as IPv4 (%s)",
			 w, word, buf);
		return -EINVAL;
	}

	memcpy(masked, p.bytes, sizeof(masked));
	bytes_mask(masked, p.family == AF_INET ? 4 : 16, p.len);
	if (memcmp(masked, p.bytes, sizeof(masked)) != 0) {
		memcpy(p.bytes, masked, sizeof(masked));
		snprintf(err, errlen, "%.*s has host bits set: did you mean %s?", w, word,
			 prefix_to_string(&p, buf, sizeof(buf)));
		return -EINVAL;
	}
	*ret = p;
	return 0;

malformed:
	snprintf(err, errlen, "\"%.*s\" is not an IPv4 or IPv6 address%s", w, word,
		 slash ? " with a prefix length" : "");
	return -EINVAL;
}

int prefix_parse(const char *word, struct prefix *ret, char *err, size_t errlen)
{
	return prefix_parse_n(word, strlen(word), ret, err, errlen);
}

const char *prefix_to_string(const struct prefix *p, char *buf, size_t size)
{
	char text[INET6_ADDRSTRLEN];

	assert(p->family == AF_INET || p->family == AF_INET6);
	if (!inet_ntop(p->family, p->bytes, text, sizeof(text)))
		snprintf(text, sizeof(text), "?");
	snprintf(buf, size, "%s/%u", text, p->len);
	return buf;
}

bool prefix_contains(const struct prefix *p, int family, const uint8_t *bytes)
{
	uint8_t masked[16] = {};
	unsigned size = family == AF_INET ? 4 : 16;

	if (family != p->family)
		return false;
	memcpy(masked, bytes, size);
	bytes_mask(masked, size, p->len);
	return memcmp(masked, p->bytes, size) == 0;
}

/* The index's key: a 128-bit number, IPv4 in its top 32 bits. */
static uint64_t load_be64(const uint8_t *b)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return v;
}

static void store_be64(uint8_t *b, uint64_t v)
{
	for (unsigned i = 8; i-- > 0; v >>= 8)
		b[i] = (uint8_t)v;
}

static void key_from_bytes(int family, const uint8_t *bytes, uint64_t *ret_hi, uint64_t *ret_lo)
{
	if (family == AF_INET) {
		uint8_t b[8] = { bytes[0], bytes[1], bytes[2], bytes[3] };
		*ret_hi = load_be64(b);
		*ret_lo = 0;
	} else {
		*ret_hi = load_be64(bytes);
		*ret_lo = load_be64(bytes + 8);
	}
}

/* The first len of the 128 bits, as a mask (len counted in the family's
 * bits: IPv4's 32 are the top 32 of the key, so the same mask serves). */
static void key_netmask(unsigned len, uint64_t *ret_hi, uint64_t *ret_lo)
{
	*ret_hi = len == 0 ? 0 : len >= 64 ? UINT64_MAX : UINT64_MAX << (64 - len);
	*ret_lo = len <= 64 ? 0 : UINT64_MAX << (128 - len);
}

static bool key_less(uint64_t ahi, uint64_t alo, uint64_t bhi, uint64_t blo)
{
	return ahi < bhi || (ahi == bhi && alo < blo);
}

static struct addrlist_family *list_family(struct addrlist *l, int family)
{
	return family == AF_INET ? &l->v4 : &l->v6;
}

int addrlist_add_prefix(struct addrlist *l, const struct prefix *p, int tag)
{
	struct addrlist_family *f;
	struct addrlist_entry *e;

	assert(p->family == AF_INET || p->family == AF_INET6);
	assert(p->len <= family_bits(p->family));
	assert(tag >= 0 && tag <= ADDRLIST_TAG_MAX);
	f = list_family(l, p->family);
	if (f->n == f->allocated) {
		size_t allocated = f->allocated ? 2 * f->allocated : 8;
		struct addrlist_point *points;

		/* The points first: an entry never lacks its two. */
		if (f->points_allocated < 2 * allocated) {
			points = reallocarray(f->points, 2 * allocated, sizeof(*points));
			if (!points)
				return -ENOMEM;
			f->points = points;
			f->points_allocated = 2 * allocated;
		}
		e = reallocarray(f->entries, allocated, sizeof(*e));
		if (!e)
			return -ENOMEM;
		f->entries = e;
		f->allocated = allocated;
	}
	e = &f->entries[f->n++];
	*e = (struct addrlist_entry){ .len = (uint8_t)p->len, .tag = (uint8_t)tag };
	key_from_bytes(p->family, p->bytes, &e->hi, &e->lo);
	l->unsealed = true;
	return 0;
}

int addrlist_add(struct addrlist *l, const char *value, int tag, char *err, size_t errlen)
{
	static const char separators[] = " \t";
	size_t old_v4 = l->v4.n, old_v6 = l->v6.n;
	bool old_unsealed = l->unsealed;
	const char *s = value;
	int r = 0;

	for (;;) {
		struct prefix p;
		size_t size;

		s += strspn(s, separators);
		if (*s == '\0')
			return 0;
		size = strcspn(s, separators);
		r = prefix_parse_n(s, size, &p, err, errlen);
		if (r >= 0) {
			r = addrlist_add_prefix(l, &p, tag);
			if (r < 0)
				snprintf(err, errlen, "out of memory");
		}
		if (r < 0)
			break;
		s += size;
	}
	/* All or nothing: the list is as it was, entries only ever being appended. */
	l->v4.n = old_v4;
	l->v6.n = old_v6;
	l->unsealed = old_unsealed;
	return r;
}

/* By first address, and a prefix before the longer ones it holds. */
static int entry_compare(const void *a, const void *b)
{
	const struct addrlist_entry *x = a, *y = b;

	if (x->hi != y->hi)
		return x->hi < y->hi ? -1 : 1;
	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return (x->tag > y->tag) - (x->tag < y->tag);
}

static bool entry_same_prefix(const struct addrlist_entry *a, const struct addrlist_entry *b)
{
	return a->hi == b->hi && a->lo == b->lo && a->len == b->len;
}

/* A prefix still open in the sweep: its last address and what it matches. */
struct open_prefix {
	uint64_t last_hi, last_lo;
	uint32_t tags;
	uint8_t len;
};

/* An interval starts at (hi, lo) with value (tags, len). One starting where
 * the previous one did replaces it (the later is the more specific), and
 * one that matches like its predecessor is no interval of its own. */
static void point_add(struct addrlist_family *f, uint64_t hi, uint64_t lo, uint32_t tags,
		      uint8_t len)
{
	struct addrlist_point *p;

	if (f->n_points > 0 && f->points[f->n_points - 1].hi == hi &&
	    f->points[f->n_points - 1].lo == lo)
		f->n_points--;
	if (f->n_points > 0 && f->points[f->n_points - 1].tags == tags &&
	    f->points[f->n_points - 1].len == len)
		return;
	assert(f->n_points < f->points_allocated);
	p = &f->points[f->n_points++];
	*p = (struct addrlist_point){ .hi = hi, .lo = lo, .tags = tags, .len = len };
}

/* Closes the open prefixes that end before (hi, lo), or all of them: after
 * each, the address space goes back to the prefix that holds it. */
static void sweep_close(struct addrlist_family *f, struct open_prefix *stack, size_t *depth,
			bool all, uint64_t hi, uint64_t lo)
{
	while (*depth > 0) {
		const struct open_prefix *top = &stack[*depth - 1];
		uint64_t next_hi = top->last_hi, next_lo = top->last_lo + 1;

		if (!all && !key_less(top->last_hi, top->last_lo, hi, lo))
			return;
		(*depth)--;
		if (next_lo == 0 && ++next_hi == 0)
			continue; /* it ended at the last address: nothing follows */
		if (*depth > 0)
			point_add(f, next_hi, next_lo, stack[*depth - 1].tags,
				  stack[*depth - 1].len);
		else
			point_add(f, next_hi, next_lo, 0, 0);
	}
}

/* Prefixes nest or are disjoint, so a sweep in address order with a stack
 * of the open ones (at most one per length) cuts the space into intervals
 * of one longest match each: at most one point per prefix opened and one
 * per prefix closed. The same prefix with several tags is one, tags OR'ed. */
static void family_seal(struct addrlist_family *f)
{
	struct open_prefix stack[129];
	size_t depth = 0;

	if (f->n > 0)
		qsort(f->entries, f->n, sizeof(f->entries[0]), entry_compare);
	f->n_points = 0;
	for (size_t i = 0, j; i < f->n; i = j) {
		const struct addrlist_entry *e = &f->entries[i];
		struct open_prefix *o;
		uint64_t mask_hi, mask_lo;

		sweep_close(f, stack, &depth, false, e->hi, e->lo);
		assert(depth < ELEMENTSOF(stack));
		o = &stack[depth++];
		key_netmask(e->len, &mask_hi, &mask_lo);
		*o = (struct open_prefix){ .last_hi = e->hi | ~mask_hi, .last_lo = e->lo | ~mask_lo, .len = e->len };
		for (j = i; j < f->n && entry_same_prefix(&f->entries[j], e); j++)
			o->tags |= ADDRLIST_TAG_BIT(f->entries[j].tag);
		/* Nested: the prefix below holds this one whole. */
		assert(depth < 2 ||
		       !key_less(o[-1].last_hi, o[-1].last_lo, o->last_hi, o->last_lo));
		point_add(f, e->hi, e->lo, o->tags, o->len);
	}
	sweep_close(f, stack, &depth, true, 0, 0);
}

void addrlist_seal(struct addrlist *l)
{
	family_seal(&l->v4);
	family_seal(&l->v6);
	l->unsealed = false;
}

void addrlist_clear(struct addrlist *l)
{
	l->v4.n = l->v4.n_points = 0;
	l->v6.n = l->v6.n_points = 0;
	l->unsealed = false;
}

void addrlist_free(struct addrlist *l)
{
	free(l->v4.entries);
	free(l->v4.points);
	free(l->v6.entries);
	free(l->v6.points);
	*l = (struct addrlist){};
}

static int family_copy(struct addrlist_family *dest, const struct addrlist_family *src)
{
	*dest = (struct addrlist_family){};
	if (src->n == 0)
		return 0;
	dest->entries = reallocarray(NULL, src->n, sizeof(src->entries[0]));
	dest->points = reallocarray(NULL, 2 * src->n, sizeof(src->points[0]));
	if (!dest->entries || !dest->points)
		return -ENOMEM;
	memcpy(dest->entries, src->entries, src->n * sizeof(src->entries[0]));
	memcpy(dest->points, src->points, src->n_points * sizeof(src->points[0]));
	dest->n = dest->allocated = src->n;
	dest->n_points = src->n_points;
	dest->points_allocated = 2 * src->n;
	return 0;
}

int addrlist_copy(struct addrlist *dest, const struct addrlist *src)
{
	struct addrlist copy = { .unsealed = src->unsealed };

	if (family_copy(&copy.v4, &src->v4) < 0 || family_copy(&copy.v6, &src->v6) < 0) {
		addrlist_free(&copy);
		return -ENOMEM;
	}
	addrlist_free(dest);
	*dest = copy;
	return 0;
}

size_t addrlist_size(const struct addrlist *l)
{
	return l->v4.n + l->v6.n;
}

void addrlist_get(const struct addrlist *l, size_t i, struct prefix *ret, int *ret_tag)
{
	const struct addrlist_entry *e;
	uint8_t bytes[16];

	assert(i < addrlist_size(l));
	*ret = (struct prefix){};
	if (i < l->v4.n) {
		e = &l->v4.entries[i];
		ret->family = AF_INET;
	} else {
		e = &l->v6.entries[i - l->v4.n];
		ret->family = AF_INET6;
	}
	store_be64(bytes, e->hi);
	store_be64(bytes + 8, e->lo);
	memcpy(ret->bytes, bytes, ret->family == AF_INET ? 4 : 16);
	ret->len = e->len;
	if (ret_tag)
		*ret_tag = e->tag;
}

uint32_t addrlist_tags(const struct addrlist *l)
{
	uint32_t tags = 0;

	for (size_t i = 0; i < l->v4.n; i++)
		tags |= ADDRLIST_TAG_BIT(l->v4.entries[i].tag);
	for (size_t i = 0; i < l->v6.n; i++)
		tags |= ADDRLIST_TAG_BIT(l->v6.entries[i].tag);
	return tags;
}

/* The last point at or before the source: its interval holds it. */
static bool family_match(const struct addrlist_family *f, uint64_t hi, uint64_t lo,
			 struct addrlist_match *ret)
{
	size_t low = 0, high = f->n_points;
	const struct addrlist_point *p;

	/* The first point after the source. */
	while (low < high) {
		size_t mid = low + (high - low) / 2;
		if (key_less(hi, lo, f->points[mid].hi, f->points[mid].lo))
			high = mid;
		else
			low = mid + 1;
	}
	if (low == 0)
		return false;
	p = &f->points[low - 1];
	if (p->tags == 0)
		return false;
	if (ret) {
		ret->len = p->len;
		ret->tags = p->tags;
	}
	return true;
}

bool addrlist_match(const struct addrlist *l, const struct sockaddr *sa, socklen_t len,
		    struct addrlist_match *ret)
{
	uint64_t hi, lo;
	int family;

	/* An unsealed list is unsorted: a caller that forgot addrlist_seal(). */
	assert(!l->unsealed);
	if (l->v4.n == 0 && l->v6.n == 0)
		return false; /* an empty list (limit-exempt emptied): no key to build */
	if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		family = AF_INET;
		key_from_bytes(AF_INET, (const uint8_t *)&in->sin_addr, &hi, &lo);
	} else if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
		const uint8_t *bytes = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
		if (bytes_v4mapped(bytes)) {
			family = AF_INET;
			key_from_bytes(AF_INET, bytes + 12, &hi, &lo);
		} else {
			family = AF_INET6;
			key_from_bytes(AF_INET6, bytes, &hi, &lo);
		}
	} else
		return false;
	if (!family_match(family == AF_INET ? &l->v4 : &l->v6, hi, lo, ret))
		return false;
	if (ret)
		ret->family = family;
	return true;
}
