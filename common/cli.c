/* SPDX-License-Identifier: MIT */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

#ifndef VERSION /* the Makefile passes it; not every build of common/ does */
#define VERSION "unknown"
#endif

enum {
	OPT_STATE_DIR = 0x100,
	OPT_RUNTIME_DIR,
	OPT_SYSFS,
	OPT_DEVFS,
	OPT_PROCFS,
	OPT_MODULES_DIR,
	OPT_USER,
	OPT_GROUP,
	OPT_UNTRUSTED,
};

struct common_opt {
	struct option opt;
	unsigned flag; /* 0: every tool */
	const char *help;
};

static const struct common_opt common_opts[] = {
	{{"state-dir", required_argument, NULL, OPT_STATE_DIR}, 0,
	 "  --state-dir DIR      VM directories (default /var/lib/microvms, $MICROVM_STATE_DIR)"},
	/* (what is kept there: the tool's runtime_dir_help, by runtime_help()) */
	{{"runtime-dir", required_argument, NULL, OPT_RUNTIME_DIR}, CLI_RUNTIME,
	 "  --runtime-dir DIR    "},
	{{"user", required_argument, NULL, OPT_USER}, CLI_IDS,
	 "  --user USER          the VM's user, name or number (default microvm)"},
	{{"group", required_argument, NULL, OPT_GROUP}, CLI_IDS,
	 "  --group GROUP        the VM's group, name or number (default kvm)"},
	{{"sysfs", required_argument, NULL, OPT_SYSFS}, CLI_SYSFS,
	 "  --sysfs DIR          sysfs root (default /sys, $MICROVM_SYSFS)"},
	{{"devfs", required_argument, NULL, OPT_DEVFS}, CLI_DEVFS,
	 "  --devfs DIR          /dev root (default /dev, $MICROVM_DEVFS)"},
	{{"procfs", required_argument, NULL, OPT_PROCFS}, CLI_PROCFS,
	 "  --procfs DIR         procfs root (default /proc, $MICROVM_PROCFS)"},
	{{"modules-dir", required_argument, NULL, OPT_MODULES_DIR}, CLI_MODULES,
	 "  --modules-dir DIR    kernel modules (default libkmod's, $MICROVM_MODULES_DIR)"},
	{{"allow-untrusted", no_argument, NULL, OPT_UNTRUSTED}, CLI_UNTRUSTED,
	 "  --allow-untrusted    accept a runner root did not name or own (DANGEROUS)"},
	{{"dry-run", no_argument, NULL, 'n'}, 0,
	 "  -n, --dry-run        print each action, change nothing"},
	{{"verbose", no_argument, NULL, 'v'}, 0, "  -v, --verbose        debug messages"},
	{{"help", no_argument, NULL, 'h'}, 0, "  -h, --help           this help"},
	{{"version", no_argument, NULL, 'V'}, 0, "  -V, --version        the version"},
};

static const char *env_or(const char *name, const char *def)
{
	const char *v = getenv(name);
	return v && v[0] ? v : def;
}

/* The rest of --runtime-dir's entry: what the tool keeps there, each of
 * its lines under the one before, then the default. */
static void runtime_help(const struct cli_tool *t)
{
	static const char indent[] = "\n                       ";
	for (const char *p = t->runtime_dir_help ? t->runtime_dir_help : ""; *p; p++)
		*p == '\n' ? fputs(indent, stdout) : putchar(*p);
	printf("%s(default /run/microvm, $MICROVM_RUNTIME_DIR)", t->runtime_dir_help ? indent : "");
}

static void help(const struct cli_tool *t)
{
	printf("Usage: %s %s\n%s\n\n", t->name, t->synopsis, t->summary);
	if (t->help && t->help[0])
		printf("%s\n", t->help);
	printf("Common options:\n");
	for (size_t i = 0; i < ARRAY_SIZE(common_opts); i++) {
		if (common_opts[i].flag && !(t->flags & common_opts[i].flag))
			continue;
		fputs(common_opts[i].help, stdout);
		if (common_opts[i].opt.val == OPT_RUNTIME_DIR)
			runtime_help(t);
		putchar('\n');
	}
	printf("\nExit status: 0 success, 1 failure, 2 usage error%s%s. See %s(8).\n",
	       t->exit_status ? "; " : "", t->exit_status ? t->exit_status : "", t->name);
}

/* t->synopsis on one line: a form on a line of its own (after a newline
 * and the indent, as --help shows it) follows ", or ". */
static void synopsis_line(const struct cli_tool *t, char *buf, size_t size)
{
	size_t n = 0;
	buf[0] = '\0';
	for (const char *p = t->synopsis; *p && n + 6 < size; p++) {
		if (*p != '\n') {
			buf[n++] = *p;
			continue;
		}
		while (p[1] == ' ')
			p++;
		memcpy(buf + n, ", or ", 5);
		n += 5;
	}
	buf[n] = '\0';
}

int cli_usage_error(const struct cli_tool *t, const char *fmt, ...)
{
	/* (room for an argument quoted whole: ESC() gives at most ESC_MAX) */
	char raw[ESC_MAX + 512], msg[sizeof(raw)], syn[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	escape_line(raw, msg, sizeof(msg)); /* it may quote an argument */
	synopsis_line(t, syn, sizeof(syn));
	/* One line, as every error (the journal keeps each line apart). */
	fprintf(stderr, "%s: usage error: %s (usage: %s %s; more in '%s --help')\n", t->name, msg,
		t->name, syn, t->name);
	return 2;
}

int cli_usage_stray(const struct cli_tool *t, const char *arg)
{
	return cli_usage_error(t, "unexpected argument '%s' after the VM name", ESC(arg));
}

/* "a, b or c" of verbs into buf. */
static void verb_list(const char *const verbs[], char *buf, size_t size)
{
	size_t n = 0, o = 0;
	while (verbs[n])
		n++;
	buf[0] = '\0';
	for (size_t k = 0; k < n && o < size; k++)
		o += (size_t)snprintf(buf + o, size - o, "%s%s", k == 0 ? "" : k + 1 < n ? ", " : " or ",
				      verbs[k]);
}

int cli_verb(const struct cli_tool *t, int argc, char **argv, int i, const char *const verbs[],
	     int *exit_status)
{
	char list[256];
	verb_list(verbs, list, sizeof(list));
	if (i >= argc) {
		*exit_status = cli_usage_error(t, "missing verb (%s)", list);
		return -1;
	}
	for (int k = 0; verbs[k]; k++)
		if (strcmp(argv[i], verbs[k]) == 0)
			return k;
	*exit_status = cli_usage_error(t, "unknown verb '%s' (%s)", ESC(argv[i]), list);
	return -1;
}

const char *cli_vm_operand(const struct cli_tool *t, int argc, char **argv, int i,
			   const char *verb, int *exit_status)
{
	if (i >= argc) {
		*exit_status = cli_usage_error(t, "%s takes a VM name", verb);
		return NULL;
	}
	if (argc - i > 1) {
		*exit_status = cli_usage_stray(t, argv[i + 1]);
		return NULL;
	}
	return argv[i];
}

/* Was arg "--NAME=VALUE" for a long option without a value? getopt_long()
 * reports that as '?' with optopt set to the option's value, the same as
 * an unknown short option. */
static bool takes_no_value(const struct option *opts, const char *arg, int val)
{
	const char *eq = strchr(arg, '=');
	if (strncmp(arg, "--", 2) != 0 || !eq)
		return false;
	size_t n = (size_t)(eq - arg - 2);
	for (; opts->name; opts++) /* abbreviations count, as for getopt_long() */
		if (opts->val == val && opts->has_arg == no_argument &&
		    strncmp(opts->name, arg + 2, n) == 0)
			return true;
	return false;
}

static void defaults(struct cli *c)
{
	*c = (struct cli){
		.state_dir = env_or("MICROVM_STATE_DIR", "/var/lib/microvms"),
		.runtime_dir = env_or("MICROVM_RUNTIME_DIR", "/run/microvm"),
		.sysfs = env_or("MICROVM_SYSFS", "/sys"),
		.devfs = env_or("MICROVM_DEVFS", "/dev"),
		.procfs = env_or("MICROVM_PROCFS", "/proc"),
		.modules_dir = env_or("MICROVM_MODULES_DIR", NULL),
		.user = "microvm",
		.group = "kvm",
		.uid = (uid_t)-1,
		.gid = (gid_t)-1,
	};
}

/* getopt_long()'s tables: the shared options the tool takes, then its own.
 * NULL on ENOMEM. */
static struct option *options_of(const struct cli_tool *t, char **shortopts)
{
	size_t nt = 0, k = 0;
	while (t->options && t->options[nt].name)
		nt++;
	struct option *opts = calloc(ARRAY_SIZE(common_opts) + nt + 1, sizeof(*opts));
	*shortopts = xasprintf(":hvVn%s", t->shortopts ? t->shortopts : "");
	if (!opts || !*shortopts) {
		free(opts);
		free(*shortopts);
		return NULL;
	}
	for (size_t i = 0; i < ARRAY_SIZE(common_opts); i++)
		if (!common_opts[i].flag || (t->flags & common_opts[i].flag))
			opts[k++] = common_opts[i].opt;
	for (size_t i = 0; i < nt; i++)
		opts[k++] = t->options[i];
	return opts;
}

/* The usage error of getopt_long()'s ':' or '?' for argv[optind - 1],
 * which is quoted escaped as a value is (ESC()). */
static int option_error(const struct cli_tool *t, int o, const struct option *opts, char **argv)
{
	const char *arg = argv[optind - 1];
	if (o == ':')
		return cli_usage_error(t, "option '%s' needs a value", ESC(arg));
	/* (the name of one of ours before the '=': plain) */
	if (optopt && takes_no_value(opts, arg, optopt))
		return cli_usage_error(t, "option '%.*s' takes no value",
				       (int)(strchr(arg, '=') - arg), arg);
	if (optopt) {
		char opt[2] = { (char)optopt, '\0' };
		return cli_usage_error(t, "unknown option '-%s'", ESC(opt));
	}
	return cli_usage_error(t, "unknown option '%s'", ESC(arg));
}

/* One option o: 0 to go on, or -1 when the program ends with *exit_status. */
static int one_option(const struct cli_tool *t, struct cli *c, int o, const struct option *opts,
		      char **argv, int *exit_status)
{
	switch (o) {
	case OPT_STATE_DIR: c->state_dir = optarg; return 0;
	case OPT_RUNTIME_DIR: c->runtime_dir = optarg; return 0;
	case OPT_SYSFS: c->sysfs = optarg; return 0;
	case OPT_DEVFS: c->devfs = optarg; return 0;
	case OPT_PROCFS: c->procfs = optarg; return 0;
	case OPT_MODULES_DIR: c->modules_dir = optarg; return 0;
	case OPT_USER: c->user = optarg; return 0;
	case OPT_GROUP: c->group = optarg; return 0;
	case OPT_UNTRUSTED: c->allow_untrusted = true; return 0;
	case 'n': c->dry_run = true; return 0;
	case 'v': c->verbose++; return 0;
	case 'h':
		help(t);
		*exit_status = 0;
		return -1;
	case 'V':
		printf("%s %s\n", t->name, VERSION);
		*exit_status = 0;
		return -1;
	case ':':
	case '?':
		*exit_status = option_error(t, o, opts, argv);
		return -1;
	default:
		if (t->handle && t->handle(o, optarg, t->userdata) == 0)
			return 0;
		*exit_status = 2;
		return -1;
	}
}

int cli_parse(const struct cli_tool *t, int argc, char **argv, struct cli *c, int *exit_status)
{
	log_open(t->name);
	/* Every tool waits for the children it makes (a shutdown script,
	 * virtiofsd, tap-setup's scan). SIGCHLD ignored, as a parent that
	 * wants no zombies passes it on through exec, has the kernel reap them
	 * itself: waitpid() finds none (ECHILD) and no SIGCHLD is sent. */
	signal(SIGCHLD, SIG_DFL);
	defaults(c);
	char *shortopts;
	struct option *opts = options_of(t, &shortopts);
	if (!opts) {
		fprintf(stderr, "%s: unable to parse the command line: %s\n", t->name,
			strerror(ENOMEM));
		*exit_status = 1;
		return -1;
	}
	int r = 0, o;
	opterr = 0;
	optind = 0; /* 0, not 1: glibc then drops what it kept of an earlier parse */
	while (r == 0 && (o = getopt_long(argc, argv, shortopts, opts, NULL)) != -1)
		r = one_option(t, c, o, opts, argv, exit_status);
	free(opts);
	free(shortopts);
	if (r < 0)
		return -1;
	log_set_verbose(c->verbose);
	if (t->flags & CLI_ROOT)
		log_set_needs_root();
	return optind;
}
