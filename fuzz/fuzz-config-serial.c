/* libFuzzer target: config_deserialize() over any bytes. It must refuse
 * them (-EBADMSG) or build a config that config_free() frees whole: never a
 * crash, an over-read or a leak. What it accepts, config_serialize() must
 * write back byte for byte, so that the reader and the writer agree on
 * every field. Seeds: fuzz/corpus/config-serial/, config_serialize() of a
 * few configurations; the format is private to a build, so stale seeds only
 * cost the fuzzer some time. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "config.h"
#include "fuzz.h"
#include "macro.h"

/* Not assert(): a fuzz build with NDEBUG must still report a finding. */
#define check(x)                  \
	do {                      \
		if (!(x))         \
			abort();  \
	} while (0)

static void assert_writes_back(const struct config *c, const uint8_t *data, size_t size)
{
	_cleanup_close_ int fd = memfd_create("fuzz", MFD_CLOEXEC);
	_cleanup_free_ uint8_t *buf = malloc(size ? size : 1);
	struct stat st;

	check(fd >= 0 && buf);
	check(config_serialize(c, fd) == 0);
	check(fstat(fd, &st) == 0);
	check((size_t)st.st_size == size);
	check(pread(fd, buf, size, 0) == (ssize_t)size);
	check(memcmp(buf, data, size) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_(config_freep) struct config *c = NULL;
	int r = config_deserialize(data, size, &c);

	if (r == -EBADMSG || r == -ENOMEM) {
		check(!c);
		return 0;
	}
	check(r == 0 && c);
	assert_writes_back(c, data, size);
	return 0;
}
