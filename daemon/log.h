/* Logging: to stderr as text, or, when stderr is the journal, as structured
 * entries through journald's native protocol. */
#pragma once

#include <stdbool.h>
#include <sys/socket.h>
#include <syslog.h>
#include <systemd/sd-event.h>

#include "macro.h"
#include "message-ids.h"

void log_setup(void);
/* In a process that lives for one client (Accept=yes, an inetd's): lines
 * go to the stream alone. journald finds the unit of a native entry by
 * looking its sender up, which fails once the sender has exited; the
 * stream's unit was known when it connected. */
void log_stream_only(void);
void log_set_max_level(int level);
int log_get_max_level(void);
int log_level_from_string(const char *s);
/* In a forked worker: its lines begin with "worker N: ". */
void log_set_worker(unsigned n);

/* What an entry is about, besides its text; every member may be left out.
 * In the journal each is a field; as text, only the listener shows, as the
 * "[name] " the line begins with. */
struct log_fields {
	const char *message_id;       /* MESSAGE_ID=: one of message-ids.h's */
	const char *listener;         /* LISTENER= */
	const struct sockaddr *remote; /* REMOTE_ADDR=, REMOTE_PORT=: an inet or inet6 peer (else none) */
	socklen_t remote_len;
};

/* Logs at level; error is an errno (either sign) for %m, or 0; f may be
 * NULL. Returns -|error|. */
int log_struct_errno(int level, int error, const struct log_fields *f, const char *format, ...) _printf_(4, 5);

/* Per-client lines go through a rate limit so that a flood does not flood the log. */
/* With an event loop, the count of suppressed lines is logged when their
 * window ends, not only when the next line comes. NULL: no loop (any
 * more). The timer it arms belongs to the loop and goes with it. */
void log_set_event(sd_event *event);
int log_client_struct_errno(int level, int error, const struct log_fields *f, const char *format, ...) _printf_(4, 5);

#define log_full_errno(level, error, ...) log_struct_errno((level), (error), NULL, __VA_ARGS__)
#define log_client_errno(level, error, ...) log_client_struct_errno((level), (error), NULL, __VA_ARGS__)
/* A listener's line: "[name] ...", and LISTENER=name in the journal. */
#define LOG_LISTENER(name) (&(const struct log_fields){ .listener = (name) })
#define log_listener_errno(level, error, name, ...) log_struct_errno((level), (error), LOG_LISTENER(name), __VA_ARGS__)
#define log_listener(level, name, ...) log_listener_errno((level), 0, (name), __VA_ARGS__)
/* An event of a kind worth finding: MESSAGE_ID=id in the journal. */
#define LOG_ID(id) (&(const struct log_fields){ .message_id = (id) })

#define log_debug(...) log_full_errno(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...) log_full_errno(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...) log_full_errno(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...) log_full_errno(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...) log_full_errno(LOG_ERR, 0, __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, (e), __VA_ARGS__)
#define log_error_errno(e, ...) log_full_errno(LOG_ERR, (e), __VA_ARGS__)
