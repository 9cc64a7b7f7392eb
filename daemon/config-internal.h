/* What config.c (validation) and config-parse.c (the inih side) share. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "macro.h"

#define SECTION_NAME_MAX 64
#define MAX_CLIENTS_MAX 1000000
#define RATE_MAX 1000000 /* new clients a second from one source */
#define MAX_AMPLIFICATION_MAX 65507
#define GLOBAL_SECTION "greetingd"
#define MESSAGE_GREETING_MAX 65507 /* the most one UDP/IPv4 datagram carries */

enum key {
	KEY_FAMILY,
	KEY_TYPE,
	KEY_PROTOCOL,
	KEY_HOST,
	KEY_PORT,
	KEY_PATH,
	KEY_GREETING,
	KEY_GREETING_FILE,
	KEY_TIMEOUT,
	KEY_DEADLINE,
	KEY_MAX_CLIENTS,
	KEY_WORKERS,
	KEY_ALLOW,
	KEY_DENY,
	KEY_LIMIT_EXEMPT,
	KEY_SOURCE_PREFIX4,
	KEY_SOURCE_PREFIX6,
	KEY_MAX_CLIENTS_PER_SOURCE,
	KEY_RATE,
	KEY_RATE_BURST,
	KEY_UDP_SOURCE_CHECK,
	KEY_MAX_AMPLIFICATION,
	KEY_LOG_CLIENTS,
	_KEY_MAX,
};


/* Where each key may stand. */
struct key_info {
	const char *name;
	unsigned char global, listener;
	unsigned char repeatable; /* each line adds to the value: lines[] */
};
extern const struct key_info keys[_KEY_MAX];

/* One line of a repeatable key. */
struct section_line {
	enum key key;
	unsigned line;
	char *value;
};

struct section {
	char *name;
	unsigned line;
	char *value[_KEY_MAX];     /* a repeatable key's: its first line's */
	unsigned key_line[_KEY_MAX];
	struct section_line *lines; /* every line of the repeatable keys, in file order */
	size_t n_lines;
};

struct parser {
	struct config *config;
	const char *text;
	size_t size, pos;
	unsigned line;
	struct section *sections;
	size_t n_sections, n_sections_allocated;
	size_t *section_slots; /* a hash of section names: index + 1 into sections, 0 when free */
	size_t n_section_slots; /* a power of two, over twice n_sections */
	struct section *current; /* NULL before the first header or after a bad one */
	bool skip_keys;          /* the current header was rejected */
	bool oom;
};

/* config-parse.c */
_printf_(4, 5) int config_error(struct parser *p, unsigned line, const char *key, const char *format, ...);
struct section *section_find(struct parser *p, const char *name);
void parser_read(struct parser *p);
void parser_done(struct parser *p);
