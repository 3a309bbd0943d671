/* SPDX-License-Identifier: MIT */
#include "layout.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "util.h"

#define WS " \t\v\f\r"

/* A parse error at line (0: the whole file) with the offending value. */
static int bad(struct mvm_error *e, unsigned line, const char *s, size_t n, const char *reason)
{
	int r = mvm_error_set(e, EINVAL, "parse", "", reason);
	if (e) {
		e->line = line;
		if (s)
			escape_value(s, n, e->value, sizeof(e->value));
	}
	return r;
}

/* What every layout file must meet before its own format is checked. */
static int check_file(const char *buf, size_t len, struct mvm_error *e)
{
	if (len > LAYOUT_FILE_MAX) {
		char size[32];
		snprintf(size, sizeof(size), "%zu bytes", len);
		return bad(e, 0, size, strlen(size), "file larger than 64 KiB");
	}
	const char *nul = memchr(buf, '\0', len);
	if (nul) {
		unsigned line = 1;
		const char *bol = buf;
		for (const char *p = buf; p < nul; p++)
			if (*p == '\n') {
				line++;
				bol = p + 1;
			}
		const char *eol = memchr(nul, '\n', len - (size_t)(nul - buf));
		return bad(e, line, bol, (size_t)((eol ? eol : buf + len) - bol), "NUL byte");
	}
	return 0;
}

/* Next white-space separated word of a line. */
static bool next_word(const char **p, const char *end, const char **w, size_t *n)
{
	while (*p < end && strchr(WS, **p))
		(*p)++;
	if (*p >= end)
		return false;
	*w = *p;
	while (*p < end && !strchr(WS, **p))
		(*p)++;
	*n = (size_t)(*p - *w);
	return true;
}

/* Make room in a vector of n elements of size sz for one more; the
 * capacity doubles whenever n reaches a power of two (4 at first). */
static int grow(void *vp, size_t n, size_t sz)
{
	void **v = vp;
	if (n >= 4 && (n & (n - 1)) != 0)
		return 0;
	if (n > 0 && n < 4)
		return 0;
	void *nv = realloc(*v, (n ? n * 2 : 4) * sz);
	if (!nv)
		return -ENOMEM;
	*v = nv;
	return 0;
}

int parse_tap_interfaces(const char *buf, size_t len, struct ifname_list *out, struct mvm_error *e)
{
	int r = check_file(buf, len, e);
	if (r < 0)
		return r;
	struct ifname_list l = {0};
	struct lines it;
	const char *s, *w;
	size_t n, wn;
	lines_init(&it, buf, len);
	while (lines_next(&it, &s, &n)) {
		const char *p = s, *end = s + n;
		while (next_word(&p, end, &w, &wn)) {
			const char *why = ifname_invalid(w, wn);
			if (why) {
				r = bad(e, it.lineno, w, wn, why);
				goto fail;
			}
			for (size_t i = 0; i < l.n; i++)
				if (strlen(l.v[i]) == wn && memcmp(l.v[i], w, wn) == 0) {
					r = bad(e, it.lineno, w, wn, "duplicate interface name");
					goto fail;
				}
			if (grow(&l.v, l.n, sizeof(*l.v)) < 0) {
				r = mvm_error_set(e, ENOMEM, "parse", "", NULL);
				goto fail;
			}
			memcpy(l.v[l.n], w, wn);
			l.v[l.n][wn] = '\0';
			l.n++;
		}
	}
	*out = l;
	return 0;
fail:
	free(l.v);
	return r;
}

void ifname_list_free(struct ifname_list *l)
{
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static const struct {
	const char *name;
	unsigned flag;
} tap_flags[] = {
	{"vnet_hdr", TAP_FLAG_VNET_HDR},
	{"multi_queue", TAP_FLAG_MULTI_QUEUE},
};

int parse_tap_flags(const char *buf, size_t len, unsigned *flags, struct mvm_error *e)
{
	int r = check_file(buf, len, e);
	if (r < 0)
		return r;
	unsigned f = 0;
	struct lines it;
	const char *s, *w;
	size_t n, wn;
	lines_init(&it, buf, len);
	while (lines_next(&it, &s, &n)) {
		const char *p = s, *end = s + n;
		while (next_word(&p, end, &w, &wn)) {
			unsigned found = 0;
			for (size_t i = 0; i < ARRAY_SIZE(tap_flags); i++)
				if (strlen(tap_flags[i].name) == wn &&
				    memcmp(tap_flags[i].name, w, wn) == 0)
					found = tap_flags[i].flag;
			if (!found)
				return bad(e, it.lineno, w, wn,
					   "unknown flag (known: vnet_hdr, multi_queue)");
			if (f & found)
				return bad(e, it.lineno, w, wn, "duplicate flag");
			f |= found;
		}
	}
	*flags = f;
	return 0;
}

const char *tap_flags_str(unsigned flags, char *buf, size_t size)
{
	size_t o = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < ARRAY_SIZE(tap_flags); i++)
		if (flags & tap_flags[i].flag) {
			int k = snprintf(buf + o, size - o, "%s%s", o ? "," : "",
					 tap_flags[i].name);
			if (k < 0 || (size_t)k >= size - o)
				break;
			o += (size_t)k;
		}
	if (o == 0)
		snprintf(buf, size, "none");
	return buf;
}

static const char *const macvtap_modes[] = {
	[MACVTAP_PRIVATE] = "private", [MACVTAP_VEPA] = "vepa",
	[MACVTAP_BRIDGE] = "bridge",   [MACVTAP_PASSTHRU] = "passthru",
	[MACVTAP_SOURCE] = "source",
};

const char *macvtap_mode_str(enum macvtap_mode m)
{
	return (unsigned)m < ARRAY_SIZE(macvtap_modes) ? macvtap_modes[m] : "?";
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* n hex digits at s; -1 when one is not. */
static long hexn(const char *s, size_t n)
{
	long v = 0;
	for (size_t i = 0; i < n; i++) {
		int d = hexval(s[i]);
		if (d < 0)
			return -1;
		v = v * 16 + d;
	}
	return v;
}

int parse_mac(const char *s, size_t n, uint8_t mac[6])
{
	uint8_t m[6];
	if (n != 17)
		return -EINVAL;
	for (int i = 0; i < 6; i++) {
		long v = hexn(s + 3 * i, 2);
		if (v < 0 || (i < 5 && s[3 * i + 2] != ':'))
			return -EINVAL;
		m[i] = (uint8_t)v;
	}
	if (m[0] & 1)
		return -EINVAL; /* multicast: the kernel refuses it */
	if (!(m[0] | m[1] | m[2] | m[3] | m[4] | m[5]))
		return -EINVAL;
	memcpy(mac, m, 6);
	return 0;
}

int parse_macvtap_interfaces(const char *buf, size_t len, struct macvtap_list *out,
			     struct mvm_error *e)
{
	int r = check_file(buf, len, e);
	if (r < 0)
		return r;
	struct macvtap_list l = {0};
	struct lines it;
	const char *s;
	size_t n;
	lines_init(&it, buf, len);
	while (lines_next(&it, &s, &n)) {
		const char *p = s, *end = s + n, *f[5];
		size_t fn[5], k = 0;
		while (k < 5 && next_word(&p, end, &f[k], &fn[k]))
			k++;
		if (k == 0)
			continue;
		if (k != 4) {
			r = bad(e, it.lineno, s, n, "expected 'ID MAC LINK MODE'");
			goto fail;
		}
		struct macvtap_if m = {0};
		const char *why = ifname_invalid(f[0], fn[0]);
		if (why) {
			r = bad(e, it.lineno, f[0], fn[0], why);
			goto fail;
		}
		memcpy(m.id, f[0], fn[0]);
		if (parse_mac(f[1], fn[1], m.mac) < 0) {
			r = bad(e, it.lineno, f[1], fn[1],
				"invalid MAC address (want unicast aa:bb:cc:dd:ee:ff)");
			goto fail;
		}
		why = ifname_invalid(f[2], fn[2]);
		if (why) {
			r = bad(e, it.lineno, f[2], fn[2], why);
			goto fail;
		}
		memcpy(m.link, f[2], fn[2]);
		if (strcmp(m.id, m.link) == 0) {
			r = bad(e, it.lineno, f[2], fn[2], "an interface cannot be its own link");
			goto fail;
		}
		size_t mode;
		for (mode = 0; mode < ARRAY_SIZE(macvtap_modes); mode++)
			if (strlen(macvtap_modes[mode]) == fn[3] &&
			    memcmp(macvtap_modes[mode], f[3], fn[3]) == 0)
				break;
		if (mode == ARRAY_SIZE(macvtap_modes)) {
			r = bad(e, it.lineno, f[3], fn[3],
				"unknown mode (known: private, vepa, bridge, passthru, source)");
			goto fail;
		}
		m.mode = (enum macvtap_mode)mode;
		m.line = it.lineno;
		for (size_t i = 0; i < l.n; i++) {
			if (strcmp(l.v[i].id, m.id) == 0) {
				r = bad(e, it.lineno, f[0], fn[0], "duplicate interface name");
				goto fail;
			}
			/* the kernel refuses a MAC twice on one link, not on two */
			if (memcmp(l.v[i].mac, m.mac, sizeof(m.mac)) == 0 &&
			    strcmp(l.v[i].link, m.link) == 0) {
				r = bad(e, it.lineno, f[1], fn[1], "duplicate MAC address on its LINK");
				goto fail;
			}
		}
		if (grow(&l.v, l.n, sizeof(*l.v)) < 0) {
			r = mvm_error_set(e, ENOMEM, "parse", "", NULL);
			goto fail;
		}
		l.v[l.n++] = m;
	}
	*out = l;
	return 0;
fail:
	free(l.v);
	return r;
}

void macvtap_list_free(struct macvtap_list *l)
{
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

int parse_pci_addr(const char *s, size_t n, struct pci_addr *out)
{
	long dom = 0;
	if (n == 12) {
		dom = hexn(s, 4);
		if (dom < 0 || s[4] != ':')
			return -EINVAL;
		s += 5;
		n -= 5;
	}
	if (n != 7 || s[2] != ':' || s[5] != '.')
		return -EINVAL;
	long bus = hexn(s, 2), dev = hexn(s + 3, 2), fn = hexn(s + 6, 1);
	if (bus < 0 || dev < 0 || dev > 0x1f || fn < 0 || fn > 7)
		return -EINVAL;
	out->domain = (unsigned)dom;
	out->bus = (unsigned)bus;
	out->dev = (unsigned)dev;
	out->fn = (unsigned)fn;
	snprintf(out->str, sizeof(out->str), "%04x:%02x:%02x.%x", out->domain, out->bus, out->dev,
		 out->fn);
	return 0;
}

int parse_pci_devices(const char *buf, size_t len, struct pci_list *out, struct mvm_error *e)
{
	int r = check_file(buf, len, e);
	if (r < 0)
		return r;
	struct pci_list l = {0};
	struct lines it;
	const char *s, *w;
	size_t n, wn;
	lines_init(&it, buf, len);
	while (lines_next(&it, &s, &n)) {
		const char *p = s, *end = s + n, *extra;
		size_t en;
		if (!next_word(&p, end, &w, &wn))
			continue;
		if (next_word(&p, end, &extra, &en)) {
			r = bad(e, it.lineno, s, n, "one PCI address a line");
			goto fail;
		}
		struct pci_addr a;
		if (parse_pci_addr(w, wn, &a) < 0) {
			r = bad(e, it.lineno, w, wn,
				"invalid PCI address (want DDDD:BB:DD.F or BB:DD.F)");
			goto fail;
		}
		for (size_t i = 0; i < l.n; i++)
			if (strcmp(l.v[i].str, a.str) == 0) {
				r = bad(e, it.lineno, w, wn, "duplicate PCI address");
				goto fail;
			}
		if (grow(&l.v, l.n, sizeof(*l.v)) < 0) {
			r = mvm_error_set(e, ENOMEM, "parse", "", NULL);
			goto fail;
		}
		l.v[l.n++] = a;
	}
	*out = l;
	return 0;
fail:
	free(l.v);
	return r;
}

void pci_list_free(struct pci_list *l)
{
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* parse_path(); a result of max bytes or more is an error (0: none);
 * the value as written and its line into written and line when not NULL. */
static int parse_path_max(const char *buf, size_t len, const char *base, size_t max, char **out,
			  char **written, unsigned *line, struct mvm_error *e)
{
	int r = check_file(buf, len, e);
	if (r < 0)
		return r;
	struct lines it;
	const char *s, *val = NULL;
	size_t n, vn = 0;
	unsigned vline = 0;
	lines_init(&it, buf, len);
	while (lines_next(&it, &s, &n)) {
		const char *p = s, *w;
		size_t wn;
		if (!next_word(&p, s + n, &w, &wn))
			continue; /* blank */
		if (val)
			return bad(e, it.lineno, s, n, "more than one path");
		val = s;
		vn = n;
		vline = it.lineno;
	}
	if (!val)
		return bad(e, 1, "", 0, "no path");
	if (has_control(val, vn))
		return bad(e, vline, val, vn, "path with a control character");
	/* Legal in a name, but more likely a slip than meant; a leading one
	 * would make the path relative. */
	if (val[0] == ' ' || val[vn - 1] == ' ')
		return bad(e, vline, val, vn, "path with a space at its start or end");
	if (vn >= PATH_MAX)
		return bad(e, vline, val, vn, "path too long");
	char *v = strndup(val, vn);
	if (!v)
		return mvm_error_set(e, ENOMEM, "parse", "", NULL);
	char *p = path_join(base, v);
	free(v);
	if (!p)
		return mvm_error_set(e, ENOMEM, "parse", "", NULL);
	size_t pn = strlen(p);
	if (max && pn >= max) {
		free(p);
		r = mvm_error_setf(e, EINVAL, "parse", "",
				       "a path of %zu bytes%s, longer than the %zu a unix socket's "
				       "address takes",
				       pn, val[0] == '/' ? "" : " from the VM's directory", max - 1);
		if (e) {
			e->line = vline;
			escape_value(val, vn, e->value, sizeof(e->value));
		}
		return r;
	}
	if (written && !(*written = strndup(val, vn))) {
		free(p);
		return mvm_error_set(e, ENOMEM, "parse", "", NULL);
	}
	if (line)
		*line = vline;
	*out = p;
	return 0;
}

int parse_path(const char *buf, size_t len, const char *base, char **out, struct mvm_error *e)
{
	return parse_path_max(buf, len, base, 0, out, NULL, NULL, e);
}

int parse_path_at(const char *buf, size_t len, const char *base, char **out, char **written,
		  unsigned *line, struct mvm_error *e)
{
	return parse_path_max(buf, len, base, 0, out, written, line, e);
}

int parse_socket_path(const char *buf, size_t len, const char *base, char **out,
		      struct mvm_error *e)
{
	return parse_path_max(buf, len, base, sizeof(((struct sockaddr_un *)0)->sun_path), out, NULL,
			      NULL, e);
}

/* ---- share/microvm/virtiofs/TAG/<setting> ---- */

const char share_setting_names[] = "read-only, cache, posix-acl, inode-file-handles, tag, extra-args";

static const char *const cache_names[] = {
	[SHARE_CACHE_AUTO] = "auto",
	[SHARE_CACHE_ALWAYS] = "always",
	[SHARE_CACHE_METADATA] = "metadata",
	[SHARE_CACHE_NEVER] = "never",
};
static const char *const ifh_names[] = {
	[SHARE_IFH_NEVER] = "never",
	[SHARE_IFH_PREFER] = "prefer",
	[SHARE_IFH_MANDATORY] = "mandatory",
};
static const char *const bool_names[] = {"false", "true"};

const char *share_cache_str(enum share_cache c)
{
	return (unsigned)c < ARRAY_SIZE(cache_names) && cache_names[c] ? cache_names[c] : "?";
}

const char *share_ifh_str(enum share_ifh h)
{
	return (unsigned)h < ARRAY_SIZE(ifh_names) && ifh_names[h] ? ifh_names[h] : "?";
}

bool share_setting_known(const char *name)
{
	static const char *const names[] = {"read-only", "cache", "posix-acl",
					    "inode-file-handles", "tag", "extra-args"};
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (strcmp(name, names[i]) == 0)
			return true;
	return false;
}

void share_settings_init(struct share_settings *s)
{
	*s = (struct share_settings){.posix_acl = true};
}

void share_settings_free(struct share_settings *s)
{
	for (size_t i = 0; i < s->n_extra; i++)
		free(s->extra[i]);
	free(s->extra);
	share_settings_init(s);
}

bool share_settings_equal(const struct share_settings *a, const struct share_settings *b)
{
	if (a->read_only != b->read_only || a->posix_acl != b->posix_acl ||
	    a->cache != b->cache || a->inode_file_handles != b->inode_file_handles ||
	    strcmp(a->tag, b->tag) != 0 || a->n_extra != b->n_extra)
		return false;
	for (size_t i = 0; i < a->n_extra; i++)
		if (strcmp(a->extra[i], b->extra[i]) != 0)
			return false;
	return true;
}

/* The one value of a setting file, white space around it removed: its
 * line and bytes. A second non-blank line is an error. */
static int one_value(const char *buf, size_t len, const char **v, size_t *vn, unsigned *line,
		     struct mvm_error *e)
{
	int r = check_file(buf, len, e);
	if (r < 0)
		return r;
	struct lines it;
	const char *s;
	size_t n;
	*v = NULL;
	lines_init(&it, buf, len);
	while (lines_next(&it, &s, &n)) {
		while (n > 0 && strchr(WS, s[n - 1]))
			n--;
		while (n > 0 && strchr(WS, *s)) {
			s++;
			n--;
		}
		if (n == 0)
			continue;
		if (*v)
			return bad(e, it.lineno, s, n, "more than one value");
		*v = s;
		*vn = n;
		*line = it.lineno;
	}
	if (!*v)
		return bad(e, 1, "", 0, "no value");
	return 0;
}

/* One of names[1..n-1] (names[0] may be NULL: "not given"), its index. */
static int one_of(const char *buf, size_t len, const char *const *names, size_t n, int *out,
		  unsigned *line, const char *reason, struct mvm_error *e)
{
	const char *v;
	size_t vn;
	int r = one_value(buf, len, &v, &vn, line, e);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++)
		if (names[i] && strlen(names[i]) == vn && memcmp(names[i], v, vn) == 0) {
			*out = (int)i;
			return 0;
		}
	return bad(e, *line, v, vn, reason);
}

static int parse_tag(const char *buf, size_t len, char *tag, unsigned *line,
		     struct mvm_error *e)
{
	const char *v;
	size_t vn;
	int r = one_value(buf, len, &v, &vn, line, e);
	if (r < 0)
		return r;
	char t[VIRTIOFS_TAG_MAX + 2];
	snprintf(t, sizeof(t), "%.*s", (int)(vn < sizeof(t) - 1 ? vn : sizeof(t) - 1), v);
	const char *why = vn > VIRTIOFS_TAG_MAX ? "tag longer than 36 bytes"
						: component_invalid(t, VIRTIOFS_TAG_MAX);
	if (why)
		return bad(e, *line, v, vn, why);
	memcpy(tag, t, vn + 1);
	return 0;
}

/* extra-args: one argument a line, taken whole (spaces are part of it);
 * blank lines are skipped. */
static int parse_extra_args(const char *buf, size_t len, char ***out, size_t *nout,
			    struct mvm_error *e)
{
	int r = check_file(buf, len, e);
	if (r < 0)
		return r;
	char **v = NULL;
	size_t nv = 0;
	struct lines it;
	const char *s;
	size_t n;
	lines_init(&it, buf, len);
	while (lines_next(&it, &s, &n)) {
		size_t k = 0;
		while (k < n && strchr(WS, s[k]))
			k++;
		if (k == n)
			continue;
		if (has_control(s, n)) {
			r = bad(e, it.lineno, s, n, "an argument with a control character");
			goto fail;
		}
		char *a = strndup(s, n);
		if (!a || grow(&v, nv, sizeof(*v)) < 0) {
			free(a);
			r = mvm_error_set(e, ENOMEM, "parse", "", NULL);
			goto fail;
		}
		v[nv++] = a;
	}
	*out = v;
	*nout = nv;
	return 0;
fail:
	for (size_t i = 0; i < nv; i++)
		free(v[i]);
	free(v);
	return r;
}

int parse_share_setting(const char *name, const char *buf, size_t len, struct share_settings *s,
			struct mvm_error *e)
{
	int v = 0, r;
	unsigned line = 0;
	bool *flag = strcmp(name, "read-only") == 0   ? &s->read_only
		     : strcmp(name, "posix-acl") == 0 ? &s->posix_acl
						      : NULL;
	if (flag) {
		r = one_of(buf, len, bool_names, ARRAY_SIZE(bool_names), &v, &line,
			   "unknown value (known: true, false)", e);
		if (r == 0)
			*flag = v;
		return r;
	}
	if (strcmp(name, "cache") == 0) {
		r = one_of(buf, len, cache_names, ARRAY_SIZE(cache_names), &v, &line,
			   "unknown cache mode (known: auto, always, metadata, never)", e);
		if (r == 0) {
			s->cache = (enum share_cache)v;
			s->cache_line = line;
		}
		return r;
	}
	if (strcmp(name, "inode-file-handles") == 0) {
		r = one_of(buf, len, ifh_names, ARRAY_SIZE(ifh_names), &v, &line,
			   "unknown value (known: never, prefer, mandatory)", e);
		if (r == 0) {
			s->inode_file_handles = (enum share_ifh)v;
			s->ifh_line = line;
		}
		return r;
	}
	if (strcmp(name, "tag") == 0)
		return parse_tag(buf, len, s->tag, &s->tag_line, e);
	if (strcmp(name, "extra-args") == 0) {
		char **x = NULL;
		size_t n = 0;
		r = parse_extra_args(buf, len, &x, &n, e);
		if (r == 0) {
			for (size_t i = 0; i < s->n_extra; i++)
				free(s->extra[i]);
			free(s->extra);
			s->extra = x;
			s->n_extra = n;
		}
		return r;
	}
	return -ENOENT; /* not a setting: share_setting_known() */
}

/* ---- microvm.nix's own virtiofsd scripts ----
 * A runner microvm.nix built alone (`microvm -u`, `microvm -c`) has no
 * setting files; its shares' settings are in the scripts its
 * bin/virtiofsd-run starts (nixos-modules/microvm/virtiofsd): that runs
 * supervisord with `--configuration CONF`, CONF's [program:virtiofsd-TAG]
 * has `command=SCRIPT`, and SCRIPT ends in `exec VIRTIOFSD ARGS...`, one
 * argument a line joined by backslash-newline, written by Nix (paths
 * through lib.escapeShellArg: '...'). Only that much shell is read: a
 * word that would need more (a double quote, a $ but $OPT_RLIMIT's, a
 * backtick, ...) is an error naming it, never a guess; but for the
 * command substitutions microvm.nix itself writes (mnix_substs), as words
 * of their own. */

struct shword {
	char *s;      /* the word, quotes removed */
	unsigned line; /* the line it starts on */
	bool plain;   /* written without quotes or backslashes */
	bool dollar;  /* a $ outside quotes, unescaped: an expansion in the shell */
	bool subst;   /* one of mnix_substs, as written (s: that text) */
	const char *at; /* where it starts in buf, and its raw length */
	size_t raw;
};

/* Command substitutions in microvm.nix's scripts, each a whole word,
 * each a value virtiofs-launch sets itself (its caller knows where):
 * `nproc` is microvm.virtiofsd.threadPoolSize's default (since 2024-06,
 * "--thread-pool-size `nproc`"); the group of the shell was the socket's
 * from 1547160 to 5bfa7dc (2024-10/11, before readOnly existed). */
#define MNIX_SOCKET_GROUP "--socket-group=$(id -gn)"
static const char *const mnix_substs[] = {"`nproc`", MNIX_SOCKET_GROUP};

/* The length of the word at s as a message shows it: to the end of its
 * line, without the blanks and the backslash-newline after it. */
static size_t word_on_line(const char *s, const char *end)
{
	const char *nl = memchr(s, '\n', (size_t)(end - s));
	size_t n = (size_t)((nl ? nl : end) - s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (nl && n > 1 && s[n - 1] == '\\' && (s[n - 2] == ' ' || s[n - 2] == '\t'))
		for (n--; n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t');)
			n--;
	return n;
}

/* Next shell word of a command from *p: false at its end (an unescaped
 * newline, a ; or the end of buf) or on an error (r set). */
static bool shword_next(const char *buf, size_t len, const char **p, unsigned *line,
			struct shword *w, int *r, struct mvm_error *e)
{
	const char *end = buf + len;
	*r = 0;
	for (;;) { /* blanks and backslash-newlines */
		while (*p < end && (**p == ' ' || **p == '\t'))
			(*p)++;
		if (*p + 1 < end && (*p)[0] == '\\' && (*p)[1] == '\n') {
			*p += 2;
			(*line)++;
			continue;
		}
		break;
	}
	if (*p >= end || **p == '\n' || **p == ';' || **p == '#')
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(mnix_substs); i++) {
		size_t k = strlen(mnix_substs[i]);
		const char *after = *p + k;
		if ((size_t)(end - *p) < k || memcmp(*p, mnix_substs[i], k) != 0 ||
		    (after < end && *after != ' ' && *after != '\t' && *after != '\n'))
			continue;
		*w = (struct shword){.s = strdup(mnix_substs[i]), .line = *line, .subst = true,
				     .at = *p, .raw = k};
		if (!w->s) {
			*r = mvm_error_set(e, ENOMEM, "parse", "", NULL);
			return false;
		}
		*p = after;
		return true;
	}
	char *out = malloc((size_t)(end - *p) + 1);
	if (!out) {
		*r = mvm_error_set(e, ENOMEM, "parse", "", NULL);
		return false;
	}
	size_t o = 0;
	*w = (struct shword){.s = out, .line = *line, .plain = true, .at = *p};
	while (*p < end && **p != ' ' && **p != '\t' && **p != '\n' && **p != ';') {
		char c = **p;
		if (c == '\'') {
			const char *q = memchr(*p + 1, '\'', (size_t)(end - *p - 1));
			if (!q || memchr(*p, '\n', (size_t)(q - *p))) {
				*r = bad(e, *line, w->at, word_on_line(w->at, end),
					 "a quote not closed on its line");
				break;
			}
			memcpy(out + o, *p + 1, (size_t)(q - *p - 1));
			o += (size_t)(q - *p - 1);
			*p = q + 1;
			w->plain = false;
		} else if (c == '\\' && *p + 1 < end && (*p)[1] != '\n') {
			out[o++] = (*p)[1];
			*p += 2;
			w->plain = false;
		} else if (c == '"' || c == '`' || c == '\\' || c == '|' || c == '&' || c == '<' ||
			   c == '>' || c == '(' || c == ')' || c == '*' || c == '?' || c == '[' ||
			   c == '~' || c == '{' || c == '\r' || (unsigned char)c < 0x20) {
			*r = bad(e, *line, w->at, word_on_line(w->at, end),
				 "shell syntax microvm.nix's scripts do not write");
			break;
		} else {
			if (c == '$')
				w->dollar = true;
			out[o++] = c;
			(*p)++;
		}
	}
	if (*r < 0) {
		free(out);
		w->s = NULL;
		return false;
	}
	out[o] = '\0';
	w->raw = (size_t)(*p - w->at);
	return true;
}

/* From s[i], the first of s[0..n) not in set. */
static size_t blanks(const char *s, size_t i, size_t n, const char *set)
{
	while (i < n && strchr(set, s[i]) && s[i] != '\0')
		i++;
	return i;
}

/* The words of the command on the first line that starts with `exec`
 * (after blanks): *p there, just after it; -ENOENT when there is none. */
static int exec_line(const char *buf, size_t len, const char **p, unsigned *line)
{
	struct lines it;
	const char *s;
	size_t n;
	lines_init(&it, buf, len);
	while (lines_next(&it, &s, &n)) {
		size_t k = blanks(s, 0, n, " \t");
		if (k + 5 <= n && memcmp(s + k, "exec", 4) == 0 && (s[k + 4] == ' ' || s[k + 4] == '\t')) {
			*p = s + k + 4;
			*line = it.lineno;
			return 0;
		}
	}
	return -ENOENT;
}

int parse_mnix_virtiofsd_run(const char *buf, size_t len, char **conf, struct mvm_error *e)
{
	*conf = NULL;
	int r = check_file(buf, len, e);
	if (r < 0)
		return r;
	const char *p;
	unsigned line;
	if (exec_line(buf, len, &p, &line) < 0)
		return bad(e, 0, NULL, 0, "no `exec` line: not microvm.nix's virtiofsd-run");
	struct shword w;
	bool want = false;
	while (shword_next(buf, len, &p, &line, &w, &r, e)) {
		if (w.subst || w.dollar) {
			r = bad(e, w.line, w.at, w.raw, "shell syntax microvm.nix's scripts do not write");
			free(w.s);
			return r;
		}
		if (want) {
			if (w.s[0] != '/') {
				r = bad(e, w.line, w.at, w.raw, "the configuration is not an absolute path");
				free(w.s);
				return r;
			}
			*conf = w.s;
			return 0;
		}
		want = strcmp(w.s, "--configuration") == 0 || strcmp(w.s, "-c") == 0;
		free(w.s);
	}
	return r < 0 ? r : bad(e, line, NULL, 0, "no `--configuration FILE` on its `exec` line");
}

int parse_mnix_supervisord(const char *buf, size_t len, const char *tag, char **cmd,
			   struct mvm_error *e)
{
	*cmd = NULL;
	int r = check_file(buf, len, e);
	if (r < 0)
		return r;
	char head[sizeof("[program:virtiofsd-]") + VIRTIOFS_TAG_MAX];
	snprintf(head, sizeof(head), "[program:virtiofsd-%s]", tag);
	struct lines it;
	const char *s;
	size_t n;
	bool in = false;
	lines_init(&it, buf, len);
	while (lines_next(&it, &s, &n)) {
		while (n > 0 && strchr(WS, s[n - 1]))
			n--;
		size_t k = blanks(s, 0, n, WS);
		s += k;
		n = n > k ? n - k : 0;
		if (n > 0 && s[0] == '[') {
			in = n == strlen(head) && memcmp(s, head, n) == 0;
			continue;
		}
		if (!in || n < 7 || memcmp(s, "command", 7) != 0)
			continue;
		size_t i = blanks(s, 7, n, " \t");
		if (i >= n || s[i] != '=')
			continue;
		i = blanks(s, i + 1, n, " \t");
		if (i >= n || s[i] != '/' || has_control(s + i, n - i) || memchr(s + i, ' ', n - i))
			return bad(e, it.lineno, s, n, "not a command of one absolute path");
		*cmd = strndup(s + i, n - i);
		return *cmd ? 0 : mvm_error_set(e, ENOMEM, "parse", "", NULL);
	}
	return bad(e, 0, head, strlen(head), "no command= in the share's program section");
}

/* A word VALUE of names (names[0] may be NULL) after "--OPT=": its index. */
static int word_of(const struct shword *w, size_t skip, const char *const *names, size_t n,
		   int *out, const char *reason, struct mvm_error *e)
{
	for (size_t i = 0; i < n; i++)
		if (names[i] && strcmp(w->s + skip, names[i]) == 0) {
			*out = (int)i;
			return 0;
		}
	return bad(e, w->line, w->at, w->raw, reason);
}

static bool has_prefix(const char *s, const char *pre)
{
	return strncmp(s, pre, strlen(pre)) == 0;
}

int parse_mnix_virtiofsd_script(const char *buf, size_t len, struct share_settings *s,
				struct mvm_error *e)
{
	share_settings_free(s);
	s->posix_acl = false; /* microvm.nix writes --posix-acl when it is on */
	int r = check_file(buf, len, e);
	if (r < 0)
		return r;
	const char *p;
	unsigned line;
	if (exec_line(buf, len, &p, &line) < 0)
		return bad(e, 0, NULL, 0, "no `exec` line: not microvm.nix's virtiofsd script");
	struct shword w, pool = {0}; /* pool: the last --thread-pool-size */
	size_t i = 0;
	bool skip_next = false, acl_last = false;
	for (; r == 0 && shword_next(buf, len, &p, &line, &w, &r, e); i++) {
		int v = 0;
		bool acl = false;
		if (w.subst && !(skip_next ? strcmp(w.s, "`nproc`") == 0
					   : i > 0 && strcmp(w.s, MNIX_SOCKET_GROUP) == 0)) {
			r = bad(e, w.line, w.at, w.raw, "shell syntax microvm.nix's scripts do not write");
		} else if (i == 0) { /* the program */
		} else if (skip_next) { /* --thread-pool-size's value: the launcher's own */
			skip_next = false;
			if (!w.subst && (w.s[0] == '\0' || w.s[strspn(w.s, "0123456789")] != '\0'))
				r = bad(e, w.line, w.at, w.raw, "not a thread pool size (a number or `nproc`)");
		} else if (strcmp(w.s, "$OPT_RLIMIT") == 0 && w.plain) {
		} else if (w.dollar) { /* ($'...', $x'', 'a'$b: expanded all the same) */
			r = bad(e, w.line, w.at, w.raw, "shell syntax microvm.nix's scripts do not write");
		} else if (has_prefix(w.s, "--socket-path=") || has_prefix(w.s, "--shared-dir=") ||
			   has_prefix(w.s, "--socket-group=") ||
			   has_prefix(w.s, "--thread-pool-size=")) {
			/* (virtiofs-launch's own: from the layout and its options) */
		} else if (strcmp(w.s, "--thread-pool-size") == 0) {
			skip_next = true;
			pool = w;
			pool.s = NULL; /* (freed below: its place alone is kept) */
		} else if (strcmp(w.s, "--readonly") == 0) {
			s->read_only = true;
		} else if (strcmp(w.s, "--posix-acl") == 0) {
			s->posix_acl = acl = true;
		} else if (strcmp(w.s, "--xattr") == 0 && acl_last) {
			/* (microvm.nix writes it with --posix-acl, which implies it) */
		} else if (has_prefix(w.s, "--cache=")) {
			r = word_of(&w, 8, cache_names, ARRAY_SIZE(cache_names), &v,
				    "unknown cache mode (known: auto, always, metadata, never)", e);
			s->cache = (enum share_cache)v;
			s->cache_line = w.line;
		} else if (has_prefix(w.s, "--inode-file-handles=")) {
			r = word_of(&w, 21, ifh_names, ARRAY_SIZE(ifh_names), &v,
				    "unknown value (known: never, prefer, mandatory)", e);
			s->inode_file_handles = (enum share_ifh)v;
			s->ifh_line = w.line;
		} else if (has_prefix(w.s, "--tag=")) {
			const char *t = w.s + 6;
			const char *why = strlen(t) > VIRTIOFS_TAG_MAX
						  ? "tag longer than 36 bytes"
						  : component_invalid(t, VIRTIOFS_TAG_MAX);
			if (why)
				r = bad(e, w.line, w.at, w.raw, why);
			else {
				memcpy(s->tag, t, strlen(t) + 1);
				s->tag_line = w.line;
			}
		} else if (has_control(w.s, strlen(w.s))) {
			r = bad(e, w.line, w.at, w.raw, "an argument with a control character");
		} else if (w.s[0] == '\0') {
			r = bad(e, w.line, w.at, w.raw, "an empty argument");
		} else if (grow(&s->extra, s->n_extra, sizeof(*s->extra)) < 0) {
			r = mvm_error_set(e, ENOMEM, "parse", "", NULL);
		} else { /* extraArgs, microvm.virtiofsd's and the share's */
			s->extra[s->n_extra++] = w.s;
			w.s = NULL;
		}
		acl_last = acl;
		free(w.s);
	}
	if (r == 0 && i == 0)
		r = bad(e, line, NULL, 0, "no program on its `exec` line");
	if (r == 0 && skip_next)
		r = bad(e, pool.line, pool.at, pool.raw, "no value after it");
	if (r < 0)
		share_settings_free(s);
	return r;
}
