/* The greeting: bytes shared, by reference count, between the configuration
 * and every client still being served, so a reload never changes a greeting
 * half-way through a send. */
#pragma once

#include <stddef.h>

/* greeting-file is read whole into memory; anything larger is refused. */
#define GREETING_MAX_SIZE (1024 * 1024)

struct greeting {
	unsigned refs;
	size_t size;
	char data[];
};

struct greeting *greeting_new(const void *data, size_t size);
struct greeting *greeting_ref(struct greeting *g);
struct greeting *greeting_unref(struct greeting *g);
void greeting_unrefp(struct greeting **g);

/* Decodes \n \r \t \\ \xHH. On -EINVAL, *ret_bad points at the bad escape. */
int greeting_unescape(const char *text, struct greeting **ret, const char **ret_bad);

/* Reads a regular file of at most GREETING_MAX_SIZE bytes: -EFBIG, -EINVAL if
 * not a regular file, or the errno of open/read. */
int greeting_read_file(const char *path, struct greeting **ret);
