/* libFuzzer target: config_load_string() over the fuzzer's bytes, as
 * --test-config and a reload read a file. Besides the sanitizers it checks
 * the loader's contract: a result for every input but ENOMEM, errors exactly
 * when it says -EINVAL, each naming the file, and listeners only when valid. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz.h"
#include "macro.h"

/* The name relative greeting-file paths are resolved against. */
#define CONFIG_NAME "/fuzz/greetingd.conf"

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz-config: %s\n", what);
		abort();
	}
}

static void check_listener(const struct listener_config *l)
{
	char buf[ADDRESS_STRING_MAX];

	check(l->name && l->name[0], "a listener without a name");
	check(l->greeting && l->greeting->size > 0, "a listener without a greeting");
	check(l->n_addresses > 0, "a listener without addresses");
	for (size_t i = 0; i < l->n_addresses; i++) {
		check(l->addresses[i].type == l->type, "an address of another type than its listener");
		check(strlen(address_to_string(&l->addresses[i], buf)) < sizeof(buf), "address_to_string overflows");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_(config_freep) struct config *c = NULL;
	int r;

	fuzz_sandbox(true);
	r = config_load_string(CONFIG_NAME, (const char *)data, size, &c);
	fuzz_sandbox(false);
	if (r == -ENOMEM)
		return 0;
	check(r == 0 || r == -EINVAL, "config_load_string returned neither 0, -EINVAL nor -ENOMEM");
	check(c != NULL, "no config returned");
	check((r == -EINVAL) == (c->n_errors > 0), "-EINVAL if and only if there are errors");
	check(c->n_errors <= CONFIG_ERRORS_MAX + 1, "more errors than CONFIG_ERRORS_MAX + 1");
	for (size_t i = 0; i < c->n_errors; i++)
		check(strncmp(c->errors[i], CONFIG_NAME ":", strlen(CONFIG_NAME ":")) == 0,
		      "an error that does not begin with the file's name");
	if (r == 0) {
		check(c->n_listeners > 0, "a valid configuration without listeners");
		check(c->workers >= 1 && c->workers <= CONFIG_WORKERS_MAX, "workers out of range");
		check(c->greeting && c->greeting->size > 0, "no default greeting");
		for (size_t i = 0; i < c->n_listeners; i++)
			check_listener(&c->listeners[i]);
	}
	return 0;
}
