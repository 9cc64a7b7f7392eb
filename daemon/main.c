/* greetingd: answers every client with a greeting, on the sockets its
 * configuration declares or systemd hands it. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "activation.h"
#include "config.h"
#include "log.h"
#include "macro.h"
#include "policy.h"
#include "process.h"
#include "reload.h"
#include "server.h"
#include "workers.h"

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
	struct workers *workers;  /* NULL with one process */
	struct reload *reload;    /* the file being read for a reload */
	bool reload_again;        /* SIGHUP came during a reload */
	bool awaiting_workers;    /* a reload applied here, not yet by every worker */
	bool worker_failed;
	char status[512];
};

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
	       "Signals: SIGHUP reloads the configuration, SIGTERM and SIGINT stop,\n"
	       "SIGUSR1 logs the counters.\n"
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

/* Logs every error of c; frees it and returns NULL if there is any. */
static struct config *config_check(struct config *c)
{
	for (size_t i = 0; i < c->n_errors && i <= CONFIG_ERRORS_MAX; i++)
		log_error("%s", c->errors[i]);
	return c->n_errors > 0 ? config_free(c) : c;
}

/* Loads the configuration at start, logging every error. NULL if unusable. */
static struct config *load_config(void)
{
	struct config *c = NULL;
	int r = config_load(arg_config, &c);

	if (r == -ENOMEM) {
		log_error_errno(r, "cannot load %s: %m", arg_config);
		return NULL;
	}
	return config_check(c);
}

/* A configuration read elsewhere (the reading child, or the first process). */
static struct config *config_received(int memfd)
{
	struct config *c = NULL;
	int r = config_from_memfd(memfd, &c);

	if (r < 0) {
		log_error_errno(r, "cannot read the configuration handed over: %m");
		return NULL;
	}
	return config_check(c);
}

/* "\tNAME p1 p2 ...\n": the prefixes of list tagged tag (-1: all), or "-". */
static void print_prefixes(const char *name, const struct addrlist *list, int tag)
{
	char buf[PREFIX_STRING_MAX];
	bool any = false;

	printf("\t%s", name);
	for (size_t i = 0; i < addrlist_size(list); i++) {
		struct prefix p;
		int t;

		addrlist_get(list, i, &p, &t);
		if (tag < 0 || t == tag) {
			printf(" %s", prefix_to_string(&p, buf, sizeof(buf)));
			any = true;
		}
	}
	printf("%s\n", any ? "" : " -");
}

/* --test-config: the listeners, each with every address it resolved to and
 * the limits it has, its own or inherited, as they will apply. */
static void config_print(const struct config *c)
{
	char buf[ADDRESS_STRING_MAX];

	for (size_t i = 0; i < c->n_listeners; i++) {
		const struct listener_config *l = &c->listeners[i];
		const struct limits *m = &l->limits;

		printf("[%s] %s %s, greeting %zu bytes, timeout %llums, deadline %llums\n", l->name,
		       family_to_string(l->family), type_to_string(l->type), l->greeting->size,
		       (unsigned long long)(l->timeout_usec / USEC_PER_MSEC), (unsigned long long)(l->deadline_usec / USEC_PER_MSEC));
		for (size_t j = 0; j < l->n_addresses; j++)
			printf("\t%s\n", address_to_string(&l->addresses[j], buf));
		if (l->max_clients > 0)
			printf("\tmax-clients %u, log-clients %s\n", l->max_clients, l->log_clients ? "yes" : "no");
		else
			printf("\tmax-clients %u (the process's), log-clients %s\n", c->max_clients,
			       l->log_clients ? "yes" : "no");
		if (l->family == AF_UNIX)
			continue; /* no address to judge: no lists, no per-source limits */
		print_prefixes("allow", &l->access, ACCESS_ALLOW);
		print_prefixes("deny", &l->access, ACCESS_DENY);
		printf("\tmax-clients-per-source %u, source-prefix4 %u, source-prefix6 %u, ", m->max_per_source, m->prefix4,
		       m->prefix6);
		if (m->rate > 0)
			printf("rate %u/s, rate-burst %u\n", m->rate, MAX(m->burst, 1u));
		else
			printf("rate 0 (none)\n");
		print_prefixes("limit-exempt", listener_exempt(c, l), -1);
		if (l->type == SOCK_DGRAM)
			printf("\tudp-source-check %s, max-amplification %u\n", m->source_check ? "yes" : "no",
			       m->max_amplification);
	}
	printf("configuration OK\n");
}

/* STATUS=: what is served, and the counters; unless forced, only when it changed. */
static void notify_status(struct daemon *d, const char *extra, bool force)
{
	struct server_stats st = server_stats(d->server);
	char status[sizeof(d->status)], counters[SERVER_STATS_STRING_MAX];

	snprintf(status, sizeof(status), "%s%u sockets for %zu listeners; %s", extra, server_n_listeners(d->server),
		 d->config->n_listeners, server_stats_format(&st, counters, sizeof(counters)));
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
	if (d->workers)
		workers_stop(d->workers);
	d->reload = reload_free(d->reload);
	server_stop(d->server, STOP_DEADLINE_USEC);
	return 0;
}

/* SIGUSR1: the counters, in the log. The first process's are every worker's. */
static int on_log_counters(sd_event_source *es, const struct signalfd_siginfo *si, void *userdata)
{
	struct daemon *d = userdata;
	struct server_stats st = server_stats(d->server);
	char counters[SERVER_STATS_STRING_MAX];

	log_info("%s: %s", strsignal((int)si->ssi_signo), server_stats_format(&st, counters, sizeof(counters)));
	server_log_listener_stats(d->server);
	/* Each worker logs its own listeners' counters. */
	if (d->workers && workers_index(d->workers) == 0)
		workers_kill(d->workers, SIGUSR1);
	return 0;
}

/* Makes c the running configuration: the sockets first, then the rest. */
static int config_switch(struct daemon *d, struct config *c)
{
	if (server_apply(d->server, c) < 0) {
		config_free(c);
		return -EINVAL;
	}
	if (c->workers != d->config->workers && (!d->workers || workers_index(d->workers) == 0))
		log_notice("workers = %u takes effect at the next start; running %u", c->workers, d->config->workers);
	c->workers = d->config->workers;
	config_free(d->config);
	d->config = c;
	return 0;
}

static void reload_begin(struct daemon *d);

/* The end of a reload: READY=1 again, unless stopping; then the next one, if asked for. */
static void reload_end(struct daemon *d, bool ok)
{
	if (server_stopping(d->server))
		return;
	if (ok) {
		log_struct_errno(LOG_INFO, 0, LOG_ID(MESSAGE_ID_RELOADED),
				 "reloaded: %u sockets", server_n_listeners(d->server));
		notify_status(d, "", true);
	} else {
		log_struct_errno(LOG_ERR, 0, LOG_ID(MESSAGE_ID_RELOAD_REFUSED),
				 "reload failed: keeping the running configuration");
		notify_status(d, "Reload failed, see the log; ", true);
	}
	(void)sd_notify(0, "READY=1");
	if (d->reload_again) {
		d->reload_again = false;
		reload_begin(d);
	}
}

/* Every worker has answered the configuration the first sent. */
static void on_workers_acknowledged(void *userdata, unsigned failed)
{
	struct daemon *d = userdata;

	d->awaiting_workers = false;
	if (failed > 0 && !server_stopping(d->server))
		log_error("%u workers kept their old configuration: restart greetingd to bring them in line", failed);
	reload_end(d, failed == 0);
}

/* The reading child has answered: apply here, then hand it to the workers. */
static void on_reload_read(void *userdata, int memfd)
{
	struct daemon *d = userdata;
	struct config *c;
	unsigned failed = 0;

	d->reload = reload_free(d->reload);
	c = memfd < 0 || server_stopping(d->server) ? NULL : config_received(memfd);
	if (!c || config_switch(d, c) < 0) {
		safe_close(memfd);
		reload_end(d, false);
		return;
	}
	d->awaiting_workers = d->workers && workers_send_config(d->workers, memfd, &failed) > 0;
	safe_close(memfd);
	if (!d->awaiting_workers)
		on_workers_acknowledged(d, failed);
}

static void reload_begin(struct daemon *d)
{
	uint64_t now = 0;
	int r;

	(void)sd_event_now(d->event, CLOCK_MONOTONIC, &now);
	(void)sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=Reloading %s", (unsigned long long)now, arg_config);
	log_info("reloading %s", arg_config);
	r = reload_start(d->event, arg_config, on_reload_read, d, &d->reload);
	if (r < 0) {
		log_error_errno(r, "cannot start reading %s: %m", arg_config);
		reload_end(d, false);
	}
}

/* SIGHUP: the whole new file, or nothing of it, read off the event loop. */
static int on_reload(sd_event_source *es, const struct signalfd_siginfo *si, void *userdata)
{
	struct daemon *d = userdata;

	if (server_stopping(d->server)) {
		log_notice("SIGHUP while stopping: not reloading");
		return 0;
	}
	if (d->workers && workers_index(d->workers) > 0) {
		log_notice("SIGHUP: reloads are the first process's to do (it hands them to each worker)");
		return 0;
	}
	if (d->reload || d->awaiting_workers) {
		log_info("SIGHUP during a reload: reading the file again once it is done");
		d->reload_again = true;
		return 0;
	}
	reload_begin(d);
	return 0;
}

/* In a worker: the configuration the first read. */
static int on_worker_config(void *userdata, int memfd)
{
	struct daemon *d = userdata;
	struct config *c = config_received(memfd);
	int r;

	if (!c)
		return -EBADMSG;
	r = config_switch(d, c);
	if (r >= 0)
		log_struct_errno(LOG_INFO, 0, LOG_ID(MESSAGE_ID_RELOADED),
				 "reloaded: %u sockets", server_n_listeners(d->server));
	return r;
}

static void on_worker_died(void *userdata, const siginfo_t *si)
{
	struct daemon *d = userdata;

	if (server_stopping(d->server))
		return;
	log_error("worker %d exited unexpectedly (%s %d): stopping", (int)si->si_pid,
		  si->si_code == CLD_EXITED ? "status" : "signal", si->si_status);
	d->worker_failed = true;
	(void)sd_notify(0, "STOPPING=1");
	workers_stop(d->workers);
	d->reload = reload_free(d->reload); /* nothing is applied once stopping */
	server_stop(d->server, STOP_DEADLINE_USEC);
}

static const struct workers_callbacks workers_callbacks = {
	.died = on_worker_died,
	.received = on_worker_config,
	.acknowledged = on_workers_acknowledged,
};

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
	if (r >= 0 && d->workers) {
		unsigned index = workers_index(d->workers);
		server_set_worker(d->server, index, workers_counters(d->workers), d->config->workers);
		r = workers_attach(d->workers, d->event, &workers_callbacks, d);
	}
	return r < 0 ? r : 0;
}

/* Accept=yes or --inetd: one client, then exit. */
static int serve_connection(struct daemon *d, int fd)
{
	const struct listener_config *l = activation_match_connection(d->config, fd);
	_cleanup_(policy_unrefp) struct policy *p = policy_new(l ? l->name : "connection", d->config, l, SOCK_STREAM);
	int r;

	log_stream_only();
	if (!p) {
		safe_close(fd);
		log_error_errno(ENOMEM, "cannot serve the connection: %m");
		return 1;
	}
	r = server_add_connection(d->server, fd, p);
	if (r >= 0)
		r = sd_event_loop(d->event);
	return r < 0 ? 1 : 0;
}

/* What this process is started to do. */
enum mode {
	MODE_TEST_CONFIG, /* --test-config */
	MODE_INETD,       /* the connection on standard input */
	MODE_SERVE,       /* the listeners: self-bound, activated, or one Accept=yes connection */
};

static enum mode choose_mode(void)
{
	if (arg_test_config)
		return MODE_TEST_CONFIG;
	/* Started by an inetd: no sockets from systemd, a connection on stdin. */
	if (arg_inetd || (!getenv("LISTEN_FDS") && activation_stdin_is_connection()))
		return MODE_INETD;
	return MODE_SERVE;
}

/* Serves the configuration until stopped; 0 or a logged -errno. */
static int serve(struct daemon *d)
{
	int connection = -1;
	int r = activation_collect(d->server, &connection);

	if (r < 0)
		return r;
	if (connection >= 0)
		return serve_connection(d, connection) == 0 ? 0 : -EIO;
	r = server_apply(d->server, d->config);
	if (r < 0)
		return r;
	notify_status(d, "", true);
	(void)sd_notify(0, "READY=1");
	log_struct_errno(LOG_INFO, 0, LOG_ID(MESSAGE_ID_STARTED), "ready: %u sockets",
			 server_n_listeners(d->server));
	r = sd_event_add_time_relative(d->event, NULL, CLOCK_MONOTONIC, STATUS_INTERVAL_USEC, USEC_PER_SEC,
				       on_status_timer, d);
	if (r >= 0)
		r = sd_event_loop(d->event);
	if (r < 0)
		return log_error_errno(r, "event loop failed: %m");
	return 0;
}

static int run(int argc, char *argv[])
{
	struct daemon d = {};
	enum mode mode;
	int r, connection;

	r = process_setup(); /* first: before anything takes fds 0-2 */
	log_setup();
	if (r < 0) {
		log_error_errno(r, "cannot set up the process: %m");
		return 1;
	}
	r = parse_argv(argc, argv);
	if (r <= 0)
		return r < 0 ? 2 : 0;
	mode = choose_mode();
	d.config = load_config();
	if (!d.config)
		return 1;
	if (mode == MODE_TEST_CONFIG) {
		config_print(d.config);
		config_free(d.config);
		return 0;
	}

	r = 0;
	if (d.config->workers > 1 && mode == MODE_SERVE && !getenv("LISTEN_FDS"))
		r = workers_start(d.config->workers, &d.workers); /* logs its errors */
	else if (d.config->workers > 1)
		log_notice("workers = %u applies to sockets greetingd binds itself: one process serves these", d.config->workers);
	if (r >= 0) {
		r = setup_event_loop(&d);
		if (r < 0)
			log_error_errno(r, "cannot set up the event loop: %m");
	}
	if (r >= 0 && mode == MODE_INETD) {
		connection = activation_take_stdin();
		r = connection < 0 ? connection : serve_connection(&d, connection);
	} else if (r >= 0)
		r = serve(&d);
	if (r < 0)
		(void)sd_notifyf(0, "ERRNO=%d", -r);
	if (d.workers) {
		if (r < 0 || d.worker_failed)
			workers_stop(d.workers);
		workers_wait(d.workers);
	}
	if (d.worker_failed)
		r = -ECHILD;
	d.reload = reload_free(d.reload);
	server_free(d.server);
	sd_event_unref(d.event);
	workers_free(d.workers);
	config_free(d.config);
	return r < 0 ? 1 : r;
}

int main(int argc, char *argv[])
{
	return run(argc, argv);
}
