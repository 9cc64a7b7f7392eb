/* Reading the configuration off the event loop. A child process forked for
 * each reload reads, resolves and checks the file, and hands the result back
 * as a sealed memfd (config-serial.c), errors included; so a resolver that
 * never answers, or a huge file, delays the new configuration and never a
 * client. The child holds no socket of the server's: it closes them first. */
#pragma once

#include <systemd/sd-event.h>

struct reload;

/* Starts reading path; done(userdata, memfd) follows on e, memfd a negative
 * errno if the child failed (it is logged). done owns memfd. */
int reload_start(sd_event *e, const char *path, void (*done)(void *userdata, int memfd), void *userdata,
		 struct reload **ret);

/* Stops a reload in progress (the child is killed); done is not called. */
struct reload *reload_free(struct reload *r);
