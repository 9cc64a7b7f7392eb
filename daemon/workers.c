/* See workers.h. */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "config.h"
#include "fdpass.h"
#include "log.h"
#include "macro.h"
#include "workers.h"

struct worker {
	struct workers *owner;
	pid_t pid;             /* 0 once it has exited */
	int channel;           /* the first's end of the socket pair */
	bool awaited;          /* a configuration sent, no answer yet */
	sd_event_source *io, *child;
};

struct workers {
	unsigned n, index;
	struct server_counters *counters; /* n slots, shared */
	struct worker *workers;           /* the first: workers[1..n-1] */
	int channel;                      /* a worker: its end */
	sd_event_source *io;
	const struct workers_callbacks *cb;
	void *userdata;
	unsigned awaited, failed;
};

static void workers_close(struct workers *w)
{
	for (unsigned i = 1; w->workers && i < w->n; i++) {
		w->workers[i].io = sd_event_source_disable_unref(w->workers[i].io);
		w->workers[i].child = sd_event_source_disable_unref(w->workers[i].child);
		w->workers[i].channel = safe_close(w->workers[i].channel);
	}
}

struct workers *workers_free(struct workers *w)
{
	if (!w)
		return NULL;
	workers_close(w);
	free(w->workers);
	sd_event_source_disable_unref(w->io);
	safe_close(w->channel);
	if (w->counters)
		(void)munmap(w->counters, w->n * sizeof(*w->counters));
	free(w);
	return NULL;
}

/* In a new worker: it never outlives the first, never speaks to systemd,
 * and keeps only its own end of its own channel. */
static int become_worker(struct workers *w, unsigned index, pid_t first, int channel)
{
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != first)
		_exit(1);
	workers_close(w);
	w->workers = mfree(w->workers);
	w->index = index;
	w->channel = channel;
	log_set_worker(index + 1);
	(void)unsetenv("NOTIFY_SOCKET");
	(void)unsetenv("WATCHDOG_USEC");
	(void)unsetenv("WATCHDOG_PID");
	return 1;
}

int workers_start(unsigned n, struct workers **ret)
{
	_cleanup_(workers_freep) struct workers *w = calloc(1, sizeof(*w));
	pid_t first = getpid();

	if (!w)
		return log_error_errno(ENOMEM, "cannot start workers: %m");
	*w = (struct workers){ .n = n, .channel = -1 };
	w->workers = calloc(n, sizeof(*w->workers));
	w->counters = mmap(NULL, n * sizeof(*w->counters), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (w->counters == MAP_FAILED) {
		w->counters = NULL;
		return log_error_errno(errno, "cannot share counters between workers: %m");
	}
	if (!w->workers)
		return log_error_errno(ENOMEM, "cannot start workers: %m");
	for (unsigned i = 1; i < n; i++)
		w->workers[i] = (struct worker){ .owner = w, .channel = -1 };
	for (unsigned i = 1; i < n; i++) {
		int pair[2];
		pid_t pid;

		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
			return log_error_errno(errno, "cannot start worker %u: %m", i + 1);
		pid = fork();
		if (pid < 0) {
			safe_close(pair[0]);
			safe_close(pair[1]);
			return log_error_errno(errno, "cannot start worker %u: %m", i + 1);
		}
		if (pid == 0) {
			safe_close(pair[0]);
			*ret = TAKE_PTR(w);
			return become_worker(*ret, i, first, pair[1]);
		}
		safe_close(pair[1]);
		w->workers[i].pid = pid;
		w->workers[i].channel = pair[0];
	}
	*ret = TAKE_PTR(w);
	return 0;
}

void workers_freep(struct workers **w)
{
	workers_free(*w);
}

static void acknowledged(struct worker *k, bool ok)
{
	struct workers *w = k->owner;

	if (!k->awaited)
		return;
	k->awaited = false;
	if (!ok)
		w->failed++;
	if (--w->awaited == 0)
		w->cb->acknowledged(w->userdata, w->failed);
}

/* The first: a worker's answer, or its end of the channel closing. */
static int on_answer(sd_event_source *es, int fd, uint32_t revents, void *userdata)
{
	struct worker *k = userdata;
	int32_t answer;
	ssize_t n = recv(fd, &answer, sizeof(answer), MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n != sizeof(answer)) {
		/* Gone: its exit, which follows (on_worker_exit), is a death, not an answer. */
		k->io = sd_event_source_disable_unref(k->io);
		return 0;
	}
	if (answer < 0)
		log_error_errno(answer, "worker %d kept its old configuration: %m", (int)k->pid);
	acknowledged(k, answer >= 0);
	return 0;
}

static int on_worker_exit(sd_event_source *es, const siginfo_t *si, void *userdata)
{
	struct worker *k = userdata;
	struct workers *w = k->owner;

	k->pid = 0;
	k->child = sd_event_source_disable_unref(k->child);
	w->cb->died(w->userdata, si); /* first, so that a reload it ends knows we stop */
	acknowledged(k, false);
	return 0;
}

/* A worker: a configuration from the first, answered with what applying it gave. */
static int on_config(sd_event_source *es, int fd, uint32_t revents, void *userdata)
{
	struct workers *w = userdata;
	int memfd = fd_receive(fd);
	int32_t answer;

	if (memfd == -EAGAIN || memfd == -EINTR)
		return 0;
	if (memfd < 0 && memfd != -EBADMSG) {
		/* The first is gone; PR_SET_PDEATHSIG stops this one too. */
		w->io = sd_event_source_disable_unref(w->io);
		return 0;
	}
	answer = memfd < 0 ? memfd : w->cb->received(w->userdata, memfd);
	safe_close(memfd);
	if (send(fd, &answer, sizeof(answer), MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		log_warning_errno(errno, "cannot answer the first process: %m");
	return 0;
}

int workers_attach(struct workers *w, sd_event *e, const struct workers_callbacks *cb, void *userdata)
{
	int r;

	w->cb = cb;
	w->userdata = userdata;
	if (w->index > 0)
		return sd_event_add_io(e, &w->io, w->channel, EPOLLIN, on_config, w);
	for (unsigned i = 1; i < w->n; i++) {
		struct worker *k = &w->workers[i];
		r = sd_event_add_child(e, &k->child, k->pid, WEXITED, on_worker_exit, k);
		if (r < 0)
			return r;
		r = sd_event_add_io(e, &k->io, k->channel, EPOLLIN, on_answer, k);
		if (r < 0)
			return r;
	}
	return 0;
}

unsigned workers_index(const struct workers *w)
{
	return w->index;
}

struct server_counters *workers_counters(struct workers *w)
{
	return w->counters;
}

unsigned workers_send_config(struct workers *w, int memfd, unsigned *ret_failed)
{
	w->failed = 0;
	for (unsigned i = 1; i < w->n; i++) {
		struct worker *k = &w->workers[i];
		int r;

		if (k->pid <= 0 || !k->io)
			continue;
		r = fd_send(k->channel, memfd);
		if (r < 0) {
			log_error_errno(r, "cannot send the configuration to worker %d: %m", (int)k->pid);
			w->failed++;
			continue;
		}
		k->awaited = true;
		w->awaited++;
	}
	*ret_failed = w->failed;
	return w->awaited;
}

void workers_kill(struct workers *w, int sig)
{
	for (unsigned i = 1; w->workers && i < w->n; i++)
		if (w->workers[i].pid > 0)
			(void)kill(w->workers[i].pid, sig);
}

void workers_stop(struct workers *w)
{
	workers_kill(w, SIGTERM);
}

void workers_wait(struct workers *w)
{
	for (unsigned i = 1; w->workers && i < w->n; i++) {
		struct worker *k = &w->workers[i];
		k->child = sd_event_source_disable_unref(k->child);
		if (k->pid > 0 && waitpid(k->pid, NULL, 0) < 0)
			log_warning_errno(errno, "cannot wait for worker %d: %m", (int)k->pid);
		k->pid = 0;
	}
}
