/* Logging to stderr. Under systemd, stderr is a stream to the journal
 * (JOURNAL_STREAM names it) and each line carries a <N> priority prefix;
 * elsewhere lines are plain text. Each line is one write(2). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "log.h"

static int max_level = LOG_INFO;
static bool journal_prefix;
static char line_prefix[32]; /* "worker N: " in workers after the first */

void log_setup(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	journal_prefix = e && sscanf(e, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) == 0 &&
			 st.st_dev == dev && st.st_ino == ino;
}

void log_set_max_level(int level)
{
	max_level = level;
}

int log_get_max_level(void)
{
	return max_level;
}

void log_set_worker(unsigned n)
{
	snprintf(line_prefix, sizeof(line_prefix), "worker %u: ", n);
}

static const char *const level_names[] = {
	[LOG_EMERG] = "emerg",     [LOG_ALERT] = "alert",   [LOG_CRIT] = "crit",
	[LOG_ERR] = "err",         [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
	[LOG_INFO] = "info",       [LOG_DEBUG] = "debug",
};

int log_level_from_string(const char *s)
{
	for (size_t i = 0; i < ELEMENTSOF(level_names); i++)
		if (streq(s, level_names[i]))
			return (int)i;
	if (s[0] >= '0' && s[0] <= '7' && s[1] == '\0')
		return s[0] - '0';
	return -1;
}

_printf_(3, 0) static int log_write(int level, int error, const char *format, va_list ap)
{
	char line[2048];
	int n = 0;

	if (journal_prefix)
		n = snprintf(line, sizeof(line), "<%d>", level);
	n += snprintf(line + n, sizeof(line) - n, "%s", line_prefix);
	errno = error < 0 ? -error : error; /* for %m */
	int m = vsnprintf(line + n, sizeof(line) - n - 1, format, ap);
	if (m < 0)
		m = 0;
	n += m;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2; /* truncated */
	line[n++] = '\n';
	(void)!write(STDERR_FILENO, line, n);
	return error < 0 ? error : -error;
}

int log_full_errno(int level, int error, const char *format, ...)
{
	va_list ap;
	int r;

	if (level > max_level)
		return error < 0 ? error : -error;
	va_start(ap, format);
	r = log_write(level, error, format, ap);
	va_end(ap);
	return r;
}

/* At most BURST per-client lines in each INTERVAL; the rest are counted and
 * reported once when the next interval opens. */
#define CLIENT_LOG_INTERVAL_USEC (5 * USEC_PER_SEC)
#define CLIENT_LOG_BURST 10

static unsigned long long now_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * USEC_PER_SEC + (unsigned long long)ts.tv_nsec / 1000;
}

int log_client_errno(int level, int error, const char *format, ...)
{
	static unsigned long long window_begin;
	static unsigned shown, suppressed;
	unsigned long long now;
	va_list ap;
	int r;

	if (level > max_level)
		return error < 0 ? error : -error;
	now = now_usec();
	if (window_begin == 0 || now - window_begin >= CLIENT_LOG_INTERVAL_USEC) {
		if (suppressed > 0)
			log_full_errno(LOG_WARNING, 0, "%u client messages suppressed", suppressed);
		window_begin = now;
		shown = suppressed = 0;
	}
	if (shown >= CLIENT_LOG_BURST) {
		suppressed++;
		return error < 0 ? error : -error;
	}
	shown++;
	va_start(ap, format);
	r = log_write(level, error, format, ap);
	va_end(ap);
	return r;
}
