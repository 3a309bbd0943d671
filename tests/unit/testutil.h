/* SPDX-License-Identifier: MIT */
/* Helpers for the Check suites: temp trees, running the built tools. */
#pragma once

#include <check.h>
#include <stdbool.h>
#include <sys/types.h>

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
/* The same with extra environment "K=V" entries (NULL-terminated). */
void tu_run_env(struct tu_run *r, const char *const argv[], const char *const env[]);
void tu_run_free(struct tu_run *r);

/* Is this running as root (most tool tests need it)? */
bool tu_is_root(void);
