/* SPDX-License-Identifier: MIT */
/* Helpers for the Check suites: temp trees, running the built tools. */
#pragma once

#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include "error.h"

#define SUITE(name) Suite *name##_suite(void);
#include "suites.def"
#undef SUITE

/* A new directory under /tmp (mode 0755, root-owned when run as root);
 * removed with tu_rm_rf(). */
char *tu_tmpdir(void);
void tu_rm_rf(const char *path);
/* Write content to dir/rel, making parent directories (0755). */
void tu_write(const char *dir, const char *rel, const char *content);
/* The same with an explicit length (NUL bytes). */
void tu_write_n(const char *dir, const char *rel, const char *content, size_t n);
/* dir/rel as a new string. */
char *tu_path(const char *dir, const char *rel);
/* The names in dir, sorted, joined by ' ' (into buf, cut at size). */
void tu_list_dir(const char *dir, char *buf, size_t size);

/* A runner package in a fresh state dir: STATE/NAME/current -> RUNNER.
 * Files are added with tu_write(t->runner, "share/microvm/...", ...). */
struct tu_vm {
	char *root;   /* temp dir holding everything */
	char *state;  /* ROOT/state */
	char *runtime;/* ROOT/run */
	char *runner; /* ROOT/runner */
	char *dir;    /* ROOT/state/NAME */
	const char *name;
};
void tu_vm_make(struct tu_vm *t, const char *name);
void tu_vm_free(struct tu_vm *t);

/* Path of a built program: BUILD_DIR/name. */
char *tu_bin(const char *name);

/* Run argv (argv[0] a path), wait, capture stdout and stderr. */
struct tu_run {
	int status; /* exit code, or 128+signal */
	char *out, *err;
};
void tu_run(struct tu_run *r, const char *const argv[]);
/* The same with extra environment "K=V" entries (NULL-terminated). The
 * entry "JOURNAL_STREAM=" (empty) sets it to the captured stderr's
 * DEV:INO, as systemd does, so the tool writes <N> priority prefixes; the
 * entry "SIGCHLD=ignored" starts the program with SIGCHLD ignored, as a
 * parent that wants no zombies passes it on through exec; "SIGPIPE=ignored"
 * with SIGPIPE ignored, as systemd starts a service (IgnoreSIGPIPE=yes). */
void tu_run_env(struct tu_run *r, const char *const argv[], const char *const env[]);
void tu_run_free(struct tu_run *r);

/* Is this running as root (most tool tests need it)? */
bool tu_is_root(void);

/* Preconditions, decided when a suite is built (in the runner's own
 * process): NULL when met, else the reason a test needing it is skipped. */
const char *tu_need_root(void);
/* Root, and a new network and mount namespace with a sysfs of its own can
 * be made (tried in a child): what the namespace tests of tap need. */
const char *tu_need_netns(void);
/* Root, /usr/bin/bindfs (Debian package bindfs) and /dev/fuse: what the
 * tests of a FUSE mount that shows the VM user's files as root's need. */
const char *tu_need_bindfs(void);

/* src shown on mnt as root's (owner and group 0) by bindfs with
 * allow_other, as the VM user's FUSE daemon could show its own files
 * where /etc/fuse.conf has user_allow_other: in a mount namespace of the
 * test's own (made here), by a bindfs that dies with the test; returns
 * once mnt is a FUSE mount and mnt/probe looks root's, with bindfs's pid
 * for tu_bindfs_stop(). */
pid_t tu_bindfs_as_roots(const char *src, const char *mnt, const char *probe);
/* Kill that bindfs and take its mount off mnt. */
void tu_bindfs_stop(pid_t fs, const char *mnt);

/* virtiofs told from FUSE (on_fuse()): no virtiofs mount can be made here
 * (it is a guest's side of a share, and these machines are no guest of a
 * virtiofs host), so a test shows a program its mount table with the type
 * of the mount on mnt (a bindfs one) changed, by tests/shims/mountinfo.so
 * (LD_PRELOAD): env is {LD_PRELOAD=, MOUNTINFO_AT=mnt, MOUNTINFO_TYPE=type,
 * NULL}, for tu_run_env(). */
struct tu_mountinfo {
	char *preload, *at, *type;
	const char *env[4];
};
void tu_mountinfo_init(struct tu_mountinfo *m, const char *mnt, const char *type);
void tu_mountinfo_free(struct tu_mountinfo *m);

/* tcase_create(name), the name kept for tu_add_loop_test_if(): a TCase
 * given to it must come from here. */
TCase *tu_tcase_create(const char *name);
/* Register test tf (loop test: indexes start..end-1) in tc when why is
 * NULL. Otherwise it is not run: each index is reported as skipped, with
 * its reason, on stderr ("SKIP test: why") and counted by tests/run
 * through the file $TU_SKIP_FILE, never as a test that passed. Only when
 * Check will run tc (CK_RUN_CASE unset or naming it; the suite is built
 * only when selected, main.c): a test not selected is no skip. */
void tu_add_loop_test_if(TCase *tc, const TTest *tf, int start, int end, const char *why);
#define tu_add_test_if(tc, tf, why) tu_add_loop_test_if((tc), (tf), 0, 1, (why))
/* A test that ran but could not reach what it tests (a race never won
 * within its bound): call, then return from the test (tf: the test, as
 * START_TEST(name) names it in its body; i: its index, _i). The test must
 * be registered with tu_add_test_if() or tu_add_loop_test_if() (why NULL
 * to always run it), in one TCase: else it fails. Reported and counted as
 * skipped like the above; its line in $TU_SKIP_FILE is
 * "TCASE:NAME:I: why" + TU_RAN_MARK, the three fields Check's log names a
 * test by ($CK_LOG_FILE_NAME: "FILE:LINE:P:TCASE:NAME:I: ..."). tests/run
 * counts it as skipped, and takes it off Check's count of passed tests,
 * only when Check's log has it passed: one that failed after the call
 * (F or E) is a failure, never a skip. */
#define TU_RAN_MARK " (gave up at run time)"
void tu_skip_now(const TTest *tf, int i, const char *why);

/* Assert every field of a struct mvm_error (reason NULL: no reason). The
 * location reported is the caller's. */
#define tu_assert_error(e_, err_, verb_, path_, line_, value_, reason_)                     \
	do {                                                                               \
		const struct mvm_error *tu_e_ = (e_);                                      \
		const char *tu_r_ = (reason_);                                             \
		ck_assert_int_eq(tu_e_->err, (err_));                                      \
		ck_assert_str_eq(tu_e_->verb, (verb_));                                    \
		ck_assert_str_eq(tu_e_->path, (path_));                                    \
		ck_assert_uint_eq(tu_e_->line, (line_));                                   \
		ck_assert_str_eq(tu_e_->value, (value_));                                  \
		ck_assert_str_eq(tu_e_->reason ? tu_e_->reason : "(null)",                 \
				 tu_r_ ? tu_r_ : "(null)");                                \
	} while (0)

/* The one line main() would print for e (mvm_error_format), as a static
 * buffer: for asserting the whole message. */
const char *tu_error_str(const struct mvm_error *e);

/* Capture what this process writes to fd (1 or 2) into a temp file:
 * tu_capture_start(), then tu_capture_end() restores the fd and returns
 * everything written in between (malloc'ed). stdio is flushed. */
struct tu_capture {
	int fd, saved;
	FILE *tmp;
};
void tu_capture_start(struct tu_capture *c, int fd);
char *tu_capture_end(struct tu_capture *c);

/* Memory shared with a forked child (MAP_SHARED|MAP_ANONYMOUS), zeroed;
 * released at exit. */
void *tu_shared(size_t size);
/* Fork, in the child drop to gid/uid with setresgid/setresuid (and no
 * supplementary groups) unless uid is (uid_t)-1, run fn(arg) and _exit
 * with its return value. Returns the child's exit code, or 128+signal.
 * Results beyond the exit code go through tu_shared() memory. */
int tu_fork_call(uid_t uid, gid_t gid, int (*fn)(void *), void *arg);

/* chown/chmod that must succeed. */
void tu_chown(const char *path, uid_t uid, gid_t gid);
void tu_chmod(const char *path, mode_t mode);
/* A symlink that must succeed: link -> target. */
void tu_symlink(const char *target, const char *link);

/* The uid/gid of "nobody", not root, for files "owned by another user". */
#define TU_NOBODY 65534
/* $MICROVM_RUNNER_PINS of the tests: no pins (main.c sets it). */
#define TU_NO_PINS "/nonexistent/mvm-test-pins"

/* Fault injection with tests/shims/failat.so (LD_PRELOAD, before any
 * other shim): a run with FAILAT_LOG=PATH lists the calls through which
 * it can change the host; a run with FAILAT=N fails the Nth of them with
 * FAILAT_ERRNO (EIO by default), and the run goes on. */
/* A test's failat.so: the shim, the log a clean run counts its calls
 * into (DIR/failat.log), and the environment entries to run with. */
struct tu_failat {
	char *shim;    /* the built tests/shims/failat.so */
	char *log;     /* DIR/failat.log */
	char *preload; /* "LD_PRELOAD=" shim */
	char *logenv;  /* "FAILAT_LOG=" log */
	char at[32];   /* "FAILAT=N", set by tu_failat_at() */
	char err[48];  /* "FAILAT_ERRNO=NAME", the same */
};
void tu_failat_init(struct tu_failat *f, const char *dir);
/* at and err for the Nth call failing with the errno named err. */
void tu_failat_at(struct tu_failat *f, long n, const char *err);
/* The same for the Nth call and every later one (FAILAT=N+). */
void tu_failat_from(struct tu_failat *f, long n, const char *err);
void tu_failat_free(struct tu_failat *f);
/* How many calls the FAILAT_LOG file log lists (0 when there is none);
 * the file is removed, for the next run. */
long tu_failat_calls(const char *log);
/* The FAILAT_ERRNO values a test runs FAILAT=n with: EIO for every n,
 * and for some n ENOSPC or ENOMEM too (NULL-terminated, static). */
const char *const *tu_failat_errnos(long n);
/* What a run failed with the errno named err says of it: its strerror(). */
const char *tu_failat_cause(const char *err);
/* Of stderr captured with the env entry "JOURNAL_STREAM=" (priority
 * prefixes): the one line of priority error ("<3>"), its prefix taken
 * off, in buf; NULL when there is none, or more than one. */
const char *tu_error_line(const char *err, char *buf, size_t size);
