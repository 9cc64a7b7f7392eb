/* greeting.c: escapes, files, reference counts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "greeting.h"
#include "macro.h"

static void expect_unescaped(const char *text, const char *bytes, size_t size)
{
	_cleanup_(greeting_unrefp) struct greeting *g = NULL;
	const char *bad = NULL;

	assert_int_equal(greeting_unescape(text, &g, &bad), 0);
	assert_int_equal(g->size, size);
	assert_memory_equal(g->data, bytes, size);
}

static void test_escapes(void **state)
{
	expect_unescaped("plain", "plain", 5);
	expect_unescaped("a\\nb\\rc\\td", "a\nb\rc\td", 7);
	expect_unescaped("back\\\\slash", "back\\slash", 10);
	expect_unescaped("\\x00\\xff\\x3B\\x3b", "\0\xff;;", 4);
	expect_unescaped("\\n", "\n", 1);
	expect_unescaped("", "", 0);
}

static void test_bad_escapes(void **state)
{
	static const struct {
		const char *text;
		size_t at;
	} cases[] = { { "x\\q", 1 }, { "\\x", 0 }, { "\\xg0", 0 }, { "ab\\x0", 2 }, { "trailing\\", 8 }, { "\\0", 0 } };

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct greeting *g = NULL;
		const char *bad = NULL;
		assert_int_equal(greeting_unescape(cases[i].text, &g, &bad), -EINVAL);
		assert_null(g);
		assert_ptr_equal(bad, cases[i].text + cases[i].at);
	}
}

static void test_refcount(void **state)
{
	struct greeting *g = greeting_new("hi", 2), *h;

	assert_int_equal(g->refs, 1);
	h = greeting_ref(g);
	assert_ptr_equal(g, h);
	assert_int_equal(g->refs, 2);
	assert_null(greeting_unref(h));
	assert_int_equal(g->refs, 1);
	assert_null(greeting_unref(g)); /* freed: valgrind and ASan check */
	assert_null(greeting_ref(NULL));
	assert_null(greeting_unref(NULL));
}

static void test_read_file(void **state)
{
	char path[] = "/tmp/greeting-test-XXXXXX";
	int fd = mkstemp(path);
	struct greeting *g = NULL;
	static char big[GREETING_MAX_SIZE + 1];

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "a\0b", 3), 3);
	assert_int_equal(greeting_read_file(path, &g), 0);
	assert_int_equal(g->size, 3);
	assert_memory_equal(g->data, "a\0b", 3);
	g = greeting_unref(g);

	/* Exactly at the cap is fine; one byte more is not. */
	assert_int_equal(ftruncate(fd, 0), 0);
	assert_int_equal(pwrite(fd, big, GREETING_MAX_SIZE, 0), GREETING_MAX_SIZE);
	assert_int_equal(greeting_read_file(path, &g), 0);
	assert_int_equal(g->size, GREETING_MAX_SIZE);
	g = greeting_unref(g);
	assert_int_equal(pwrite(fd, big, GREETING_MAX_SIZE + 1, 0), GREETING_MAX_SIZE + 1);
	assert_int_equal(greeting_read_file(path, &g), -EFBIG);

	assert_int_equal(greeting_read_file("/dev/zero", &g), -EINVAL); /* never reads forever */
	assert_int_equal(greeting_read_file("/tmp", &g), -EISDIR);
	assert_int_equal(greeting_read_file("/nonexistent", &g), -ENOENT);
	close(fd);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escapes),
		cmocka_unit_test(test_bad_escapes),
		cmocka_unit_test(test_refcount),
		cmocka_unit_test(test_read_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
