/* See reload.h. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "fdpass.h"
#include "log.h"
#include "macro.h"
#include "reload.h"

struct reload {
	pid_t pid;
	int channel; /* ours; the child sends the memfd through the other end */
	sd_event_source *child;
	void (*done)(void *userdata, int memfd);
	void *userdata;
};

/* In the child: read, resolve, check, send, exit. Never returns. */
static _Noreturn void reload_child(const char *path, int channel, pid_t parent)
{
	struct config *c = NULL;
	sigset_t none;
	int memfd, r;

	/* Lines go to the stream: the journal's socket may be fd 3, which the
	 * channel takes next, and an entry sent there would reach the parent
	 * as the answer. */
	log_stream_only();
	/* Let go of every client and listening socket at once: an fd the
	 * server closes must not stay open here while a resolver dawdles. */
	if (dup2(channel, 3) < 0 || close_range(4, ~0U, 0) < 0)
		_exit(EXIT_FAILURE);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(EXIT_FAILURE);
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	r = config_load(path, &c);
	if (r == -ENOMEM)
		_exit(EXIT_FAILURE);
	memfd = config_serialize_to_memfd(c);
	config_free(c);
	if (memfd < 0)
		_exit(EXIT_FAILURE);
	_exit(fd_send(3, memfd) < 0 ? EXIT_FAILURE : EXIT_SUCCESS);
}

/* The child has exited: it sent its answer before, or it failed. */
static int on_child_exit(sd_event_source *es, const siginfo_t *si, void *userdata)
{
	struct reload *r = userdata;
	/* Sent before it exited, or never. */
	int memfd = fd_receive(r->channel);

	r->pid = 0;
	if (memfd < 0)
		log_error("reading the configuration failed (the reading process ended with %s %d)",
			  si->si_code == CLD_EXITED ? "status" : "signal", si->si_status);
	r->done(r->userdata, memfd);
	return 0;
}

int reload_start(sd_event *e, const char *path, void (*done)(void *userdata, int memfd), void *userdata,
		 struct reload **ret)
{
	_cleanup_free_ struct reload *r = calloc(1, sizeof(*r));
	pid_t parent = getpid();
	int pair[2], k;

	if (!r)
		return -ENOMEM;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
		return negative_errno();
	r->pid = fork();
	if (r->pid < 0) {
		k = negative_errno();
		safe_close(pair[0]);
		safe_close(pair[1]);
		return k;
	}
	if (r->pid == 0)
		reload_child(path, pair[1], parent);
	safe_close(pair[1]);
	*r = (struct reload){ .pid = r->pid, .channel = pair[0], .done = done, .userdata = userdata };
	k = sd_event_add_child(e, &r->child, r->pid, WEXITED, on_child_exit, r);
	if (k < 0) {
		(void)kill(r->pid, SIGKILL);
		(void)waitpid(r->pid, NULL, 0);
		safe_close(r->channel);
		return k;
	}
	*ret = TAKE_PTR(r);
	return 0;
}

struct reload *reload_free(struct reload *r)
{
	if (!r)
		return NULL;
	if (r->pid > 0) {
		(void)kill(r->pid, SIGKILL);
		(void)waitpid(r->pid, NULL, 0);
	}
	sd_event_source_disable_unref(r->child);
	safe_close(r->channel);
	free(r);
	return NULL;
}
