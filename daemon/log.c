/* Logging to stderr. Under systemd, stderr is a stream to the journal
 * (JOURNAL_STREAM names it) and each line carries a <N> priority prefix;
 * elsewhere lines are plain text. Each line is one write(2), made only if
 * it cannot block: a line that would wait is dropped and counted. */
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include "log.h"

static int max_level = LOG_INFO;
static bool journal_prefix;
static bool stderr_is_socket;     /* the journal's stream, usually */
static unsigned long dropped_lines; /* since the last line written */
static char line_prefix[32]; /* "worker N: " in workers after the first */

void log_setup(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	journal_prefix = e && sscanf(e, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) == 0 &&
			 st.st_dev == dev && st.st_ino == ino;
	stderr_is_socket = fstat(STDERR_FILENO, &st) == 0 && S_ISSOCK(st.st_mode);
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

/* Copies text to out as one line: a control byte (a newline would split the
 * line, and "<N>" after it forge a priority) becomes \xHH. No message of
 * ours has one; whatever a peer controls must never make one. Returns the
 * bytes written, at most max. */
static size_t copy_escaped(char *out, size_t max, const char *text)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;

	for (; *text; text++) {
		unsigned char c = (unsigned char)*text;
		if (c >= 0x20 && c != 0x7f) {
			if (n == max)
				break;
			out[n++] = (char)c;
			continue;
		}
		if (max - n < 4)
			break;
		out[n++] = '\\';
		out[n++] = 'x';
		out[n++] = hex[c >> 4];
		out[n++] = hex[c & 0xf];
	}
	return n;
}

/* Writes one line, never waiting: a log reader that does not read (a stuck
 * journal, a paused pager) costs log lines, never serving. A stream socket
 * (the journal's) takes send(MSG_DONTWAIT); a pipe takes a write of at most
 * PIPE_BUF bytes whole, without blocking, once poll() says it is writable. */
static bool write_line(const char *line, size_t n)
{
	struct pollfd p = { .fd = STDERR_FILENO, .events = POLLOUT };

	if (stderr_is_socket)
		return send(STDERR_FILENO, line, n, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)n;
	return poll(&p, 1, 0) == 1 && (p.revents & POLLOUT) && write(STDERR_FILENO, line, n) == (ssize_t)n;
}

/* A line of at most PIPE_BUF bytes: "<N>", the worker's prefix, message. */
static size_t format_line(char line[static PIPE_BUF], int level, const char *message)
{
	size_t n = 0;

	if (journal_prefix)
		n = (size_t)snprintf(line, PIPE_BUF, "<%d>", level);
	n += (size_t)snprintf(line + n, PIPE_BUF - n, "%s", line_prefix);
	n += copy_escaped(line + n, PIPE_BUF - n - 1, message);
	line[n++] = '\n';
	return n;
}

_printf_(3, 0) static int log_write(int level, int error, const char *format, va_list ap)
{
	char message[2048], line[PIPE_BUF];
	size_t n;

	errno = error < 0 ? -error : error; /* for %m */
	if (vsnprintf(message, sizeof(message), format, ap) < 0)
		message[0] = '\0';
	if (dropped_lines > 0) {
		char notice[128];
		snprintf(notice, sizeof(notice), "%lu log lines dropped: standard error was not being read", dropped_lines);
		n = format_line(line, LOG_WARNING, notice);
		if (!write_line(line, n)) {
			dropped_lines++;
			return error < 0 ? error : -error;
		}
		dropped_lines = 0;
	}
	n = format_line(line, level, message);
	if (!write_line(line, n))
		dropped_lines++;
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
 * reported once when the interval ends: by a timer on the event loop if
 * there is one, else by the next line. */
#define CLIENT_LOG_INTERVAL_USEC (5 * USEC_PER_SEC)
#define CLIENT_LOG_BURST 10

static struct {
	unsigned long long window_begin;
	unsigned shown, suppressed;
	sd_event_source *timer; /* owned by the event loop: floating */
} client_log;

static unsigned long long now_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * USEC_PER_SEC + (unsigned long long)ts.tv_nsec / 1000;
}

/* Closes the window: the summary, if anything was suppressed in it. */
static void client_log_window_end(void)
{
	if (client_log.suppressed > 0)
		log_full_errno(LOG_WARNING, 0, "%u client messages suppressed", client_log.suppressed);
	client_log.window_begin = 0;
	client_log.shown = client_log.suppressed = 0;
}

static int on_client_log_window_end(sd_event_source *es, uint64_t usec, void *userdata)
{
	client_log_window_end();
	return 0;
}

/* The loop is being freed, and the timer with it (userdata: the timer). */
static void on_client_log_timer_destroy(void *userdata)
{
	if (client_log.timer == userdata)
		client_log.timer = NULL;
}

void log_set_event(sd_event *event)
{
	sd_event_source *s = NULL;

	if (client_log.timer) {
		(void)sd_event_source_set_enabled(client_log.timer, SD_EVENT_OFF);
		client_log.timer = NULL;
	}
	if (!event || sd_event_add_time(event, &s, CLOCK_MONOTONIC, 0, 0, on_client_log_window_end, NULL) < 0)
		return; /* without it, the next line reports what was suppressed */
	/* The loop owns the timer and frees it with itself, which the destroy
	 * callback notices: nothing here can outlive the loop. */
	(void)sd_event_source_set_enabled(s, SD_EVENT_OFF);
	(void)sd_event_source_set_userdata(s, s);
	(void)sd_event_source_set_destroy_callback(s, on_client_log_timer_destroy);
	(void)sd_event_source_set_floating(s, true);
	sd_event_source_unref(s);
	client_log.timer = s;
}

/* The first line suppressed in a window: the summary is due at its end. */
static void client_log_arm_timer(void)
{
	if (!client_log.timer)
		return;
	(void)sd_event_source_set_time(client_log.timer, client_log.window_begin + CLIENT_LOG_INTERVAL_USEC);
	(void)sd_event_source_set_enabled(client_log.timer, SD_EVENT_ONESHOT);
}

int log_client_errno(int level, int error, const char *format, ...)
{
	unsigned long long now;
	va_list ap;
	int r;

	if (level > max_level)
		return error < 0 ? error : -error;
	now = now_usec();
	if (client_log.window_begin != 0 && now - client_log.window_begin >= CLIENT_LOG_INTERVAL_USEC)
		client_log_window_end();
	if (client_log.window_begin == 0)
		client_log.window_begin = now;
	if (client_log.shown >= CLIENT_LOG_BURST) {
		if (client_log.suppressed++ == 0)
			client_log_arm_timer();
		return error < 0 ? error : -error;
	}
	client_log.shown++;
	va_start(ap, format);
	r = log_write(level, error, format, ap);
	va_end(ap);
	return r;
}
