/* SPDX-License-Identifier: MIT */
/* tap-setup: create (up) and delete (down) the TAP or macvtap interfaces
 * of one VM. The TAPs are made with the /dev/net/tun ioctls; everything
 * else (the link dump, up, master, MTU, link group, macvtap, delete) goes
 * through one libnl-route socket. What up creates is recorded under the
 * runtime dir before it is created, and down undoes exactly that, without
 * the runner package, even after up was killed.
 *
 * Safety (DESIGN.md section 3): an existing interface of a wanted name is
 * replaced only when it is a TAP (macvtap) that no process holds open;
 * anything else is refused before the host is changed. up is all or
 * nothing: on a failure the interfaces this run created are removed. The
 * runs for one VM take turns (its lock in the runtime dir).
 *
 * This file: the command line, the lock, the verbs (up.c, down.c). */
#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "caps.h"
#include "lock.h"
#include "log.h"
#include "seccomp.h"
#include "tap-setup.h"
#include "util.h"

enum { OPT_MACVTAP = CLI_TOOL_OPT, OPT_BRIDGE, OPT_MTU, OPT_QDISC, OPT_NO_GRANT };

static const struct option tool_options[] = {
	{ "macvtap", no_argument, NULL, OPT_MACVTAP },
	{ "bridge", required_argument, NULL, OPT_BRIDGE },
	{ "mtu", required_argument, NULL, OPT_MTU },
	{ "qdisc", required_argument, NULL, OPT_QDISC },
	{ "no-grant", no_argument, NULL, OPT_NO_GRANT },
	{ 0 },
};

/* "unable to use WHAT 'ARG' [of FROM]: WHY", ARG escaped; from: the
 * variable the value came from, or NULL for an option. -EINVAL. */
static int bad_value(const char *what, const char *arg, const char *from, const char *why)
{
	char esc[256];
	log_err("unable to use %s '%s'%s%s: %s", what, escape_value(arg, strlen(arg), esc, sizeof(esc)),
		from ? " of " : "", from ? from : "", why);
	return -EINVAL;
}

static int set_bridge(struct opts *o, const char *arg, const char *from)
{
	const char *why = ifname_invalid(arg, strlen(arg));
	if (why)
		return bad_value("bridge", arg, from, why);
	o->bridge = arg;
	return 0;
}

static int set_mtu(struct opts *o, const char *arg, const char *from)
{
	unsigned long v;
	if (parse_uint(arg, 65535, &v) < 0 || v < 68)
		return bad_value("MTU", arg, from, "not a number from 68 to 65535");
	o->mtu = (unsigned)v;
	return 0;
}

/* noqueue (the default) or default: the kernel's own root qdisc. */
static int set_qdisc(struct opts *o, const char *arg, const char *from)
{
	if (strcmp(arg, "noqueue") != 0 && strcmp(arg, "default") != 0)
		return bad_value("qdisc", arg, from, "not noqueue or default");
	o->qdisc = arg;
	o->kernel_qdisc = strcmp(arg, "default") == 0;
	return 0;
}

/* The value of an option as given, else of its variable var (NULL: none
 * read), *from then naming it; NULL when neither is set. */
static const char *option_or_env(const char *arg, const char *var, const char **from)
{
	const char *env = var ? getenv(var) : NULL;
	*from = arg || !env || !*env ? NULL : var;
	return arg ? arg : *from ? env : NULL;
}

static const char *arg_bridge, *arg_mtu, *arg_qdisc;

static int handle_option(int opt, const char *arg, void *userdata)
{
	struct opts *o = userdata;
	switch (opt) {
	case OPT_MACVTAP:
		o->macvtap = true;
		return 0;
	/* Values checked after the verb is known: by up alone. */
	case OPT_BRIDGE:
		arg_bridge = arg;
		return 0;
	case OPT_MTU:
		arg_mtu = arg;
		return 0;
	case OPT_QDISC:
		arg_qdisc = arg;
		return 0;
	case OPT_NO_GRANT:
		o->no_grant = true;
		return 0;
	}
	return -EINVAL;
}

struct opts opts;

static const struct cli_tool tool = {
	.name = "tap-setup",
	.synopsis = "[OPTIONS] up|down|grant NAME",
	.summary = "Create or delete the TAP (or macvtap) interfaces of a MicroVM.",
	.help = "Verbs:\n"
		"  up NAME           create the interfaces of share/microvm/tap-interfaces of\n"
		"                    the VM's runner (root's pin, else current)\n"
		"  down NAME         delete the interfaces the record of 'up' names\n"
		"  grant NAME        (--macvtap) give the /dev/tapN that 'up --no-grant'\n"
		"                    left root's to the VM user, as a step of its own\n"
		"\n"
		"Options:\n"
		"  --macvtap         use share/microvm/macvtap-interfaces (ID MAC LINK MODE)\n"
		"  --no-grant        (up --macvtap) leave each /dev/tapN root's, for 'grant'\n"
		"  --bridge BR       enslave every TAP to bridge BR ($MICROVM_TAP_BRIDGE)\n"
		"  --mtu N           set the MTU of every interface, 68 to 65535\n"
		"                    ($MICROVM_TAP_MTU)\n"
		"  --qdisc Q         a TAP's root qdisc: noqueue (default; the TAP drops\n"
		"                    what its VM does not read in time either way) or\n"
		"                    default (the kernel's: 6.5 MiB a multi_queue TAP)\n"
		"                    ($MICROVM_TAP_QDISC)\n",
	.runtime_dir_help = "the records of the interfaces 'up' made, NAME/tap and\n"
			    "NAME/macvtap, and each VM's lock, NAME.lock",
	.flags = CLI_SYSFS | CLI_DEVFS | CLI_PROCFS | CLI_IDS | CLI_UNTRUSTED | CLI_RUNTIME | CLI_ROOT,
	.options = tool_options,
	.handle = handle_option,
	.userdata = &opts,
};

/* ---- main ------------------------------------------------------------------- */

/* grant runs as a privileged step of the unit (ExecStartPost=+), outside
 * its sandbox: before it reads anything, it keeps CAP_CHOWN and
 * CAP_DAC_READ_SEARCH alone (of those it has), no_new_privs and the
 * system call filter of up and down. */
static int grant_confine(struct mvm_error *e)
{
	struct caps cs;
	int r = caps_get(&cs);
	if (r == 0) {
		cs.prm &= CAP_BIT(CAP_CHOWN) | CAP_BIT(CAP_DAC_READ_SEARCH);
		cs.eff = cs.prm;
		cs.inh = 0;
		r = caps_set(&cs);
	}
	if (r == 0 && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		r = -errno;
	if (r == 0)
		r = seccomp_confine(true);
	return r < 0 ? mvm_error_set(e, -r, "drop", "capabilities", NULL) : 0;
}

/* up and down: from here on only the scanner holds CAP_SYS_PTRACE
 * (common/procfd.h), and no socket but rtnetlink is made
 * (common/seccomp.h). */
static int scan_confine(struct fd_scanner *scan, const struct cli *c, struct mvm_error *e)
{
	if (fd_scanner_start(scan, c->procfs, e) < 0)
		return -1;
	int sr = seccomp_confine(true);
	if (sr < 0)
		return mvm_error_set(e, -sr, "set", "the system call filter", NULL);
	bool root_scan = !scan->as_nobody, root_group = getegid() == 0;
	if (geteuid() == 0 && (root_scan || root_group))
		log_warn("%s%s%s: no CAP_SETUID and CAP_SETGID (see SECURITY in tap-setup(8))",
			 root_scan ? "the scan of /proc runs as root" : "",
			 root_scan && root_group ? ", and " : "",
			 root_group ? "tap-setup keeps group root" : "");
	return 0;
}

int main(int argc, char **argv)
{
	struct cli c;
	struct mvm_error e = { 0 };
	int st, lock = -1;
	long wait_ms;

	int i = cli_parse(&tool, argc, argv, &c, &st);
	if (i < 0)
		return st;
	static const char *const verbs[] = { "up", "down", "grant", NULL };
	int vi = cli_verb(&tool, argc, argv, i, verbs, &st);
	if (vi < 0)
		return st;
	const char *name = cli_vm_operand(&tool, argc, argv, i + 1, verbs[vi], &st);
	if (!name)
		return st;
	bool up = vi == 0, give = vi == 2;
	if (give && !opts.macvtap)
		return cli_usage_error(&tool, "grant applies to macvtaps (--macvtap)");
	if (opts.no_grant && !(up && opts.macvtap))
		return cli_usage_error(&tool, "--no-grant applies to up --macvtap");
	if (up && arg_bridge && opts.macvtap)
		return cli_usage_error(&tool, "--bridge applies to TAPs, not to macvtaps");
	if (vm_name_check(name, &e) < 0) { /* a usage error, named in its own words */
		log_error_info(&e);
		return 2;
	}
	/* Every line from here on names the VM, a bad value below too. */
	log_set_subject(name);
	/* --bridge, --mtu and --qdisc, and the variables that are their
	 * defaults (an option wins), are up's: checked and used by up alone.
	 * The units give down the same options, so a bad value in a drop-in
	 * changed while the VM ran does not stand in the way of the down that
	 * takes back what up made. A bridge is for TAPs only; so is a qdisc
	 * (macvtaps have no queue of their own), but --qdisc given to a
	 * macvtap up is still checked, as it always was. */
	if (up) {
		const char *from, *v;
		bool tap = !opts.macvtap;
		if ((v = option_or_env(arg_qdisc, tap ? "MICROVM_TAP_QDISC" : NULL, &from)) &&
		    set_qdisc(&opts, v, from) < 0)
			return 2;
		if ((v = option_or_env(arg_bridge, tap ? "MICROVM_TAP_BRIDGE" : NULL, &from)) &&
		    set_bridge(&opts, v, from) < 0)
			return 2;
		if ((v = option_or_env(arg_mtu, "MICROVM_TAP_MTU", &from)) &&
		    set_mtu(&opts, v, from) < 0)
			return 2;
	}
	if (lock_timeout_ms(&wait_ms, &e) < 0) {
		log_error_info(&e);
		return 2;
	}
	/* Before anything a VM user can change is read. */
	struct fd_scanner scan = { .pid = 0, .sock = -1 };
	int r = give ? grant_confine(&e) : scan_confine(&scan, &c, &e);
	if (r == 0 && (up || give))
		r = cli_resolve_ids(&c, &e);
	/* The runner before the lock: a VM that is not there (a mistyped
	 * name) fails before the lock file is made, and changes nothing. */
	struct vm vm = { 0 };
	if (r == 0 && (up || give))
		r = vm_open(&vm, c.state_dir, name, VM_CURRENT, c.allow_untrusted, &e);
	/* Every run for this VM, tap or macvtap, up, down or grant (a dry run
	 * too, without making the file), waits for the one before; a down
	 * for a VM that no run made anything for makes no lock either. */
	if (r == 0)
		r = up || give ? vm_lock(c.runtime_dir, name, wait_ms, !c.dry_run, &lock, &e)
			       : vm_lock_to_undo(c.runtime_dir, name, wait_ms, !c.dry_run, &lock, &e);
	if (r != 0) {
		if (r < 0)
			log_error_info(&e);
		else
			log_debug("nothing made for the VM: nothing to delete");
		vm_close(&vm);
		fd_scanner_stop(&scan);
		return r < 0;
	}

	struct ctx x = { .c = &c,
			 .vm = name,
			 .kind = opts.macvtap ? "macvtap" : "tap",
			 .mac = opts.macvtap,
			 .scan = give ? NULL : &scan };
	if (up || give)
		r = give ? grant(&x, &vm, &e)
		    : opts.macvtap ? up_macvtaps(&x, &vm, &e)
		    : up_taps(&x, &vm, &e);
	else
		r = down(&x, &e);
	vm_close(&vm);
	ctx_close(&x);
	fd_scanner_stop(&scan);
	if (lock >= 0)
		close(lock);
	if (r < 0) {
		log_error_info(&e);
		return 1;
	}
	return 0;
}
