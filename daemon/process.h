/* What the process needs from its surroundings before anything else runs. */
#pragma once

/* Makes the process survive what it was started with: SIGPIPE ignored (a
 * log reader that went away is an EPIPE, not a death); fds 0-2 opened on
 * /dev/null if closed, so that no socket takes them and no log line goes to
 * a client; SIGUSR2 and SIGALRM, which greetingd does not use, ignored
 * instead of fatal. Call first, before anything opens an fd. Returns 0 or a
 * -errno, logging nothing (stderr may be what it is fixing). */
int process_setup(void);
