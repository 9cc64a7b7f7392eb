/* Reading greetingd.conf, second pass: validation.
 *
 * config-parse.c has recorded each key's raw value and line. Validation runs
 * per section, in dependency order (type before port, port before host),
 * and resolves addresses, so that --test-config and a reload see everything
 * the daemon would. Every error is collected; a config with any is unused. */
#include <libgen.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config-internal.h"
#include "strutil.h"

static struct config *config_new(const char *name)
{
	_cleanup_(config_freep) struct config *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->path = strdup(name);
	c->errors = calloc(CONFIG_ERRORS_MAX + 1, sizeof(char *));
	c->greeting = greeting_new(CONFIG_DEFAULT_GREETING, strlen(CONFIG_DEFAULT_GREETING));
	c->timeout_usec = CONFIG_DEFAULT_TIMEOUT_USEC;
	c->deadline_usec = CONFIG_DEFAULT_DEADLINE_USEC;
	c->max_clients = CONFIG_DEFAULT_MAX_CLIENTS;
	c->workers = 1;
	c->limits = (struct limits){ .prefix4 = 24, .prefix6 = 56, .max_per_source = CONFIG_DEFAULT_MAX_PER_SOURCE,
				     .rate = CONFIG_LIMIT_UNSET, .burst = CONFIG_LIMIT_UNSET, .source_check = true };
	if (!c->path || !c->errors || !c->greeting ||
	    addrlist_add(&c->limits.exempt, CONFIG_DEFAULT_LIMIT_EXEMPT, 0, NULL, 0) < 0)
		return NULL;
	addrlist_seal(&c->limits.exempt);
	return TAKE_PTR(c);
}

/* Validation, one key at a time; each reports its own errors. */

#define KEY_ERROR(p, s, k, ...) config_error((p), (s)->key_line[k], keys[k].name, __VA_ARGS__)

static int load_greeting(struct parser *p, const struct section *s, struct greeting **ret)
{
	const char *text = s->value[KEY_GREETING], *file = s->value[KEY_GREETING_FILE], *bad = NULL;
	int r;

	if (text && file) {
		enum key later = s->key_line[KEY_GREETING] > s->key_line[KEY_GREETING_FILE] ? KEY_GREETING : KEY_GREETING_FILE;
		KEY_ERROR(p, s, later, "greeting and greeting-file exclude each other; keep one");
		return -EINVAL;
	}
	if (text) {
		r = greeting_unescape(text, ret, &bad);
		if (r == -EINVAL) {
			KEY_ERROR(p, s, KEY_GREETING, "unknown escape \"%.4s\": use \\n \\r \\t \\\\ or \\xHH", bad);
			return r;
		}
		if (r < 0)
			return p->oom = true, r;
		if ((*ret)->size == 0) {
			*ret = greeting_unref(*ret);
			KEY_ERROR(p, s, KEY_GREETING, "is empty");
			return -EINVAL;
		}
		return 0;
	}
	if (file) {
		_cleanup_free_ char *full = NULL;

		if (file[0] == '\0') {
			KEY_ERROR(p, s, KEY_GREETING_FILE, "needs a file name");
			return -EINVAL;
		}
		if (file[0] != '/') {
			/* Relative to the directory of the configuration file. */
			_cleanup_free_ char *copy = strdup(p->config->path);
			if (!copy || asprintf(&full, "%s/%s", dirname(copy), file) < 0)
				return p->oom = true, -ENOMEM;
			file = full;
		}
		r = greeting_read_file(file, ret);
		if (r == -EFBIG)
			KEY_ERROR(p, s, KEY_GREETING_FILE, "%s is larger than %d bytes", file, GREETING_MAX_SIZE);
		else if (r == -EINVAL)
			KEY_ERROR(p, s, KEY_GREETING_FILE, "%s is not a regular file", file);
		else if (r < 0)
			KEY_ERROR(p, s, KEY_GREETING_FILE, "cannot read %s: %s", file, strerror(-r));
		else if ((*ret)->size == 0) {
			*ret = greeting_unref(*ret);
			KEY_ERROR(p, s, KEY_GREETING_FILE, "%s is empty", file);
			return -EINVAL;
		}
		return r;
	}
	*ret = NULL;
	return 0;
}

/* A duration key (timeout, deadline): from 1ms to 60min. */
static int load_duration(struct parser *p, const struct section *s, enum key k, uint64_t *ret)
{
	const char *v = s->value[k];
	uint64_t t;

	if (!v)
		return 0;
	if (parse_duration_usec(v, &t) < 0 || t < USEC_PER_MSEC || t > 3600 * USEC_PER_SEC) {
		KEY_ERROR(p, s, k, "\"%s\" is not a duration between 1ms and 60min (e.g. 10s, 500ms, 2min)", v);
		return -EINVAL;
	}
	*ret = t;
	return 0;
}

/* allow and deny, sealed into one list: each line of s, and for a key s does
 * not set, the inherited list's (a listener's own allow, or deny, replaces
 * [greetingd]'s). A unix peer has no address: a unix listener's own lines
 * are an error, inherited ones do not apply to it. */
static int load_access(struct parser *p, const struct section *s, const struct addrlist *inherited, bool unix_listener,
		       struct addrlist *ret)
{
	static const struct {
		enum key key;
		int tag;
	} lists[] = { { KEY_ALLOW, ACCESS_ALLOW }, { KEY_DENY, ACCESS_DENY } };
	char err[256];
	int r = 0;

	for (size_t t = 0; t < ELEMENTSOF(lists); t++) {
		enum key k = lists[t].key;
		int tag = lists[t].tag;

		if (s->value[k] && unix_listener) {
			r = KEY_ERROR(p, s, k, "not for unix listeners: a unix peer has no address (the socket file's "
					       "permissions say who may connect)");
			continue;
		}
		for (size_t i = 0; !s->value[k] && inherited && !unix_listener && i < addrlist_size(inherited); i++) {
			struct prefix prefix;
			int itag;

			addrlist_get(inherited, i, &prefix, &itag);
			if (itag == tag && addrlist_add_prefix(ret, &prefix, tag) < 0) {
				p->oom = true;
				return -ENOMEM;
			}
		}
		for (size_t i = 0; s->value[k] && i < s->n_lines; i++) {
			int q;

			if (s->lines[i].key != k)
				continue;
			/* An empty line would leave the key set and the list empty:
			 * a listener open to all, from a template's empty variable. */
			if (s->lines[i].value[strspn(s->lines[i].value, " \t")] == '\0') {
				r = config_error(p, s->lines[i].line, keys[k].name,
						 "is empty: name prefixes (every source: 0.0.0.0/0 ::/0)");
				continue;
			}
			q = addrlist_add(ret, s->lines[i].value, tag, err, sizeof(err));
			if (q == -ENOMEM) {
				p->oom = true;
				return q;
			}
			if (q < 0)
				r = config_error(p, s->lines[i].line, keys[k].name, "%s", err);
		}
	}
	addrlist_seal(ret);
	return r;
}

/* A number key of s within 0..max, into *ret; unset: *ret stays. */
static int load_number(struct parser *p, const struct section *s, enum key k, unsigned max, unsigned *ret)
{
	uint64_t v;

	if (!s->value[k])
		return 0;
	if (parse_unsigned(s->value[k], false, max, &v) < 0)
		return KEY_ERROR(p, s, k, "\"%s\" is not a number between 0 and %u", s->value[k], max);
	*ret = (unsigned)v;
	return 0;
}

/* A yes/no key of s into *ret; unset: *ret stays. */
static int load_boolean(struct parser *p, const struct section *s, enum key k, bool *ret)
{
	int b;

	if (!s->value[k])
		return 0;
	b = parse_boolean(s->value[k]);
	if (b < 0)
		return KEY_ERROR(p, s, k, "\"%s\" is not yes or no", s->value[k]);
	*ret = b;
	return 0;
}

/* The per-source limits of s over what it inherits (already in *l). A
 * listener's own limit-exempt lines replace the inherited list; an empty
 * line clears it. type: a listener's, to resolve rate and burst (AF_UNSPEC
 * family and type 0 for [greetingd], which keeps them UNSET). */
static int load_limits(struct parser *p, const struct section *s, bool listener, int family, int type, struct limits *l)
{
	static const enum key per_source[] = { KEY_LIMIT_EXEMPT, KEY_SOURCE_PREFIX4, KEY_SOURCE_PREFIX6,
					       KEY_MAX_CLIENTS_PER_SOURCE, KEY_RATE, KEY_RATE_BURST, KEY_UDP_SOURCE_CHECK };
	char err[256];
	int r = 0;

	if (family == AF_UNIX)
		for (size_t i = 0; i < ELEMENTSOF(per_source); i++)
			if (s->value[per_source[i]])
				r = KEY_ERROR(p, s, per_source[i], "not for unix listeners: a unix peer has no address");
	if (s->value[KEY_LIMIT_EXEMPT]) {
		addrlist_clear(&l->exempt);
		l->exempt_own = true;
	}
	for (size_t i = 0; i < s->n_lines; i++) {
		const char *v = s->lines[i].value;
		int q;

		if (s->lines[i].key != KEY_LIMIT_EXEMPT)
			continue;
		if (v[strspn(v, " \t")] == '\0') {
			addrlist_clear(&l->exempt); /* empty: nobody exempt, so far */
			continue;
		}
		q = addrlist_add(&l->exempt, v, 0, err, sizeof(err));
		if (q == -ENOMEM) {
			p->oom = true;
			return q;
		}
		if (q < 0)
			r = config_error(p, s->lines[i].line, keys[KEY_LIMIT_EXEMPT].name, "%s", err);
	}
	addrlist_seal(&l->exempt);
	r |= load_number(p, s, KEY_SOURCE_PREFIX4, 32, &l->prefix4);
	r |= load_number(p, s, KEY_SOURCE_PREFIX6, 128, &l->prefix6);
	r |= load_number(p, s, KEY_MAX_CLIENTS_PER_SOURCE, MAX_CLIENTS_MAX, &l->max_per_source);
	r |= load_number(p, s, KEY_RATE, RATE_MAX, &l->rate);
	r |= load_number(p, s, KEY_RATE_BURST, 2 * RATE_MAX, &l->burst);
	r |= load_number(p, s, KEY_MAX_AMPLIFICATION, MAX_AMPLIFICATION_MAX, &l->max_amplification);
	r |= load_boolean(p, s, KEY_UDP_SOURCE_CHECK, &l->source_check);
	if (listener)
		limits_resolve(l, type);
	return r;
}

void limits_resolve(struct limits *l, int type)
{
	/* Datagram listeners answer spoofable sources: a rate by default. */
	if (l->rate == CONFIG_LIMIT_UNSET)
		l->rate = type == SOCK_DGRAM ? CONFIG_DEFAULT_DGRAM_RATE : 0;
	if (l->burst == CONFIG_LIMIT_UNSET)
		l->burst = MAX(2 * l->rate, 1u);
}

static void load_global(struct parser *p, const struct section *s)
{
	struct config *c = p->config;
	struct greeting *g = NULL;
	uint64_t v;

	if (load_greeting(p, s, &g) == 0 && g) {
		greeting_unref(c->greeting);
		c->greeting = g;
	}
	load_duration(p, s, KEY_TIMEOUT, &c->timeout_usec);
	load_duration(p, s, KEY_DEADLINE, &c->deadline_usec);
	load_access(p, s, NULL, false, &c->access);
	load_limits(p, s, false, AF_UNSPEC, 0, &c->limits);
	load_boolean(p, s, KEY_LOG_CLIENTS, &c->log_clients);
	if (s->value[KEY_MAX_CLIENTS]) {
		if (parse_unsigned(s->value[KEY_MAX_CLIENTS], false, MAX_CLIENTS_MAX, &v) < 0 || v == 0)
			KEY_ERROR(p, s, KEY_MAX_CLIENTS, "\"%s\" is not a number between 1 and %d",
				  s->value[KEY_MAX_CLIENTS], MAX_CLIENTS_MAX);
		else
			c->max_clients = (unsigned)v;
	}
	if (s->value[KEY_WORKERS]) {
		if (parse_unsigned(s->value[KEY_WORKERS], false, CONFIG_WORKERS_MAX, &v) < 0 || v == 0)
			KEY_ERROR(p, s, KEY_WORKERS, "\"%s\" is not a number between 1 and %d", s->value[KEY_WORKERS],
				  CONFIG_WORKERS_MAX);
		else
			c->workers = (unsigned)v;
	}
}

/* family, type and protocol; 0 when all three are valid. */
static int load_socket_kind(struct parser *p, const struct section *s, struct listener_config *l)
{
	const char *v;
	char err[256];
	int r = 0, x;

	l->family = AF_UNSPEC;
	l->type = SOCK_STREAM;
	if ((v = s->value[KEY_FAMILY])) {
		x = family_from_string(v);
		if (x < 0)
			r = KEY_ERROR(p, s, KEY_FAMILY, "\"%s\" is not one of inet, inet6, unix or any (AF_INET, PF_INET, "
							"AF_INET6, AF_UNIX, PF_UNIX are accepted too)", v);
		else
			l->family = x;
	} else if (s->value[KEY_PATH])
		l->family = AF_UNIX; /* path alone says unix */
	if ((v = s->value[KEY_TYPE])) {
		x = type_from_string(v);
		if (x < 0)
			r = KEY_ERROR(p, s, KEY_TYPE, "\"%s\" is not one of stream, dgram or seqpacket", v);
		else
			l->type = x;
	}
	/* SCTP's one-to-many seqpacket needs its own reading (a message can
	 * arrive in parts); no kernel here has SCTP to test it. */
	if (r == 0 && l->type == SOCK_SEQPACKET && l->family != AF_UNIX)
		return KEY_ERROR(p, s, KEY_TYPE, "seqpacket over inet or inet6 (SCTP) is not supported yet: "
						 "use family = unix, or type = stream with protocol = sctp");
	if ((v = s->value[KEY_PROTOCOL])) {
		x = protocol_from_string(v);
		if (x < 0)
			return KEY_ERROR(p, s, KEY_PROTOCOL, "\"%s\" is not a number between 0 and 255 or a name from /etc/protocols", v);
		l->protocol = x;
		if (r == 0 && protocol_check(l->family, l->type, l->protocol, err, sizeof(err)) < 0)
			return KEY_ERROR(p, s, KEY_PROTOCOL, "%s", err);
	} else if (r == 0 && protocol_check(l->family, l->type, 0, err, sizeof(err)) < 0)
		return config_error(p, s->line, NULL, "[%s]: %s", s->name, err);
	return r;
}

/* Keys that make no sense together with the family. */
static int check_family_keys(struct parser *p, const struct section *s, const struct listener_config *l)
{
	static const enum key inet_only[] = { KEY_HOST, KEY_PORT };
	int r = 0;

	if (l->family == AF_UNIX) {
		for (size_t i = 0; i < ELEMENTSOF(inet_only); i++)
			if (s->value[inet_only[i]])
				r = KEY_ERROR(p, s, inet_only[i], "not used with family = unix; use path");
		if (!s->value[KEY_PATH])
			r = config_error(p, s->line, NULL, "[%s]: family = unix needs a path", s->name);
	} else {
		if (s->value[KEY_PATH])
			r = KEY_ERROR(p, s, KEY_PATH, "only used with family = unix, not %s", family_to_string(l->family));
		if (!s->value[KEY_PORT])
			r = config_error(p, s->line, NULL, "[%s]: a port is required (a number, or a service name)", s->name);
	}
	return r;
}

static int load_addresses(struct parser *p, const struct section *s, struct listener_config *l)
{
	const char *host = s->value[KEY_HOST];
	char err[256];
	uint16_t port;
	int r;

	if (l->family == AF_UNIX) {
		l->addresses = calloc(1, sizeof(*l->addresses));
		if (!l->addresses)
			return p->oom = true, -ENOMEM;
		r = address_from_unix_path(s->value[KEY_PATH], l->type, l->addresses, err, sizeof(err));
		if (r < 0)
			return KEY_ERROR(p, s, KEY_PATH, "\"%s\" %s", s->value[KEY_PATH], err), r;
		l->n_addresses = 1;
		return 0;
	}
	r = port_from_string(s->value[KEY_PORT], l->type, l->protocol, &port);
	if (r == -ERANGE)
		return KEY_ERROR(p, s, KEY_PORT, "\"%s\" is out of range: a port is between 0 and 65535", s->value[KEY_PORT]), r;
	if (r < 0)
		return KEY_ERROR(p, s, KEY_PORT, "\"%s\" is not a number or a known %s service", s->value[KEY_PORT],
				 l->type == SOCK_DGRAM ? "udp" : l->protocol == IPPROTO_SCTP ? "sctp" : "tcp"), r;
	if (host && streq(host, ADDRESS_HOST_BROADCAST) && l->type != SOCK_DGRAM)
		return KEY_ERROR(p, s, KEY_HOST, "%s needs type = dgram", ADDRESS_HOST_BROADCAST);
	r = address_resolve(l->family, l->type, l->protocol, host, port, &l->addresses, &l->n_addresses, err, sizeof(err));
	if (r == -ENOMEM)
		return p->oom = true, r;
	if (r < 0)
		return KEY_ERROR(p, s, KEY_HOST, "%s", err), r;
	return 0;
}

/* Overlaps: what the kernel would refuse to bind twice.
 *
 * Every address of every listener becomes an entry, sorted so that entries
 * that could collide are neighbours: unix by the bytes of their path or
 * abstract name, whatever the type; inet and inet6 by port space (tcp, udp,
 * udplite and sctp ports are distinct), port, family and address, with the
 * wildcard, all zero bytes, first. In a run of one space, port and family,
 * an entry collides with an equal neighbour, or with a wildcard ahead of it.
 * :: is IPV6_V6ONLY, so it never takes an IPv4 address; port 0 never collides.
 * O(n log n), so that a file of many small sections is checked quickly. */
struct bound_entry {
	const struct address *address;
	size_t listener, index; /* in config->listeners, and its addresses */
};

static int port_space(const struct address *a)
{
	if (a->protocol != 0)
		return a->protocol;
	return a->type == SOCK_DGRAM ? IPPROTO_UDP : IPPROTO_TCP;
}

/* The bytes bind() takes as the name, and the interface a link-local
 * address is bound to (a different interface does not collide). */
static const void *bound_name(const struct address *a, size_t *ret_len, uint32_t *ret_scope)
{
	*ret_scope = 0;
	switch (a->family) {
	case AF_INET:
		*ret_len = sizeof(a->sa.in.sin_addr);
		return &a->sa.in.sin_addr;
	case AF_INET6:
		if (IN6_IS_ADDR_LINKLOCAL(&a->sa.in6.sin6_addr) || IN6_IS_ADDR_MC_LINKLOCAL(&a->sa.in6.sin6_addr))
			*ret_scope = a->sa.in6.sin6_scope_id;
		*ret_len = sizeof(a->sa.in6.sin6_addr);
		return &a->sa.in6.sin6_addr;
	}
	*ret_len = a->len - offsetof(struct sockaddr_un, sun_path);
	return a->sa.un.sun_path;
}

static int compare_int(long long a, long long b)
{
	return (a > b) - (a < b);
}

/* Same unix name, or same inet space, port and family: a run that may collide. */
static int compare_run(const struct address *a, const struct address *b)
{
	int r = compare_int(a->family, b->family);

	if (r != 0 || a->family == AF_UNIX)
		return r;
	r = compare_int(port_space(a), port_space(b));
	return r != 0 ? r : compare_int(address_port(a), address_port(b));
}

static int compare_name(const struct address *a, const struct address *b)
{
	size_t alen, blen;
	uint32_t ascope, bscope;
	const void *aname = bound_name(a, &alen, &ascope), *bname = bound_name(b, &blen, &bscope);
	int r = memcmp(aname, bname, MIN(alen, blen));

	if (r == 0)
		r = compare_int((long long)alen, (long long)blen);
	return r != 0 ? r : compare_int(ascope, bscope);
}

static int compare_entries(const void *x, const void *y)
{
	const struct bound_entry *a = x, *b = y;
	int r = compare_run(a->address, b->address);

	if (r == 0)
		r = compare_name(a->address, b->address);
	if (r == 0)
		r = compare_int((long long)a->listener, (long long)b->listener);
	return r != 0 ? r : compare_int((long long)a->index, (long long)b->index);
}

static const char *describe(const struct address *a, char buf[static ADDRESS_STRING_MAX + 32])
{
	char address[ADDRESS_STRING_MAX];
	const char *protocol = protocol_to_string(a->protocol);

	if (a->protocol == 0)
		snprintf(buf, ADDRESS_STRING_MAX + 32, "%s %s", type_to_string(a->type), address_to_string(a, address));
	else if (protocol)
		snprintf(buf, ADDRESS_STRING_MAX + 32, "%s %s (protocol %s)", type_to_string(a->type),
			 address_to_string(a, address), protocol);
	else
		snprintf(buf, ADDRESS_STRING_MAX + 32, "%s %s (protocol %d)", type_to_string(a->type),
			 address_to_string(a, address), a->protocol);
	return buf;
}

/* One error per listener, on the later of the two, naming the earlier. */
static void report_overlap(struct parser *p, const struct bound_entry *mine, const struct bound_entry *theirs)
{
	const struct listener_config *l = &p->config->listeners[mine->listener];
	const struct listener_config *other = &p->config->listeners[theirs->listener];
	char a[ADDRESS_STRING_MAX + 32], b[ADDRESS_STRING_MAX + 32];

	if (mine->listener == theirs->listener)
		config_error(p, l->line, NULL, "[%s]: %s overlaps its own %s", l->name, describe(mine->address, a),
			     describe(theirs->address, b));
	else if (address_equal(mine->address, theirs->address))
		config_error(p, l->line, NULL, "[%s]: %s is also [%s] at line %u", l->name, describe(mine->address, a),
			     other->name, other->line);
	else
		config_error(p, l->line, NULL, "[%s]: %s overlaps %s of [%s] at line %u", l->name,
			     describe(mine->address, a), describe(theirs->address, b), other->name, other->line);
}

static void check_overlaps(struct parser *p)
{
	const struct config *c = p->config;
	_cleanup_free_ struct bound_entry *entries = NULL;
	/* For each listener, the first collision found: [2 * i] its entry, [2 * i + 1] the other. */
	_cleanup_free_ const struct bound_entry **found = NULL;
	const struct bound_entry *wildcard = NULL;
	size_t n = 0;

	for (size_t i = 0; i < c->n_listeners; i++)
		n += c->listeners[i].n_addresses;
	entries = calloc(n ? n : 1, sizeof(*entries));
	found = calloc(c->n_listeners ? 2 * c->n_listeners : 1, sizeof(*found));
	if (!entries || !found) {
		p->oom = true;
		return;
	}
	n = 0;
	for (size_t i = 0; i < c->n_listeners; i++)
		for (size_t j = 0; j < c->listeners[i].n_addresses; j++) {
			const struct address *a = &c->listeners[i].addresses[j];
			if (a->family != AF_UNIX && address_port(a) == 0)
				continue; /* the kernel picks a free port */
			entries[n++] = (struct bound_entry){ .address = a, .listener = i, .index = j };
		}
	qsort(entries, n, sizeof(*entries), compare_entries);

	for (size_t k = 1; k < n; k++) {
		const struct bound_entry *e = &entries[k], *prev = &entries[k - 1], *theirs = NULL;
		const struct bound_entry *later;

		if (compare_run(prev->address, e->address) != 0) {
			wildcard = NULL;
		} else {
			if (!wildcard && address_is_wildcard(prev->address))
				wildcard = prev;
			if (compare_name(prev->address, e->address) == 0)
				theirs = prev;
			else if (wildcard)
				theirs = wildcard;
		}
		if (!theirs)
			continue;
		later = theirs->listener > e->listener ? theirs : e;
		if (!found[2 * later->listener]) {
			found[2 * later->listener] = later;
			found[2 * later->listener + 1] = later == e ? theirs : e;
		}
	}
	for (size_t i = 0; i < c->n_listeners; i++)
		if (found[2 * i])
			report_overlap(p, found[2 * i], found[2 * i + 1]);
}

static void load_listener(struct parser *p, struct section *s)
{
	struct config *c = p->config;
	struct listener_config l = { .line = s->line, .timeout_usec = c->timeout_usec, .deadline_usec = c->deadline_usec,
				     .log_clients = c->log_clients };
	bool ok = true;

	ok &= load_socket_kind(p, s, &l) == 0;
	ok &= load_access(p, s, &c->access, l.family == AF_UNIX, &l.access) == 0;
	/* [greetingd]'s limit-exempt applies unless the section has its own:
	 * not copied, so that a thousand listeners cost one list. */
	l.limits = c->limits;
	l.limits.exempt = (struct addrlist){};
	l.limits.exempt_own = false;
	ok &= load_limits(p, s, true, l.family, l.type, &l.limits) == 0;
	ok &= ok && check_family_keys(p, s, &l) == 0;
	ok &= ok && load_addresses(p, s, &l) == 0;
	ok &= load_greeting(p, s, &l.greeting) == 0;
	ok &= load_duration(p, s, KEY_TIMEOUT, &l.timeout_usec) == 0;
	ok &= load_duration(p, s, KEY_DEADLINE, &l.deadline_usec) == 0;
	ok &= load_boolean(p, s, KEY_LOG_CLIENTS, &l.log_clients) == 0;
	if (s->value[KEY_MAX_CLIENTS]) {
		uint64_t v;

		if (parse_unsigned(s->value[KEY_MAX_CLIENTS], false, MAX_CLIENTS_MAX, &v) < 0 || v == 0) {
			KEY_ERROR(p, s, KEY_MAX_CLIENTS, "\"%s\" is not a number between 1 and %d", s->value[KEY_MAX_CLIENTS],
				  MAX_CLIENTS_MAX);
			ok = false;
		} else
			l.max_clients = (unsigned)v;
	}
	if (ok && !l.greeting)
		l.greeting = greeting_ref(c->greeting);
	/* A message-oriented socket sends the greeting whole, in one message. */
	if (ok && l.type != SOCK_STREAM &&
	    l.greeting->size > MESSAGE_GREETING_MAX) {
		config_error(p, s->line, NULL, "[%s]: the greeting is %zu bytes; a message carries at most %d", s->name,
			     l.greeting->size, MESSAGE_GREETING_MAX);
		ok = false;
	}
	for (size_t i = 0; ok && c->workers > 1 && i < l.n_addresses; i++)
		if (l.addresses[i].family != AF_UNIX && address_port(&l.addresses[i]) == 0) {
			KEY_ERROR(p, s, KEY_PORT, "port 0 would give each of the %u workers another port; name one", c->workers);
			ok = false;
		}
	if (!ok) {
		free(l.addresses);
		greeting_unref(l.greeting);
		addrlist_free(&l.access);
		addrlist_free(&l.limits.exempt);
		return;
	}
	l.name = TAKE_PTR(s->name);
	c->listeners[c->n_listeners++] = l;
}

int config_load_string(const char *name, const char *text, size_t size, struct config **ret)
{
	_cleanup_(config_freep) struct config *c = config_new(name);
	struct parser p = { .config = c, .text = text, .size = size };
	struct section *global = NULL;

	if (!c)
		return -ENOMEM;
	parser_read(&p);

	if (!p.oom && (global = section_find(&p, GLOBAL_SECTION)))
		load_global(&p, global);
	c->listeners = calloc(p.n_sections ? p.n_sections : 1, sizeof(*c->listeners));
	if (!c->listeners)
		p.oom = true;
	for (size_t i = 0; i < p.n_sections && !p.oom; i++)
		if (&p.sections[i] != global)
			load_listener(&p, &p.sections[i]);
	if (!p.oom)
		check_overlaps(&p);
	if (!p.oom && c->n_listeners == 0 && c->n_errors == 0)
		config_error(&p, 0, NULL, "no listeners: add a [name] section with a port or a path");
	parser_done(&p);
	if (p.oom)
		return -ENOMEM;
	*ret = TAKE_PTR(c);
	return (*ret)->n_errors > 0 ? -EINVAL : 0;
}

int config_load(const char *path, struct config **ret)
{
	struct greeting *text = NULL;
	struct config *c;
	int r;

	/* The file is read like a greeting file, with the same size cap. */
	r = greeting_read_file(path, &text);
	if (r == 0) {
		r = config_load_string(path, text->data, text->size, ret);
		greeting_unref(text);
		return r;
	}
	c = config_new(path);
	if (!c || asprintf(&c->errors[0], "%s: cannot read: %s", path,
			   r == -EFBIG ? "larger than 1 MiB" : r == -EINVAL ? "not a regular file" : strerror(-r)) < 0) {
		config_free(c);
		return -ENOMEM;
	}
	c->n_errors = 1;
	*ret = c;
	return -EINVAL;
}

struct config *config_free(struct config *c)
{
	if (!c)
		return NULL;
	for (size_t i = 0; i < c->n_listeners; i++) {
		free(c->listeners[i].name);
		free(c->listeners[i].addresses);
		greeting_unref(c->listeners[i].greeting);
		addrlist_free(&c->listeners[i].access);
		addrlist_free(&c->listeners[i].limits.exempt);
	}
	free(c->listeners);
	for (size_t i = 0; i < c->n_errors && i <= CONFIG_ERRORS_MAX; i++)
		free(c->errors[i]);
	free(c->errors);
	greeting_unref(c->greeting);
	addrlist_free(&c->access);
	addrlist_free(&c->limits.exempt);
	free(c->path);
	free(c);
	return NULL;
}

void config_freep(struct config **c)
{
	config_free(*c);
}
