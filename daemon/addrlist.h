/* Address prefixes and lists of them, for allow, deny and limit-exempt.
 *
 * A prefix is an IPv4 or IPv6 address and a length, written as in the
 * config ("192.0.2.0/24", "2001:db8::/32", "::1"). A list holds prefixes,
 * each with the caller's small integer tag (allow, deny, ...), and answers
 * one question per connection or datagram: which is the longest prefix that
 * holds this source, and which tags does that length carry. Matching
 * allocates nothing and costs one binary search over at most 2n points.
 *
 * Like address.c, this logs nothing: errors come back as -errno and a
 * message for the caller's "FILE:LINE: KEY: message" line. */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255/128" and its NUL. */
#define PREFIX_STRING_MAX (INET6_ADDRSTRLEN + 4)

struct prefix {
	int family;        /* AF_INET or AF_INET6 */
	unsigned len;      /* 0..32 or 0..128 */
	uint8_t bytes[16]; /* network order; IPv4 in the first 4; every bit past len is 0 */
};

/* One word: an address, optionally /LEN (none: the whole address). Refused:
 * anything inet_pton() does not take (no names, no DNS), a length that is
 * not a number or longer than the family's, bits set past the length, a
 * scope id, and IPv4-mapped IPv6 addresses (::ffff:0:0/96 and inside it:
 * mapped sources are matched as IPv4, so the IPv4 form is what to write).
 * -EINVAL with a message in err. */
int prefix_parse(const char *word, struct prefix *ret, char *err, size_t errlen);

/* "192.0.2.0/24", "2001:db8::/32", "::1/128": always with the length, and
 * prefix_parse() reads it back as the same prefix. Returns buf. */
const char *prefix_to_string(const struct prefix *p, char *buf, size_t size);

/* Whether p holds the address of family (4 or 16 bytes, network order). */
bool prefix_contains(const struct prefix *p, int family, const uint8_t *bytes);

/* Tags are bit numbers, so that a match can report a set of them. */
#define ADDRLIST_TAG_MAX 31
#define ADDRLIST_TAG_BIT(tag) (UINT32_C(1) << (tag))

/* A prefix as the list keeps it: a 128-bit key, IPv4 in its top 32 bits,
 * so that both families share one masking and one comparison. */
struct addrlist_entry {
	uint64_t hi, lo;
	uint8_t len;
	uint8_t tag;
};

/* The sealed index: the address space cut into intervals, each beginning at
 * its point and ending before the next, with the longest match of every
 * address in it (tags 0: none). A match is one binary search. */
struct addrlist_point {
	uint64_t hi, lo;
	uint32_t tags;
	uint8_t len;
};

struct addrlist_family {
	struct addrlist_entry *entries;
	size_t n, allocated;
	/* Room for 2 points per entry, reserved as entries are added, so that
	 * sealing never allocates and never fails. */
	struct addrlist_point *points;
	size_t n_points, points_allocated;
};

/* Zero-initialised is an empty, sealed list. */
struct addrlist {
	struct addrlist_family v4, v6;
	bool unsealed; /* added to since the last addrlist_seal() */
};

/* What a match found: the longest length that holds the source and every
 * tag at that length (more than one bit: a tie for the caller to settle). */
struct addrlist_match {
	int family; /* the prefix's: AF_INET for an IPv4-mapped source */
	unsigned len;
	uint32_t tags; /* ADDRLIST_TAG_BIT() of each */
};

/* Adds every prefix of a space-separated value (one config line) with tag
 * (0..ADDRLIST_TAG_MAX). An empty or blank value adds nothing. All or
 * nothing: on an error no prefix of value is added. -EINVAL with a message
 * in err, -ENOMEM. The list needs addrlist_seal() before it is matched. */
int addrlist_add(struct addrlist *l, const char *value, int tag, char *err, size_t errlen);
/* One parsed prefix, as addrlist_add() adds each word. -ENOMEM. */
int addrlist_add_prefix(struct addrlist *l, const struct prefix *p, int tag);

/* Sorts the list and builds the index of intervals: O(n log n), once,
 * after the last addition and before the first match. Never fails. */
void addrlist_seal(struct addrlist *l);

/* Empties the list, keeping its memory for reuse. */
void addrlist_clear(struct addrlist *l);
/* Frees the memory; l is an empty list again. */
void addrlist_free(struct addrlist *l);
/* dest becomes a copy of src (which it may then add to: a listener's list
 * after [greetingd]'s), sealed if src is; what dest held is freed. On
 * -ENOMEM dest is left as it was. */
int addrlist_copy(struct addrlist *dest, const struct addrlist *src);

/* How many (prefix, tag) pairs the list holds, repeats included. */
size_t addrlist_size(const struct addrlist *l);
/* The i-th pair, 0 <= i < addrlist_size(), in no promised order. */
void addrlist_get(const struct addrlist *l, size_t i, struct prefix *ret, int *ret_tag);
/* The set of tags in the list, as ADDRLIST_TAG_BIT()s: e.g. "is allow set". */
uint32_t addrlist_tags(const struct addrlist *l);

/* The longest prefix of the sealed list (matching an unsealed one is a bug,
 * and an assertion) that holds the address of sa (inet
 * or inet6; an IPv4-mapped IPv6 source, as a dual-stack socket reports an
 * IPv4 client, is matched against the IPv4 prefixes). False when none does,
 * or sa is of another family or too short. ret may be NULL. */
bool addrlist_match(const struct addrlist *l, const struct sockaddr *sa, socklen_t len,
		    struct addrlist_match *ret);
