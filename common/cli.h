/* SPDX-License-Identifier: MIT */
/* The command line all four tools share (DESIGN.md sections 5 and 6).
 * A tool declares its own options and verbs in a struct cli_tool; the
 * shared ones are parsed here, environment defaults applied. */
#pragma once

#include <getopt.h>
#include <stdbool.h>
#include <sys/types.h>

#include "error.h"

/* Which of the optional shared options a tool takes. */
enum {
	CLI_SYSFS = 1u << 0,	 /* --sysfs, $MICROVM_SYSFS */
	CLI_DEVFS = 1u << 1,	 /* --devfs, $MICROVM_DEVFS */
	CLI_PROCFS = 1u << 2,	 /* --procfs, $MICROVM_PROCFS */
	CLI_MODULES = 1u << 3,	 /* --modules-dir, $MICROVM_MODULES_DIR */
	CLI_IDS = 1u << 4,	 /* --user, --group */
	CLI_UNTRUSTED = 1u << 5, /* --allow-untrusted */
	CLI_RUNTIME = 1u << 6,	 /* --runtime-dir, $MICROVM_RUNTIME_DIR */
	CLI_ROOT = 1u << 7,	 /* runs as root: log_set_needs_root() */
};

struct cli {
	const char *state_dir;	 /* /var/lib/microvms */
	const char *runtime_dir; /* /run/microvm */
	const char *sysfs;	 /* /sys */
	const char *devfs;	 /* /dev */
	const char *procfs;	 /* /proc */
	const char *modules_dir; /* NULL: libkmod's default */
	const char *user, *group;
	uid_t uid; /* set by cli_resolve_ids() */
	gid_t gid;
	bool dry_run;
	bool allow_untrusted;
	int verbose;
};

/* First value for a tool's own long-only options. */
#define CLI_TOOL_OPT 0x1000

struct cli_tool {
	const char *name;     /* "tap-setup" */
	const char *synopsis; /* "[OPTIONS] up|down NAME" */
	const char *summary;  /* one line on what it does */
	const char *help;     /* the tool's own options, verbs: lines for --help */
	/* Extra lines of --help's exit statuses, after "0 success, 1 failure,
	 * 2 usage error", or NULL. */
	const char *exit_status;
	/* CLI_RUNTIME: what the tool keeps in --runtime-dir, for --help's
	 * line of it (lines apart by "\n", indented there; the default
	 * follows). */
	const char *runtime_dir_help;
	unsigned flags;	      /* CLI_* */
	/* Extra long options, {0} terminated, or NULL. Their values must be
	 * short option letters or CLI_TOOL_OPT + n: cli.c uses 0x100-0xfff. */
	const struct option *options;
	const char *shortopts;	      /* extra short options, or NULL */
	/* Called for each extra option: 0, or -EINVAL after printing what is
	 * wrong with it (log_err() or cli_usage_error()): cli_parse() then
	 * ends the program with status 2. With cli_parse(), the one exception
	 * to error.h's rule: there is no verb yet to report to. */
	int (*handle)(int opt, const char *arg, void *userdata);
	void *userdata;
};

/* Parse argv. Returns optind (the first operand) or -1, when the tool must
 * exit with *exit_status: 0 after --help/--version, 2 on a usage error
 * (already reported). Also calls log_open() and log_set_verbose(). */
int cli_parse(const struct cli_tool *t, int argc, char **argv, struct cli *c, int *exit_status);

/* Print "PROG: usage error: MSG" and the synopsis; returns 2. */
int cli_usage_error(const struct cli_tool *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The usage error for a word after the VM name, naming it; returns 2. */
int cli_usage_stray(const struct cli_tool *t, const char *arg);

/* The verb argv[i] among verbs (NULL-terminated): its index, or -1 after
 * the usage error ("missing verb" or "unknown verb 'X'", the verbs listed),
 * *exit_status then 2. Called before anything else of the operands or
 * options is judged: an unknown verb is the first thing said. */
int cli_verb(const struct cli_tool *t, int argc, char **argv, int i, const char *const verbs[],
	     int *exit_status);

/* The one VM name after verb, argv[i] (i: after the verb): it, or NULL
 * after the usage error ("VERB takes a VM name", or a word after it named:
 * cli_usage_stray()), *exit_status then 2. */
const char *cli_vm_operand(const struct cli_tool *t, int argc, char **argv, int i,
			   const char *verb, int *exit_status);

/* --user/--group (names or numbers) to uid/gid: 0, or -errno with e
 * naming the unknown one (-ENOENT when there is no such user or group). */
int cli_resolve_ids(struct cli *c, struct mvm_error *e);
