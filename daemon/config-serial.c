/* A loaded configuration as bytes, and back.
 *
 * On reload a child forked from greetingd reads and validates the new file
 * and hands the result back in this form; the parent forwards the same bytes
 * to every worker, so that one process reads and all apply the same
 * configuration. Both ends run the same binary (fork, no exec): the format
 * is private to one build (native byte order, no versioning beyond a magic
 * number). The reader still trusts nothing: every length and count is
 * checked against the bytes left, every value against what config_load()
 * could have produced, and anything else is -EBADMSG.
 *
 * Every value is a 64-bit word or a length-prefixed run of bytes. Adding a
 * field is one put_*() line in config_serialize() or put_listener() and the
 * matching get_*() line in config_deserialize() or get_listener(); the
 * _Static_asserts below fail the build when a struct grows and this file
 * has not been told. */
#include <assert.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "config.h"
#include "macro.h"

#define SERIAL_MAGIC UINT64_C(0x31464e4354455247) /* "GRETCNF1" in memory on little-endian */

/* Lower bounds of an item's encoded size, one 64-bit word per field at the
 * least: they bound what a count may claim against the bytes left, so that
 * a corrupt count never allocates more than a few times the buffer's size.
 * A new field keeps them lower bounds. */
#define WORD sizeof(uint64_t)
#define LISTENER_MIN_SIZE (20 * WORD) /* name, line, family, type, protocol, greeting, timeout, deadline, access, limits (8), max_clients, log_clients, n_addresses */
#define ADDRESS_MIN_SIZE (5 * WORD)  /* family, type, protocol, broadcast, sa */
#define ERROR_MIN_SIZE (1 * WORD)    /* the length of the string */

/* A struct that grows fails the build here until the writer and the reader
 * carry the new field (checked where the sizes are known: 64-bit Linux). */
#if __SIZEOF_POINTER__ == 8 && __SIZEOF_INT__ == 4
_Static_assert(sizeof(struct config) == 320, "a new field? serialize it, then update the size");
_Static_assert(sizeof(struct listener_config) == 312, "a new field? serialize it, then update the size");
_Static_assert(sizeof(struct address) == 152, "a new field? serialize it, then update the size");
#endif

/* The writer: buffered, so that a config of many small fields costs a few
 * write()s; the first error sticks and later puts do nothing. */
struct writer {
	int fd;
	int error;
	size_t used;
	uint8_t buf[16 * 1024];
};

/* Writes all of data: short writes and EINTR are retried, and a
 * non-blocking fd (a pipe) is waited for rather than failed. */
static int write_all(int fd, const void *data, size_t size)
{
	const uint8_t *p = data;

	while (size > 0) {
		ssize_t k = write(fd, p, size);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				struct pollfd pfd = { .fd = fd, .events = POLLOUT };
				if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
					return negative_errno();
				continue;
			}
			return negative_errno();
		}
		if (k == 0)
			return -EIO;
		p += k;
		size -= (size_t)k;
	}
	return 0;
}

static void writer_flush(struct writer *w)
{
	if (w->error == 0 && w->used > 0)
		w->error = write_all(w->fd, w->buf, w->used);
	w->used = 0;
}

static void put_raw(struct writer *w, const void *data, size_t size)
{
	if (w->error < 0)
		return;
	if (size > sizeof(w->buf) - w->used)
		writer_flush(w);
	if (size >= sizeof(w->buf)) {
		/* A large greeting goes straight out, never copied. */
		if (w->error == 0)
			w->error = write_all(w->fd, data, size);
		return;
	}
	if (size > 0)
		memcpy(w->buf + w->used, data, size);
	w->used += size;
}

static void put_u64(struct writer *w, uint64_t v)
{
	put_raw(w, &v, sizeof(v));
}

static void put_int(struct writer *w, int v)
{
	put_u64(w, (uint64_t)(int64_t)v);
}

static void put_bytes(struct writer *w, const void *data, size_t size)
{
	put_u64(w, size);
	put_raw(w, data, size);
}

static void put_string(struct writer *w, const char *s)
{
	put_bytes(w, s, strlen(s));
}

static void put_address(struct writer *w, const struct address *a)
{
	assert(a->len <= sizeof(a->sa));
	put_int(w, a->family);
	put_int(w, a->type);
	put_int(w, a->protocol);
	put_u64(w, a->broadcast);
	put_bytes(w, &a->sa, a->len);
}

/* A list of prefixes, each with its tag. */
static void put_addrlist(struct writer *w, const struct addrlist *l)
{
	put_u64(w, addrlist_size(l));
	for (size_t i = 0; i < addrlist_size(l); i++) {
		struct prefix p;
		int tag;

		addrlist_get(l, i, &p, &tag);
		put_int(w, p.family);
		put_u64(w, p.len);
		put_raw(w, p.bytes, sizeof(p.bytes));
		put_int(w, tag);
	}
}

static void put_limits(struct writer *w, const struct limits *l)
{
	put_u64(w, l->exempt_own);
	put_addrlist(w, &l->exempt);
	put_u64(w, l->prefix4);
	put_u64(w, l->prefix6);
	put_u64(w, l->max_per_source);
	put_u64(w, l->rate);
	put_u64(w, l->burst);
	put_u64(w, l->source_check);
	put_u64(w, l->max_amplification);
}

static void put_listener(struct writer *w, const struct config *c, const struct listener_config *l)
{
	put_string(w, l->name);
	put_u64(w, l->line);
	put_int(w, l->family);
	put_int(w, l->type);
	put_int(w, l->protocol);
	/* A listener without its own greeting shares the global one: say so
	 * instead of copying it, and the reader shares it again. */
	put_u64(w, l->greeting == c->greeting);
	if (l->greeting != c->greeting)
		put_bytes(w, l->greeting->data, l->greeting->size);
	put_u64(w, l->timeout_usec);
	put_u64(w, l->deadline_usec);
	put_addrlist(w, &l->access);
	put_limits(w, &l->limits);
	put_u64(w, l->max_clients);
	put_u64(w, l->log_clients);
	put_u64(w, l->n_addresses);
	for (size_t i = 0; i < l->n_addresses; i++)
		put_address(w, &l->addresses[i]);
}

int config_serialize(const struct config *c, int fd)
{
	_cleanup_free_ struct writer *w = malloc(sizeof(*w));

	if (!w)
		return -ENOMEM;
	*w = (struct writer){ .fd = fd };
	put_u64(w, SERIAL_MAGIC);
	put_string(w, c->path);
	put_bytes(w, c->greeting->data, c->greeting->size);
	put_u64(w, c->timeout_usec);
	put_u64(w, c->deadline_usec);
	put_u64(w, c->max_clients);
	put_u64(w, c->workers);
	put_u64(w, c->log_clients);
	put_addrlist(w, &c->access);
	put_limits(w, &c->limits);
	put_u64(w, c->n_listeners);
	for (size_t i = 0; i < c->n_listeners; i++)
		put_listener(w, c, &c->listeners[i]);
	/* config_error() stops at CONFIG_ERRORS_MAX + 1, "too many" included. */
	assert(c->n_errors <= CONFIG_ERRORS_MAX + 1);
	put_u64(w, c->n_errors);
	for (size_t i = 0; i < c->n_errors; i++)
		put_string(w, c->errors[i]);
	writer_flush(w);
	return w->error;
}

/* The reader: a cursor over the buffer. The first malformed value sets bad
 * (or oom), and from then on every get returns zero without reading, so a
 * field is one line and the checks come once at the end. */
struct reader {
	const uint8_t *p;
	size_t left;
	bool bad, oom;
};

static const void *get_raw(struct reader *r, size_t size)
{
	const void *p;

	if (r->bad || r->oom)
		return NULL;
	if (size > r->left) {
		r->bad = true;
		return NULL;
	}
	p = r->p;
	r->p += size;
	r->left -= size;
	return p;
}

static uint64_t get_u64(struct reader *r)
{
	const void *p = get_raw(r, sizeof(uint64_t));
	uint64_t v = 0;

	if (p)
		memcpy(&v, p, sizeof(v));
	return v;
}

/* A word that must be at most max. */
static uint64_t get_bounded(struct reader *r, uint64_t max)
{
	uint64_t v = get_u64(r);

	if (v > max) {
		r->bad = true;
		return 0;
	}
	return v;
}

static int get_int(struct reader *r)
{
	int64_t v = (int64_t)get_u64(r);

	if (v < INT_MIN || v > INT_MAX) {
		r->bad = true;
		return 0;
	}
	return (int)v;
}

static unsigned get_unsigned(struct reader *r)
{
	return (unsigned)get_bounded(r, UINT_MAX);
}

static bool get_bool(struct reader *r)
{
	return get_bounded(r, 1) == 1;
}

/* A count of items that each take at least min_size bytes: never more than
 * the bytes left can hold. */
static size_t get_count(struct reader *r, size_t min_size)
{
	uint64_t n = get_u64(r);

	if (n > r->left / min_size) {
		r->bad = true;
		return 0;
	}
	return (size_t)n;
}

/* A length and that many bytes; a pointer into the buffer, NULL when bad. */
static const void *get_bytes(struct reader *r, size_t *ret_size)
{
	size_t size = get_count(r, 1);
	const void *p = get_raw(r, size);

	*ret_size = p ? size : 0;
	return p;
}

static char *get_string(struct reader *r)
{
	size_t size;
	const char *p = get_bytes(r, &size);
	char *s;

	if (!p)
		return NULL;
	/* The writer wrote a C string: a NUL inside is a corrupt buffer. */
	if (memchr(p, '\0', size)) {
		r->bad = true;
		return NULL;
	}
	s = malloc(size + 1);
	if (!s) {
		r->oom = true;
		return NULL;
	}
	memcpy(s, p, size);
	s[size] = '\0';
	return s;
}

static struct greeting *get_greeting(struct reader *r)
{
	size_t size;
	const void *p = get_bytes(r, &size);
	struct greeting *g;

	if (!p)
		return NULL;
	g = greeting_new(p, size);
	if (!g)
		r->oom = true;
	return g;
}

/* A listener's family: AF_UNSPEC is "any". */
static bool family_is_valid(int family)
{
	return family == AF_UNSPEC || family == AF_INET || family == AF_INET6 || family == AF_UNIX;
}

static bool type_is_valid(int type)
{
	return type == SOCK_STREAM || type == SOCK_DGRAM || type == SOCK_SEQPACKET;
}

/* What address.c builds: an inet, inet6 or unix address whose length fits
 * its family, so that nothing downstream reads past the union. */
static bool address_is_valid(const struct address *a)
{
	if (!type_is_valid(a->type) || a->len < sizeof(sa_family_t) || a->sa.sa.sa_family != a->family)
		return false;
	switch (a->family) {
	case AF_INET:
		return a->len == sizeof(struct sockaddr_in);
	case AF_INET6:
		return a->len == sizeof(struct sockaddr_in6);
	case AF_UNIX:
		return a->len > offsetof(struct sockaddr_un, sun_path) && a->len <= sizeof(struct sockaddr_un);
	default:
		return false;
	}
}

static void get_address(struct reader *r, struct address *a)
{
	const void *sa;
	size_t len;

	a->family = get_int(r);
	a->type = get_int(r);
	a->protocol = get_int(r);
	a->broadcast = get_bool(r);
	sa = get_bytes(r, &len);
	if (!sa)
		return;
	if (len > sizeof(a->sa)) {
		r->bad = true;
		return;
	}
	memcpy(&a->sa, sa, len);
	a->len = (socklen_t)len;
	if (!address_is_valid(a))
		r->bad = true;
}

#define PREFIX_SIZE (3 * WORD + 16) /* family, len, bytes, tag */

/* What prefix_parse() makes: a family, a length it allows, no bit past it. */
static bool prefix_is_valid(const struct prefix *p)
{
	unsigned bits = p->family == AF_INET ? 32 : p->family == AF_INET6 ? 128 : 0;

	if (bits == 0 || p->len > bits)
		return false;
	for (unsigned i = p->len; i < 128; i++)
		if (p->bytes[i / 8] & (0x80 >> (i % 8)))
			return false;
	return true;
}

/* One (prefix, tag) as put_addrlist() writes it; false if malformed. */
static bool get_prefix(struct reader *r, struct prefix *p, int *tag)
{
	const void *bytes;

	*p = (struct prefix){ .family = get_int(r), .len = (unsigned)get_bounded(r, 128) };
	bytes = get_raw(r, sizeof(p->bytes));
	*tag = get_int(r);
	if (!bytes || *tag < 0 || *tag > ADDRLIST_TAG_MAX) {
		r->bad = true;
		return false;
	}
	memcpy(p->bytes, bytes, sizeof(p->bytes));
	if (!prefix_is_valid(p)) {
		r->bad = true;
		return false;
	}
	return true;
}

/* A list put_addrlist() wrote: refilled and sealed. It must be in the
 * order the sealed list gives its pairs back, the writer's: a buffer that
 * reads as a list is then written back the same. */
static void get_addrlist(struct reader *r, struct addrlist *l)
{
	size_t n = get_count(r, PREFIX_SIZE);
	struct reader again = *r;
	struct prefix p, q;
	int tag, qtag;

	for (size_t i = 0; i < n && !r->bad && !r->oom; i++)
		if (get_prefix(r, &p, &tag) && addrlist_add_prefix(l, &p, tag) < 0)
			r->oom = true;
	addrlist_seal(l);
	for (size_t i = 0; i < n && !r->bad && !r->oom; i++) {
		get_prefix(&again, &p, &tag);
		addrlist_get(l, i, &q, &qtag);
		if (memcmp(&p, &q, sizeof(p)) != 0 || tag != qtag)
			r->bad = true;
	}
}

static void get_limits(struct reader *r, struct limits *l)
{
	l->exempt_own = get_bool(r);
	get_addrlist(r, &l->exempt);
	l->prefix4 = (unsigned)get_bounded(r, 32);
	l->prefix6 = (unsigned)get_bounded(r, 128);
	l->max_per_source = get_unsigned(r);
	l->rate = get_unsigned(r);
	l->burst = get_unsigned(r);
	l->source_check = get_bool(r);
	l->max_amplification = get_unsigned(r);
}

static void get_listener(struct reader *r, const struct config *c, struct listener_config *l)
{
	l->name = get_string(r);
	l->line = get_unsigned(r);
	l->family = get_int(r);
	l->type = get_int(r);
	l->protocol = get_int(r);
	l->greeting = get_bool(r) ? greeting_ref(c->greeting) : get_greeting(r);
	l->timeout_usec = get_u64(r);
	l->deadline_usec = get_u64(r);
	get_addrlist(r, &l->access);
	get_limits(r, &l->limits);
	l->max_clients = get_unsigned(r);
	l->log_clients = get_bool(r);
	l->n_addresses = get_count(r, ADDRESS_MIN_SIZE);
	if (r->bad || r->oom)
		return;
	/* What config_load() makes: a known kind, and at least one address. */
	if (!family_is_valid(l->family) || !type_is_valid(l->type) || l->n_addresses == 0) {
		l->n_addresses = 0;
		r->bad = true;
		return;
	}
	l->addresses = calloc(l->n_addresses, sizeof(*l->addresses));
	if (!l->addresses) {
		l->n_addresses = 0;
		r->oom = true;
		return;
	}
	for (size_t i = 0; i < l->n_addresses; i++)
		get_address(r, &l->addresses[i]);
}

static int reader_result(const struct reader *r)
{
	return r->oom ? -ENOMEM : r->bad ? -EBADMSG : 0;
}

int config_deserialize(const void *data, size_t size, struct config **ret)
{
	struct reader r = { .p = data, .left = size };
	_cleanup_(config_freep) struct config *c = calloc(1, sizeof(*c));
	size_t n;

	if (!c)
		return -ENOMEM;
	/* As config_new() does: room for every error and the "too many". */
	c->errors = calloc(CONFIG_ERRORS_MAX + 1, sizeof(char *));
	if (!c->errors)
		return -ENOMEM;
	if (get_u64(&r) != SERIAL_MAGIC)
		return -EBADMSG;
	c->path = get_string(&r);
	c->greeting = get_greeting(&r);
	c->timeout_usec = get_u64(&r);
	c->deadline_usec = get_u64(&r);
	c->max_clients = get_unsigned(&r);
	c->workers = get_unsigned(&r);
	c->log_clients = get_bool(&r);
	get_addrlist(&r, &c->access);
	get_limits(&r, &c->limits);
	n = get_count(&r, LISTENER_MIN_SIZE);
	if (reader_result(&r) < 0)
		return reader_result(&r);
	c->listeners = calloc(n ? n : 1, sizeof(*c->listeners));
	if (!c->listeners)
		return -ENOMEM;
	/* Counted first, filled after: config_free() copes with the half-read. */
	c->n_listeners = n;
	for (size_t i = 0; i < n; i++)
		get_listener(&r, c, &c->listeners[i]);
	/* The errors array has CONFIG_ERRORS_MAX + 1 slots: no more. */
	c->n_errors = get_count(&r, ERROR_MIN_SIZE);
	if (c->n_errors > CONFIG_ERRORS_MAX + 1) {
		c->n_errors = 0;
		return -EBADMSG;
	}
	for (size_t i = 0; i < c->n_errors; i++)
		c->errors[i] = get_string(&r);
	if (reader_result(&r) < 0)
		return reader_result(&r);
	/* Every byte is accounted for: trailing bytes are a corrupt buffer. */
	if (r.left > 0)
		return -EBADMSG;
	*ret = TAKE_PTR(c);
	return 0;
}

int config_serialize_to_memfd(const struct config *c)
{
	_cleanup_close_ int fd = -1;
	int r;

	fd = memfd_create("greetingd-config", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return negative_errno();
	r = config_serialize(c, fd);
	if (r < 0)
		return r;
	/* Sealed, the receiver may map it without fearing a change or SIGBUS. */
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		return negative_errno();
	/* The offset is shared with every copy of the fd: start them at 0. */
	if (lseek(fd, 0, SEEK_SET) < 0)
		return negative_errno();
	return TAKE_FD(fd);
}

int config_from_memfd(int fd, struct config **ret)
{
	struct stat st;
	void *p;
	int seals, r;

	/* Mapped, a file that shrinks under us would be a SIGBUS: only a sealed
	 * one is read. */
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0)
		return negative_errno();
	if ((seals & (F_SEAL_WRITE | F_SEAL_SHRINK)) != (F_SEAL_WRITE | F_SEAL_SHRINK))
		return -EPERM;
	if (fstat(fd, &st) < 0)
		return negative_errno();
	if (st.st_size <= 0 || (uint64_t)st.st_size > SIZE_MAX)
		return -EBADMSG;
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED)
		return negative_errno();
	r = config_deserialize(p, (size_t)st.st_size, ret);
	munmap(p, (size_t)st.st_size);
	return r;
}
