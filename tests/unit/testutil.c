/* SPDX-License-Identifier: MIT */
#include "testutil.h"

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
#include <sys/stat.h>
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

/* One skipped test: "SKIP NAME: WHY" on stderr, and a line in
 * $TU_SKIP_FILE (mark: "" for a test not run, TU_RAN_MARK for one that
 * ran and gave up, which Check counted as passed). */
static void skip_report(const char *name, const char *why, const char *mark)
{
	const char *file = getenv("TU_SKIP_FILE");
	FILE *f = file && *file ? fopen(file, "ae") : NULL;
	fprintf(stderr, "SKIP %s: %s\n", name, why);
	if (f) {
		fprintf(f, "%s: %s%s\n", name, why, mark);
		fclose(f);
	}
}

void tu_add_loop_test_if(TCase *tc, const TTest *tf, int start, int end, const char *why)
{
	if (!why) {
		tcase_add_loop_test(tc, tf, start, end);
		return;
	}
	for (int i = start; i < end; i++) {
		char name[256];
		if (end - start > 1)
			snprintf(name, sizeof(name), "%s[%d]", tf->name, i);
		else
			snprintf(name, sizeof(name), "%s", tf->name);
		skip_report(name, why, "");
	}
}

void tu_skip_now(const char *name, int i, const char *why)
{
	char n[256];
	snprintf(n, sizeof(n), "%s[%d]", name, i);
	skip_report(n, why, TU_RAN_MARK);
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
