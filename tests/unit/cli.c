/* SPDX-License-Identifier: MIT */
/* common/cli.h: the command line the four tools share (DESIGN.md
 * sections 5 and 6), through a test tool with options of its own. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "log.h"
#include "testutil.h"
#include "util.h"

static bool macvtap;
static const char *extra_arg;

static int handle(int opt, const char *arg, void *userdata)
{
	ck_assert_ptr_eq(userdata, &macvtap);
	switch (opt) {
	case 'm':
		macvtap = true;
		return 0;
	case 'x':
		if (strcmp(arg, "bad") == 0) {
			log_err("bad value '%s'", arg);
			return -EINVAL;
		}
		extra_arg = arg;
		return 0;
	}
	return -EINVAL;
}

static const struct option extra_opts[] = {
	{"macvtap", no_argument, NULL, 'm'},
	{"extra", required_argument, NULL, 'x'},
	{0},
};

static const struct cli_tool tool = {
	.name = "tap-setup",
	.synopsis = "[OPTIONS] up|down NAME",
	.summary = "Create the TAP interfaces of a MicroVM.",
	.help = "Options:\n  --macvtap           the macvtap list",
	.flags = CLI_IDS | CLI_RUNTIME | CLI_UNTRUSTED | CLI_SYSFS,
	.options = extra_opts,
	.shortopts = "x:",
	.handle = handle,
	.userdata = &macvtap,
};

/* A tool with none of the optional shared options. */
static const struct cli_tool bare = {
	.name = "runner-exec",
	.synopsis = "[OPTIONS] start|stop NAME...",
	.summary = "Run a MicroVM.",
};

struct res {
	int idx, st;
	char *out, *err;
	struct cli c;
	int argc;
	char *argv[32];
};

static void parse(struct res *r, const struct cli_tool *t, const char *const args[])
{
	memset(r, 0, sizeof(*r));
	r->argv[r->argc++] = (char *)t->name;
	for (size_t i = 0; args[i]; i++)
		r->argv[r->argc++] = (char *)args[i];
	struct tu_capture o, e;
	tu_capture_start(&o, 1);
	tu_capture_start(&e, 2);
	r->st = -99;
	r->idx = cli_parse(t, r->argc, r->argv, &r->c, &r->st);
	r->err = tu_capture_end(&e);
	r->out = tu_capture_end(&o);
}

static void res_free(struct res *r)
{
	free(r->out);
	free(r->err);
}

static const char *const env_names[] = {
	"MICROVM_STATE_DIR", "MICROVM_RUNTIME_DIR", "MICROVM_SYSFS",
	"MICROVM_DEVFS",     "MICROVM_PROCFS",	    "MICROVM_MODULES_DIR",
};

static void setup(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(env_names); i++)
		unsetenv(env_names[i]);
	unsetenv("JOURNAL_STREAM");
	macvtap = false;
	extra_arg = NULL;
}

START_TEST(defaults)
{
	struct res r;
	parse(&r, &tool, (const char *[]){"up", "vm1", NULL});
	ck_assert_int_eq(r.idx, 1);
	ck_assert_int_eq(r.st, -99);
	ck_assert_str_eq(r.argv[r.idx], "up");
	ck_assert_str_eq(r.argv[r.idx + 1], "vm1");
	ck_assert_str_eq(r.c.state_dir, "/var/lib/microvms");
	ck_assert_str_eq(r.c.runtime_dir, "/run/microvm");
	ck_assert_str_eq(r.c.sysfs, "/sys");
	ck_assert_str_eq(r.c.devfs, "/dev");
	ck_assert_str_eq(r.c.procfs, "/proc");
	ck_assert_ptr_null(r.c.modules_dir);
	ck_assert_str_eq(r.c.user, "microvm");
	ck_assert_str_eq(r.c.group, "kvm");
	ck_assert_uint_eq(r.c.uid, (uid_t)-1);
	ck_assert_uint_eq(r.c.gid, (gid_t)-1);
	ck_assert(!r.c.dry_run);
	ck_assert(!r.c.allow_untrusted);
	ck_assert_int_eq(r.c.verbose, 0);
	ck_assert_str_eq(r.out, "");
	ck_assert_str_eq(r.err, "");
	ck_assert_str_eq(log_prog(), "tap-setup");
	res_free(&r);
}
END_TEST

START_TEST(env_overrides)
{
	setenv("MICROVM_STATE_DIR", "/e/state", 1);
	setenv("MICROVM_RUNTIME_DIR", "/e/run", 1);
	setenv("MICROVM_SYSFS", "/e/sys", 1);
	setenv("MICROVM_DEVFS", "/e/dev", 1);
	setenv("MICROVM_PROCFS", "/e/proc", 1);
	setenv("MICROVM_MODULES_DIR", "/e/modules", 1);
	struct res r;
	parse(&r, &tool, (const char *[]){"up", "vm1", NULL});
	ck_assert_str_eq(r.c.state_dir, "/e/state");
	ck_assert_str_eq(r.c.runtime_dir, "/e/run");
	ck_assert_str_eq(r.c.sysfs, "/e/sys");
	ck_assert_str_eq(r.c.devfs, "/e/dev");
	ck_assert_str_eq(r.c.procfs, "/e/proc");
	ck_assert_str_eq(r.c.modules_dir, "/e/modules");
	res_free(&r);
	/* The option beats the environment. */
	parse(&r, &tool, (const char *[]){"--state-dir", "/o/state", "--sysfs=/o/sys", "up", NULL});
	ck_assert_str_eq(r.c.state_dir, "/o/state");
	ck_assert_str_eq(r.c.sysfs, "/o/sys");
	ck_assert_str_eq(r.c.runtime_dir, "/e/run");
	res_free(&r);
	/* An empty variable is as good as none. */
	setenv("MICROVM_STATE_DIR", "", 1);
	parse(&r, &tool, (const char *[]){NULL});
	ck_assert_str_eq(r.c.state_dir, "/var/lib/microvms");
	ck_assert_int_eq(r.idx, 1);
	res_free(&r);
}
END_TEST

START_TEST(shared_options)
{
	struct res r;
	parse(&r, &tool,
	      (const char *[]){"--state-dir", "/a", "--runtime-dir=/b", "--sysfs", "/c", "-n", "-v",
			       "--verbose", "--allow-untrusted", "--user", "u", "--group", "g",
			       "down", "vm1", NULL});
	ck_assert_int_eq(r.st, -99);
	ck_assert_str_eq(r.argv[r.idx], "down");
	ck_assert_int_eq(r.idx, r.argc - 2);
	ck_assert_str_eq(r.c.state_dir, "/a");
	ck_assert_str_eq(r.c.runtime_dir, "/b");
	ck_assert_str_eq(r.c.sysfs, "/c");
	ck_assert(r.c.dry_run);
	ck_assert_int_eq(r.c.verbose, 2);
	ck_assert_int_eq(log_get_verbose(), 2);
	ck_assert(r.c.allow_untrusted);
	ck_assert_str_eq(r.c.user, "u");
	ck_assert_str_eq(r.c.group, "g");
	res_free(&r);
	/* Options after the verb (GNU order), and "--" ends them. */
	parse(&r, &tool, (const char *[]){"up", "--dry-run", "vm1", "--", "-v", NULL});
	ck_assert(r.c.dry_run);
	ck_assert_int_eq(r.c.verbose, 0);
	ck_assert_str_eq(r.argv[r.idx], "up");
	ck_assert_str_eq(r.argv[r.idx + 1], "vm1");
	ck_assert_str_eq(r.argv[r.idx + 2], "-v");
	ck_assert_int_eq(r.idx + 3, r.argc);
	res_free(&r);
}
END_TEST

START_TEST(tool_options)
{
	struct res r;
	parse(&r, &tool, (const char *[]){"--macvtap", "-x", "val", "up", "vm1", NULL});
	ck_assert_int_eq(r.idx, 4);
	ck_assert(macvtap);
	ck_assert_str_eq(extra_arg, "val");
	res_free(&r);
	parse(&r, &tool, (const char *[]){"--extra=bad", "up", NULL});
	ck_assert_int_eq(r.idx, -1);
	ck_assert_int_eq(r.st, 2);
	ck_assert_str_eq(r.err, "tap-setup: bad value 'bad'\n");
	res_free(&r);
}
END_TEST

static const struct {
	const char *arg;
	const char *msg;
} usage_errors[] = {
	{"--bogus", "unknown option '--bogus'"},
	{"-q", "unknown option '-q'"},
	{"--devfs", "unknown option '--devfs'"},	     /* not a CLI_DEVFS tool */
	{"--modules-dir=/x", "unknown option '--modules-dir=/x'"}, /* nor CLI_MODULES */
	{"--state-dir", "option '--state-dir' needs a value"},
	{"-x", "option '-x' needs a value"},
	{"--dry-run=yes", "option '--dry-run' takes no value"},
	{"--allow-un=1", "option '--allow-un' takes no value"},
	{"--macvtap=", "option '--macvtap' takes no value"},
	{"-nq", "unknown option '-q'"},
	{"--ver", "unknown option '--ver'"}, /* ambiguous: --verbose, --version */
	/* escaped as a value is (escape_text()): a backslash doubled */
	{"--x\\x41\x1b", "unknown option '--x\\\\x41\\x1b'"},
	{"--x\\x41=1", "unknown option '--x\\\\x41=1'"},
	/* ... and a quote as \', so that it does not end the quoted value */
	{"--x'y", "unknown option '--x\\'y'"},
};

START_TEST(usage_error)
{
	struct res r;
	parse(&r, &tool, (const char *[]){"up", usage_errors[_i].arg, NULL});
	ck_assert_int_eq(r.idx, -1);
	ck_assert_int_eq(r.st, 2);
	char want[512];
	snprintf(want, sizeof(want),
		 "tap-setup: usage error: %s (usage: tap-setup [OPTIONS] up|down NAME; more in "
		 "'tap-setup --help')\n",
		 usage_errors[_i].msg);
	ck_assert_str_eq(r.err, want);
	ck_assert_str_eq(r.out, "");
	res_free(&r);
}
END_TEST

/* A long argument is quoted whole, escaped, and the line goes on after
 * it: 300 quotes are 600 bytes escaped. One whose escape is longer than
 * a value may be (ESC_MAX) is cut at an escape, marked "...". (Found in
 * review: the line was cut at 512 bytes, inside an escape, without its
 * closing quote and the usage after it.) */
START_TEST(usage_error_long_argument)
{
	static const size_t n[] = { 300, 3000 };
	for (size_t i = 0; i < ARRAY_SIZE(n); i++) {
		char *arg = calloc(n[i] + 3, 1), *esc = calloc(2 * n[i] + 1, 1);
		ck_assert(arg && esc);
		memcpy(arg, "--", 2);
		memset(arg + 2, '\'', n[i]);
		for (size_t k = 0; k < n[i]; k++)
			memcpy(esc + 2 * k, "\\'", 2);
		if (i == 1) /* cut: ESC_MAX - 1 bytes of it, "--" and "..." in them */
			strcpy(esc + 2 * ((ESC_MAX - 1 - 5) / 2), "...");
		char *want = xasprintf("tap-setup: usage error: unknown option '--%s' (usage: "
				       "tap-setup [OPTIONS] up|down NAME; more in 'tap-setup "
				       "--help')\n",
				       esc);
		struct res r;
		parse(&r, &tool, (const char *[]){ "up", arg, NULL });
		ck_assert_int_eq(r.st, 2);
		ck_assert_str_eq(r.err, want);
		res_free(&r);
		free(want);
		free(esc);
		free(arg);
	}
}
END_TEST

START_TEST(usage_error_call)
{
	struct tu_capture e;
	tu_capture_start(&e, 2);
	int st = cli_usage_error(&bare, "expected a verb, got '%s'", "boot");
	char *s = tu_capture_end(&e);
	ck_assert_int_eq(st, 2);
	ck_assert_str_eq(s, "runner-exec: usage error: expected a verb, got 'boot' (usage: "
			    "runner-exec [OPTIONS] start|stop NAME...; more in 'runner-exec "
			    "--help')\n");
	free(s);
	/* A value its caller did not escape: still one line, its own. */
	tu_capture_start(&e, 2);
	st = cli_usage_error(&bare, "expected a verb, got '%s'", "x\n<3>forged");
	s = tu_capture_end(&e);
	ck_assert_int_eq(st, 2);
	ck_assert_str_eq(s, "runner-exec: usage error: expected a verb, got 'x\\n<3>forged' (usage: "
			    "runner-exec [OPTIONS] start|stop NAME...; more in 'runner-exec "
			    "--help')\n");
	free(s);
}
END_TEST

/* A synopsis of two forms (runner-exec's: --help shows them one a line):
 * a usage error is still one line, every error being one, the forms
 * joined. */
START_TEST(usage_error_two_forms_one_line)
{
	static const struct cli_tool two = {
		.name = "runner-exec",
		.synopsis = "[OPTIONS] start|stop NAME\n"
			    "       runner-exec [OPTIONS] status [NAME...]",
		.summary = "Run a MicroVM.",
	};
	struct tu_capture e;
	tu_capture_start(&e, 2);
	int st = cli_usage_error(&two, "missing verb");
	char *s = tu_capture_end(&e);
	ck_assert_int_eq(st, 2);
	ck_assert_str_eq(s, "runner-exec: usage error: missing verb (usage: runner-exec [OPTIONS] "
			    "start|stop NAME, or runner-exec [OPTIONS] status [NAME...]; more in "
			    "'runner-exec --help')\n");
	free(s);
}
END_TEST

/* --help lists exactly the options of the tool's flags. */
static const struct {
	const char *opt;
	unsigned flag; /* 0: every tool */
} help_opts[] = {
	{"--state-dir DIR", 0},	       {"--runtime-dir DIR", CLI_RUNTIME},
	{"--user USER", CLI_IDS},      {"--group GROUP", CLI_IDS},
	{"--sysfs DIR", CLI_SYSFS},    {"--devfs DIR", CLI_DEVFS},
	{"--procfs DIR", CLI_PROCFS},  {"--modules-dir DIR", CLI_MODULES},
	{"--allow-untrusted", CLI_UNTRUSTED}, {"-n, --dry-run", 0},
	{"-v, --verbose", 0},	       {"-h, --help", 0},
	{"-V, --version", 0},
};

static void check_help(const struct cli_tool *t, const char *arg)
{
	struct res r;
	parse(&r, t, (const char *[]){arg, "up", NULL});
	ck_assert_int_eq(r.idx, -1);
	ck_assert_int_eq(r.st, 0);
	ck_assert_str_eq(r.err, "");
	char head[256];
	snprintf(head, sizeof(head), "Usage: %s %s\n%s\n\n", t->name, t->synopsis, t->summary);
	ck_assert_int_eq(strncmp(r.out, head, strlen(head)), 0);
	for (size_t i = 0; i < ARRAY_SIZE(help_opts); i++) {
		char line[64];
		snprintf(line, sizeof(line), "\n  %s ", help_opts[i].opt);
		bool want = !help_opts[i].flag || (t->flags & help_opts[i].flag);
		ck_assert_msg((strstr(r.out, line) != NULL) == want, "%s: '%s' %s in --help",
			      t->name, help_opts[i].opt, want ? "missing" : "listed");
	}
	if (t->help)
		ck_assert_ptr_nonnull(strstr(r.out, t->help));
	ck_assert_ptr_nonnull(strstr(r.out, "Exit status: 0 success, 1 failure, 2 usage error."));
	res_free(&r);
}

START_TEST(help)
{
	check_help(&tool, "--help");
	check_help(&tool, "-h");
	check_help(&bare, "--help");
	struct cli_tool all = bare;
	all.flags = CLI_SYSFS | CLI_DEVFS | CLI_PROCFS | CLI_MODULES | CLI_IDS | CLI_UNTRUSTED |
		    CLI_RUNTIME;
	check_help(&all, "--help");
}
END_TEST

START_TEST(version)
{
	struct res r;
	parse(&r, &tool, (const char *[]){"--version", NULL});
	ck_assert_int_eq(r.idx, -1);
	ck_assert_int_eq(r.st, 0);
	ck_assert_str_eq(r.out, "tap-setup " VERSION "\n");
	res_free(&r);
	parse(&r, &bare, (const char *[]){"-V", NULL});
	ck_assert_int_eq(r.st, 0);
	ck_assert_str_eq(r.out, "runner-exec " VERSION "\n");
	res_free(&r);
}
END_TEST

static const struct {
	const char *user, *group;
	uid_t uid;
	gid_t gid;
} ids_ok[] = {
	{"0", "0", 0, 0},
	{"root", "root", 0, 0},
	{"65534", "65534", 65534, 65534},
	{"nobody", "nogroup", 65534, 65534},
	{"990", "root", 990, 0}, /* a number need not exist */
};

START_TEST(resolve_ids)
{
	struct res r;
	struct mvm_error e;
	parse(&r, &tool,
	      (const char *[]){"--user", ids_ok[_i].user, "--group", ids_ok[_i].group, NULL});
	ck_assert_int_eq(cli_resolve_ids(&r.c, &e), 0);
	ck_assert_uint_eq(r.c.uid, ids_ok[_i].uid);
	ck_assert_uint_eq(r.c.gid, ids_ok[_i].gid);
	res_free(&r);
}
END_TEST

/* An unknown user or group: -ENOENT and e naming it, for the tool's one
 * error line; common/ itself prints nothing (error.h). */
START_TEST(resolve_unknown_ids)
{
	struct res r;
	struct mvm_error e;
	parse(&r, &tool, (const char *[]){"--user", "no-such-user-mvm", NULL});
	struct tu_capture cap;
	tu_capture_start(&cap, 2);
	int ret = cli_resolve_ids(&r.c, &e);
	char *s = tu_capture_end(&cap);
	ck_assert_int_eq(ret, -ENOENT);
	ck_assert_str_eq(s, "");
	ck_assert_str_eq(tu_error_str(&e), "unable to resolve user 'no-such-user-mvm': no such user");
	free(s);
	res_free(&r);
	parse(&r, &tool, (const char *[]){"--user", "root", "--group", "no-such-group-mvm", NULL});
	tu_capture_start(&cap, 2);
	ret = cli_resolve_ids(&r.c, &e);
	s = tu_capture_end(&cap);
	ck_assert_int_eq(ret, -ENOENT);
	ck_assert_str_eq(s, "");
	ck_assert_str_eq(tu_error_str(&e),
			 "unable to resolve group 'no-such-group-mvm': no such group");
	free(s);
	res_free(&r);
	/* (uid_t)-1 is not a uid: taken as a name, and there is none. */
	parse(&r, &tool, (const char *[]){"--user", "4294967295", NULL});
	ret = cli_resolve_ids(&r.c, &e);
	ck_assert_int_eq(ret, -ENOENT);
	ck_assert_str_eq(tu_error_str(&e), "unable to resolve user '4294967295': no such user");
	res_free(&r);
}
END_TEST

/* What a user sees: the tool's one line, once (tap-setup up, pci-bind
 * bind; before the lock, so no runtime dir is needed). */
START_TEST(resolve_unknown_ids_tools)
{
	static const char *const tools[][2] = {{"tap-setup", "up"}, {"pci-bind", "bind"}};
	char *bin = tu_bin(tools[_i][0]);
	const char *argv[] = {bin, "--user", "no-such-user-mvm", "--runtime-dir", "/nonexistent",
			      tools[_i][1], "vm1", NULL};
	struct tu_run r;
	tu_run(&r, argv);
	ck_assert_msg(r.status == 1, "%s: exit %d: %s", tools[_i][0], r.status, r.err);
	char *want = xasprintf("%s: vm1: unable to resolve user 'no-such-user-mvm': no such user\n",
			       tools[_i][0]);
	ck_assert_str_eq(r.err, want);
	free(want);
	tu_run_free(&r);
	free(bin);
}
END_TEST

/* A word too many is named, as an unknown verb or option is: an admin who
 * typed "tap-setup up web eth0" learns which word was not taken. Before,
 * each tool said only what it expected ("expected up|down|grant and a
 * VM name", "one VM NAME only", "start takes exactly one NAME"), as if
 * the name were missing. _i / 5: one word too many; two (the first is
 * named); one with a backslash and a control character (escaped as a
 * value is, so that "\\x41" is not shown as what "A" would be). */
START_TEST(usage_error_names_stray_argument)
{
	static const char *const cmd[][3] = {
		{"tap-setup", "up", "vm1"},
		{"pci-bind", "bind", "vm1"},
		{"virtiofs-launch", "vm1", NULL},
		{"runner-exec", "start", "vm1"},
		{"runner-exec", "stop", "vm1"},
	};
	static const struct {
		const char *words[2], *shown;
	} stray[] = {
		{{"stray", NULL}, "stray"},
		{{"stray", "more"}, "stray"},
		{{"st\\x41ray\x1b", NULL}, "st\\\\x41ray\\x1b"},
	};
	const char *const *c = cmd[_i % 5];
	char *bin = tu_bin(c[0]);
	const char *argv[6] = {bin};
	size_t n = 1;
	for (size_t k = 1; k < 3 && c[k]; k++)
		argv[n++] = c[k];
	for (size_t k = 0; k < 2 && stray[_i / 5].words[k]; k++)
		argv[n++] = stray[_i / 5].words[k];
	struct tu_run r;
	tu_run(&r, argv);
	char *want = xasprintf("%s: usage error: unexpected argument '%s' after the VM name "
			       "(usage: ", c[0], stray[_i / 5].shown);
	ck_assert_msg(r.status == 2, "%s: exit %d: %s", c[0], r.status, r.err);
	ck_assert_msg(!strncmp(r.err, want, strlen(want)), "%s: want %s... in: %s", c[0], want,
		      r.err);
	const char *nl = strchr(r.err, '\n');
	ck_assert_msg(nl && nl[1] == '\0', "%s: not one line: %s", c[0], r.err);
	free(want);
	tu_run_free(&r);
	free(bin);
}
END_TEST

/* The VM name missing after the verb: said so, by each tool, as a usage
 * error (exit 2) in one line. */
START_TEST(usage_error_missing_vm_name)
{
	static const char *const cmd[][3] = {
		{"tap-setup", "up", "up takes a VM name"},
		{"pci-bind", "bind", "bind takes a VM name"},
		{"virtiofs-launch", NULL, "the VM NAME is missing"},
		{"runner-exec", "start", "start takes a VM name"},
		{"runner-exec", "stop", "stop takes a VM name"},
	};
	char *bin = tu_bin(cmd[_i][0]);
	const char *argv[] = {bin, cmd[_i][1], NULL};
	struct tu_run r;
	tu_run(&r, argv);
	char *want = xasprintf("%s: usage error: %s (usage: ", cmd[_i][0], cmd[_i][2]);
	ck_assert_msg(r.status == 2, "%s: exit %d: %s", cmd[_i][0], r.status, r.err);
	ck_assert_msg(!strncmp(r.err, want, strlen(want)), "%s: want %s... in: %s", cmd[_i][0],
		      want, r.err);
	const char *nl = strchr(r.err, '\n');
	ck_assert_msg(nl && nl[1] == '\0', "%s: not one line: %s", cmd[_i][0], r.err);
	free(want);
	tu_run_free(&r);
	free(bin);
}
END_TEST

/* A verb the tool does not know is the first thing said, before any
 * word after the VM name, a missing name or an option that goes with
 * another verb: "tap-setup bogus web eth0" named 'eth0' as the stray
 * word (pci-bind the same), "tap-setup bogus" said only "expected
 * up|down|grant and a VM name", and "runner-exec --json bogus web" that
 * --json goes with status only. The verbs it knows are listed. */
START_TEST(usage_error_unknown_verb_first)
{
	static const char *const cmd[][5] = {
		{"tap-setup", "bogus", "web", "eth0", "(up, down or grant)"},
		{"tap-setup", "bogus", NULL, NULL, "(up, down or grant)"},
		{"pci-bind", "bogus", "web", "eth0", "(bind or unbind)"},
		{"pci-bind", "bogus", NULL, NULL, "(bind or unbind)"},
		{"runner-exec", "bogus", "web", "eth0",
		 "(start, stop, cleanup, register, unregister or status)"},
		{"runner-exec", "--json", "bogus", "web",
		 "(start, stop, cleanup, register, unregister or status)"},
	};
	char *bin = tu_bin(cmd[_i][0]);
	const char *argv[] = {bin, cmd[_i][1], cmd[_i][2], cmd[_i][3], NULL};
	struct tu_run r;
	tu_run(&r, argv);
	char *want = xasprintf("%s: usage error: unknown verb 'bogus' %s (usage: ", cmd[_i][0],
			       cmd[_i][4]);
	ck_assert_msg(r.status == 2, "%s: exit %d: %s", cmd[_i][0], r.status, r.err);
	ck_assert_msg(!strncmp(r.err, want, strlen(want)), "%s: want %s... in: %s", cmd[_i][0],
		      want, r.err);
	const char *nl = strchr(r.err, '\n');
	ck_assert_msg(nl && nl[1] == '\0', "%s: not one line: %s", cmd[_i][0], r.err);
	free(want);
	tu_run_free(&r);
	free(bin);
}
END_TEST

/* A verb without its VM name says which verb wants one, the same in each
 * tool that takes one VM. */
START_TEST(usage_error_verb_without_name)
{
	static const char *const cmd[][3] = {
		{"tap-setup", "up", NULL},
		{"pci-bind", "unbind", NULL},
		{"runner-exec", "stop", NULL},
		{"tap-setup", "--macvtap", "grant"},
	};
	char *bin = tu_bin(cmd[_i][0]);
	const char *argv[] = {bin, cmd[_i][1], cmd[_i][2], NULL};
	const char *verb = cmd[_i][2] ? cmd[_i][2] : cmd[_i][1];
	struct tu_run r;
	tu_run(&r, argv);
	char *want = xasprintf("%s: usage error: %s takes a VM name (usage: ", cmd[_i][0], verb);
	ck_assert_msg(r.status == 2, "%s: exit %d: %s", cmd[_i][0], r.status, r.err);
	ck_assert_msg(!strncmp(r.err, want, strlen(want)), "%s: want %s... in: %s", cmd[_i][0],
		      want, r.err);
	free(want);
	tu_run_free(&r);
	free(bin);
}
END_TEST

/* A root tool run by hand by someone who is not root fails for want of
 * permission, and says that it needs root: before, only "unable to lock
 * 'RUN/vm1.lock': Permission denied" (tap-setup, pci-bind) or "unable to
 * make 'a mount namespace': Operation not permitted" (virtiofs-launch),
 * which leave the admin to guess. Run as nobody (setpriv). */
START_TEST(not_root_says_so)
{
	static const char *const tools[] = {"tap-setup", "pci-bind", "virtiofs-launch"};
	static const char *const verb[] = {"up", "bind", NULL};
	struct tu_vm t;
	tu_vm_make(&t, "vm1");
	ck_assert_int_eq(mkdir(t.runtime, 0755), 0);
	char *bin = tu_bin(tools[_i]);
	const char *argv[20] = {"/usr/bin/setpriv", "--reuid=65534", "--regid=65534",
				"--clear-groups", "--", bin, "--state-dir", t.state,
				"--runtime-dir", t.runtime, "--group", "0"};
	size_t n = 12;
	if (_i < 2) {
		argv[n++] = "--user";
		argv[n++] = "0";
		argv[n++] = verb[_i];
	}
	argv[n++] = "vm1";
	argv[n] = NULL;
	struct tu_run r;
	tu_run(&r, argv);
	char *want = xasprintf(" (not root: %s runs as root)\n", tools[_i]);
	size_t l = strlen(r.err), wl = strlen(want);
	ck_assert_msg(r.status == 1 && l > wl && !strcmp(r.err + l - wl, want),
		      "%s: exit %d; want ...%s in: %s", tools[_i], r.status, want, r.err);
	ck_assert_msg(!strchr(r.err, '\n') || strchr(r.err, '\n')[1] == '\0',
		      "%s: not one line: %s", tools[_i], r.err);
	free(want);
	tu_run_free(&r);
	free(bin);
	tu_vm_free(&t);
}
END_TEST

/* virtiofs-launch's own options: a refused value says what would do, as
 * tap-setup's --mtu does ("not a number from 68 to 65535"). Before, only
 * "invalid value for --thread-pool-size: '1025'", and no page said 1024
 * was the most. */
START_TEST(virtiofs_bad_value_says_what_is_valid)
{
	static const char *const bad[][3] = {
		{"--virtiofsd-dialect", "go", "(rust or c)"},
		{"--thread-pool-size", "1025", "(a number from 0 to 1024)"},
		{"--rlimit-nofile", "-1", "(a number from 0 to 1073741824)"},
		{"--max-failures", "0", "(a number from 1 to 1000)"},
		{"--timeout", "5h", "(seconds, or a number with ms, s or min; at most a day)"},
		{"--grace", "1.5", "(seconds, or a number with ms, s or min; at most a day)"},
	};
	char *bin = tu_bin("virtiofs-launch");
	const char *argv[] = {bin, bad[_i][0], bad[_i][1], "vm1", NULL};
	struct tu_run r;
	tu_run(&r, argv);
	char *want = xasprintf("virtiofs-launch: usage error: invalid value for %s: '%s' %s (usage: ",
			       bad[_i][0], bad[_i][1], bad[_i][2]);
	ck_assert_msg(r.status == 2, "%s: exit %d: %s", bad[_i][0], r.status, r.err);
	ck_assert_msg(!strncmp(r.err, want, strlen(want)), "want %s... in: %s", want, r.err);
	free(want);
	tu_run_free(&r);
	free(bin);
}
END_TEST

/* A bad $MICROVM_LOCK_TIMEOUT is named after the VM it stops, as every
 * error of a run for a VM is, by both tools that take the lock. tap-setup
 * read it before the command line's operands: "tap-setup: unable to use
 * 'MICROVM_LOCK_TIMEOUT': ...", no VM named (pci-bind named it), and with
 * no VM name given, that instead of the usage error. */
START_TEST(lock_timeout_error_names_the_vm)
{
	static const char *const tools[][2] = {{"tap-setup", "down"}, {"pci-bind", "unbind"}};
	char *bin = tu_bin(tools[_i][0]);
	const char *argv[] = {bin, "--runtime-dir", "/nonexistent", tools[_i][1], "vm1", NULL};
	const char *env[] = {"MICROVM_LOCK_TIMEOUT=soon", NULL};
	struct tu_run r;
	tu_run_env(&r, argv, env);
	char *want = xasprintf("%s: vm1: unable to use 'MICROVM_LOCK_TIMEOUT': not a number of "
			       "seconds from 0 to 3600: 'soon'\n",
			       tools[_i][0]);
	ck_assert_msg(r.status == 2 && !strcmp(r.err, want), "%s: exit %d; want %s got %s",
		      tools[_i][0], r.status, want, r.err);
	free(want);
	tu_run_free(&r);
	argv[3] = NULL; /* no verb, no name: the usage error comes first */
	tu_run_env(&r, argv, env);
	ck_assert_msg(r.status == 2 && strstr(r.err, ": usage error: "), "%s: exit %d: %s",
		      tools[_i][0], r.status, r.err);
	tu_run_free(&r);
	free(bin);
}
END_TEST

/* prog's --help (exit 0) into *r, and its man page TOOL/TOOL.8 into
 * *page (its path into *page_path); free with help_page_free(). */
struct help_page {
	char *bin, *page_path, *page;
	struct tu_run r;
};

static void help_page_read(struct help_page *h, const char *prog)
{
	h->bin = tu_bin(prog);
	const char *argv[] = {h->bin, "--help", NULL};
	tu_run(&h->r, argv);
	ck_assert_int_eq(h->r.status, 0);
	h->page_path = xasprintf("%s/%s/%s.8", SRC_DIR, prog, prog);
	size_t len;
	ck_assert_msg(read_file(h->page_path, 1 << 20, &h->page, &len) == 0, "read %s",
		      h->page_path);
}

static void help_page_free(struct help_page *h)
{
	free(h->page);
	free(h->page_path);
	tu_run_free(&h->r);
	free(h->bin);
}

/* Every long option a tool's --help lists is in its man page (as the
 * page writes it, "\-\-NAME"): an option added to a tool and to its
 * --help alone would leave the page short of it. */
START_TEST(help_options_in_man_page)
{
	static const char *const tools[] = {"tap-setup", "pci-bind", "virtiofs-launch",
					    "runner-exec"};
	const char *prog = tools[_i];
	struct help_page h = {0};
	help_page_read(&h, prog);
	const char *page = h.page, *page_path = h.page_path;
	int n = 0;
	for (char *line = h.r.out, *nl; line && *line; line = (nl = strchr(line, '\n')) ? nl + 1 : NULL) {
		/* "  --name ..." or "  -x, --name ...": an option's own line */
		const char *o = line + strspn(line, " ");
		if (o == line)
			continue;
		if (o[0] == '-' && o[1] != '-' && o[2] == ',')
			o += 4;
		if (strncmp(o, "--", 2) != 0)
			continue;
		size_t k = strspn(o + 2, "abcdefghijklmnopqrstuvwxyz-");
		char want[96] = "\\-\\-";
		for (size_t j = 0; j < k && strlen(want) < sizeof(want) - 3; j++) {
			size_t w = strlen(want);
			if (o[2 + j] == '-')
				want[w++] = '\\';
			want[w++] = o[2 + j];
			want[w] = '\0';
		}
		ck_assert_msg(strstr(page, want), "%s: --%.*s (in --help) is not in %s", prog,
			      (int)k, o + 2, page_path);
		n++;
	}
	ck_assert_msg(n >= 8, "%s: only %d options found in --help: %s", prog, n, h.r.out);
	help_page_free(&h);
}
END_TEST

/* What each tool keeps in --runtime-dir, as its --help and its man page
 * say it: tap-setup its interfaces' records and the VMs' locks, pci-bind
 * its devices' record and the locks, virtiofs-launch a tmpfs of mounts
 * and, below it, the record of the writable sources it serves (no lock of
 * its own); runner-exec takes no --runtime-dir. Before, all
 * three printed one line for the three ("records and locks;
 * virtiofs-launch: its mounts"). */
static const struct {
	const char *prog;
	const char *want[5]; /* in both, NULL-terminated */
	const char *not[3];  /* in neither */
} runtime_help[] = {
	{"tap-setup", {"/tap", "/macvtap", ".lock", NULL}, {"/pci", "mount", NULL}},
	{"pci-bind", {"/pci", ".lock", NULL}, {"/tap", "mount", NULL}},
	{"virtiofs-launch", {"/virtiofs/", ".root/", "mount", "/virtiofs-writable", NULL},
	 {".lock", "/tap", NULL}},
	{"runner-exec", {NULL}, {NULL}},
};

/* The text from the first "\n" + head in s to the next line that begins
 * with stop (the next option, or the next paragraph), or NULL. */
static char *entry_of(const char *s, const char *head, const char *stop)
{
	char *h = xasprintf("\n%s", head), *n = xasprintf("\n%s", stop);
	const char *b = strstr(s, h), *e = b ? strstr(b + strlen(h), n) : NULL;
	char *r = b ? strndup(b + 1, e ? (size_t)(e - b - 1) : strlen(b + 1)) : NULL;
	free(h);
	free(n);
	return r;
}

START_TEST(runtime_dir_help_per_tool)
{
	const char *prog = runtime_help[_i].prog;
	struct help_page h = {0};
	help_page_read(&h, prog);
	const char *page_path = h.page_path;
	struct tu_run r = h.r;
	char *line = entry_of(r.out, "  --runtime-dir DIR ", "  -");
	char *para = entry_of(h.page, ".BI \\-\\-runtime\\-dir \" DIR\"", ".TP");
	if (!runtime_help[_i].want[0]) {
		ck_assert_msg(!line, "%s: --help lists --runtime-dir: %s", prog, line);
		ck_assert_msg(!para, "%s: its man page lists --runtime-dir", prog);
	} else {
		ck_assert_msg(line, "%s: no --runtime-dir in --help: %s", prog, r.out);
		ck_assert_msg(para, "%s: no --runtime-dir in %s", prog, page_path);
	}
	for (size_t k = 0; runtime_help[_i].want[k]; k++) {
		const char *w = runtime_help[_i].want[k];
		ck_assert_msg(strstr(line, w), "%s: --help's --runtime-dir does not say '%s': %s",
			      prog, w, line);
		ck_assert_msg(strstr(para, w), "%s: %s's --runtime-dir does not say '%s': %s", prog,
			      page_path, w, para);
	}
	for (size_t k = 0; runtime_help[_i].not[k]; k++) {
		const char *w = runtime_help[_i].not[k];
		ck_assert_msg(!strstr(line, w), "%s: --help's --runtime-dir says '%s': %s", prog, w,
			      line);
		ck_assert_msg(!strstr(para, w), "%s: %s's --runtime-dir says '%s': %s", prog,
			      page_path, w, para);
	}
	free(line);
	free(para);
	help_page_free(&h);
}
END_TEST

/* A VM that is not there (a mistyped name) is named as such, as
 * runner-exec status names it: before, "unable to resolve
 * 'STATE/nosuch/current': No such file or directory", as if the VM were
 * there without its link. _i 4: the same with a pin for it. */
START_TEST(missing_vm_is_named)
{
	static const char *const cmd[][6] = {
		{"tap-setup", "--user", "0", "--group", "0", "up"},
		{"pci-bind", "--user", "0", "--group", "0", "bind"},
		{"virtiofs-launch", "--group", "0", "-n", NULL, NULL},
		{"runner-exec", "start", NULL, NULL, NULL, NULL},
		{"runner-exec", "start", NULL, NULL, NULL, NULL},
	};
	char *tmp = tu_tmpdir();
	char *state = tu_path(tmp, "state"), *run = tu_path(tmp, "run"), *pins = tu_path(tmp, "pins");
	ck_assert_int_eq(mkdir(state, 0755), 0);
	ck_assert_int_eq(mkdir(pins, 0755), 0);
	char *pin = tu_path(pins, "nosuch");
	if (_i == 4)
		tu_symlink("/nix/store/x-runner", pin);
	char *bin = tu_bin(cmd[_i][0]);
	const char *argv[16] = {bin, "--state-dir", state, NULL};
	size_t n = 3;
	if (strcmp(cmd[_i][0], "runner-exec") != 0) {
		argv[n++] = "--runtime-dir";
		argv[n++] = run;
	}
	for (size_t k = 1; k < 6 && cmd[_i][k]; k++)
		argv[n++] = cmd[_i][k];
	argv[n++] = "nosuch";
	argv[n] = NULL;
	char *pins_env = xasprintf("MICROVM_RUNNER_PINS=%s", pins);
	const char *env[] = {pins_env, NULL};
	struct tu_run r;
	tu_run_env(&r, argv, env);
	char *want = xasprintf("%s: nosuch: unable to find VM 'nosuch': no directory '%s/nosuch'\n",
			       cmd[_i][0], state);
	ck_assert_msg(r.status == 1 && !strcmp(r.err, want), "%s: exit %d; want %sgot %s",
		      cmd[_i][0], r.status, want, r.err);
	ck_assert_msg(access(run, F_OK) < 0, "%s made %s", cmd[_i][0], run);
	free(want);
	tu_run_free(&r);
	free(pins_env);
	free(bin);
	free(pin);
	tu_rm_rf(tmp);
	free(pins);
	free(run);
	free(state);
	free(tmp);
}
END_TEST

Suite *cli_suite(void)
{
	Suite *s = suite_create("cli");
	TCase *tc = tu_tcase_create("parse");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, defaults);
	tcase_add_test(tc, env_overrides);
	tcase_add_test(tc, shared_options);
	tcase_add_test(tc, tool_options);
	tcase_add_loop_test(tc, usage_error, 0, ARRAY_SIZE(usage_errors));
	tcase_add_test(tc, usage_error_long_argument);
	tcase_add_test(tc, usage_error_call);
	tcase_add_test(tc, usage_error_two_forms_one_line);
	tcase_add_test(tc, help);
	tcase_add_test(tc, version);
	tcase_add_loop_test(tc, resolve_ids, 0, ARRAY_SIZE(ids_ok));
	tcase_add_test(tc, resolve_unknown_ids);
	tcase_add_loop_test(tc, resolve_unknown_ids_tools, 0, 2);
	tcase_add_loop_test(tc, usage_error_names_stray_argument, 0, 15);
	tcase_add_loop_test(tc, usage_error_missing_vm_name, 0, 5);
	tcase_add_loop_test(tc, usage_error_unknown_verb_first, 0, 6);
	tcase_add_loop_test(tc, usage_error_verb_without_name, 0, 4);
	tcase_add_loop_test(tc, virtiofs_bad_value_says_what_is_valid, 0, 6);
	tcase_add_loop_test(tc, lock_timeout_error_names_the_vm, 0, 2);
	tcase_add_loop_test(tc, help_options_in_man_page, 0, 4);
	tcase_add_loop_test(tc, runtime_dir_help_per_tool, 0, ARRAY_SIZE(runtime_help));
	tu_add_loop_test_if(tc, missing_vm_is_named, 0, 5, tu_need_root());
	tu_add_loop_test_if(tc, not_root_says_so, 0, 3, tu_need_root());
	suite_add_tcase(s, tc);
	return s;
}
