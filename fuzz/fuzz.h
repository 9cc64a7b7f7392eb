/* What greetingd's libFuzzer targets share: the entry point libFuzzer calls,
 * and the sandbox of sandbox.c around the code under test. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One input; returns 0. A finding is a crash, a leak or a sanitizer report. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* While on, open() and openat() of the code under test never reach the file
 * system: a path is answered by its last component from a few fixtures
 * (see sandbox.c), everything else is ENOENT. getaddrinfo() is numeric
 * always, so no input ever makes a DNS query. */
void fuzz_sandbox(bool on);
