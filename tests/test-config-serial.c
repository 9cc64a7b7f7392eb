/* config-serial.c: a configuration survives the trip through bytes whole,
 * and a malformed buffer is refused without a crash, an over-read or a huge
 * allocation. */
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "macro.h"

/* The largest single allocation made while tracking: linked with
 * -Wl,--wrap=malloc,--wrap=calloc, which catches the library's calls. */
static bool tracking;
static size_t largest_allocation;

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);

void *__wrap_malloc(size_t size)
{
	if (tracking && size > largest_allocation)
		largest_allocation = size;
	return __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size)
{
	size_t total = size != 0 && n > SIZE_MAX / size ? SIZE_MAX : n * size;

	if (tracking && total > largest_allocation)
		largest_allocation = total;
	return __real_calloc(n, size);
}

/* A scratch directory for greeting files. */
static char dir[] = "/tmp/greetingd-serial-XXXXXX";

static void write_file(const char *name, size_t size, char *ret_path, size_t path_size)
{
	FILE *f;

	snprintf(ret_path, path_size, "%s/%s", dir, name);
	f = fopen(ret_path, "w");
	assert_non_null(f);
	/* Every byte value, NUL included: a greeting is bytes, not a string. */
	for (size_t i = 0; i < size; i++)
		fputc((int)(i * 7 % 256), f);
	assert_int_equal(fclose(f), 0);
}

static struct config *load(const char *text, int expect)
{
	struct config *c = NULL;

	assert_int_equal(config_load_string("/etc/greetingd/t.conf", text, strlen(text), &c), expect);
	assert_non_null(c);
	return c;
}

/* The bytes config_serialize() writes, through a plain memfd. */
static void *serialize(const struct config *c, size_t *ret_size)
{
	int fd = memfd_create("test", MFD_CLOEXEC);
	struct stat st;
	void *buf;

	assert_true(fd >= 0);
	assert_int_equal(config_serialize(c, fd), 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_true(st.st_size > 0);
	buf = malloc((size_t)st.st_size);
	assert_non_null(buf);
	assert_int_equal(pread(fd, buf, (size_t)st.st_size, 0), st.st_size);
	close(fd);
	*ret_size = (size_t)st.st_size;
	return buf;
}

static void assert_greeting_equal(const struct greeting *a, const struct greeting *b)
{
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(a->size, b->size);
	assert_memory_equal(a->data, b->data, a->size);
}

static void assert_address_equal(const struct address *a, const struct address *b)
{
	assert_int_equal(a->family, b->family);
	assert_int_equal(a->type, b->type);
	assert_int_equal(a->protocol, b->protocol);
	assert_int_equal(a->broadcast, b->broadcast);
	assert_int_equal(a->len, b->len);
	assert_memory_equal(&a->sa, &b->sa, a->len);
	assert_true(address_equal(a, b));
}

/* The same prefixes with the same tags, in the same order, both sealed. */
static void assert_addrlist_equal(const struct addrlist *a, const struct addrlist *b)
{
	assert_int_equal(addrlist_size(a), addrlist_size(b));
	assert_false(a->unsealed || b->unsealed);
	for (size_t i = 0; i < addrlist_size(a); i++) {
		struct prefix pa, pb;
		int ta, tb;

		addrlist_get(a, i, &pa, &ta);
		addrlist_get(b, i, &pb, &tb);
		assert_memory_equal(&pa, &pb, sizeof(pa));
		assert_int_equal(ta, tb);
	}
}

static void assert_limits_equal(const struct limits *a, const struct limits *b)
{
	assert_int_equal(a->exempt_own, b->exempt_own);
	assert_addrlist_equal(&a->exempt, &b->exempt);
	assert_int_equal(a->prefix4, b->prefix4);
	assert_int_equal(a->prefix6, b->prefix6);
	assert_int_equal(a->max_per_source, b->max_per_source);
	assert_int_equal(a->rate, b->rate);
	assert_int_equal(a->burst, b->burst);
}

/* Field by field, the sharing of the global greeting included. */
static void assert_config_equal(const struct config *a, const struct config *b)
{
	assert_string_equal(a->path, b->path);
	assert_greeting_equal(a->greeting, b->greeting);
	assert_int_equal(a->greeting->refs, b->greeting->refs);
	assert_int_equal(a->timeout_usec, b->timeout_usec);
	assert_int_equal(a->deadline_usec, b->deadline_usec);
	assert_addrlist_equal(&a->access, &b->access);
	assert_limits_equal(&a->limits, &b->limits);
	assert_int_equal(a->max_clients, b->max_clients);
	assert_int_equal(a->workers, b->workers);
	assert_int_equal(a->log_clients, b->log_clients);
	assert_int_equal(a->n_listeners, b->n_listeners);
	for (size_t i = 0; i < a->n_listeners; i++) {
		const struct listener_config *la = &a->listeners[i], *lb = &b->listeners[i];

		assert_string_equal(la->name, lb->name);
		assert_int_equal(la->line, lb->line);
		assert_int_equal(la->family, lb->family);
		assert_int_equal(la->type, lb->type);
		assert_int_equal(la->protocol, lb->protocol);
		assert_greeting_equal(la->greeting, lb->greeting);
		assert_int_equal(la->greeting == a->greeting, lb->greeting == b->greeting);
		assert_int_equal(la->greeting->refs, lb->greeting->refs);
		assert_int_equal(la->timeout_usec, lb->timeout_usec);
		assert_int_equal(la->deadline_usec, lb->deadline_usec);
		assert_addrlist_equal(&la->access, &lb->access);
		assert_limits_equal(&la->limits, &lb->limits);
		assert_int_equal(la->log_clients, lb->log_clients);
		assert_int_equal(la->n_addresses, lb->n_addresses);
		for (size_t k = 0; k < la->n_addresses; k++)
			assert_address_equal(&la->addresses[k], &lb->addresses[k]);
	}
	assert_int_equal(a->n_errors, b->n_errors);
	for (size_t i = 0; i < a->n_errors; i++)
		assert_string_equal(a->errors[i], b->errors[i]);
}

static struct config *round_trip(const struct config *c)
{
	size_t size;
	_cleanup_free_ void *buf = serialize(c, &size);
	struct config *copy = NULL;

	assert_int_equal(config_deserialize(buf, size, &copy), 0);
	assert_non_null(copy);
	assert_config_equal(c, copy);
	return copy;
}

/* Every kind of listener the file can declare, with a greeting file larger
 * than the writer's buffer (big) or a small one. */
static struct config *load_every_kind(size_t greeting_file_size)
{
	char path[256], text[2048];

	write_file("greeting", greeting_file_size, path, sizeof(path));
	snprintf(text, sizeof(text),
		 "[greetingd]\n"
		 "greeting = Global \\x01\\t\\xff\\n\n"
		 "timeout = 3s\n"
		 "max-clients = 77\n"
		 "workers = 3\n"
		 "log-clients = yes\n"
		 "allow = 192.0.2.0/24 2001:db8::/32\n"
		 "deny = 192.0.2.128/25\n"
		 "[any]\n"
		 "port = 12001\n"
		 "deny = 10.0.0.0/8 ::1\n"
		 "limit-exempt = 198.51.100.0/24\n"
		 "rate = 7\n"
		 "[local]\n"
		 "path = %s/local.sock\n"
		 "greeting = local\\n\n"
		 "log-clients = no\n"
		 "timeout = 250ms\n"
		 "[abstract]\n"
		 "path = @greetingd-serial\n"
		 "type = seqpacket\n"
		 "[udp]\n"
		 "type = dgram\n"
		 "family = inet\n"
		 "protocol = udp\n"
		 "host = 127.0.0.1\n"
		 "port = 12002\n"
		 "[broadcast]\n"
		 "type = dgram\n"
		 "host = <broadcast>\n"
		 "port = 12003\n"
		 "[file]\n"
		 "host = ::1\n"
		 "port = 12004\n"
		 "greeting-file = %s\n"
		 "[shared-too]\n"
		 "family = inet6\n"
		 "port = 12005\n",
		 dir, path);
	return load(text, 0);
}

static void test_round_trip_every_kind(void **state)
{
	_cleanup_(config_freep) struct config *c = load_every_kind(100000);
	_cleanup_(config_freep) struct config *copy = NULL;

	/* What the comparison below covers. */
	assert_int_equal(c->n_listeners, 7);
	assert_int_equal(c->listeners[0].n_addresses, 2);
	assert_int_equal(c->listeners[4].addresses[0].broadcast, true);
	assert_int_equal(c->listeners[5].greeting->size, 100000);
	assert_ptr_equal(c->listeners[0].greeting, c->greeting);
	assert_int_equal(addrlist_size(&c->access), 3);
	assert_int_equal(addrlist_size(&c->listeners[0].access), 4); /* own deny, inherited allow */
	assert_int_equal(c->greeting->refs, 6); /* the config, any, abstract, udp, broadcast, shared-too */
	assert_true(c->log_clients);
	assert_true(c->listeners[0].log_clients);   /* inherited */
	assert_false(c->listeners[1].log_clients);  /* its own */
	copy = round_trip(c);
	/* The global greeting is shared again, not copied per listener. */
	assert_ptr_equal(copy->listeners[0].greeting, copy->greeting);
	assert_ptr_equal(copy->listeners[2].greeting, copy->greeting);
	assert_ptr_equal(copy->listeners[6].greeting, copy->greeting);
	assert_ptr_not_equal(copy->listeners[1].greeting, copy->greeting);
	/* And what was read back is itself written back byte for byte. */
	size_t size1, size2;
	_cleanup_free_ void *buf1 = serialize(c, &size1);
	_cleanup_free_ void *buf2 = serialize(copy, &size2);
	assert_int_equal(size1, size2);
	assert_memory_equal(buf1, buf2, size1);
}

static void test_round_trip_errors(void **state)
{
	_cleanup_free_ char *many = malloc(200 * 12 + 16);
	size_t n = 0;

	/* Errors beside listeners that loaded. */
	{
		_cleanup_(config_freep) struct config *c =
			load("[ok]\nport = 7\n[bad]\nport = htpp\n[worse]\nfamily = inet9\nport = 7\ntimeout = forever\n", -EINVAL);
		_cleanup_(config_freep) struct config *copy = NULL;

		assert_int_equal(c->n_listeners, 1);
		assert_int_equal(c->n_errors, 3);
		copy = round_trip(c);
	}
	/* As many errors as are kept, "too many" included. */
	{
		n += (size_t)sprintf(many, "[a]\nport = 7\n");
		for (int i = 0; i < 200; i++)
			n += (size_t)sprintf(many + n, "x%d = 1\n", i);
		_cleanup_(config_freep) struct config *c = NULL;
		_cleanup_(config_freep) struct config *copy = NULL;

		assert_int_equal(config_load_string("t.conf", many, n, &c), -EINVAL);
		assert_int_equal(c->n_errors, CONFIG_ERRORS_MAX + 1);
		copy = round_trip(c);
	}
	/* A file that cannot be read: no listeners array at all. */
	{
		_cleanup_(config_freep) struct config *c = NULL;
		_cleanup_(config_freep) struct config *copy = NULL;

		assert_int_equal(config_load("/nonexistent/greetingd.conf", &c), -EINVAL);
		assert_null(c->listeners);
		copy = round_trip(c);
	}
}

/* Each prefix in a buffer of exactly its size, so that valgrind and ASan see
 * any read past it. */
static void test_every_truncation(void **state)
{
	_cleanup_(config_freep) struct config *c = load_every_kind(100);
	size_t size;
	_cleanup_free_ void *buf = serialize(c, &size);

	for (size_t len = 0; len < size; len++) {
		struct config *copy = NULL;
		void *prefix = malloc(len ? len : 1);

		assert_non_null(prefix);
		memcpy(prefix, buf, len);
		if (config_deserialize(prefix, len, &copy) != -EBADMSG)
			fail_msg("a prefix of %zu bytes of %zu was not refused", len, size);
		assert_null(copy);
		free(prefix);
	}
	/* And a byte too many. */
	{
		_cleanup_free_ char *longer = malloc(size + 1);
		struct config *copy = NULL;

		memcpy(longer, buf, size);
		longer[size] = 0;
		assert_int_equal(config_deserialize(longer, size + 1, &copy), -EBADMSG);
		assert_null(copy);
	}
	{
		struct config *copy = NULL;

		assert_int_equal(config_deserialize(NULL, 0, &copy), -EBADMSG);
		assert_null(copy);
	}
}

static void put_word(void *buf, size_t offset, uint64_t v)
{
	memcpy((char *)buf + offset, &v, sizeof(v));
}

static uint64_t get_word(const void *buf, size_t offset)
{
	uint64_t v;

	memcpy(&v, (const char *)buf + offset, sizeof(v));
	return v;
}

/* Deserializes buf with a word replaced; returns the result and checks that
 * no single allocation went beyond a few times the buffer's size. */
static int deserialize_with(const void *buf, size_t size, size_t offset, uint64_t v)
{
	_cleanup_free_ void *copy = malloc(size);
	struct config *c = NULL;
	int r;

	memcpy(copy, buf, size);
	put_word(copy, offset, v);
	largest_allocation = 0;
	tracking = true;
	r = config_deserialize(copy, size, &c);
	tracking = false;
	if (largest_allocation > 4 * size + 1024)
		fail_msg("word at %zu = %#llx: an allocation of %zu bytes for a buffer of %zu", offset,
			 (unsigned long long)v, largest_allocation, size);
	if (r == 0)
		assert_non_null(c);
	else
		assert_null(c);
	config_free(c);
	return r;
}

/* The words config_serialize() writes after the global greeting (timeout,
 * deadline, max_clients, workers, log_clients, an empty access list's count, then the
 * limits: a flag, the default limit-exempt list's count and its two
 * prefixes of five words each, and seven numbers) and in a listener between
 * its name and its address count (line, family, type, protocol, the
 * shared-greeting flag, set here, timeout, deadline, the access count, its
 * limits: a flag, an empty list's count, seven numbers; max_clients,
 * log_clients): the offsets below
 * step over them. */
#define GLOBAL_WORDS 25
#define LISTENER_WORDS 19

static const uint64_t huge[] = { UINT64_MAX, UINT64_MAX / 2, UINT64_C(1) << 40, UINT32_MAX, INT32_MAX, 1000000 };

static void test_huge_counts(void **state)
{
	/* One listener, its family "any" giving two addresses, sharing the
	 * default greeting; then a config with errors only. The layout is
	 * the one config_serialize() and put_listener() write. */
	_cleanup_(config_freep) struct config *c = load("[a]\nport = 7\n", 0);
	_cleanup_(config_freep) struct config *e = NULL;
	size_t size, esize;
	_cleanup_free_ void *buf = serialize(c, &size);
	_cleanup_free_ void *ebuf = NULL;
	size_t path = 8, greeting = path + 8 + strlen(c->path), n_listeners = greeting + 8 + c->greeting->size + GLOBAL_WORDS * 8;
	size_t name = n_listeners + 8, n_addresses = name + 8 + 1 + LISTENER_WORDS * 8, sa = n_addresses + 8 + 4 * 8;

	assert_int_equal(c->listeners[0].n_addresses, 2);
	/* The offsets are right: the count there is what the config holds. */
	assert_int_equal(get_word(buf, n_listeners), 1);
	assert_int_equal(get_word(buf, n_addresses), 2);
	for (size_t i = 0; i < ELEMENTSOF(huge); i++) {
		assert_int_equal(deserialize_with(buf, size, path, huge[i]), -EBADMSG);
		assert_int_equal(deserialize_with(buf, size, greeting, huge[i]), -EBADMSG);
		assert_int_equal(deserialize_with(buf, size, n_listeners, huge[i]), -EBADMSG);
		assert_int_equal(deserialize_with(buf, size, name, huge[i]), -EBADMSG);
		assert_int_equal(deserialize_with(buf, size, n_addresses, huge[i]), -EBADMSG);
		assert_int_equal(deserialize_with(buf, size, sa, huge[i]), -EBADMSG);
	}
	/* A count that fits the buffer but not what follows, and none. */
	assert_int_equal(deserialize_with(buf, size, n_addresses, 3), -EBADMSG);
	assert_int_equal(deserialize_with(buf, size, n_addresses, 0), -EBADMSG);
	assert_int_equal(deserialize_with(buf, size, n_listeners, 0), -EBADMSG);
	/* An address longer than the sockaddr it must fit. */
	assert_int_equal(deserialize_with(buf, size, sa, sizeof(union sockaddr_union) + 1), -EBADMSG);

	assert_int_equal(config_load("/nonexistent/greetingd.conf", &e), -EINVAL);
	ebuf = serialize(e, &esize);
	size_t n_errors = 8 + 8 + strlen(e->path) + 8 + e->greeting->size + GLOBAL_WORDS * 8 + 8;
	assert_int_equal(get_word(ebuf, n_errors), 1);
	for (size_t i = 0; i < ELEMENTSOF(huge); i++)
		assert_int_equal(deserialize_with(ebuf, esize, n_errors, huge[i]), -EBADMSG);
	/* More errors than the array holds, even if the buffer had room. */
	assert_int_equal(deserialize_with(ebuf, esize, n_errors, CONFIG_ERRORS_MAX + 2), -EBADMSG);
}

/* A list must come in the order the writer puts it, so that what is read
 * is written back the same (the fuzzer found the other order accepted). */
static void test_list_order(void **state)
{
	_cleanup_(config_freep) struct config *c = load("[greetingd]\nallow = 192.0.2.0/24 2001:db8::/32\n[a]\nport = 7\n", 0);
	size_t size, access = 8 + 8 + strlen(c->path) + 8 + c->greeting->size + 5 * 8, record = 5 * 8;
	_cleanup_free_ uint8_t *buf = serialize(c, &size);
	uint8_t tmp[5 * 8];
	struct config *copy = NULL;

	assert_int_equal(get_word(buf, access), 2);
	assert_int_equal(get_word(buf, access + 8), AF_INET); /* the writer's order: IPv4 first */
	memcpy(tmp, buf + access + 8, record);
	memmove(buf + access + 8, buf + access + 8 + record, record);
	memcpy(buf + access + 8 + record, tmp, record);
	assert_int_equal(config_deserialize(buf, size, &copy), -EBADMSG);
	assert_null(copy);
}

/* Any word anywhere overwritten with a huge value: refused or accepted,
 * never a crash, an over-read or a huge allocation. */
static void test_every_corrupt_word(void **state)
{
	_cleanup_(config_freep) struct config *c = load_every_kind(100);
	size_t size;
	_cleanup_free_ void *buf = serialize(c, &size);

	for (size_t offset = 0; offset + 8 <= size; offset++)
		for (size_t i = 0; i < ELEMENTSOF(huge); i++)
			deserialize_with(buf, size, offset, huge[i]);
	/* A NUL inside a string is not what the writer wrote. */
	{
		_cleanup_free_ char *copy = malloc(size);
		struct config *d = NULL;

		memcpy(copy, buf, size);
		copy[8 + 8] = '\0'; /* the first byte of the path */
		assert_int_equal(config_deserialize(copy, size, &d), -EBADMSG);
	}
}

static void test_memfd(void **state)
{
	_cleanup_(config_freep) struct config *c = load_every_kind(100000);
	_cleanup_(config_freep) struct config *copy = NULL;
	_cleanup_close_ int fd = config_serialize_to_memfd(c);
	int seals, flags;

	assert_true(fd >= 0);
	flags = fcntl(fd, F_GETFD);
	assert_true(flags >= 0 && (flags & FD_CLOEXEC));
	seals = fcntl(fd, F_GET_SEALS);
	assert_int_equal(seals, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
	/* Sealed: it cannot be written, resized or unsealed. */
	assert_int_equal(write(fd, "x", 1), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(pwrite(fd, "x", 1, 0), -1);
	assert_int_equal(ftruncate(fd, 1), -1);
	assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE), -1);
	assert_true(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) == MAP_FAILED);
	/* Read from the start, whoever reads it next. */
	assert_int_equal(lseek(fd, 0, SEEK_CUR), 0);

	assert_int_equal(config_from_memfd(fd, &copy), 0);
	assert_config_equal(c, copy);
	/* Twice: reading it changes nothing. */
	copy = config_free(copy);
	assert_int_equal(config_from_memfd(fd, &copy), 0);
	assert_config_equal(c, copy);
}

static void test_memfd_refused(void **state)
{
	_cleanup_(config_freep) struct config *c = load("[a]\nport = 7\n", 0);
	struct config *copy = NULL;

	/* Not sealed: it could shrink under the mapping. */
	{
		_cleanup_close_ int fd = memfd_create("test", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		assert_true(fd >= 0);
		assert_int_equal(config_serialize(c, fd), 0);
		assert_int_equal(config_from_memfd(fd, &copy), -EPERM);
	}
	/* Sealed but empty, or sealed garbage. */
	for (size_t size = 0; size <= 100; size += 100) {
		_cleanup_close_ int fd = memfd_create("test", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		char junk[100];

		memset(junk, 'x', sizeof(junk));
		assert_true(fd >= 0);
		assert_int_equal(write(fd, junk, size), (ssize_t)size);
		assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL), 0);
		assert_int_equal(config_from_memfd(fd, &copy), -EBADMSG);
	}
	assert_null(copy);
}

/* The reading end of a pipe, read in small pieces, as a parent would. */
struct sink {
	int fd;
	char *data;
	size_t size;
};

static void *sink_run(void *arg)
{
	struct sink *s = arg;
	char piece[1000];
	ssize_t k;

	while ((k = read(s->fd, piece, sizeof(piece))) != 0) {
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			break;
		s->data = realloc(s->data, s->size + (size_t)k);
		if (!s->data)
			break;
		memcpy(s->data + s->size, piece, (size_t)k);
		s->size += (size_t)k;
	}
	return NULL;
}

/* Into a small non-blocking pipe: short writes and EAGAIN on the way, the
 * same bytes at the end. */
static void test_pipe(void **state)
{
	_cleanup_(config_freep) struct config *c = load_every_kind(100000);
	_cleanup_(config_freep) struct config *copy = NULL;
	struct sink s = { .fd = -1 };
	pthread_t thread;
	int p[2];

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_true(fcntl(p[1], F_SETPIPE_SZ, 4096) >= 4096);
	assert_int_equal(fcntl(p[1], F_SETFL, O_NONBLOCK), 0);
	s.fd = p[0];
	assert_int_equal(pthread_create(&thread, NULL, sink_run, &s), 0);
	assert_int_equal(config_serialize(c, p[1]), 0);
	close(p[1]);
	assert_int_equal(pthread_join(thread, NULL), 0);
	close(p[0]);
	assert_non_null(s.data);
	assert_int_equal(config_deserialize(s.data, s.size, &copy), 0);
	assert_config_equal(c, copy);
	free(s.data);

	/* A closed reader is an error, not a hang or a SIGPIPE death. */
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	close(p[0]);
	signal(SIGPIPE, SIG_IGN);
	assert_int_equal(config_serialize(c, p[1]), -EPIPE);
	close(p[1]);
}

static int setup(void **state)
{
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char path[256];

	for (const char *const *f = (const char *const[]){ "greeting", "local.sock", NULL }; *f; f++) {
		snprintf(path, sizeof(path), "%s/%s", dir, *f);
		unlink(path);
	}
	return rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_every_kind),
		cmocka_unit_test(test_round_trip_errors),
		cmocka_unit_test(test_every_truncation),
		cmocka_unit_test(test_huge_counts),
		cmocka_unit_test(test_list_order),
		cmocka_unit_test(test_every_corrupt_word),
		cmocka_unit_test(test_memfd),
		cmocka_unit_test(test_memfd_refused),
		cmocka_unit_test(test_pipe),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
