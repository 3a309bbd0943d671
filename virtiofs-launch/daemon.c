/* SPDX-License-Identifier: MIT */
/* virtiofsd's two command lines (virtiofs-launch(8), "Dialects"): which
 * one the binary takes, whether it can honour a share's settings, and the
 * argv of a daemon. A setting a dialect cannot honour is an error that
 * names the share and the setting, never dropped. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "elf-here.h"
#include "launch.h"
#include "log.h"
#include "spawn.h"
#include "util.h"

const char *const no_notify[] = {"NOTIFY_SOCKET", NULL};

/* The Rust one names its option shared-dir, QEMU's C one documents
 * "-o source=PATH": which of the two the text holds, or DIALECT_AUTO. */
static enum dialect dialect_of(const char *text, size_t len)
{
	if (memmem(text, len, "shared-dir", 10))
		return DIALECT_RUST;
	if (memmem(text, len, "source=", 7))
		return DIALECT_C;
	return DIALECT_AUTO;
}

/* A string only QEMU's C virtiofsd holds (a function name it logs with,
 * well before its help text in the file): no need to read further. */
static bool surely_c(const char *text, size_t len)
{
	return memmem(text, len, "virtio_session_mount", 20) != NULL;
}

/* The piece [off, off + len) of the binary, read a chunk at a time (a
 * mapping would count it all in the launcher's peak RSS): Rust when it
 * holds shared-dir, C when it holds source= only or, as soon as it is
 * seen, the string only the C daemon holds. */
static enum dialect dialect_in(int fd, off_t off, off_t len)
{
	enum { KEEP = 24 }; /* longer than the strings looked for */
	char buf[16384];
	size_t have = 0;
	bool c = false;
	for (off_t end = off + len; off < end;) {
		size_t want = sizeof(buf) - have;
		if ((off_t)want > end - off)
			want = (size_t)(end - off);
		ssize_t n = pread(fd, buf + have, want, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += n;
		have += (size_t)n;
		enum dialect found = dialect_of(buf, have);
		if (found == DIALECT_RUST)
			return found;
		if (surely_c(buf, have))
			return DIALECT_C;
		c |= found == DIALECT_C;
		if (have > KEEP) {
			memmove(buf, buf + have - KEEP, KEEP);
			have = KEEP;
		}
	}
	return c ? DIALECT_C : DIALECT_AUTO;
}

/* Whether [off, off + len) lies within a file of size bytes. */
static bool within(uint64_t off, uint64_t len, off_t size)
{
	return off <= (uint64_t)size && len <= (uint64_t)size - off;
}

/* Where an ELF binary of this machine keeps its constant strings (the
 * option names virtiofsd parses, its help text): its .rodata section.
 * False when there is none to be found (no section headers, another
 * class, a header that does not fit the file). */
static bool rodata_of(int fd, off_t size, off_t *off, off_t *len)
{
	enum { MAX_SECTIONS = 4096, BATCH = 32, MAX_NAMES = 4096 };
	Ehdr eh;
	if (pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh) ||
	    eh.e_ident[EI_CLASS] != ELFCLASS_HERE || eh.e_ident[EI_DATA] != ELFDATA_HERE ||
	    eh.e_shentsize != sizeof(Shdr) || eh.e_shnum == 0 || eh.e_shnum > MAX_SECTIONS ||
	    eh.e_shstrndx >= eh.e_shnum ||
	    !within(eh.e_shoff, (uint64_t)eh.e_shnum * sizeof(Shdr), size))
		return false;
	Shdr names;
	off_t at = (off_t)((uint64_t)eh.e_shoff + (uint64_t)eh.e_shstrndx * sizeof(Shdr));
	if (pread(fd, &names, sizeof(names), at) != (ssize_t)sizeof(names))
		return false;
	char buf[MAX_NAMES];
	size_t nn = names.sh_size < sizeof(buf) - 1 ? names.sh_size : sizeof(buf) - 1;
	if (!within(names.sh_offset, nn, size) ||
	    pread(fd, buf, nn, (off_t)names.sh_offset) != (ssize_t)nn)
		return false;
	buf[nn] = '\0';
	Shdr sh[BATCH];
	for (size_t i = 0; i < eh.e_shnum; i += BATCH) {
		size_t k = eh.e_shnum - i < BATCH ? eh.e_shnum - i : BATCH;
		at = (off_t)((uint64_t)eh.e_shoff + (uint64_t)i * sizeof(Shdr));
		if (pread(fd, sh, k * sizeof(Shdr), at) != (ssize_t)(k * sizeof(Shdr)))
			return false;
		/* (its name whole, with its '\0': not a cut-off ".rodata.cst16") */
		for (size_t j = 0; j < k; j++)
			if (sh[j].sh_type == SHT_PROGBITS && sh[j].sh_name < nn &&
			    nn - sh[j].sh_name >= sizeof(".rodata") &&
			    memcmp(buf + sh[j].sh_name, ".rodata", sizeof(".rodata")) == 0 &&
			    within(sh[j].sh_offset, sh[j].sh_size, size)) {
				*off = (off_t)sh[j].sh_offset;
				*len = (off_t)sh[j].sh_size;
				return true;
			}
	}
	return false;
}

/* The strings of the binary itself, when it is an ELF file: those of its
 * .rodata first (the Rust daemon's option names lie 2.6 MB into its file,
 * 33 KB into that section), then the whole file. */
static enum dialect dialect_of_binary(void)
{
	enum dialect d = DIALECT_AUTO;
	int fd = open(L.virtiofsd, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	struct stat st;
	char magic[SELFMAG];
	if (fd < 0)
		return d;
	/* (not an ELF file, a wrapper script: ask it) */
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    pread(fd, magic, sizeof(magic), 0) == (ssize_t)sizeof(magic) &&
	    memcmp(magic, ELFMAG, SELFMAG) == 0) {
		off_t off, len;
		if (rodata_of(fd, st.st_size, &off, &len))
			d = dialect_in(fd, off, len);
		if (d == DIALECT_AUTO)
			d = dialect_in(fd, 0, st.st_size);
	}
	close(fd);
	return d;
}

/* Which command line the binary takes: from its strings, else from what
 * its --help prints. */
int detect_dialect(struct mvm_error *e)
{
	L.dialect = dialect_of_binary();
	if (L.dialect != DIALECT_AUTO) {
		log_debug("'%s' takes the %s command line (its strings say)", ESC(L.virtiofsd),
			  L.dialect == DIALECT_RUST ? "rust" : "c");
		return 0;
	}
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return mvm_error_set(e, errno, "run", L.virtiofsd, NULL);
	char *argv[] = {L.virtiofsd, (char *)"--help", NULL};
	struct spawn_opts o = SPAWN_OPTS_INIT;
	o.stdout_fd = p[1];
	o.stderr_fd = p[1];
	o.pdeathsig = true;
	o.unset_env = no_notify;
	pid_t pid = spawn(argv, &o, e);
	close(p[1]);
	if (pid < 0) {
		close(p[0]);
		return pid;
	}
	char buf[16384];
	size_t len = 0;
	long long deadline = now_ms() + L.set.timeout;
	while (len < sizeof(buf)) {
		struct pollfd pf = {.fd = p[0], .events = POLLIN};
		long long d = deadline - now_ms();
		if (d <= 0 || poll(&pf, 1, (int)d) == 0)
			break;
		ssize_t n = read(p[0], buf + len, sizeof(buf) - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(p[0]);
	kill(pid, SIGKILL); /* done with it, whatever it still does */
	spawn_wait(pid);
	L.dialect = dialect_of(buf, len);
	if (L.dialect == DIALECT_AUTO)
		return mvm_error_set(e, EINVAL, "tell the dialect of", L.virtiofsd,
				     "its --help names neither --shared-dir nor -o source=; "
				     "use --virtiofsd-dialect");
	log_debug("'%s' takes the %s command line", ESC(L.virtiofsd),
		  L.dialect == DIALECT_RUST ? "rust" : "c");
	return 0;
}

/* The error for a setting the daemon cannot honour (its file's line). */
static int unsupported(const struct share *sh, const char *file, unsigned line,
		       const char *value, const char *why, struct mvm_error *e)
{
	static char verb[64 + 4 * VIRTIOFS_TAG_MAX]; /* (valid until the next call) */
	char path[PATH_MAX];
	snprintf(verb, sizeof(verb), "use share '%s' setting", ESC(sh->tag));
	snprintf(path, sizeof(path), "%s/%s", sh->conf ? sh->conf : sh->tag, file);
	mvm_error_setf(e, EINVAL, verb, path, "QEMU's C virtiofsd (dialect c) %s", why);
	if (e) {
		e->line = line;
		escape_value(value, strlen(value), e->value, sizeof(e->value));
	}
	return -EINVAL;
}

int check_share(const struct share *sh, struct mvm_error *e)
{
	const struct share_settings *s = &sh->set;
	if (L.dialect != DIALECT_C)
		return 0; /* the Rust one has an option for each */
	if (s->cache == SHARE_CACHE_METADATA)
		return unsupported(sh, "cache", s->cache_line, "metadata",
				   "has no such cache mode (only auto, always, never)", e);
	if (s->inode_file_handles == SHARE_IFH_MANDATORY)
		return unsupported(sh, "inode-file-handles", s->ifh_line, "mandatory",
				   "has no file handles (only never; prefer means never there)",
				   e);
	if (s->tag[0])
		return unsupported(sh, "tag", s->tag_line, s->tag,
				   "cannot announce a tag (the hypervisor's device sets it)", e);
	return 0;
}

void argv_free(char **argv)
{
	for (size_t i = 0; argv && argv[i]; i++)
		free(argv[i]);
	free(argv);
}

/* "source=" + path, with ',' and '\' escaped for the C dialect's -o
 * option list (fuse_opt). */
static char *c_source_opt(const char *path)
{
	size_t n = strlen("source=") + 2 * strlen(path) + 1;
	char *s = malloc(n), *d;
	if (!s)
		return NULL;
	d = stpcpy(s, "source=");
	for (const char *p = path; *p; p++) {
		if (*p == ',' || *p == '\\')
			*d++ = '\\';
		*d++ = *p;
	}
	*d = '\0';
	return s;
}

static const char *c_cache(enum share_cache c)
{
	return c == SHARE_CACHE_NEVER ? "cache=none" : c == SHARE_CACHE_ALWAYS ? "cache=always"
										: "cache=auto";
}

char **make_argv(const struct share *sh, const char *pin)
{
	const struct share_settings *s = &sh->set;
	size_t max = 24 + L.set.n_extra + s->n_extra, n = 0;
	char **a = calloc(max, sizeof(*a));
	if (!a)
		return NULL;
	bool ok = true;
#define ADD(expr)                              \
	do {                                   \
		if (ok && !(a[n++] = (expr))) \
			ok = false;           \
	} while (0)
	ADD(strdup(L.virtiofsd));
	ADD(strdup("--fd=3"));
	if (L.dialect == DIALECT_RUST) {
		ADD(xasprintf("--shared-dir=%s", pin));
		ADD(xasprintf("--thread-pool-size=%ld", L.set.threads));
		if (s->read_only)
			ADD(strdup("--readonly"));
		if (s->cache)
			ADD(xasprintf("--cache=%s", share_cache_str(s->cache)));
		if (s->posix_acl) {
			ADD(strdup("--posix-acl"));
			ADD(strdup("--xattr"));
		}
		if (s->inode_file_handles)
			ADD(xasprintf("--inode-file-handles=%s",
				      share_ifh_str(s->inode_file_handles)));
		if (s->tag[0])
			ADD(xasprintf("--tag=%s", s->tag));
	} else {
		ADD(strdup("-o"));
		ADD(c_source_opt(pin));
		ADD(xasprintf("--thread-pool-size=%ld", L.set.threads));
		if (s->cache) {
			ADD(strdup("-o"));
			ADD(strdup(c_cache(s->cache)));
		}
		if (s->posix_acl) {
			ADD(strdup("-o"));
			ADD(strdup("xattr"));
			ADD(strdup("-o"));
			ADD(strdup("posix_acl"));
		}
	}
	if (L.set.rlimit >= 0)
		ADD(xasprintf("--rlimit-nofile=%ld", L.set.rlimit));
	for (size_t i = 0; i < L.set.n_extra; i++)
		ADD(strdup(L.set.extra[i]));
	for (size_t i = 0; i < s->n_extra; i++)
		ADD(strdup(s->extra[i]));
#undef ADD
	if (!ok) {
		argv_free(a);
		return NULL;
	}
	return a;
}

char *argv_str(char *const *argv)
{
	size_t size = 1, k = 0;
	for (size_t i = 0; argv[i]; i++)
		size += 4 * strlen(argv[i]) + 4; /* " $'" + 4 bytes a byte at most + "'" */
	char *buf = malloc(size);
	if (!buf)
		return NULL;
	for (size_t i = 0; argv[i]; i++) {
		const char *s = argv[i];
		bool plain = s[0] && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
					       "0123456789_./=:,@+-%") == strlen(s);
		if (i)
			buf[k++] = ' ';
		/* Any other in $'...', where a shell reads escape_text()'s
		 * escapes back (\\, \', \xNN); whole, never cut. */
		if (plain) {
			memcpy(buf + k, s, strlen(s));
			k += strlen(s);
		} else {
			memcpy(buf + k, "$'", 2);
			k += 2;
			k += strlen(escape_text(s, buf + k, size - k));
			buf[k++] = '\'';
		}
	}
	buf[k] = '\0';
	return buf;
}
