/* Logging to stderr, or to the journal. Under systemd, stderr is a stream
 * to the journal (JOURNAL_STREAM names it); then each entry goes to
 * journald's native socket as one datagram of fields (the text, its
 * priority, the listener and client it is about, a MESSAGE_ID= for the
 * kinds of event worth finding), and to the stream, as a line with a <N>
 * priority prefix, only when that socket cannot be reached. Elsewhere
 * lines are plain text. Nothing here ever waits: a line or an entry that
 * cannot go at once is dropped and counted, and the next one that gets
 * through says how many were lost. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

#include "address.h"
#include "log.h"

#define JOURNAL_SOCKET "/run/systemd/journal/socket"

static int max_level = LOG_INFO;
static bool journal_prefix;
static bool stderr_is_socket;     /* the journal's stream, usually */
static int journal_fd = -1;       /* the native protocol's, when stderr is the journal */
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
	/* Not connected: each entry names the socket, so that a journald that
	 * restarted is found again. Workers inherit it; datagrams do not mix.
	 * Without it, the stream it is. */
	if (journal_prefix && journal_fd < 0)
		journal_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
}

void log_stream_only(void)
{
	journal_fd = safe_close(journal_fd);
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

/* The text of an entry, at most TEXT_MAX bytes: the worker's prefix, the
 * "[listener] ", the message, escaped. As a line it takes "<N>" and a
 * newline more, and still fits PIPE_BUF. */
#define TEXT_MAX (PIPE_BUF - 8)
static size_t format_text(char text[static TEXT_MAX], const struct log_fields *f, const char *message)
{
	size_t n = (size_t)snprintf(text, TEXT_MAX, "%s", line_prefix);

	if (f && f->listener) {
		text[n++] = '[';
		n += copy_escaped(text + n, TEXT_MAX - n - 2, f->listener);
		text[n++] = ']';
		text[n++] = ' ';
	}
	return n + copy_escaped(text + n, TEXT_MAX - n, message);
}

/* Appends "KEY=value\n" to an entry of size bytes, value escaped and cut to fit. */
static size_t put_field(char *entry, size_t size, size_t n, const char *key, const char *value, size_t len)
{
	size_t k = strlen(key);

	if (n + k + 2 > size)
		return n;
	memcpy(entry + n, key, k);
	n += k;
	entry[n++] = '=';
	if (len == SIZE_MAX)
		n += copy_escaped(entry + n, size - n - 1, value);
	else {
		len = MIN(len, size - n - 1);
		memcpy(entry + n, value, len);
		n += len;
	}
	entry[n++] = '\n';
	return n;
}

/* A native journal entry: "KEY=value\n" fields (the simple form: no value
 * holds a newline) in one datagram. SYSLOG_IDENTIFIER= and the facility
 * are what the stream gave the same lines. */
#define ENTRY_MAX (TEXT_MAX + 512)
static size_t format_entry(char entry[static ENTRY_MAX], int level, const struct log_fields *f, const char *text,
			   size_t len)
{
	char number[32], host[ADDRESS_HOST_MAX];
	uint16_t port;
	size_t n = 0;

	snprintf(number, sizeof(number), "%d", level);
	n = put_field(entry, ENTRY_MAX, n, "PRIORITY", number, SIZE_MAX);
	n = put_field(entry, ENTRY_MAX, n, "SYSLOG_FACILITY", "3", SIZE_MAX); /* LOG_DAEMON */
	n = put_field(entry, ENTRY_MAX, n, "SYSLOG_IDENTIFIER", program_invocation_short_name, SIZE_MAX);
	if (f && f->message_id)
		n = put_field(entry, ENTRY_MAX, n, "MESSAGE_ID", f->message_id, SIZE_MAX);
	if (f && f->listener)
		n = put_field(entry, ENTRY_MAX, n, "LISTENER", f->listener, SIZE_MAX);
	if (f && sockaddr_host(f->remote, f->remote_len, host, &port) == 0) {
		n = put_field(entry, ENTRY_MAX, n, "REMOTE_ADDR", host, SIZE_MAX);
		snprintf(number, sizeof(number), "%u", port);
		n = put_field(entry, ENTRY_MAX, n, "REMOTE_PORT", number, SIZE_MAX);
	}
	return put_field(entry, ENTRY_MAX, n, "MESSAGE", text, len); /* escaped already */
}

enum journal_result { JOURNAL_SENT, JOURNAL_BUSY, JOURNAL_UNREACHABLE };

/* One entry to journald's socket, never waiting: a full queue (journald
 * behind) is busy, and the entry is dropped; no journald there (not
 * started, restarting, another mount namespace) is unreachable, and the
 * stream takes the line. */
static enum journal_result journal_send(const char *entry, size_t n)
{
	static const struct sockaddr_un sa = { .sun_family = AF_UNIX, .sun_path = JOURNAL_SOCKET };

	if (sendto(journal_fd, entry, n, MSG_DONTWAIT | MSG_NOSIGNAL, (const struct sockaddr *)&sa,
		   offsetof(struct sockaddr_un, sun_path) + sizeof(JOURNAL_SOCKET)) == (ssize_t)n)
		return JOURNAL_SENT;
	if (errno == EAGAIN || errno == EINTR || errno == ENOBUFS || errno == ENOMEM)
		return JOURNAL_BUSY;
	return JOURNAL_UNREACHABLE;
}

/* One entry, to the journal's socket or as a line; false if dropped. */
static bool log_emit(int level, const struct log_fields *f, const char *message)
{
	char text[TEXT_MAX], out[ENTRY_MAX];
	size_t len = format_text(text, f, message), n;

	if (journal_fd >= 0) {
		switch (journal_send(out, format_entry(out, level, f, text, len))) {
		case JOURNAL_SENT:
			return true;
		case JOURNAL_BUSY:
			return false;
		case JOURNAL_UNREACHABLE:
			break;
		}
	}
	n = journal_prefix ? (size_t)snprintf(out, sizeof(out), "<%d>", level) : 0;
	memcpy(out + n, text, len);
	n += len;
	out[n++] = '\n';
	return write_line(out, n);
}

_printf_(4, 0) static int log_write(int level, int error, const struct log_fields *f, const char *format, va_list ap)
{
	char message[2048];

	errno = error < 0 ? -error : error; /* for %m */
	if (vsnprintf(message, sizeof(message), format, ap) < 0)
		message[0] = '\0';
	if (dropped_lines > 0) {
		char notice[128];
		snprintf(notice, sizeof(notice), "%lu log lines dropped: %s was not being read", dropped_lines,
			 journal_fd >= 0 ? "the journal" : "standard error");
		if (!log_emit(LOG_WARNING, NULL, notice)) {
			dropped_lines++;
			return error < 0 ? error : -error;
		}
		dropped_lines = 0;
	}
	if (!log_emit(level, f, message))
		dropped_lines++;
	return error < 0 ? error : -error;
}

int log_struct_errno(int level, int error, const struct log_fields *f, const char *format, ...)
{
	va_list ap;
	int r;

	if (level > max_level)
		return error < 0 ? error : -error;
	va_start(ap, format);
	r = log_write(level, error, f, format, ap);
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

int log_client_struct_errno(int level, int error, const struct log_fields *f, const char *format, ...)
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
	r = log_write(level, error, f, format, ap);
	va_end(ap);
	return r;
}
