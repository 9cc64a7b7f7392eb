/* The fuzz build links with -Wl,--wrap=getaddrinfo,--wrap=open,--wrap=openat
 * (see Makefile.am): inputs name files and hosts, and a fuzzer must neither
 * read /dev/watchdog because an input said so nor wait for a resolver.
 *
 * Files are answered by their last path component, so an input reaches each
 * outcome of greeting_read_file() whatever directory it names:
 *   greeting.txt  a short greeting     empty     an empty file
 *   big           1 MiB + 1 byte       dgram-big 65508 bytes (one message too many)
 *   dir           a directory          fifo      a pipe (not a regular file)
 *   denied        EACCES               anything else: ENOENT */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdarg.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "greeting.h"
#include "macro.h"

int __real_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints, struct addrinfo **res);
int __wrap_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints, struct addrinfo **res);
int __real_open(const char *path, int flags, ...);
int __wrap_open(const char *path, int flags, ...);
int __real_openat(int dirfd, const char *path, int flags, ...);
int __wrap_openat(int dirfd, const char *path, int flags, ...);

static bool sandboxed;

void fuzz_sandbox(bool on)
{
	sandboxed = on;
}

int __wrap_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints, struct addrinfo **res)
{
	struct addrinfo numeric = { 0 };

	if (hints)
		numeric = *hints;
	numeric.ai_flags |= AI_NUMERICHOST | AI_NUMERICSERV;
	return __real_getaddrinfo(node, service, &numeric, res);
}

/* A file in memory holding size bytes of text; -1 with errno on failure. */
static int memory_file(const char *text, size_t size)
{
	_cleanup_close_ int fd = memfd_create("fuzz-fixture", MFD_CLOEXEC);
	size_t n = strlen(text);

	if (fd < 0)
		return -1;
	/* A sparse tail: the size is what greeting_read_file() judges. */
	if (ftruncate(fd, (off_t)size) < 0 || pwrite(fd, text, MIN(n, size), 0) < 0)
		return -1;
	return TAKE_FD(fd);
}

static int fixture_open(const char *path)
{
	const char *name = strrchr(path, '/');
	int pipefd[2];

	name = name ? name + 1 : path;
	if (streq(name, "greeting.txt"))
		return memory_file("Hello from a file\n", 18);
	if (streq(name, "empty"))
		return memory_file("", 0);
	if (streq(name, "big"))
		return memory_file("big", GREETING_MAX_SIZE + 1);
	if (streq(name, "dgram-big"))
		return memory_file("dgram-big", 65508);
	if (streq(name, "dir"))
		return __real_open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (streq(name, "fifo")) {
		if (pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) < 0)
			return -1;
		safe_close(pipefd[1]);
		return pipefd[0];
	}
	errno = streq(name, "denied") ? EACCES : ENOENT;
	return -1;
}

int __wrap_open(const char *path, int flags, ...)
{
	mode_t mode = 0;
	va_list ap;

	if (sandboxed)
		return fixture_open(path);
	if (flags & (O_CREAT | O_TMPFILE)) {
		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	return __real_open(path, flags, mode);
}

int __wrap_openat(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;
	va_list ap;

	if (sandboxed)
		return fixture_open(path);
	if (flags & (O_CREAT | O_TMPFILE)) {
		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	return __real_openat(dirfd, path, flags, mode);
}
