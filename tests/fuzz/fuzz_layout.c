/* SPDX-License-Identifier: MIT */
/* libFuzzer target: every parser of common/layout.h on the same input
 * (the share settings too),
 * plus the single-value parsers and the name checks they use. A parser
 * must not crash, leak or hit undefined behaviour, and what it accepts
 * must meet its format (checked below; a violation aborts).
 * Build: make fuzz; run: build/fuzz/fuzz-layout tests/fuzz/corpus/layout */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "layout.h"
#include "util.h"


/* A failed parse says where and why, in bounded strings. */
static void check_error(int r, const struct mvm_error *e)
{
	CHECK(r == -EINVAL || r == -ENOMEM);
	if (r == -EINVAL) {
		CHECK(e->reason != NULL);
		CHECK(strcmp(e->verb, "parse") == 0);
	}
	CHECK(memchr(e->value, '\0', sizeof(e->value)) != NULL);
	CHECK(e->path[0] == '\0');
}

static void tap_interfaces(const char *buf, size_t len)
{
	struct ifname_list l;
	struct mvm_error e;
	int r = parse_tap_interfaces(buf, len, &l, &e);
	if (r < 0) {
		check_error(r, &e);
		return;
	}
	for (size_t i = 0; i < l.n; i++) {
		CHECK(ifname_invalid(l.v[i], strlen(l.v[i])) == NULL);
		for (size_t j = 0; j < i; j++)
			CHECK(strcmp(l.v[i], l.v[j]) != 0);
	}
	ifname_list_free(&l);
}

static void tap_flags(const char *buf, size_t len)
{
	unsigned f;
	struct mvm_error e;
	int r = parse_tap_flags(buf, len, &f, &e);
	if (r < 0) {
		check_error(r, &e);
		return;
	}
	CHECK((f & ~(unsigned)(TAP_FLAG_VNET_HDR | TAP_FLAG_MULTI_QUEUE)) == 0);
	char s[64];
	tap_flags_str(f, s, sizeof(s));
}

static void macvtap_interfaces(const char *buf, size_t len)
{
	struct macvtap_list l;
	struct mvm_error e;
	int r = parse_macvtap_interfaces(buf, len, &l, &e);
	if (r < 0) {
		check_error(r, &e);
		return;
	}
	for (size_t i = 0; i < l.n; i++) {
		const struct macvtap_if *m = &l.v[i];
		CHECK(ifname_invalid(m->id, strlen(m->id)) == NULL);
		CHECK(ifname_invalid(m->link, strlen(m->link)) == NULL);
		CHECK(strcmp(m->id, m->link) != 0);
		CHECK((m->mac[0] & 1) == 0);
		CHECK(strcmp(macvtap_mode_str(m->mode), "?") != 0);
		for (size_t j = 0; j < i; j++)
			CHECK(strcmp(m->id, l.v[j].id) != 0);
	}
	macvtap_list_free(&l);
}

static void pci_devices(const char *buf, size_t len)
{
	struct pci_list l;
	struct mvm_error e;
	int r = parse_pci_devices(buf, len, &l, &e);
	if (r < 0) {
		check_error(r, &e);
		return;
	}
	for (size_t i = 0; i < l.n; i++) {
		const struct pci_addr *a = &l.v[i];
		struct pci_addr b;
		CHECK(strlen(a->str) == 12);
		CHECK(a->domain <= 0xffff && a->bus <= 0xff && a->dev <= 0x1f && a->fn <= 7);
		CHECK(parse_pci_addr(a->str, 12, &b) == 0 && strcmp(a->str, b.str) == 0);
		for (size_t j = 0; j < i; j++)
			CHECK(strcmp(a->str, l.v[j].str) != 0);
	}
	pci_list_free(&l);
}

static void path(const char *buf, size_t len)
{
	char *p;
	struct mvm_error e;
	int r = parse_path(buf, len, "/var/lib/microvms/vm", &p, &e);
	if (r < 0) {
		check_error(r, &e);
		return;
	}
	CHECK(p[0] == '/');
	CHECK(strlen(p) < PATH_MAX + 32);
	for (const char *c = p; *c; c++)
		CHECK((unsigned char)*c >= 0x20 && *c != 0x7f);
	free(p);
}

/* Each share setting file: what it accepts is what it says it is. */
static void share_settings(const char *buf, size_t len)
{
	static const char *const names[] = {"read-only", "cache", "posix-acl",
					    "inode-file-handles", "tag", "extra-args"};
	for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
		struct share_settings st;
		struct mvm_error e;
		share_settings_init(&st);
		int r = parse_share_setting(names[k], buf, len, &st, &e);
		if (r < 0) {
			check_error(r, &e);
			share_settings_free(&st);
			continue;
		}
		CHECK(st.cache <= SHARE_CACHE_NEVER && st.inode_file_handles <= SHARE_IFH_MANDATORY);
		CHECK(strlen(st.tag) <= VIRTIOFS_TAG_MAX);
		if (st.tag[0])
			CHECK(component_invalid(st.tag, VIRTIOFS_TAG_MAX) == NULL);
		for (size_t i = 0; i < st.n_extra; i++) {
			CHECK(st.extra[i][0] != '\0');
			for (const char *c = st.extra[i]; *c; c++)
				CHECK((unsigned char)*c >= 0x20 && *c != 0x7f);
		}
		struct share_settings copy;
		share_settings_init(&copy);
		CHECK(parse_share_setting(names[k], buf, len, &copy, NULL) == 0);
		CHECK(share_settings_equal(&st, &copy));
		share_settings_free(&copy);
		share_settings_free(&st);
	}
	struct share_settings st;
	share_settings_init(&st);
	char name[64];
	snprintf(name, sizeof(name), "%.*s", (int)(len < 63 ? len : 63), buf);
	if (!share_setting_known(name))
		CHECK(parse_share_setting(name, buf, len, &st, NULL) == -ENOENT);
	share_settings_free(&st);
}

/* microvm.nix's own scripts (a runner it built alone): what is taken
 * is what a setting file could say, and the same twice. */
static void mnix_scripts(const char *buf, size_t len)
{
	struct mvm_error e;
	char *p = NULL;
	int r = parse_mnix_virtiofsd_run(buf, len, &p, &e);
	if (r < 0)
		check_error(r, &e);
	else
		CHECK(p && p[0] == '/');
	free(p);
	p = NULL;
	r = parse_mnix_supervisord(buf, len, "data", &p, &e);
	if (r < 0)
		check_error(r, &e);
	else
		CHECK(p && p[0] == '/' && !strchr(p, ' ') && !has_control(p, strlen(p)));
	free(p);
	struct share_settings st, copy;
	share_settings_init(&st);
	share_settings_init(&copy);
	r = parse_mnix_virtiofsd_script(buf, len, &st, &e);
	if (r < 0) {
		check_error(r, &e);
	} else {
		CHECK(st.cache <= SHARE_CACHE_NEVER && st.inode_file_handles <= SHARE_IFH_MANDATORY);
		if (st.tag[0])
			CHECK(component_invalid(st.tag, VIRTIOFS_TAG_MAX) == NULL);
		for (size_t i = 0; i < st.n_extra; i++) {
			CHECK(st.extra[i][0] != '\0');
			for (const char *c = st.extra[i]; *c; c++)
				CHECK((unsigned char)*c >= 0x20 && *c != 0x7f);
		}
		CHECK(parse_mnix_virtiofsd_script(buf, len, &copy, NULL) == 0);
		CHECK(share_settings_equal(&st, &copy));
	}
	share_settings_free(&copy);
	share_settings_free(&st);
}

/* s[0..n) is whole escapes of a value: printable ASCII but for a quote
 * and a backslash, \\, \', \xNN, a printable UTF-8 character. */
static bool value_units(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	for (size_t i = 0, k; i < n; i += k) {
		if (p[i] == '\\')
			k = i + 1 < n && p[i + 1] == 'x' ? 4 : 2;
		else if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\'')
			k = 1;
		else
			k = utf8_printable(p + i, n - i);
		if (k == 0 || k > n - i)
			return false;
		if (p[i] == '\\' && k == 2 && p[i + 1] != '\\' && p[i + 1] != '\'')
			return false;
		if (p[i] == '\\' && k == 4 && !(isxdigit(p[i + 2]) && isxdigit(p[i + 3])))
			return false;
	}
	return true;
}

/* escape_value() of any bytes is whole escapes (no control byte, no byte
 * of a broken or invisible character, a quote only as \'); one cut to
 * size is a prefix of the whole, at an escape's end, marked "..."; so is
 * a line quoting it cut by escape_line_cut() (log.c). */
static void escapes(const char *buf, size_t len)
{
	char whole[4 * 256 + 1], line[sizeof(whole) + 8], lwhole[4 * sizeof(line)];
	size_t n = len < 256 ? len : 256;
	escape_value(buf, n, whole, sizeof(whole));
	size_t wn = strlen(whole);
	CHECK(value_units(whole, wn));
	snprintf(line, sizeof(line), "a '%s' b", whole);
	escape_line(line, lwhole, sizeof(lwhole));
	CHECK(strcmp(line, lwhole) == 0); /* escaped text is left as it is */
	for (size_t size = 1; size <= 24; size++) {
		char out[24];
		escape_value(buf, n, out, size);
		size_t on = strlen(out);
		CHECK(on < size);
		if (wn < size) {
			CHECK(strcmp(out, whole) == 0);
		} else if (size < 4) {
			CHECK(on == 0);
		} else {
			CHECK(on >= 3 && strcmp(out + on - 3, "...") == 0);
			CHECK(memcmp(out, whole, on - 3) == 0 && value_units(out, on - 3));
		}
		escape_line_cut(line, out, size);
		on = strlen(out);
		CHECK(on < size);
		if (strlen(line) < size || size < 4)
			continue;
		CHECK(on >= 3 && strcmp(out + on - 3, "...") == 0);
		CHECK(memcmp(out, line, on - 3) == 0);
		if (on - 3 > 3)
			CHECK(value_units(out + 3, on - 6));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size copy, so reads past the end are caught. */
	char *buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	tap_interfaces(buf, size);
	tap_flags(buf, size);
	macvtap_interfaces(buf, size);
	pci_devices(buf, size);
	path(buf, size);
	share_settings(buf, size);
	mnix_scripts(buf, size);

	/* The single-value parsers on the raw bytes. */
	uint8_t mac[6];
	struct pci_addr a;
	parse_mac(buf, size, mac);
	if (parse_pci_addr(buf, size, &a) == 0)
		CHECK(strlen(a.str) == 12);
	ifname_invalid(buf, size);
	char esc[128];
	escape_value(buf, size, esc, sizeof(esc));
	CHECK(strlen(esc) < sizeof(esc));
	escapes(buf, size);
	free(buf);
	return 0;
}
