/* Stream and seqpacket clients after accept(): the fast path (send, close)
 * and the slow one (a struct client until the greeting is delivered or the
 * client gives up). The clients on the slow path form a set with one epoll
 * set and one timer for all of them. */
#pragma once

#include <stdbool.h>
#include <systemd/sd-event.h>

#include "policy.h"
#include "server.h"

struct client_set;

/* on_change(userdata) runs whenever a client leaves the set, so that the
 * owner can decide whether to accept again. */
struct sources;
/* sources: where a client's source (ctx->source) is released when it ends. */
int client_set_new(sd_event *event, struct sources *sources, void (*on_change)(void *userdata), void *userdata,
		   struct client_set **ret);
struct client_set *client_set_free(struct client_set *cs);
/* Where greeted and failed clients are counted. */
void client_set_counters(struct client_set *cs, struct server_counters *counters);
/* Clients in flight: on the slow path, accepted and not yet closed. */
unsigned client_set_size(const struct client_set *cs);

/* Greets a freshly connected client. Takes ctx->fd and ctx->source, and a
 * reference to ctx->policy if the client needs one beyond this call. */
void client_greet(struct client_set *cs, const struct client_context *ctx);
