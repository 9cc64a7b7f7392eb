/* Logging: to stderr, with <N> priority prefixes when stderr is the journal. */
#pragma once

#include <stdbool.h>
#include <syslog.h>
#include <systemd/sd-event.h>

#include "macro.h"

void log_setup(void);
void log_set_max_level(int level);
int log_get_max_level(void);
int log_level_from_string(const char *s);
/* In a forked worker: its lines begin with "worker N: ". */
void log_set_worker(unsigned n);

/* Logs at level; error is an errno (either sign) for %m, or 0. Returns -|error|. */
int log_full_errno(int level, int error, const char *format, ...) _printf_(3, 4);

/* Per-client lines go through a rate limit so that a flood does not flood the log. */
/* With an event loop, the count of suppressed lines is logged when their
 * window ends, not only when the next line comes. NULL: no loop (any
 * more). The timer it arms belongs to the loop and goes with it. */
void log_set_event(sd_event *event);
int log_client_errno(int level, int error, const char *format, ...) _printf_(3, 4);

#define log_debug(...) log_full_errno(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...) log_full_errno(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...) log_full_errno(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...) log_full_errno(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...) log_full_errno(LOG_ERR, 0, __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, (e), __VA_ARGS__)
#define log_error_errno(e, ...) log_full_errno(LOG_ERR, (e), __VA_ARGS__)
