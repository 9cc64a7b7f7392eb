/* Reading greetingd.conf, first pass: the INI syntax, through inih.
 *
 * inih does the INI syntax. Our reader feeds it one line at a time, which
 * gives us the line numbers its handler lacks, and vets each line first:
 * a line inih would split (longer than its buffer) or misparse (a NUL, a
 * bad section header, no '=') is reported and handed over blank, so every
 * error in the file is found in one run and no half line is ever parsed.
 * Leading whitespace is stripped, so indented lines are never taken as
 * inih's multi-line continuations. The handler only records each key's raw
 * value and line; config.c validates. */
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config-internal.h"

const struct key_info keys[_KEY_MAX] = {
	[KEY_FAMILY] = { .name = "family", .listener = 1 },
	[KEY_TYPE] = { .name = "type", .listener = 1 },
	[KEY_PROTOCOL] = { .name = "protocol", .listener = 1 },
	[KEY_HOST] = { .name = "host", .listener = 1 },
	[KEY_PORT] = { .name = "port", .listener = 1 },
	[KEY_PATH] = { .name = "path", .listener = 1 },
	[KEY_GREETING] = { .name = "greeting", .global = 1, .listener = 1 },
	[KEY_GREETING_FILE] = { .name = "greeting-file", .global = 1, .listener = 1 },
	[KEY_TIMEOUT] = { .name = "timeout", .global = 1, .listener = 1 },
	[KEY_DEADLINE] = { .name = "deadline", .global = 1, .listener = 1 },
	[KEY_MAX_CLIENTS] = { .name = "max-clients", .global = 1, .listener = 1 },
	[KEY_WORKERS] = { .name = "workers", .global = 1 },
	[KEY_ALLOW] = { .name = "allow", .global = 1, .listener = 1, .repeatable = 1 },
	[KEY_DENY] = { .name = "deny", .global = 1, .listener = 1, .repeatable = 1 },
	[KEY_LIMIT_EXEMPT] = { .name = "limit-exempt", .global = 1, .listener = 1, .repeatable = 1 },
	[KEY_SOURCE_PREFIX4] = { .name = "source-prefix4", .global = 1, .listener = 1 },
	[KEY_SOURCE_PREFIX6] = { .name = "source-prefix6", .global = 1, .listener = 1 },
	[KEY_MAX_CLIENTS_PER_SOURCE] = { .name = "max-clients-per-source", .global = 1, .listener = 1 },
	[KEY_RATE] = { .name = "rate", .global = 1, .listener = 1 },
	[KEY_RATE_BURST] = { .name = "rate-burst", .global = 1, .listener = 1 },
	[KEY_UDP_SOURCE_CHECK] = { .name = "udp-source-check", .global = 1, .listener = 1 },
	[KEY_MAX_AMPLIFICATION] = { .name = "max-amplification", .global = 1, .listener = 1 },
	[KEY_LOG_CLIENTS] = { .name = "log-clients", .global = 1, .listener = 1 },
};

/* "family, type, ...": the keys a section takes, for an error message. */
static const char *keys_taken(bool global, char *buf, size_t size)
{
	size_t n = 0;

	buf[0] = '\0';
	for (int k = 0; k < _KEY_MAX; k++)
		if (global ? keys[k].global : keys[k].listener)
			n += (size_t)snprintf(buf + n, n < size ? size - n : 0, "%s%s", n ? ", " : "", keys[k].name);
	return buf;
}

/* Keeps one more line of a repeatable key; the array doubles, so that a
 * file of tens of thousands of lines costs no quadratic copying. */
static int section_add_line(struct section *s, enum key k, unsigned line, const char *value)
{
	struct section_line *lines = s->lines;

	if ((s->n_lines & (s->n_lines - 1)) == 0) { /* 0, 1, 2, 4...: full */
		lines = realloc(s->lines, (s->n_lines ? 2 * s->n_lines : 1) * sizeof(*lines));
		if (!lines)
			return -ENOMEM;
		s->lines = lines;
	}
	lines[s->n_lines] = (struct section_line){ .key = k, .line = line, .value = strdup(value) };
	if (!lines[s->n_lines].value)
		return -ENOMEM;
	s->n_lines++;
	return 0;
}

/* Records "FILE:LINE: KEY: message" (LINE and KEY when known). Returns -EINVAL. */
int config_error(struct parser *p, unsigned line, const char *key, const char *format, ...)
{
	struct config *c = p->config;
	char msg[512];
	va_list ap;
	char *s;
	int k;

	if (c->n_errors > CONFIG_ERRORS_MAX)
		return -EINVAL;
	if (c->n_errors == CONFIG_ERRORS_MAX) {
		k = asprintf(&s, "%s: too many errors, giving up after %d", c->path, CONFIG_ERRORS_MAX);
	} else {
		va_start(ap, format);
		vsnprintf(msg, sizeof(msg), format, ap);
		va_end(ap);
		if (line == 0)
			k = asprintf(&s, "%s: %s", c->path, msg);
		else if (!key)
			k = asprintf(&s, "%s:%u: %s", c->path, line, msg);
		else
			k = asprintf(&s, "%s:%u: %s: %s", c->path, line, key, msg);
	}
	if (k < 0) {
		p->oom = true;
		return -EINVAL;
	}
	c->errors[c->n_errors++] = s;
	return -EINVAL;
}

/* Sections are found by a hash of their names, so that a file of many
 * sections is not read in quadratic time. */
static size_t name_hash(const char *name)
{
	size_t h = 14695981039346656037ULL & SIZE_MAX; /* FNV-1a */

	for (; *name; name++)
		h = (h ^ (unsigned char)*name) * (size_t)1099511628211ULL;
	return h;
}

static size_t *section_slot(size_t *slots, size_t n_slots, const struct section *sections, const char *name)
{
	size_t i = name_hash(name) & (n_slots - 1);

	/* Linear probing; never full, as the table is over twice the sections. */
	while (slots[i] != 0 && !(sections[slots[i] - 1].name && streq(sections[slots[i] - 1].name, name)))
		i = (i + 1) & (n_slots - 1);
	return &slots[i];
}

struct section *section_find(struct parser *p, const char *name)
{
	size_t slot;

	if (p->n_section_slots == 0)
		return NULL;
	slot = *section_slot(p->section_slots, p->n_section_slots, p->sections, name);
	return slot ? &p->sections[slot - 1] : NULL;
}

/* Appends a section named name (taken) at line; NULL when out of memory. */
static struct section *section_add(struct parser *p, char *name, unsigned line)
{
	if (p->n_sections == p->n_sections_allocated) {
		size_t n = p->n_sections_allocated ? 2 * p->n_sections_allocated : 16;
		struct section *s = reallocarray(p->sections, n, sizeof(*s));
		if (!s)
			return NULL;
		p->sections = s;
		p->n_sections_allocated = n;
	}
	if (2 * (p->n_sections + 1) >= p->n_section_slots) {
		size_t n = p->n_section_slots ? 2 * p->n_section_slots : 64;
		size_t *slots = calloc(n, sizeof(*slots));
		if (!slots)
			return NULL;
		for (size_t i = 0; i < p->n_sections; i++)
			*section_slot(slots, n, p->sections, p->sections[i].name) = i + 1;
		free(p->section_slots);
		p->section_slots = slots;
		p->n_section_slots = n;
	}
	p->sections[p->n_sections] = (struct section){ .name = name, .line = line };
	*section_slot(p->section_slots, p->n_section_slots, p->sections, name) = p->n_sections + 1;
	return &p->sections[p->n_sections++];
}

static bool section_name_valid(const char *s, size_t len)
{
	if (len == 0 || len > SECTION_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-", s[i]) || s[i] == '\0')
			return false;
	return true;
}

/* A "[name]" line: record the section, or report why not. */
static void parse_header(struct parser *p, const char *line, size_t len)
{
	const char *end = memchr(line, ']', len);
	size_t namelen;
	struct section *s;

	p->current = NULL;
	p->skip_keys = true;
	if (!end) {
		config_error(p, p->line, NULL, "section header without a closing ]");
		return;
	}
	for (const char *q = end + 1; q < line + len; q++)
		if (*q == ';' || *q == '#')
			break;
		else if (*q != ' ' && *q != '\t') {
			config_error(p, p->line, NULL, "unexpected text after the section header");
			return;
		}
	namelen = (size_t)(end - line - 1);
	if (!section_name_valid(line + 1, namelen)) {
		config_error(p, p->line, NULL,
			     "section name must be 1 to %d characters of letters, digits, '_', '.' and '-'",
			     SECTION_NAME_MAX);
		return;
	}
	_cleanup_free_ char *name = strndup(line + 1, namelen);
	if (!name) {
		p->oom = true;
		return;
	}
	s = section_find(p, name);
	if (s) {
		config_error(p, p->line, NULL, "section [%s] is already defined at line %u", name, s->line);
		return;
	}
	p->current = section_add(p, name, p->line);
	if (!p->current) {
		p->oom = true;
		return;
	}
	name = NULL; /* the section's now */
	p->skip_keys = false;
}

#define KEY_NAME_MAX 64

/* The key of a "key = value" line, for an error about the whole line; NULL
 * when the line has none (a header, a comment, no '=', or not a key name). */
static const char *line_key(const char *line, size_t len, char buf[static KEY_NAME_MAX + 1])
{
	size_t start = 0, end;

	while (start < len && (line[start] == ' ' || line[start] == '\t'))
		start++;
	end = start;
	while (end < len && line[end] != '=' && line[end] != ':')
		end++;
	if (end == len)
		return NULL;
	while (end > start && (line[end - 1] == ' ' || line[end - 1] == '\t'))
		end--;
	if (end == start || end - start > KEY_NAME_MAX)
		return NULL;
	for (size_t i = start; i < end; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-", line[i]) || line[i] == '\0')
			return NULL;
	memcpy(buf, line + start, end - start);
	buf[end - start] = '\0';
	return buf;
}

/* ini_reader: the next line of p->text, vetted (see the top of this file). */
static char *config_reader(char *buf, int num, void *stream)
{
	struct parser *p = stream;
	const char *line, *nl;
	size_t len, rawlen, max = num > 3 ? (size_t)num - 3 : 0;

	if (p->pos >= p->size)
		return NULL;
	line = p->text + p->pos;
	nl = memchr(line, '\n', p->size - p->pos);
	rawlen = nl ? (size_t)(nl - line) : p->size - p->pos;
	p->pos += rawlen + (nl ? 1 : 0);
	p->line++;
	buf[0] = '\0';

	len = rawlen;
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (p->line == 1 && len >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0)
		line += 3, len -= 3; /* a UTF-8 byte order mark */
	if (memchr(line, '\0', len)) {
		config_error(p, p->line, NULL, "line contains a NUL byte; is this a text file?");
		return buf;
	}
	if (len > max) {
		char key[KEY_NAME_MAX + 1];
		config_error(p, p->line, line_key(line, len, key), "line is %zu bytes long; inih reads lines of at most %zu bytes",
			     len, max);
		return buf;
	}
	while (len > 0 && (*line == ' ' || *line == '\t'))
		line++, len--;
	if (len == 0 || *line == ';' || *line == '#')
		return buf;
	if (*line == '[') {
		parse_header(p, line, len);
	} else {
		/* inih stops looking for '=' at an inline " ;" comment. */
		size_t eq = 0;
		const char *semi = NULL;

		while (eq < len && line[eq] != '=' && line[eq] != ':')
			eq++;
		for (size_t i = 1; i < len; i++)
			if (line[i] == ';' && (line[i - 1] == ' ' || line[i - 1] == '\t')) {
				semi = line + i;
				break;
			}
		if (eq >= len || (semi && line + eq > semi)) {
			config_error(p, p->line, NULL, "expected \"key = value\" or a [section] header");
			return buf;
		}
		if (p->skip_keys)
			return buf; /* under a rejected header: reported once, there */
	}
	memcpy(buf, line, len);
	buf[len] = '\0';
	return buf;
}

/* ini_handler: record one key of the current section. */
static int config_handler(void *user, const char *section, const char *name, const char *value)
{
	struct parser *p = user;
	struct section *s = p->current;
	char taken[512];
	bool global;
	int k;

	if (!s) {
		config_error(p, p->line, name, "key outside any section: put it under [%s] or a listener's [name]",
			     GLOBAL_SECTION);
		return 1;
	}
	global = streq(section, GLOBAL_SECTION);
	for (k = 0; k < _KEY_MAX; k++)
		if (streq(name, keys[k].name))
			break;
	if (k == _KEY_MAX) {
		config_error(p, p->line, name, "unknown key; [%s] takes %s", section, keys_taken(global, taken, sizeof(taken)));
		return 1;
	}
	if (global ? !keys[k].global : !keys[k].listener) {
		config_error(p, p->line, name, "only valid in %s", global ? "a listener's section" : "[" GLOBAL_SECTION "]");
		return 1;
	}
	if (keys[k].repeatable && section_add_line(s, k, p->line, value) < 0) {
		p->oom = true;
		return 0;
	}
	if (keys[k].repeatable && s->key_line[k])
		return 1; /* value[] and key_line[] say where it was first set */
	if (s->key_line[k]) {
		config_error(p, p->line, name, "already set at line %u", s->key_line[k]);
		return 1;
	}
	s->value[k] = strdup(value);
	if (!s->value[k]) {
		p->oom = true;
		return 0;
	}
	s->key_line[k] = p->line;
	return 1;
}

/* Runs inih over p->text; syntax errors end up in p->config->errors. */
void parser_read(struct parser *p)
{
	int r = ini_parse_stream(config_reader, p, config_handler, p);

	if (r > 0 && p->config->n_errors == 0)
		config_error(p, (unsigned)r, NULL, "syntax error");
	else if (r < 0)
		p->oom = true;
}

void parser_done(struct parser *p)
{
	for (size_t i = 0; i < p->n_sections; i++) {
		free(p->sections[i].name);
		for (int k = 0; k < _KEY_MAX; k++)
			free(p->sections[i].value[k]);
		for (size_t j = 0; j < p->sections[i].n_lines; j++)
			free(p->sections[i].lines[j].value);
		free(p->sections[i].lines);
	}
	free(p->sections);
	free(p->section_slots);
}
