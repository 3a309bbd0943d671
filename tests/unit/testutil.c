/* SPDX-License-Identifier: MIT */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

char *tu_tmpdir(void)
{
	char tmpl[] = "/tmp/mvm-test.XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(tmpl));
	ck_assert_int_eq(chmod(tmpl, 0755), 0);
	return strdup(tmpl);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

void tu_rm_rf(const char *path)
{
	if (path)
		nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS);
}

char *tu_path(const char *dir, const char *rel)
{
	char *p = path_join(dir, rel);
	ck_assert_ptr_nonnull(p);
	return p;
}

void tu_write_n(const char *dir, const char *rel, const char *content, size_t n)
{
	char *p = tu_path(dir, rel);
	char *slash = strrchr(p, '/');
	*slash = '\0';
	ck_assert_int_eq(mkdir_p(p, 0755), 0);
	*slash = '/';
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ck_assert_msg(fd >= 0, "open %s: %s", p, strerror(errno));
	ck_assert_int_eq(write(fd, content, n), (ssize_t)n);
	close(fd);
	free(p);
}

void tu_write(const char *dir, const char *rel, const char *content)
{
	tu_write_n(dir, rel, content, strlen(content));
}

void tu_list_dir(const char *dir, char *buf, size_t size)
{
	struct dirent **ents;
	int n = scandir(dir, &ents, NULL, alphasort);
	ck_assert_msg(n >= 0, "scandir %s: %s", dir, strerror(errno));
	buf[0] = '\0';
	for (int i = 0; i < n; i++) {
		if (strcmp(ents[i]->d_name, ".") && strcmp(ents[i]->d_name, ".."))
			snprintf(buf + strlen(buf), size - strlen(buf), "%s%s", buf[0] ? " " : "",
				 ents[i]->d_name);
		free(ents[i]);
	}
	free(ents);
}

void tu_vm_make(struct tu_vm *t, const char *name)
{
	t->root = tu_tmpdir();
	t->name = name;
	t->state = tu_path(t->root, "state");
	t->runtime = tu_path(t->root, "run");
	t->runner = tu_path(t->root, "runner");
	t->dir = tu_path(t->state, name);
	ck_assert_int_eq(mkdir_p(t->dir, 0755), 0);
	ck_assert_int_eq(mkdir_p(t->runner, 0755), 0);
	char *cur = tu_path(t->dir, "current");
	ck_assert_int_eq(symlink(t->runner, cur), 0);
	free(cur);
}

void tu_vm_free(struct tu_vm *t)
{
	tu_rm_rf(t->root);
	free(t->root);
	free(t->state);
	free(t->runtime);
	free(t->runner);
	free(t->dir);
	memset(t, 0, sizeof(*t));
}

char *tu_bin(const char *name)
{
	return tu_path(BUILD_DIR, name);
}

static char *drain(int fd)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	ck_assert_ptr_nonnull(buf);
	for (;;) {
		if (len + 1 >= cap) {
			cap *= 2;
			char *nb = realloc(buf, cap);
			ck_assert_ptr_nonnull(nb); /* the test ends here: no leak to mind */
			buf = nb;
		}
		ssize_t n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	return buf;
}

void tu_run_env(struct tu_run *r, const char *const argv[], const char *const env[])
{
	int out[2], err[2];
	ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(err, O_CLOEXEC), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(out[1], 1);
		dup2(err[1], 2);
		for (size_t i = 0; env && env[i]; i++) {
			struct stat st;
			char js[64];
			if (strcmp(env[i], "SIGCHLD=ignored") == 0) {
				signal(SIGCHLD, SIG_IGN); /* (passed on through exec) */
				continue;
			}
			if (strcmp(env[i], "SIGPIPE=ignored") == 0) {
				signal(SIGPIPE, SIG_IGN); /* as systemd starts a service */
				continue;
			}
			if (strcmp(env[i], "JOURNAL_STREAM=") == 0 && fstat(2, &st) == 0) {
				snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev,
					 (unsigned long long)st.st_ino);
				setenv("JOURNAL_STREAM", js, 1);
				continue;
			}
			putenv((char *)env[i]);
		}
		execv(argv[0], (char *const *)argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	/* Read both pipes without deadlock: stderr is small, read it after. */
	r->out = drain(out[0]);
	r->err = drain(err[0]);
	close(out[0]);
	close(err[0]);
	int st;
	while (waitpid(pid, &st, 0) < 0)
		ck_assert_int_eq(errno, EINTR);
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void tu_run(struct tu_run *r, const char *const argv[])
{
	tu_run_env(r, argv, NULL);
}

void tu_run_free(struct tu_run *r)
{
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
}

bool tu_is_root(void)
{
	return geteuid() == 0;
}

const char *tu_need_root(void)
{
	return tu_is_root() ? NULL : "needs root";
}

const char *tu_need_netns(void)
{
	static const char *why;
	static bool known;
	if (known)
		return why;
	known = true;
	if ((why = tu_need_root()))
		return why;
	pid_t pid = fork();
	if (pid == 0) {
		if (unshare(CLONE_NEWNET | CLONE_NEWNS) < 0)
			_exit(1);
		if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
			_exit(2);
		if (mount("sysfs", "/sys", "sysfs", 0, NULL) < 0)
			_exit(3);
		_exit(0);
	}
	int st = 0;
	if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st))
		return why = "cannot fork to try a network namespace";
	switch (WEXITSTATUS(st)) {
	case 0: return why = NULL;
	case 1: return why = "cannot make a network and mount namespace (unshare)";
	case 2: return why = "cannot make the mount namespace private";
	default: return why = "cannot mount a sysfs in a new network namespace";
	}
}

const char *tu_need_bindfs(void)
{
	const char *why = tu_need_root();
	if (why)
		return why;
	if (access("/usr/bin/bindfs", X_OK) < 0)
		return "no /usr/bin/bindfs (Debian package bindfs)";
	if (access("/dev/fuse", R_OK | W_OK) < 0)
		return "no /dev/fuse";
	return NULL;
}

pid_t tu_bindfs_as_roots(const char *src, const char *mnt, const char *probe)
{
	ck_assert_int_eq(unshare(CLONE_NEWNS), 0);
	ck_assert_int_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
	pid_t fs = fork();
	ck_assert_int_ge(fs, 0);
	if (fs == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execl("/usr/bin/bindfs", "bindfs", "-f", "-u", "0", "-g", "0", "-o", "allow_other",
		      src, mnt, (char *)NULL);
		_exit(127);
	}
	/* (the mount itself too: a probe that the directory under it also
	 * has would pass before the mount is up) */
	char *p = tu_path(mnt, probe);
	struct statfs sf = {0};
	struct stat st = {0};
	for (int i = 0; i < 500 && !(statfs(mnt, &sf) == 0 && sf.f_type == 0x65735546 &&
				     lstat(p, &st) == 0 && st.st_uid == 0);
	     i++)
		usleep(10000);
	free(p);
	ck_assert_msg(st.st_uid == 0, "bindfs did not show the VM user's files as root's");
	return fs;
}

void tu_bindfs_stop(pid_t fs, const char *mnt)
{
	kill(fs, SIGKILL);
	waitpid(fs, NULL, 0);
	umount2(mnt, MNT_DETACH);
}

void tu_mountinfo_init(struct tu_mountinfo *m, const char *mnt, const char *type)
{
	char *shim = tu_bin("tests/shims/mountinfo.so");
	m->preload = xasprintf("LD_PRELOAD=%s", shim);
	m->at = xasprintf("MOUNTINFO_AT=%s", mnt);
	m->type = xasprintf("MOUNTINFO_TYPE=%s", type);
	ck_assert(m->preload && m->at && m->type);
	m->env[0] = m->preload;
	m->env[1] = m->at;
	m->env[2] = m->type;
	m->env[3] = NULL;
	free(shim);
}

void tu_mountinfo_free(struct tu_mountinfo *m)
{
	free(m->preload);
	free(m->at);
	free(m->type);
	memset(m, 0, sizeof(*m));
}

/* One test not run: "SKIP NAME: WHY" on stderr, and a line "NAME: WHY"
 * in $TU_SKIP_FILE. */
static void skip_report(const char *name, const char *why)
{
	const char *file = getenv("TU_SKIP_FILE");
	FILE *f = file && *file ? fopen(file, "ae") : NULL;
	fprintf(stderr, "SKIP %s: %s\n", name, why);
	if (f) {
		fprintf(f, "%s: %s\n", name, why);
		fclose(f);
	}
}

/* The TCases of tu_tcase_create() and their names (Check's TCase keeps its
 * name out of reach). */
static struct tu_tcase {
	const TCase *tc;
	char *name;
} *tcases;
static size_t ntcases;

TCase *tu_tcase_create(const char *name)
{
	TCase *tc = tcase_create(name);
	struct tu_tcase *v = realloc(tcases, (ntcases + 1) * sizeof(*v));
	char *n = strdup(name);
	if (!tc || !v || !n) {
		fprintf(stderr, "tu_tcase_create(%s): out of memory\n", name);
		abort();
	}
	tcases = v;
	tcases[ntcases++] = (struct tu_tcase){.tc = tc, .name = n};
	return tc;
}

/* Whether Check runs the tests of the TCase named name, as
 * srunner_run_all(CK_ENV) decides it for a TCase of a suite it was given
 * (main.c gives it the suite CK_RUN_SUITE names, or all when unset):
 * CK_RUN_CASE, when set (even empty), names the one TCase run;
 * CK_INCLUDE_TAGS, when set, runs only TCases with one of its tags, and
 * these have none (tcase_set_tags is not used); CK_EXCLUDE_TAGS then
 * leaves every one. */
static bool tcase_selected(const char *name)
{
	const char *only = getenv("CK_RUN_CASE");
	if (only && strcmp(only, name) != 0)
		return false;
	return !getenv("CK_INCLUDE_TAGS");
}

/* The tests registered by tu_add_loop_test_if(), with their TCase's name:
 * what tu_skip_now() names a test by. */
static struct tu_reg {
	const TTest *tf;
	const char *tcase;
} *regs;
static size_t nregs;

static const char *tcase_name_of(const TCase *tc)
{
	for (size_t i = 0; i < ntcases; i++)
		if (tcases[i].tc == tc)
			return tcases[i].name;
	fprintf(stderr, "tu_add_loop_test_if: a TCase not made by tu_tcase_create()\n");
	abort();
}

void tu_add_loop_test_if(TCase *tc, const TTest *tf, int start, int end, const char *why)
{
	const char *tcase = tcase_name_of(tc);
	if (!why) {
		struct tu_reg *v = realloc(regs, (nregs + 1) * sizeof(*v));
		if (!v) {
			fprintf(stderr, "tu_add_loop_test_if(%s): out of memory\n", tf->name);
			abort();
		}
		regs = v;
		regs[nregs++] = (struct tu_reg){.tf = tf, .tcase = tcase};
		tcase_add_loop_test(tc, tf, start, end);
		return;
	}
	if (!tcase_selected(tcase))
		return; /* not run either way: no skip */
	for (int i = start; i < end; i++) {
		char name[256];
		if (end - start > 1)
			snprintf(name, sizeof(name), "%s[%d]", tf->name, i);
		else
			snprintf(name, sizeof(name), "%s", tf->name);
		skip_report(name, why);
	}
}

void tu_skip_now(const TTest *tf, int i, const char *why)
{
	/* Its TCase: the registrations were made in the runner's process,
	 * before the fork into this test. */
	const char *tcase = NULL;
	for (size_t k = 0; k < nregs; k++) {
		if (regs[k].tf != tf)
			continue;
		/* (in two TCases: which one runs is not known here) */
		ck_assert_msg(!tcase, "tu_skip_now: %s is in TCases %s and %s", tf->name, tcase,
			      regs[k].tcase);
		tcase = regs[k].tcase;
	}
	ck_assert_msg(tcase, "tu_skip_now: %s was not registered by tu_add_loop_test_if()",
		      tf->name);
	const char *file = getenv("TU_SKIP_FILE");
	FILE *f = file && *file ? fopen(file, "ae") : NULL;
	fprintf(stderr, "SKIP %s[%d]: %s\n", tf->name, i, why);
	if (f) {
		fprintf(f, "%s:%s:%d: %s%s\n", tcase, tf->name, i, why, TU_RAN_MARK);
		fclose(f);
	}
}

const char *tu_error_str(const struct mvm_error *e)
{
	static char buf[PATH_MAX + 1024];
	mvm_error_format(e, buf, sizeof(buf));
	return buf;
}

void tu_capture_start(struct tu_capture *c, int fd)
{
	fflush(stdout);
	fflush(stderr);
	c->fd = fd;
	c->tmp = tmpfile();
	ck_assert_ptr_nonnull(c->tmp);
	c->saved = dup(fd);
	ck_assert_int_ge(c->saved, 0);
	ck_assert_int_eq(dup2(fileno(c->tmp), fd), fd);
}

char *tu_capture_end(struct tu_capture *c)
{
	fflush(stdout);
	fflush(stderr);
	ck_assert_int_eq(dup2(c->saved, c->fd), c->fd);
	close(c->saved);
	rewind(c->tmp);
	char *s = drain(fileno(c->tmp));
	fclose(c->tmp);
	c->tmp = NULL;
	return s;
}

void *tu_shared(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(p, MAP_FAILED);
	return p;
}

int tu_fork_call(uid_t uid, gid_t gid, int (*fn)(void *), void *arg)
{
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (uid != (uid_t)-1 &&
		    (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 ||
		     setresuid(uid, uid, uid) < 0)) {
			fprintf(stderr, "tu_fork_call: drop to %u:%u: %s\n", (unsigned)uid,
				(unsigned)gid, strerror(errno));
			_exit(125);
		}
		_exit(fn(arg) & 0xff);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		ck_assert_int_eq(errno, EINTR);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void tu_chown(const char *path, uid_t uid, gid_t gid)
{
	ck_assert_msg(lchown(path, uid, gid) == 0, "chown %s: %s", path, strerror(errno));
}

void tu_chmod(const char *path, mode_t mode)
{
	ck_assert_msg(chmod(path, mode) == 0, "chmod %s: %s", path, strerror(errno));
}

void tu_symlink(const char *target, const char *link)
{
	ck_assert_msg(symlink(target, link) == 0, "symlink %s: %s", link, strerror(errno));
}

void tu_failat_init(struct tu_failat *f, const char *dir)
{
	f->shim = tu_bin("tests/shims/failat.so");
	f->log = tu_path(dir, "failat.log");
	f->preload = xasprintf("LD_PRELOAD=%s", f->shim);
	f->logenv = xasprintf("FAILAT_LOG=%s", f->log);
	ck_assert(f->preload && f->logenv);
	f->at[0] = f->err[0] = '\0';
}

void tu_failat_at(struct tu_failat *f, long n, const char *err)
{
	snprintf(f->at, sizeof(f->at), "FAILAT=%ld", n);
	snprintf(f->err, sizeof(f->err), "FAILAT_ERRNO=%s", err);
}

void tu_failat_from(struct tu_failat *f, long n, const char *err)
{
	tu_failat_at(f, n, err);
	snprintf(f->at, sizeof(f->at), "FAILAT=%ld+", n);
}

void tu_failat_free(struct tu_failat *f)
{
	free(f->shim);
	free(f->log);
	free(f->preload);
	free(f->logenv);
	memset(f, 0, sizeof(*f));
}

long tu_failat_calls(const char *log)
{
	char *text = NULL;
	size_t len = 0;
	long n = 0;
	if (read_file(log, 1 << 20, &text, &len) < 0)
		return 0;
	for (size_t i = 0; i < len; i++)
		n += text[i] == '\n';
	free(text);
	ck_assert_int_eq(unlink(log), 0);
	return n;
}

const char *const *tu_failat_errnos(long n)
{
	static const char *const eio[] = { "EIO", NULL }, *const nospc[] = { "EIO", "ENOSPC", NULL },
				 *const nomem[] = { "EIO", "ENOMEM", NULL };
	return n % 5 == 1 ? nospc : n % 5 == 3 ? nomem : eio;
}

const char *tu_failat_cause(const char *err)
{
	static const struct {
		const char *name;
		int no;
	} known[] = { { "EIO", EIO }, { "ENOSPC", ENOSPC }, { "ENOMEM", ENOMEM }, { "EPERM", EPERM } };
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (!strcmp(err, known[i].name))
			return strerror(known[i].no);
	ck_abort_msg("tu_failat_cause: unknown errno name '%s'", err);
	return NULL;
}

const char *tu_error_line(const char *err, char *buf, size_t size)
{
	const char *found = NULL;
	for (const char *p = err; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (strncmp(p, "<3>", 3) != 0)
			continue;
		if (found)
			return NULL;
		found = p + 3;
	}
	if (!found)
		return NULL;
	snprintf(buf, size, "%.*s", (int)strcspn(found, "\n"), found);
	return buf;
}
