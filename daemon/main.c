/* greetingd: answers every client with a greeting, on the sockets its
 * configuration declares or systemd hands it. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "config.h"
#include "listener.h"
#include "log.h"
#include "macro.h"
#include "server.h"

#define STOP_DEADLINE_USEC (5 * USEC_PER_SEC)

static const char *arg_config = SYSCONFDIR "/greetingd/greetingd.conf";
static bool arg_test_config;

static void help(void)
{
	printf("Usage: %s [OPTIONS]\n\n"
	       "Answer every client with a greeting.\n\n"
	       "  -c, --config FILE      configuration file (default %s)\n"
	       "  -t, --test-config      check the configuration, print the listeners, exit\n"
	       "      --log-level LEVEL  emerg, alert, crit, err, warning, notice, info or debug\n"
	       "  -h, --help             show this help\n"
	       "  -V, --version          show the version\n\n"
	       "See greetingd(8) and greetingd.conf(5).\n",
	       program_invocation_short_name, arg_config);
}

/* Returns 1 to go on, 0 to exit successfully, <0 on a usage error. */
static int parse_argv(int argc, char *argv[])
{
	enum { ARG_LOG_LEVEL = 0x100 };
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "test-config", no_argument, NULL, 't' },
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

/* Logs every error of c; returns whether there were any. */
static bool config_report(const struct config *c)
{
	for (size_t i = 0; i < c->n_errors && i <= CONFIG_ERRORS_MAX; i++)
		log_error("%s", c->errors[i]);
	return c->n_errors > 0;
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

static int on_terminate(sd_event_source *es, const struct signalfd_siginfo *si, void *userdata)
{
	struct server *s = userdata;

	log_info("%s: stopping", strsignal((int)si->ssi_signo));
	(void)sd_notify(0, "STOPPING=1");
	server_stop(s, STOP_DEADLINE_USEC);
	return 0;
}

/* Opens every socket the configuration declares. */
static int server_bind_all(struct server *s, const struct config *c)
{
	char buf[ADDRESS_STRING_MAX];
	int r;

	for (size_t i = 0; i < c->n_listeners; i++) {
		const struct listener_config *l = &c->listeners[i];
		for (size_t j = 0; j < l->n_addresses; j++) {
			struct address a = l->addresses[j];
			int fd = listener_open(l->name, &a);
			if (fd < 0)
				return fd;
			r = server_add_listener(s, l->name, &a, fd, l->greeting, l->timeout_usec, false);
			if (r < 0)
				return r;
			log_info("[%s] listening on %s %s", l->name, type_to_string(a.type), address_to_string(&a, buf));
		}
	}
	return 0;
}

static int run(int argc, char *argv[])
{
	_cleanup_(config_freep) struct config *config = NULL;
	_cleanup_(server_freep) struct server *server = NULL;
	_cleanup_(sd_event_unrefp) sd_event *event = NULL;
	sigset_t mask;
	int r;

	log_setup();
	r = parse_argv(argc, argv);
	if (r <= 0)
		return r < 0 ? 2 : 0;

	r = config_load(arg_config, &config);
	if (r == -ENOMEM)
		return log_error_errno(r, "cannot load %s: %m", arg_config), 1;
	if (config_report(config))
		return 1;
	if (arg_test_config) {
		config_print(config);
		return 0;
	}

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	r = -sigprocmask(SIG_BLOCK, &mask, NULL);
	if (r >= 0)
		r = sd_event_default(&event);
	if (r >= 0)
		r = server_new(event, config->max_clients, &server);
	if (r >= 0)
		r = sd_event_add_signal(event, NULL, SIGTERM, on_terminate, server);
	if (r >= 0)
		r = sd_event_add_signal(event, NULL, SIGINT, on_terminate, server);
	if (r < 0)
		return log_error_errno(r, "cannot set up the event loop: %m"), 1;

	r = server_bind_all(server, config);
	if (r < 0) {
		(void)sd_notifyf(0, "ERRNO=%d", -r);
		return 1;
	}
	(void)sd_notifyf(0, "READY=1\nSTATUS=Serving %u sockets", server_n_listeners(server));
	log_info("ready: %u sockets", server_n_listeners(server));

	r = sd_event_loop(event);
	if (r < 0)
		return log_error_errno(r, "event loop failed: %m"), 1;
	return 0;
}

int main(int argc, char *argv[])
{
	return run(argc, argv);
}
