/* The process and its surroundings: signals and standard fds. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include "macro.h"
#include "process.h"

/* Opens /dev/null as fd if it is closed. */
static int fd_ensure_open(int fd)
{
	int null;

	if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
		return 0;
	/* Not O_CLOEXEC: a standard fd stays one for whatever we might run. */
	null = open("/dev/null", O_RDWR | O_NOCTTY);
	if (null < 0)
		return negative_errno();
	if (null == fd)
		return 0;
	/* Taken in order 0, 1, 2, the lowest free fd is fd itself; if not, move it. */
	if (dup2(null, fd) < 0) {
		safe_close(null);
		return negative_errno();
	}
	safe_close(null);
	return 0;
}

int process_setup(void)
{
	static const int ignored[] = { SIGPIPE, SIGUSR2, SIGALRM };
	struct sigaction ignore = { .sa_handler = SIG_IGN };

	for (int fd = STDIN_FILENO; fd <= STDERR_FILENO; fd++) {
		int r = fd_ensure_open(fd);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < ELEMENTSOF(ignored); i++)
		if (sigaction(ignored[i], &ignore, NULL) < 0)
			return negative_errno();
	return 0;
}
