#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "greeting.h"
#include "macro.h"

struct greeting *greeting_new(const void *data, size_t size)
{
	struct greeting *g = malloc(sizeof(*g) + size);

	if (!g)
		return NULL;
	g->refs = 1;
	g->size = size;
	if (size > 0)
		memcpy(g->data, data, size);
	return g;
}

struct greeting *greeting_ref(struct greeting *g)
{
	if (g)
		g->refs++;
	return g;
}

struct greeting *greeting_unref(struct greeting *g)
{
	if (g && --g->refs == 0)
		free(g);
	return NULL;
}

void greeting_unrefp(struct greeting **g)
{
	greeting_unref(*g);
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int greeting_unescape(const char *text, struct greeting **ret, const char **ret_bad)
{
	size_t len = strlen(text);
	_cleanup_free_ char *buf = malloc(len + 1);
	size_t n = 0;

	if (!buf)
		return -ENOMEM;
	for (const char *p = text; *p; p++) {
		if (*p != '\\') {
			buf[n++] = *p;
			continue;
		}
		switch (p[1]) {
		case 'n': buf[n++] = '\n'; break;
		case 'r': buf[n++] = '\r'; break;
		case 't': buf[n++] = '\t'; break;
		case '\\': buf[n++] = '\\'; break;
		case 'x': {
			int hi = hex_digit(p[2]), lo = hi < 0 ? -1 : hex_digit(p[3]);
			if (lo < 0) {
				*ret_bad = p;
				return -EINVAL;
			}
			buf[n++] = (char)(hi << 4 | lo);
			p += 2;
			break;
		}
		default:
			*ret_bad = p;
			return -EINVAL;
		}
		p++;
	}
	*ret = greeting_new(buf, n);
	return *ret ? 0 : -ENOMEM;
}

int greeting_read_file(const char *path, struct greeting **ret)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *buf = NULL;
	struct stat st;
	size_t n = 0;

	/* O_NONBLOCK: a FIFO named here must not hang the daemon. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return negative_errno();
	if (fstat(fd, &st) < 0)
		return negative_errno();
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if (st.st_size > GREETING_MAX_SIZE)
		return -EFBIG;
	buf = malloc(GREETING_MAX_SIZE + 1);
	if (!buf)
		return -ENOMEM;
	/* Read to EOF rather than trusting st_size: the file may be growing. */
	for (;;) {
		ssize_t k = read(fd, buf + n, GREETING_MAX_SIZE + 1 - n);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		if (k == 0)
			break;
		n += (size_t)k;
		if (n > GREETING_MAX_SIZE)
			return -EFBIG;
	}
	*ret = greeting_new(buf, n);
	return *ret ? 0 : -ENOMEM;
}
