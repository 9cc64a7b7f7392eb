/* greetingd: answers every client with a greeting, on the sockets its
 * configuration declares or systemd hands it. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "activation.h"
#include "config.h"
#include "log.h"
#include "macro.h"
#include "process.h"
#include "server.h"

#define STOP_DEADLINE_USEC (5 * USEC_PER_SEC)
#define STATUS_INTERVAL_USEC (5 * USEC_PER_SEC)

static const char *arg_config = SYSCONFDIR "/greetingd/greetingd.conf";
static bool arg_test_config;
static bool arg_inetd;

/* What the signal handlers and timers work on. */
struct daemon {
	sd_event *event;
	struct server *server;
	struct config *config;
	char status[256];
	pid_t workers[CONFIG_WORKERS_MAX]; /* the first worker's: the others */
	unsigned n_workers;
	unsigned index; /* this worker's, 0 for the first */
	struct server_counters *counters; /* every worker's, shared; NULL with one */
	bool worker_failed;
};

/* Passes a signal on to the other workers. */
static void workers_signal(struct daemon *d, int sig)
{
	for (unsigned i = 0; i < d->n_workers; i++)
		if (d->workers[i] > 0)
			(void)kill(d->workers[i], sig);
}

static void help(void)
{
	printf("Usage: %s [OPTIONS]\n\n"
	       "Answer every client with a greeting.\n\n"
	       "  -c, --config FILE      configuration file (default %s)\n"
	       "  -t, --test-config      check the configuration, print the listeners, exit\n"
	       "      --inetd            greet the connection on standard input, then exit\n"
	       "      --log-level LEVEL  emerg, alert, crit, err, warning, notice, info or debug\n"
	       "  -h, --help             show this help\n"
	       "  -V, --version          show the version\n\n"
	       "Signals: SIGHUP reloads the configuration, SIGTERM and SIGINT stop.\n"
	       "See greetingd(8) and greetingd.conf(5).\n",
	       program_invocation_short_name, arg_config);
}

/* Returns 1 to go on, 0 to exit successfully, <0 on a usage error. */
static int parse_argv(int argc, char *argv[])
{
	enum { ARG_LOG_LEVEL = 0x100, ARG_INETD };
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "test-config", no_argument, NULL, 't' },
		{ "inetd", no_argument, NULL, ARG_INETD },
		{ "log-level", required_argument, NULL, ARG_LOG_LEVEL },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{}
	};
	int c, level;

	while ((c = getopt_long(argc, argv, "c:thV", options, NULL)) >= 0)
		switch (c) {
		case 'c':
			arg_config = optarg;
			break;
		case 't':
			arg_test_config = true;
			break;
		case ARG_INETD:
			arg_inetd = true;
			break;
		case ARG_LOG_LEVEL:
			level = log_level_from_string(optarg);
			if (level < 0)
				return log_error_errno(EINVAL, "--log-level: \"%s\" is not one of emerg, alert, crit, "
							       "err, warning, notice, info, debug (or 0-7)", optarg);
			log_set_max_level(level);
			break;
		case 'h':
			help();
			return 0;
		case 'V':
			printf("%s %s\n", PACKAGE_NAME, PACKAGE_VERSION);
			return 0;
		default:
			return -EINVAL; /* getopt said what */
		}
	if (optind < argc)
		return log_error_errno(EINVAL, "unexpected argument \"%s\"; see --help", argv[optind]);
	return 1;
}

/* Loads the configuration, logging every error. NULL if unusable. */
static struct config *load_config(void)
{
	struct config *c = NULL;
	int r = config_load(arg_config, &c);

	if (r == -ENOMEM)
		return log_error_errno(r, "cannot load %s: %m", arg_config), NULL;
	for (size_t i = 0; i < c->n_errors && i <= CONFIG_ERRORS_MAX; i++)
		log_error("%s", c->errors[i]);
	return r < 0 ? config_free(c) : c;
}

/* --test-config: the listeners, each with every address it resolved to. */
static void config_print(const struct config *c)
{
	char buf[ADDRESS_STRING_MAX];

	for (size_t i = 0; i < c->n_listeners; i++) {
		const struct listener_config *l = &c->listeners[i];
		printf("[%s] %s %s, greeting %zu bytes, timeout %llums\n", l->name, family_to_string(l->family),
		       type_to_string(l->type), l->greeting->size, (unsigned long long)(l->timeout_usec / USEC_PER_MSEC));
		for (size_t j = 0; j < l->n_addresses; j++)
			printf("\t%s\n", address_to_string(&l->addresses[j], buf));
	}
	printf("configuration OK\n");
}

/* STATUS=: what is served, and the counters; unless forced, only when it changed. */
static void notify_status(struct daemon *d, const char *extra, bool force)
{
	struct server_stats st = server_stats(d->server);
	char status[sizeof(d->status)];

	snprintf(status, sizeof(status), "%s%u sockets for %zu listeners; accepted %llu, greeted %llu, failed %llu",
		 extra, server_n_listeners(d->server), d->config->n_listeners, (unsigned long long)st.accepted,
		 (unsigned long long)st.greeted, (unsigned long long)st.failed);
	if (!force && streq(status, d->status))
		return;
	memcpy(d->status, status, sizeof(status));
	(void)sd_notifyf(0, "STATUS=%s", status);
}

static int on_status_timer(sd_event_source *es, uint64_t usec, void *userdata)
{
	notify_status(userdata, "", false);
	(void)sd_event_source_set_time(es, usec + STATUS_INTERVAL_USEC);
	(void)sd_event_source_set_enabled(es, SD_EVENT_ONESHOT);
	return 0;
}

static int on_terminate(sd_event_source *es, const struct signalfd_siginfo *si, void *userdata)
{
	struct daemon *d = userdata;

	log_info("%s: stopping", strsignal((int)si->ssi_signo));
	(void)sd_notify(0, "STOPPING=1");
	workers_signal(d, SIGTERM);
	server_stop(d->server, STOP_DEADLINE_USEC);
	return 0;
}

/* SIGUSR1: the counters, in the log. The first process's are every worker's. */
static int on_log_counters(sd_event_source *es, const struct signalfd_siginfo *si, void *userdata)
{
	struct daemon *d = userdata;
	struct server_stats st = server_stats(d->server);

	log_info("%s: accepted %llu, greeted %llu, failed %llu", strsignal((int)si->ssi_signo),
		 (unsigned long long)st.accepted, (unsigned long long)st.greeted, (unsigned long long)st.failed);
	return 0;
}

/* SIGHUP: the whole new file, or nothing of it. */
static int on_reload(sd_event_source *es, const struct signalfd_siginfo *si, void *userdata)
{
	struct daemon *d = userdata;
	struct config *c;
	uint64_t now = 0;

	(void)sd_event_now(d->event, CLOCK_MONOTONIC, &now);
	(void)sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=Reloading %s", (unsigned long long)now, arg_config);
	log_info("reloading %s", arg_config);
	workers_signal(d, SIGHUP); /* each reads the file itself */
	c = load_config();
	if (!c || server_apply(d->server, c) < 0) {
		config_free(c);
		log_error("reload failed: keeping the running configuration");
		notify_status(d, "Reload failed, see the log; ", true);
		(void)sd_notify(0, "READY=1");
		return 0;
	}
	if (c->workers != d->config->workers)
		log_notice("workers = %u takes effect at the next start; running %u", c->workers, d->config->workers);
	c->workers = d->config->workers;
	config_free(d->config);
	d->config = c;
	log_info("reloaded: %u sockets", server_n_listeners(d->server));
	notify_status(d, "", true);
	(void)sd_notify(0, "READY=1");
	return 0;
}

static int setup_event_loop(struct daemon *d)
{
	sigset_t mask;
	int r;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return negative_errno();
	/* Not sd_event_default(): libsystemd calls gettid() on each turn of that loop. */
	r = sd_event_new(&d->event);
	if (r >= 0)
		log_set_event(d->event);
	if (r >= 0)
		r = server_new(d->event, d->config->max_clients, &d->server);
	if (r >= 0)
		r = sd_event_add_signal(d->event, NULL, SIGTERM, on_terminate, d);
	if (r >= 0)
		r = sd_event_add_signal(d->event, NULL, SIGINT, on_terminate, d);
	if (r >= 0)
		r = sd_event_add_signal(d->event, NULL, SIGHUP, on_reload, d);
	if (r >= 0)
		r = sd_event_add_signal(d->event, NULL, SIGUSR1, on_log_counters, d);
	if (r >= 0)
		r = sd_event_set_watchdog(d->event, true); /* WATCHDOG=1 when WatchdogSec= is set */
	return r < 0 ? r : 0;
}

static int on_worker_exit(sd_event_source *es, const siginfo_t *si, void *userdata)
{
	struct daemon *d = userdata;

	for (unsigned i = 0; i < d->n_workers; i++)
		if (d->workers[i] == si->si_pid)
			d->workers[i] = 0;
	if (server_stopping(d->server))
		return 0;
	log_error("worker %d exited unexpectedly (%s %d): stopping", (int)si->si_pid,
		  si->si_code == CLD_EXITED ? "status" : "signal", si->si_status);
	d->worker_failed = true;
	workers_signal(d, SIGTERM);
	server_stop(d->server, STOP_DEADLINE_USEC);
	return 0;
}

/* workers = N, self-bound: N - 1 more processes, each with its own event
 * loop and SO_REUSEPORT sockets, so that the kernel spreads clients over the
 * cores. This process, the first worker, alone talks to systemd and serves
 * unix sockets; it passes SIGHUP and SIGTERM on, and stops all if one dies.
 * Returns 1 in a new worker, 0 in the first, or a logged -errno. */
static int workers_start(struct daemon *d)
{
	pid_t parent = getpid();

	for (unsigned i = 1; i < d->config->workers; i++) {
		pid_t pid = fork();
		if (pid < 0)
			return log_error_errno(errno, "cannot start worker %u: %m", i + 1);
		if (pid == 0) {
			/* A worker never outlives the first, and never speaks to systemd. */
			if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent)
				_exit(1);
			log_set_worker(i + 1);
			(void)unsetenv("NOTIFY_SOCKET");
			(void)unsetenv("WATCHDOG_USEC");
			(void)unsetenv("WATCHDOG_PID");
			d->n_workers = 0;
			d->index = i;
			return 1;
		}
		d->workers[d->n_workers++] = pid;
	}
	return 0;
}

static void workers_wait(struct daemon *d)
{
	for (unsigned i = 0; i < d->n_workers; i++)
		if (d->workers[i] > 0 && waitpid(d->workers[i], NULL, 0) < 0)
			log_warning_errno(errno, "cannot wait for worker %d: %m", (int)d->workers[i]);
}

/* Accept=yes or --inetd: one client, then exit. */
static int serve_connection(struct daemon *d, int fd)
{
	const struct listener_config *l = activation_match_connection(d->config, fd);
	int r;

	r = server_add_connection(d->server, fd, l ? l->greeting : d->config->greeting,
				  l ? l->timeout_usec : d->config->timeout_usec);
	if (r >= 0)
		r = sd_event_loop(d->event);
	return r < 0 ? 1 : 0;
}

static int run(int argc, char *argv[])
{
	struct daemon d = {};
	int r, connection = -1;
	bool forking;

	r = process_setup(); /* first: before anything takes fds 0-2 */
	log_setup();
	if (r < 0) {
		log_error_errno(r, "cannot set up the process: %m");
		return 1;
	}
	r = parse_argv(argc, argv);
	if (r <= 0)
		return r < 0 ? 2 : 0;
	/* Started by an inetd: no sockets from systemd, a connection on stdin. */
	if (!arg_inetd && !arg_test_config && !getenv("LISTEN_FDS") && activation_stdin_is_connection())
		arg_inetd = true;
	d.config = load_config();
	if (!d.config)
		return 1;
	if (arg_test_config) {
		config_print(d.config);
		config_free(d.config);
		return 0;
	}

	forking = d.config->workers > 1 && !arg_inetd && !getenv("LISTEN_FDS");
	r = 0;
	if (forking) {
		d.counters = mmap(NULL, d.config->workers * sizeof(*d.counters), PROT_READ | PROT_WRITE,
				  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (d.counters == MAP_FAILED) {
			d.counters = NULL;
			r = log_error_errno(errno, "cannot share counters between workers: %m");
		} else
			r = workers_start(&d); /* logs its errors */
	} else if (d.config->workers > 1)
		log_notice("workers = %u applies to sockets greetingd binds itself: one process serves these", d.config->workers);
	if (r >= 0) {
		r = setup_event_loop(&d);
		for (unsigned i = 0; r >= 0 && i < d.n_workers; i++)
			r = sd_event_add_child(d.event, NULL, d.workers[i], WEXITED, on_worker_exit, &d);
		if (r >= 0 && forking)
			server_set_worker(d.server, d.index, d.counters, d.config->workers);
		if (r < 0)
			log_error_errno(r, "cannot set up the event loop: %m");
	}
	if (r < 0) {
		/* logged */
	} else if (arg_inetd) {
		connection = activation_take_stdin();
		r = connection < 0 ? connection : serve_connection(&d, connection);
	} else if ((r = activation_collect(d.server, &connection)) >= 0 && connection >= 0) {
		r = serve_connection(&d, connection);
	} else if (r >= 0 && (r = server_apply(d.server, d.config)) >= 0) {
		notify_status(&d, "", true);
		(void)sd_notify(0, "READY=1");
		log_info("ready: %u sockets", server_n_listeners(d.server));
		r = sd_event_add_time_relative(d.event, NULL, CLOCK_MONOTONIC, STATUS_INTERVAL_USEC, USEC_PER_SEC,
					       on_status_timer, &d);
		if (r >= 0)
			r = sd_event_loop(d.event);
		if (r < 0)
			log_error_errno(r, "event loop failed: %m");
	}
	if (r < 0)
		(void)sd_notifyf(0, "ERRNO=%d", -r);
	if (r < 0 || d.worker_failed)
		workers_signal(&d, SIGTERM);
	workers_wait(&d);
	if (d.worker_failed)
		r = -ECHILD;
	server_free(d.server);
	sd_event_unref(d.event);
	if (d.counters)
		(void)munmap(d.counters, d.config->workers * sizeof(*d.counters));
	config_free(d.config);
	return r < 0 ? 1 : r;
}

int main(int argc, char *argv[])
{
	return run(argc, argv);
}
