/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the command line every tool parses (common/cli.c),
 * the only input a root helper takes from its caller rather than from a
 * file. The input is argv: arguments separated by NUL bytes (argv[0] is
 * the tool's name). cli_parse() must return either the index of the first
 * operand, within argv, or -1 with exit status 0 (--help, --version) or 2
 * (usage error), and every path it sets must be a default or an argument.
 * It is called many times in one process here, as in the tests: getopt's
 * state must not leak from one call into the next.
 * Build: make fuzz; run: build/fuzz/fuzz-cli tests/fuzz/corpus/cli */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "cli.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);

#define MAX_ARGS 64

enum { OPT_FLAG = CLI_TOOL_OPT, OPT_VALUE };

static const struct option extra[] = {
	{ "flag", no_argument, NULL, OPT_FLAG },
	{ "value", required_argument, NULL, OPT_VALUE },
	{ 0 },
};

static int handle(int opt, const char *arg, void *userdata)
{
	(void)userdata;
	if (opt == OPT_VALUE && arg && strcmp(arg, "bad") == 0)
		return -1; /* a tool refusing a value */
	return opt == OPT_FLAG || opt == OPT_VALUE || opt == 'j' ? 0 : -1;
}

static const struct cli_tool tool = {
	.name = "fuzz-cli",
	.synopsis = "[OPTIONS] VERB NAME",
	.summary = "the shared command line",
	.help = "  --flag, --value V, -j\n",
	.flags = CLI_SYSFS | CLI_DEVFS | CLI_PROCFS | CLI_MODULES | CLI_IDS | CLI_UNTRUSTED |
		 CLI_RUNTIME,
	.options = extra,
	.shortopts = "j",
	.handle = handle,
};

/* A pointer that is a default (a string literal or the environment's) or
 * one of the arguments. */
static void check_source(const char *p, char **argv, int argc)
{
	if (!p)
		return;
	for (int i = 0; i < argc; i++)
		if (p >= argv[i] && p <= argv[i] + strlen(argv[i]))
			return;
	CHECK(p[0] == '/' || p == getenv("MICROVM_MODULES_DIR") || strcmp(p, "microvm") == 0 ||
	      strcmp(p, "kvm") == 0);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* --help and usage errors print: keep the fuzzer's output readable. */
	if (!freopen("/dev/null", "w", stdout))
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1);
	char *argv[MAX_ARGS + 2];
	int argc = 0;
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	argv[argc++] = (char *)"fuzz-cli";
	for (size_t i = 0; i <= size && argc < MAX_ARGS;) {
		argv[argc++] = buf + i;
		i += strlen(buf + i) + 1;
	}
	argv[argc] = NULL;
	struct cli c;
	int st = -1;
	/* stderr gets the usage errors: silence it for the call only. */
	int saved = dup(2);
	if (!freopen("/dev/null", "w", stderr))
		abort();
	int r = cli_parse(&tool, argc, argv, &c, &st);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	if (r < 0) {
		CHECK(st == 0 || st == 2 || st == 1);
	} else {
		CHECK(r >= 1 && r <= argc);
		check_source(c.state_dir, argv, argc);
		check_source(c.runtime_dir, argv, argc);
		check_source(c.sysfs, argv, argc);
		check_source(c.devfs, argv, argc);
		check_source(c.procfs, argv, argc);
		check_source(c.modules_dir, argv, argc);
		check_source(c.user, argv, argc);
		check_source(c.group, argv, argc);
		CHECK(c.verbose >= 0);
	}
	free(buf);
	/* Whatever came before, a plain command line parses the same. */
	char a0[] = "fuzz-cli", a1[] = "--state-dir", a2[] = "/s", a3[] = "up", a4[] = "vm";
	char *plain[] = { a0, a1, a2, a3, a4, NULL };
	r = cli_parse(&tool, 5, plain, &c, &st);
	CHECK(r == 3);
	CHECK(c.state_dir == a2 && !c.dry_run && c.verbose == 0 && !c.allow_untrusted);
	return 0;
}
