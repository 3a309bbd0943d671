/* SPDX-License-Identifier: MIT */
/* pci-bind: hand a VM's PCI devices to vfio-pci, and give them back.
 *
 *   bind NAME    load vfio-pci (libkmod), check each device's IOMMU group,
 *                rebind each device in share/microvm/pci-devices to
 *                vfio-pci, give /dev/vfio/GROUP to the VM user; all or
 *                nothing; record each device's previous driver and
 *                driver_override; refuse a device another VM's record lists.
 *   unbind NAME  give every recorded device back to its previous driver,
 *                its driver_override back to what it was.
 *
 * Rebinding follows libvirt (src/util/virpci.c): write driver_override,
 * unbind from the current driver, write drivers_probe, then check the
 * `driver` link, since the kernel can refuse a bind without an error.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libkmod.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <linux/capability.h>

#include "caps.h"
#include "cli.h"
#include "layout.h"
#include "lock.h"
#include "log.h"
#include "record.h"
#include "util.h"
#include "vm.h"

#define VFIO_DRIVER "vfio-pci"
#define VFIO_MODULE "vfio-pci"
#define RECORD_KIND "pci"
#define DRIVER_MAX PCI_DRIVER_MAX

enum { OPT_BIND_GROUP = CLI_TOOL_OPT, OPT_MODPROBE_CONFIG };

static const struct option options[] = {
	{ "bind-group", no_argument, NULL, OPT_BIND_GROUP },
	{ "modprobe-config", required_argument, NULL, OPT_MODPROBE_CONFIG },
	{ 0 },
};

struct opts {
	bool bind_group;
	const char *modprobe_config;
};

static int handle(int opt, const char *arg, void *userdata)
{
	struct opts *o = userdata;
	switch (opt) {
	case OPT_BIND_GROUP:
		o->bind_group = true;
		return 0;
	case OPT_MODPROBE_CONFIG:
		o->modprobe_config = arg;
		return 0;
	}
	return -EINVAL;
}

static struct opts opts;

static const struct cli_tool tool = {
	.name = "pci-bind",
	.synopsis = "[OPTIONS] bind|unbind NAME",
	.summary = "Hand a VM's PCI devices to vfio-pci (bind), give them back (unbind).",
	.help = "Verbs:\n"
		"  bind NAME            rebind each device of share/microvm/pci-devices to\n"
		"                       vfio-pci, give /dev/vfio/GROUP to the VM user\n"
		"  unbind NAME          give the devices back to their previous drivers\n"
		"\n"
		"Options:\n"
		"  --bind-group         also bind the other devices of a device's IOMMU group\n"
		"  --modprobe-config P  modprobe.d directory or file for libkmod's blacklist\n"
		"                       (default libkmod's: /etc/modprobe.d, /lib/modprobe.d, ...)\n",
	.runtime_dir_help = "the record of the devices 'bind' rebound, NAME/pci, each\n"
			    "VM's lock, NAME.lock, and a lock of DIR itself",
	.flags = CLI_SYSFS | CLI_DEVFS | CLI_MODULES | CLI_IDS | CLI_UNTRUSTED | CLI_RUNTIME | CLI_ROOT,
	.options = options,
	.handle = handle,
	.userdata = &opts,
};

static struct cli c;
static const char *vm_name;
static long lock_wait_ms; /* $MICROVM_LOCK_TIMEOUT */

/* One device this run handles, or one line of the record. */
struct dev {
	char addr[16];
	char prev[DRIVER_MAX]; /* driver before bind, "" for none */
	char override[DRIVER_MAX]; /* driver_override before bind, "" for none */
	bool by_group;	       /* bound because it shares a group (--bind-group) */
	bool from_record;      /* entry of an earlier record */
	bool claimed;	       /* recorded as claimed, prev and override not read again */
	bool changed;	       /* this run wrote to it */
	bool failed;	       /* unbind could not give it back */
	char group[16];
	bool node_given;       /* this run changed its group's node ... */
	struct stat node_was;  /* ... which was this before */
};

/* A group's node as the record keeps it: what unbind puts back. */
struct node {
	struct pci_node was;
	bool from_record; /* a line of an earlier record */
	bool failed;	  /* a failed bind could not give it back */
};

/* Devices; for the record, the nodes too. */
struct devs {
	size_t n;
	struct dev *v;
	size_t nn;
	struct node *nodes;
};

static void devs_free(struct devs *d)
{
	free(d->v);
	free(d->nodes);
	*d = (struct devs){ 0 };
}

static struct node *nodes_find(const struct devs *d, const char *group)
{
	for (size_t i = 0; i < d->nn; i++)
		if (!strcmp(d->nodes[i].was.group, group))
			return &d->nodes[i];
	return NULL;
}

/* Group g's node, to be put back to uid:gid mode, into d (not when it
 * has one already): 0, or -ENOMEM. */
static int nodes_add(struct devs *d, const char *g, uid_t uid, gid_t gid, mode_t mode)
{
	if (nodes_find(d, g))
		return 0;
	struct node *nv = realloc(d->nodes, (d->nn + 1) * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	d->nodes = nv;
	struct node *x = &d->nodes[d->nn++];
	*x = (struct node){ .was = { .uid = uid, .gid = gid, .mode = mode & 07777 } };
	snprintf(x->was.group, sizeof(x->was.group), "%s", g);
	return 0;
}

static struct dev *devs_add(struct devs *d, const char *addr)
{
	struct dev *nv = realloc(d->v, (d->n + 1) * sizeof(*nv));
	if (!nv)
		return NULL;
	d->v = nv;
	struct dev *x = &d->v[d->n++];
	*x = (struct dev){ 0 };
	snprintf(x->addr, sizeof(x->addr), "%s", addr);
	return x;
}

static struct dev *devs_find(const struct devs *d, const char *addr)
{
	for (size_t i = 0; i < d->n; i++)
		if (strcmp(d->v[i].addr, addr) == 0)
			return &d->v[i];
	return NULL;
}

/* ---- sysfs ---- */

static char *dev_path(const char *addr, const char *attr)
{
	return xasprintf("%s/bus/pci/devices/%s%s%s", c.sysfs, addr, attr ? "/" : "", attr ? attr : "");
}

/* The device's current driver into buf ("" for none): 0 or -errno. */
static int dev_driver(const char *addr, char *buf, size_t size)
{
	_cleanup_free_ char *p = dev_path(addr, "driver");
	_cleanup_free_ char *d = NULL;
	if (!p)
		return -ENOMEM;
	int r = read_link_base(p, &d);
	buf[0] = '\0';
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	snprintf(buf, size, "%s", d);
	return 0;
}

/* Every sysfs write goes through here: printed under --dry-run. */
static int sysfs_write(const char *path, const char *value, struct mvm_error *e)
{
	char esc[128];
	escape_value(value, strlen(value), esc, sizeof(esc));
	if (c.dry_run) {
		log_action("write '%s' to %s", esc, ESC(path));
		return 0;
	}
	log_debug("write '%s' to %s", esc, ESC(path));
	int r = write_str(path, value);
	if (r < 0) {
		char verb[sizeof(esc) + 16];
		snprintf(verb, sizeof(verb), "write '%s' to", esc);
		return mvm_error_set(e, r, verb, path, NULL);
	}
	return 0;
}

static int write_override(const char *addr, const char *value, struct mvm_error *e)
{
	_cleanup_free_ char *p = dev_path(addr, "driver_override");
	return p ? sysfs_write(p, value, e)
		 : mvm_error_set(e, ENOMEM, "write the driver_override of", addr, NULL);
}

static int write_unbind(const char *driver, const char *addr, struct mvm_error *e)
{
	_cleanup_free_ char *p = xasprintf("%s/bus/pci/drivers/%s/unbind", c.sysfs, driver);
	return p ? sysfs_write(p, addr, e) : mvm_error_set(e, ENOMEM, "unbind", addr, NULL);
}

static int write_probe(const char *addr, struct mvm_error *e)
{
	_cleanup_free_ char *p = xasprintf("%s/bus/pci/drivers_probe", c.sysfs);
	return p ? sysfs_write(p, addr, e) : mvm_error_set(e, ENOMEM, "probe", addr, NULL);
}

/* x's driver_override into x->override ("" for none: the kernel shows
 * "(null)"). One that is no driver name could not be kept in the record
 * (nor is it a pin an admin makes): refused. */
static int read_override(struct dev *x, struct mvm_error *e)
{
	_cleanup_free_ char *p = dev_path(x->addr, "driver_override");
	_cleanup_free_ char *v = NULL;
	int r = p ? read_line(p, &v) : -ENOMEM;
	if (r < 0)
		return mvm_error_set(e, r, "read", p ? p : x->addr, NULL);
	if (!strcmp(v, "(null)") || !*v) {
		x->override[0] = '\0';
		return 0;
	}
	if (!strcmp(v, "-") || !strcmp(v, "?") || strpbrk(v, " \t") ||
	    component_invalid(v, sizeof(x->override) - 1)) {
		mvm_error_set(e, EINVAL, "bind", x->addr,
			      "its driver_override is no driver name, which the record could not "
			      "keep");
		if (e)
			escape_value(v, strlen(v), e->value, sizeof(e->value));
		return -EINVAL;
	}
	snprintf(x->override, sizeof(x->override), "%s", v);
	return 0;
}

/* After a probe: is the device on `want` ("" for no driver)? */
static int check_driver(const char *addr, const char *want, const char *verb,
			struct mvm_error *e)
{
	char now[DRIVER_MAX];
	if (c.dry_run)
		return 0;
	int r = dev_driver(addr, now, sizeof(now));
	if (r < 0)
		return mvm_error_set(e, r, "read the driver of", addr, NULL);
	if (strcmp(now, want) == 0)
		return 0;
	if (!*want)
		return mvm_error_setf(e, EIO, verb, addr, "it is still bound to %s", ESC(now));
	mvm_error_setf(e, EIO, verb, addr, "the driver did not take it (driver now: %s)",
		       *now ? ESC(now) : "none");
	mvm_error_after(e, " to %s", ESC(want));
	return -EIO;
}

/* ---- the vfio-pci driver ---- */

static void kmod_log(void *data, int prio, const char *file, int line, const char *fn,
		     const char *fmt, va_list ap)
{
	/* A byte more than ESC() holds: a message cut here is cut, and
	 * marked, by ESC() too. Only its own newline is taken off: one in a
	 * path it names is escaped. */
	char msg[ESC_MAX + 1];
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n > 0 && n < (int)sizeof(msg) && msg[n - 1] == '\n')
		msg[n - 1] = '\0';
	log_debug("libkmod: %s", ESC(msg));
}

static bool have_vfio_driver(void)
{
	_cleanup_free_ char *p = xasprintf("%s/bus/pci/drivers/%s", c.sysfs, VFIO_DRIVER);
	struct stat st;
	return p && stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Probe one module of the lookup, blacklist applied; *builtin is set when
 * it is built in. A dry run (libkmod's KMOD_PROBE_DRY_RUN) inserts
 * nothing, but finds a blacklisted module as the load would. */
static int probe_module(struct kmod_module *mod, bool *builtin, struct mvm_error *e)
{
	const char *name = kmod_module_get_name(mod);
	if (kmod_module_get_initstate(mod) == KMOD_MODULE_BUILTIN)
		*builtin = true;
	/* modprobe.d "install" commands would be run by libkmod through a
	 * shell: not from here (DESIGN.md section 3). */
	if (kmod_module_get_install_commands(mod))
		log_warn("module %s: the modprobe.d install command is not run", ESC(name));
	unsigned flags = KMOD_PROBE_APPLY_BLACKLIST | KMOD_PROBE_IGNORE_COMMAND |
			 (c.dry_run ? KMOD_PROBE_DRY_RUN : 0);
	int r = kmod_module_probe_insert_module(mod, flags, NULL, NULL, NULL, NULL);
	if (r > 0)
		return mvm_error_set(e, EPERM, "load module", name,
				     "it is blacklisted (modprobe.d)");
	if (r < 0)
		return mvm_error_set(e, r, "load module", name, NULL);
	if (!c.dry_run)
		log_debug("module %s %s", ESC(name), *builtin ? "is built in" : "loaded");
	return 0;
}

/* Load vfio-pci through libkmod with the blacklist applied, as modprobe
 * does; one already loaded or built in is fine. */
static int load_vfio(struct mvm_error *e)
{
	if (have_vfio_driver()) {
		log_debug("driver %s is there", VFIO_DRIVER);
		return 0;
	}
	/* The unit has no CAP_SYS_MODULE (with it, code someone made this
	 * process run could load any module): its ExecStartPre= loads
	 * vfio-pci before. Said here before libkmod's EPERM would be, and
	 * by a dry run too, which would otherwise promise a load. */
	if (!cap_effective(CAP_SYS_MODULE))
		return mvm_error_setf(e, EPERM, "load module", VFIO_MODULE,
				      "the driver is not there and this process may not load "
				      "modules (no CAP_SYS_MODULE): it must be loaded before "
				      "(modprobe -b %s, as the unit's ExecStartPre= does)",
				      VFIO_MODULE);
	const char *cfg[] = { opts.modprobe_config, NULL };
	struct kmod_ctx *ctx = kmod_new(c.modules_dir, opts.modprobe_config ? cfg : NULL);
	if (!ctx)
		return mvm_error_setf(e, ENOMEM, "load module", VFIO_MODULE,
				      "libkmod could not start (modules dir '%s')",
				      c.modules_dir ? ESC(c.modules_dir) : "default");
	kmod_set_log_fn(ctx, kmod_log, NULL);
	kmod_set_log_priority(ctx, log_get_verbose() > 0 ? LOG_INFO : LOG_ERR);

	struct kmod_list *list = NULL, *l;
	bool builtin = false;
	int r = kmod_module_new_from_lookup(ctx, VFIO_MODULE, &list);
	if (r < 0) {
		mvm_error_set(e, r, "look up module", VFIO_MODULE, NULL);
		goto out;
	}
	if (!list) {
		r = mvm_error_setf(e, ENOENT, "load module", VFIO_MODULE, "not found in %s",
				   ESC(kmod_get_dirname(ctx)));
		goto out;
	}
	kmod_list_foreach(l, list) {
		struct kmod_module *mod = kmod_module_get_module(l);
		r = probe_module(mod, &builtin, e);
		kmod_module_unref(mod);
		if (r < 0)
			goto out;
	}
	if (c.dry_run) /* (found, and not blacklisted) */
		log_action("load module %s", VFIO_MODULE);
	else if (!have_vfio_driver()) {
		r = mvm_error_setf(e, ENOENT, "find driver", VFIO_DRIVER,
				   "module %s %s, but the driver did not register", VFIO_MODULE,
				   builtin ? "is built in" : "loaded");
		mvm_error_after(e, " in %s/bus/pci/drivers", ESC(c.sysfs));
	}
out:
	kmod_module_unref_list(list);
	kmod_unref(ctx);
	return r;
}

/* ---- IOMMU groups ---- */

static int dev_group(const char *addr, char *buf, size_t size, struct mvm_error *e)
{
	_cleanup_free_ char *p = dev_path(addr, "iommu_group");
	_cleanup_free_ char *g = NULL;
	int r = p ? read_link_base(p, &g) : -ENOMEM;
	if (r == -ENOENT)
		return mvm_error_set(e, r, "find the IOMMU group of", addr,
				     "the device has no iommu_group (is the IOMMU off? enable it in "
				     "firmware and with intel_iommu=on or amd_iommu=on)");
	if (r < 0)
		return mvm_error_set(e, r, "read the IOMMU group of", addr, NULL);
	/* (its name goes into the record's node lines and /dev/vfio/NAME) */
	if (!pci_group_ok(g)) {
		r = mvm_error_set(e, EINVAL, "read the IOMMU group of", addr, "not a group number");
		if (e)
			escape_value(g, strlen(g), e->value, sizeof(e->value));
		return r;
	}
	snprintf(buf, size, "%s", g);
	return 0;
}

/* A PCI-to-PCI or CardBus bridge: the kernel lets those stay on their
 * driver in a group used through VFIO. */
static bool dev_is_bridge(const char *addr)
{
	_cleanup_free_ char *p = dev_path(addr, "class");
	_cleanup_free_ char *s = NULL;
	if (!p || read_line(p, &s) < 0)
		return false;
	unsigned long cls = strtoul(s, NULL, 16);
	return (cls >> 8) == 0x0604 || (cls >> 8) == 0x0607;
}

/* Is `name`, an entry of group g's devices/ (listed for x), a PCI device?
 * 1: yes, its name is a PCI address as the kernel writes it; 0: it is
 * not on the PCI bus (no SYSFS/bus/pci/devices/NAME: a platform device,
 * which some platforms put in a group with PCI devices) and on no driver:
 * vfio-pci cannot take it, nor need it; skipped, in a debug line. Such a
 * device on a driver: the kernel lets no VM open the group while a
 * driver may use it for DMA (EBUSY, as QEMU starts), and pci-bind cannot
 * move it: -EBUSY, e filled. A device the PCI bus lists under a name that
 * is no PCI address (which no kernel makes) could not be kept in the
 * record: -EINVAL, e filled. Names, which the kernel gave, are shown
 * escaped. */
static int group_member_is_pci(const char *g, const char *name, const struct dev *x,
			       struct mvm_error *e)
{
	struct pci_addr a;
	bool is_addr = parse_pci_addr(name, strlen(name), &a) == 0 && !strcmp(a.str, name);
	_cleanup_free_ char *p = dev_path(name, NULL);
	struct stat st;
	char verb[64];
	snprintf(verb, sizeof(verb), "use IOMMU group %s of", ESC(g));
	if (!p)
		return mvm_error_set(e, ENOMEM, "check group", g, NULL);
	if (lstat(p, &st) < 0) {
		if (errno != ENOENT)
			return mvm_error_set(e, errno, "find", p, NULL);
		_cleanup_free_ char *link = xasprintf("%s/kernel/iommu_groups/%s/devices/%s/driver",
						      c.sysfs, g, name);
		_cleanup_free_ char *drv = NULL;
		int r = link ? read_link_base(link, &drv) : -ENOMEM;
		if (r == 0)
			return mvm_error_setf(e, EBUSY, verb, x->addr,
					      "it holds '%s', a device of another bus, on its "
					      "driver '%s': vfio-pci cannot take it, and the kernel "
					      "lets no VM use a group with such a device",
					      ESC(name), ESC(drv));
		if (r != -ENOENT)
			return mvm_error_set(e, -r, "read the driver of", name, NULL);
		log_debug("IOMMU group %s: '%s' is no PCI device (not in %s/bus/pci/devices), on "
			  "no driver: skipped",
			  ESC(g), ESC(name), ESC(c.sysfs));
		return 0;
	}
	if (is_addr)
		return 1;
	mvm_error_set(e, EINVAL, verb, x->addr,
		      "it holds a device on the PCI bus whose name is no PCI address "
		      "(DDDD:BB:DD.F)");
	if (e)
		escape_value(name, strlen(name), e->value, sizeof(e->value));
	return -EINVAL;
}

/* Members of the group of x (one of `mine`) that keep it from being
 * viable: PCI devices bound to a driver other than vfio-pci or pci-stub,
 * not bridges, not in `mine`. Appended to `bad` (by_group set, prev their
 * driver). */
static int group_check(const struct dev *x, const struct devs *mine, struct devs *bad,
		       struct mvm_error *e)
{
	const char *g = x->group;
	_cleanup_free_ char *dir = xasprintf("%s/kernel/iommu_groups/%s/devices", c.sysfs, g);
	if (!dir)
		return mvm_error_set(e, ENOMEM, "check group", g, NULL);
	DIR *d = opendir(dir);
	if (!d)
		return mvm_error_set(e, errno, "list", dir, NULL);
	struct dirent *de;
	int r = 0;
	while ((de = readdir(d))) {
		char drv[DRIVER_MAX];
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		int pci = group_member_is_pci(g, de->d_name, x, e);
		if (pci < 0) {
			r = pci;
			break;
		}
		if (!pci || devs_find(mine, de->d_name) || devs_find(bad, de->d_name))
			continue;
		r = dev_driver(de->d_name, drv, sizeof(drv));
		if (r < 0) {
			mvm_error_set(e, r, "read the driver of", de->d_name, NULL);
			break;
		}
		if (!*drv || !strcmp(drv, VFIO_DRIVER) || !strcmp(drv, "pci-stub") ||
		    dev_is_bridge(de->d_name))
			continue;
		struct dev *y = devs_add(bad, de->d_name);
		if (!y) {
			r = mvm_error_set(e, ENOMEM, "check group", g, NULL);
			break;
		}
		snprintf(y->prev, sizeof(y->prev), "%s", drv);
		snprintf(y->group, sizeof(y->group), "%s", g);
		y->by_group = true;
	}
	closedir(d);
	return r;
}

/* Is d->v[i]'s group one of an earlier device's? */
static bool group_seen(const struct devs *d, size_t i)
{
	for (size_t k = 0; k < i; k++)
		if (!strcmp(d->v[k].group, d->v[i].group))
			return true;
	return false;
}

/* Remove p's access ACL: its owner may set one (for itself, or another
 * user), which chown and chmod leave, and which would outlast the VM.
 * 0, or -1 with errno. */
static int strip_acl(const char *p)
{
	if (lremovexattr(p, "system.posix_acl_access") < 0 && errno != ENODATA &&
	    errno != ENOTSUP && errno != EOPNOTSUPP)
		return -1;
	return 0;
}

/* May DEVFS/vfio/GROUP (p, as lstat() found it) be given to the VM user?
 * A node that another user owns is another VM's (its devices bound for
 * it): refused, as the VM user could name that VM's devices in a runner
 * of root's. */
static int group_node_check(const char *p, const struct stat *st, struct mvm_error *e)
{
	if (!S_ISCHR(st->st_mode)) {
		mvm_error_set(e, EINVAL, "give", p, "not a character device");
		mvm_error_after(e, " to the VM");
		return -EINVAL;
	}
	if (st->st_uid != 0 && st->st_uid != c.uid) {
		mvm_error_setf(e, EBUSY, "give", p, "it belongs to uid %u, another VM's",
			       (unsigned)st->st_uid);
		mvm_error_after(e, " to the VM");
		return -EBUSY;
	}
	return 0;
}

/* In the plan, before any change: each group's node that is there may be
 * given (group_node_check()). One that is not there yet is fine: the
 * kernel makes it when the group's first device binds to vfio-pci, and it
 * is checked when it is given. */
static int plan_group_nodes(const struct devs *mine, struct mvm_error *e)
{
	for (size_t i = 0; i < mine->n; i++) {
		if (group_seen(mine, i))
			continue;
		_cleanup_free_ char *p = xasprintf("%s/vfio/%s", c.devfs, mine->v[i].group);
		struct stat st;
		if (!p)
			return mvm_error_set(e, ENOMEM, "give to the VM", mine->v[i].group, NULL);
		if (lstat(p, &st) < 0) {
			if (errno == ENOENT)
				continue;
			return mvm_error_set(e, errno, "find", p, NULL);
		}
		int r = group_node_check(p, &st, e);
		if (r < 0)
			return r;
	}
	return 0;
}

static int save_record(const struct devs *d, struct mvm_error *e);

/* p to uid:gid mode: root's first, then without an ACL (its owner
 * meanwhile, the VM user, may have set one, which chown and chmod leave:
 * until it is root's, it could set it again), then the owner, group and
 * mode. 0, or -1 with errno. */
static int node_set(const char *p, uid_t uid, gid_t gid, mode_t mode)
{
	if (lchown(p, 0, 0) < 0 || strip_acl(p) < 0 || lchown(p, uid, gid) < 0 ||
	    chmod(p, mode & 07777) < 0)
		return -1;
	return 0;
}

/* /dev/vfio/GROUP of x to the VM user and group, mode 0660, no ACL (checked
 * again: the plan may have found no node). What it was is kept in x, for
 * give_back_group_node(), and in the record (rec), for unbind, before the
 * first change: what unbind puts back, and only where bind changed
 * something. A node the VM user owns already (one that an unbind could
 * not take back) is to go back to root:root 0600, not to the VM user; an
 * earlier run's line stays, as what it found was before this VM's bind. */
static int give_group_node(struct dev *x, struct devs *rec, struct mvm_error *e)
{
	_cleanup_free_ char *p = xasprintf("%s/vfio/%s", c.devfs, x->group);
	if (!p)
		return mvm_error_set(e, ENOMEM, "give to the VM", x->group, NULL);
	if (c.dry_run) {
		log_action("chown %s to %u:%u mode 0660, without an ACL", ESC(p), (unsigned)c.uid,
			   (unsigned)c.gid);
		return 0;
	}
	struct stat st;
	if (lstat(p, &st) < 0)
		return mvm_error_set(e, errno, "find", p, NULL);
	int r = group_node_check(p, &st, e);
	if (r < 0)
		return r;
	if (!nodes_find(rec, x->group)) {
		bool vm_users = st.st_uid == c.uid;
		if (nodes_add(rec, x->group, vm_users ? 0 : st.st_uid, vm_users ? 0 : st.st_gid,
			      vm_users ? 0600 : st.st_mode) < 0)
			return mvm_error_set(e, ENOMEM, "record", p, NULL);
		if ((r = save_record(rec, e)) < 0)
			return r;
	}
	x->node_was = st;
	x->node_given = true; /* before the first change, which may be the one that fails */
	if (strip_acl(p) < 0 || lchown(p, c.uid, c.gid) < 0 || chmod(p, 0660) < 0)
		return mvm_error_set(e, errno, "give to the VM", p, NULL);
	log_debug("%s owned by %u:%u mode 0660", ESC(p), (unsigned)c.uid, (unsigned)c.gid);
	return 0;
}

/* After a failed bind: x's group node, which this run gave, back to the
 * owner, group and mode it had (node_set()). A node that is not the one it
 * gave (gone, or another device now) is left alone. */
static int give_back_group_node(const struct dev *x, struct mvm_error *e)
{
	_cleanup_free_ char *p = xasprintf("%s/vfio/%s", c.devfs, x->group);
	const struct stat *was = &x->node_was;
	struct stat st;
	if (!p)
		return mvm_error_set(e, ENOMEM, "give back", x->group, NULL);
	char shown[4 * PATH_MAX];
	escape_text(p, shown, sizeof(shown));
	if (lstat(p, &st) < 0 || !S_ISCHR(st.st_mode) || st.st_rdev != was->st_rdev) {
		log_warn("'%s' is gone or another node: left alone", shown);
		return 0;
	}
	log_notice("giving '%s' back to %u:%u mode %04o", shown, (unsigned)was->st_uid,
		   (unsigned)was->st_gid, (unsigned)(was->st_mode & 07777));
	if (node_set(p, was->st_uid, was->st_gid, was->st_mode) < 0)
		return mvm_error_set(e, errno, "give back", p, NULL);
	return 0;
}

/* After unbind: a group's node back to what the record says it was
 * before this VM's bind (node_set()). The kernel removes DEVFS/vfio/GROUP
 * once no device of the group is on vfio-pci; one that stays (a device of
 * the group bound to vfio-pci at boot) goes back to the admin's owner and
 * mode (a udev rule's), or root:root 0600, so that the stopped VM's user
 * keeps no access to the group (found by an audit). One that is as
 * recorded already is set all the same: an ACL the VM user set while it
 * owned it outlasts an owner and mode set back by someone else (a udev
 * rule applied again). */
static int put_back_node(const struct pci_node *was, struct mvm_error *e)
{
	_cleanup_free_ char *p = xasprintf("%s/vfio/%s", c.devfs, was->group);
	struct stat st;
	if (!p)
		return mvm_error_set(e, ENOMEM, "put back", was->group, NULL);
	if (lstat(p, &st) < 0 || !S_ISCHR(st.st_mode))
		return 0; /* gone with the group's last device, as it should */
	if (c.dry_run) {
		log_action("chown %s to %u:%u mode %04o, without an ACL (if it stays)", ESC(p),
			   (unsigned)was->uid, (unsigned)was->gid, (unsigned)was->mode);
		return 0;
	}
	if (node_set(p, was->uid, was->gid, was->mode) < 0)
		return mvm_error_set(e, errno, "put back", p, NULL);
	log_debug("%s stays: owned by %u:%u mode %04o again", ESC(p), (unsigned)was->uid,
		  (unsigned)was->gid, (unsigned)was->mode);
	return 0;
}

/* ---- the record ---- */

/* The record is rec (common/record.h): what each device had before. */
static int save_record(const struct devs *d, struct mvm_error *e)
{
	if (c.dry_run)
		return 0;
	if (d->n == 0 && d->nn == 0)
		return record_remove(c.runtime_dir, vm_name, RECORD_KIND, e);
	struct pci_record rec = { .n = d->n, .v = calloc(d->n, sizeof(*rec.v)), .nn = d->nn,
				  .nodes = calloc(d->nn ? d->nn : 1, sizeof(*rec.nodes)) };
	if (!rec.v || !rec.nodes) {
		pci_record_free(&rec);
		return mvm_error_set(e, ENOMEM, "write the record of", vm_name, NULL);
	}
	for (size_t i = 0; i < d->nn; i++)
		rec.nodes[i] = d->nodes[i].was;
	for (size_t i = 0; i < d->n; i++) {
		snprintf(rec.v[i].addr, sizeof(rec.v[i].addr), "%.12s", d->v[i].addr);
		snprintf(rec.v[i].prev, sizeof(rec.v[i].prev), "%s", d->v[i].prev);
		snprintf(rec.v[i].override, sizeof(rec.v[i].override), "%s", d->v[i].override);
		rec.v[i].by_group = d->v[i].by_group;
		rec.v[i].claimed = d->v[i].claimed;
	}
	_cleanup_free_ char *t = pci_record_text(&rec);
	pci_record_free(&rec);
	if (!t)
		return mvm_error_set(e, ENOMEM, "write the record of", vm_name, NULL);
	return record_write(c.runtime_dir, vm_name, RECORD_KIND, t, e);
}

/* Read the record: 0 (an empty list when there is none) or -errno. */
static int load_record(struct devs *d, struct mvm_error *e)
{
	struct pci_record rec;
	int r = pci_record_load(c.runtime_dir, vm_name, &rec, e);
	if (r < 0)
		return r;
	for (size_t i = 0; i < rec.n && r == 0; i++) {
		struct dev *x = devs_add(d, rec.v[i].addr);
		if (!x) {
			r = mvm_error_set(e, ENOMEM, "read", RECORD_KIND, NULL);
			break;
		}
		snprintf(x->prev, sizeof(x->prev), "%s", rec.v[i].prev);
		snprintf(x->override, sizeof(x->override), "%s", rec.v[i].override);
		x->by_group = rec.v[i].by_group;
		x->claimed = rec.v[i].claimed;
		x->from_record = true;
	}
	for (size_t i = 0; i < rec.nn && r == 0; i++) {
		const struct pci_node *y = &rec.nodes[i];
		if ((r = nodes_add(d, y->group, y->uid, y->gid, y->mode)) < 0)
			r = mvm_error_set(e, ENOMEM, "read", RECORD_KIND, NULL);
	}
	/* A record of an earlier version does not say which nodes bind gave,
	 * nor what they were: each group's node goes back to root:root 0600,
	 * as that version's unbind took it back (a device that is gone has no
	 * group, and its group's node is gone with it). */
	for (size_t i = 0; i < d->n && r == 0 && rec.version < 3; i++) {
		char g[sizeof(d->v->group)];
		if (dev_group(d->v[i].addr, g, sizeof(g), NULL) == 0 &&
		    nodes_add(d, g, 0, 0, 0600) < 0)
			r = mvm_error_set(e, ENOMEM, "read", RECORD_KIND, NULL);
	}
	for (size_t i = 0; i < d->nn; i++)
		d->nodes[i].from_record = true;
	pci_record_free(&rec);
	return r;
}

/* ---- the other VMs' records ---- */

/* A device another VM's pci record lists, or a group's node it lists
 * (one its unbind or its failed bind could not put back). */
struct held {
	char vm[VM_NAME_MAX + 1];
	char addr[16];	/* "" for a node */
	char group[16]; /* its IOMMU group now, "" when it has none (gone) */
	bool node;	/* the node of group, not a device */
};

struct helds {
	size_t n;
	struct held *v;
};

#define UNKNOWN_HINT "another VM's record: the devices it holds are unknown"

/* A new entry of h for VM other, or NULL (ENOMEM). */
static struct held *held_new(struct helds *h, const char *other)
{
	struct held *nv = realloc(h->v, (h->n + 1) * sizeof(*nv));
	if (!nv)
		return NULL;
	h->v = nv;
	struct held *x = &h->v[h->n++];
	*x = (struct held){ 0 };
	snprintf(x->vm, sizeof(x->vm), "%s", other);
	return x;
}

/* Add the devices of OTHER's record (other than this VM, a directory of
 * root's) to h. A record that cannot be read or parsed: with strict
 * (bind), an error naming it, with a hint; else (unbind, a teardown) a
 * warning, and it counts as listing nothing. */
static int held_add_vm(const char *other, bool strict, struct helds *h, struct mvm_error *e)
{
	struct pci_record rec;
	struct mvm_error e1;
	/* Read as this VM's own record is: the directory and the file opened
	 * without following a symlink, a regular file, at most 1 MiB. */
	int r = pci_record_load(c.runtime_dir, other, &rec, &e1);
	if (r < 0 && strict) {
		*e = e1;
		e->hint = UNKNOWN_HINT "; bind refuses until it is mended, or removed once "
				       "that VM has stopped";
		return r;
	}
	if (r < 0) {
		e1.hint = UNKNOWN_HINT;
		log_error_as(LOG_WARNING, &e1, "");
		return 0;
	}
	for (size_t i = 0; i < rec.n + rec.nn && r == 0; i++) {
		struct held *x = held_new(h, other);
		if (!x) {
			r = mvm_error_set(e, ENOMEM, "read the record of", other, NULL);
			break;
		}
		if (i >= rec.n) {
			x->node = true;
			snprintf(x->group, sizeof(x->group), "%s", rec.nodes[i - rec.n].group);
			continue;
		}
		snprintf(x->addr, sizeof(x->addr), "%s", rec.v[i].addr);
		if (dev_group(x->addr, x->group, sizeof(x->group), NULL) < 0)
			x->group[0] = '\0';
	}
	pci_record_free(&rec);
	return r;
}

struct load_held_arg {
	bool strict;
	struct helds *h;
	struct mvm_error *e;
};
static int load_held_one(const char *other, void *arg)
{
	struct load_held_arg *a = arg;
	return held_add_vm(other, a->strict, a->h, a->e);
}

/* The devices the other VMs' pci records list (RUNTIME_DIR/OTHER/pci;
 * record_each_other_vm() says which entries hold none). */
static int load_held(bool strict, struct helds *h, struct mvm_error *e)
{
	struct load_held_arg a = { strict, h, e };
	return record_each_other_vm(c.runtime_dir, vm_name, load_held_one, &a, e);
}

/* Refuse, before any change, a device of mine that another VM's record
 * lists, or one of an IOMMU group that holds such a device: that VM
 * runs with it (its user may be this VM's: the owner of the group's node
 * tells nothing then), and its unbind would take it back. So is one of a
 * group whose node that record lists without a device of it (its unbind,
 * or its failed bind, could not put the node back): that VM's next unbind
 * is to put it back, which it would leave to this VM, dropping its line,
 * and this VM, should its bind fail or be killed before it records the
 * node, would leave it the VM user's with no record of it. */
static int check_held(const struct devs *mine, const struct helds *h, struct mvm_error *e)
{
	for (size_t i = 0; i < mine->n; i++) {
		const struct dev *x = &mine->v[i];
		for (size_t k = 0; k < h->n; k++) {
			const struct held *y = &h->v[k];
			_cleanup_free_ char *p = NULL;
			if (strcmp(y->addr, x->addr) != 0 &&
			    (!y->group[0] || strcmp(y->group, x->group) != 0))
				continue;
			if (record_path(c.runtime_dir, y->vm, RECORD_KIND, &p, e) < 0)
				return -EINVAL;
			char vm[4 * sizeof(y->vm)], path[4 * PATH_MAX];
			escape_text(y->vm, vm, sizeof(vm));
			escape_text(p, path, sizeof(path));
			if (y->node)
				return mvm_error_setf(e, EBUSY, "bind", x->addr,
						      "VM '%s' holds IOMMU group %s (its node, listed in "
						      "'%s')",
						      vm, ESC(x->group), path);
			if (!strcmp(y->addr, x->addr))
				return mvm_error_setf(e, EBUSY, "bind", x->addr,
						      "VM '%s' holds it (listed in '%s')", vm, path);
			return mvm_error_setf(e, EBUSY, "bind", x->addr,
					      "VM '%s' holds IOMMU group %s ('%s', listed in '%s')",
					      vm, ESC(x->group), ESC(y->addr), path);
		}
	}
	return 0;
}

/* The first device of group g that another VM's record lists, or NULL
 * (a node it lists is not one it runs with). */
static const struct held *held_group(const struct helds *h, const char *g)
{
	for (size_t k = 0; k < h->n; k++)
		if (!h->v[k].node && h->v[k].group[0] && !strcmp(h->v[k].group, g))
			return &h->v[k];
	return NULL;
}

/* The lock that the runs of pci-bind for all VMs take turns on (a flock
 * of the runtime dir), so that two binds of one device do not both pass:
 * a bind reads the other VMs' records and writes its claim under it;
 * unbind, once its devices are given back, reads the other records, takes
 * back the nodes and rewrites its record under it. Held for that alone
 * (records, iommu_group links, nodes), never across a read or a write of
 * a device (vfio-pci's unbind waits for the device's last descriptor,
 * which a VM user's process can keep open, and holds the device's own
 * lock meanwhile): no run waits on another VM's device. Taken after the
 * VM's lock. Held for milliseconds, it is waited for at least
 * ALL_VMS_WAIT_MS, whatever $MICROVM_LOCK_TIMEOUT says (0 there must not
 * make the binds of VMs started together fail). *fd is -1 when a dry run
 * finds no runtime dir. */
#define ALL_VMS_WAIT_MS 5000
static int all_vms_lock(int *fd, struct mvm_error *e)
{
	return runtime_lock(c.runtime_dir, "another run of pci-bind, for some VM, checks the records",
			    lock_wait_ms > ALL_VMS_WAIT_MS ? lock_wait_ms : ALL_VMS_WAIT_MS,
			    !c.dry_run, fd, e);
}

/* ---- rebinding ---- */

/* To vfio-pci: override, unbind, probe, check. */
static int bind_one(struct dev *x, struct mvm_error *e)
{
	x->changed = true;
	int r = write_override(x->addr, VFIO_DRIVER, e);
	if (r == 0 && *x->prev)
		r = write_unbind(x->prev, x->addr, e);
	if (r == 0)
		r = write_probe(x->addr, e);
	if (r == 0)
		r = check_driver(x->addr, VFIO_DRIVER, "bind", e);
	return r;
}

/* Back to x->prev: the override set to it, unbind from vfio-pci,
 * reprobe, check, the override put back to what it was before bind
 * (x->override; cleared when there was none, or the record is of version
 * 1, which did not keep it). While it is probed, the override names the
 * driver it goes back to, so that no other driver that matches it (the
 * native one, where pci-stub held it) takes it first. A device some other
 * driver took meanwhile is left alone, with no write at all. */
static int give_back(const struct dev *x, struct mvm_error *e)
{
	char now[DRIVER_MAX];
	const char *restore = *x->override ? x->override : "\n";
	if (!strcmp(x->prev, VFIO_DRIVER)) {
		log_debug("'%s' was on %s before bind: left there", ESC(x->addr), VFIO_DRIVER);
		return 0;
	}
	_cleanup_free_ char *p = dev_path(x->addr, NULL);
	if (p && access(p, F_OK) < 0 && errno == ENOENT) {
		log_warn("device '%s' is gone: nothing to give back", ESC(x->addr));
		return 0;
	}
	int r = dev_driver(x->addr, now, sizeof(now));
	if (r < 0)
		return mvm_error_set(e, r, "read the driver of", x->addr, NULL);
	/* Another driver took it meanwhile: refused before any write. */
	if (*now && strcmp(now, VFIO_DRIVER) != 0 && strcmp(now, x->prev) != 0) {
		mvm_error_setf(e, EBUSY, "give", x->addr, "it is bound to %s now", ESC(now));
		mvm_error_after(e, " back to %s", *x->prev ? ESC(x->prev) : "no driver");
		return -EBUSY;
	}
	bool probe = *x->prev && (!*now || !strcmp(now, VFIO_DRIVER));
	r = write_override(x->addr, probe ? x->prev : restore, e);
	if (r < 0)
		return r;
	if (!strcmp(now, VFIO_DRIVER)) {
		r = write_unbind(VFIO_DRIVER, x->addr, e);
		if (r < 0)
			return r;
	}
	if (!probe)
		return check_driver(x->addr, x->prev, "give back", e);
	r = write_probe(x->addr, e);
	if (r == 0)
		r = check_driver(x->addr, x->prev, "give back", e);
	/* The override put back, whether the driver took it or not; the
	 * first error is the one reported. */
	struct mvm_error e1;
	int rc = write_override(x->addr, restore, r < 0 ? &e1 : e);
	return r < 0 ? r : rc;
}

/* Give back what this run changed, last first; what could not be given
 * back is marked failed, its error logged here, where the rollback goes
 * on with the others. */
static void rollback(struct devs *d)
{
	for (size_t i = d->n; i-- > 0;) {
		struct mvm_error e1;
		if (!d->v[i].changed)
			continue;
		log_notice("giving '%s' back to %s", ESC(d->v[i].addr),
			   *d->v[i].prev ? ESC(d->v[i].prev) : "no driver");
		d->v[i].failed = give_back(&d->v[i], &e1) < 0;
		if (d->v[i].failed)
			log_error_info(&e1);
	}
}

/* ---- the verbs ---- */

/* e for an IOMMU group (of mine's device x) that also holds the devices
 * extra[from...] on other drivers: as many named as fit, each whole, then
 * how many more (a name cut would read as another's, and the advice after
 * them must stay). */
static int not_viable(const struct dev *x, const struct devs *extra, size_t from,
		      struct mvm_error *e)
{
	char names[1024] = "", verb[64], more[48];
	size_t k = from;
	for (; k < extra->n; k++) {
		char one[16 + 4 * sizeof(extra->v[k].addr) + 4 * DRIVER_MAX];
		snprintf(one, sizeof(one), "%s%s (driver %s)", k > from ? ", " : "",
			 ESC(extra->v[k].addr), ESC(extra->v[k].prev));
		if (strlen(names) + strlen(one) + sizeof(more) > sizeof(names))
			break;
		strcat(names, one);
	}
	if (k < extra->n) {
		snprintf(more, sizeof(more), "%sand %zu more", k > from ? ", " : "", extra->n - k);
		strcat(names, more);
	}
	snprintf(verb, sizeof(verb), "use IOMMU group %s of", ESC(x->group));
	return mvm_error_setf(e, EBUSY, verb, x->addr,
			      "the group is not viable, it also holds %s; bind those to vfio-pci "
			      "too (--bind-group) or unbind them",
			      names);
}

/* Look before touching anything: each device there, its driver and
 * group; every group viable (or, with --bind-group, its other devices
 * appended to mine); every group's node, if there, one that may be given
 * to the VM user. */
static int plan_bind(const struct pci_list *list, struct devs *mine, struct mvm_error *e)
{
	struct devs extra = { 0 };
	int r = 0;
	for (size_t i = 0; i < list->n && r == 0; i++) {
		const char *addr = list->v[i].str;
		_cleanup_free_ char *p = dev_path(addr, NULL);
		struct stat st;
		if (!p || stat(p, &st) < 0) {
			r = mvm_error_set(e, p ? errno : ENOMEM, "find PCI device", addr, NULL);
			/* where it looked: a wrong --sysfs shows */
			mvm_error_after(e, " in %s/bus/pci/devices", ESC(c.sysfs));
			break;
		}
		struct dev *x = devs_add(mine, addr);
		if (!x) {
			r = mvm_error_set(e, ENOMEM, "bind", addr, NULL);
			break;
		}
		r = dev_driver(addr, x->prev, sizeof(x->prev));
		if (r < 0) {
			mvm_error_set(e, r, "read the driver of", addr, NULL);
			break;
		}
		r = dev_group(addr, x->group, sizeof(x->group), e);
	}
	for (size_t i = 0; i < mine->n && r == 0; i++) {
		size_t before = extra.n;
		r = group_check(&mine->v[i], mine, &extra, e);
		if (r == 0 && extra.n > before && !opts.bind_group)
			r = not_viable(&mine->v[i], &extra, before, e);
	}
	/* --bind-group: the group's other devices are bound after the listed ones. */
	for (size_t i = 0; i < extra.n && r == 0; i++) {
		struct dev *y = devs_add(mine, extra.v[i].addr);
		if (!y)
			r = mvm_error_set(e, ENOMEM, "bind", extra.v[i].addr, NULL);
		else
			*y = extra.v[i];
	}
	devs_free(&extra);
	for (size_t i = 0; i < mine->n && r == 0; i++)
		if (strcmp(mine->v[i].prev, VFIO_DRIVER) != 0)
			r = read_override(&mine->v[i], e);
	return r < 0 ? r : plan_group_nodes(mine, e);
}

/* Every device of mine into the record (rec: what earlier runs recorded)
 * before any is changed, claimed: the other VMs' binds see them all from
 * now on. What each had is not recorded yet: the plan it would come from
 * was made before the lock, and may be what another VM's unbind left
 * halfway (plan_again()); a bind killed before confirm() leaves claims,
 * of which unbind changes nothing, as bind changed nothing of them. */
static int claim(const struct devs *mine, struct devs *rec, struct mvm_error *e)
{
	for (size_t i = 0; i < mine->n; i++) {
		if (devs_find(rec, mine->v[i].addr))
			continue;
		struct dev *y = devs_add(rec, mine->v[i].addr);
		if (!y)
			return mvm_error_set(e, ENOMEM, "record", mine->v[i].addr, NULL);
		*y = mine->v[i];
		y->claimed = true;
	}
	return save_record(rec, e);
}

/* Once plan_again() has found the plan final: what each claimed device
 * of mine had, into the record before any is changed, so that a killed
 * bind is undone by unbind (giving back a device that was never changed
 * writes back the override it has). A claim an earlier, killed, run left
 * is this run's now. */
static int confirm(const struct devs *mine, struct devs *rec, struct mvm_error *e)
{
	bool any = false;
	for (size_t i = 0; i < mine->n; i++) {
		struct dev *y = devs_find(rec, mine->v[i].addr);
		if (!y || !y->claimed)
			continue;
		*y = mine->v[i];
		any = true;
	}
	return any ? save_record(rec, e) : 0;
}

/* The claims of this run (rec's entries from earlier on) taken back out
 * of the record: nothing was changed. */
static void unclaim(struct devs *rec, size_t earlier)
{
	struct mvm_error e1;
	rec->n = earlier;
	if (save_record(rec, &e1) < 0)
		log_error_info(&e1);
}

/* Each device of mine to vfio-pci (claim() recorded them all first, so
 * that unbind undoes even a bind that died halfway); then the groups'
 * nodes to the VM user, each recorded in rec first. */
static int bind_all(struct devs *mine, struct devs *rec, struct mvm_error *e)
{
	int r = 0;
	for (size_t i = 0; i < mine->n && r == 0; i++) {
		struct dev *x = &mine->v[i];
		/* On vfio-pci already (vfio-pci.ids=): nothing to write, but
		 * recorded all the same (previous driver vfio-pci, which
		 * unbind leaves it on), so that unbind takes back the group's
		 * node, which stays (found in review). */
		if (!strcmp(x->prev, VFIO_DRIVER)) {
			log_debug("'%s' is on %s already", ESC(x->addr), VFIO_DRIVER);
			continue;
		}
		if ((r = bind_one(x, e)) < 0)
			break;
		if (opts.bind_group && x->by_group && c.dry_run)
			log_action("bind '%s' of IOMMU group %s too (--bind-group)", ESC(x->addr),
				   ESC(x->group));
		else if (opts.bind_group && x->by_group)
			log_info("bound '%s' of IOMMU group %s too (--bind-group)", ESC(x->addr),
				 ESC(x->group));
	}
	for (size_t i = 0; i < mine->n && r == 0; i++)
		if (!group_seen(mine, i))
			r = give_group_node(&mine->v[i], rec, e);
	return r;
}

/* After a failed bind_all(): give back what this run changed, the
 * groups' nodes first (while their devices are on vfio-pci, the kernel
 * keeps them). What earlier runs recorded stays in the record (their
 * nodes too), and so does what the rollback could not give back, node or
 * device: unbind retries it. */
static void undo_bind(struct devs *mine, struct devs *rec)
{
	struct devs keep = { 0 };
	struct mvm_error e1;
	for (size_t i = mine->n; i-- > 0;) {
		struct node *y;
		if (!mine->v[i].node_given || give_back_group_node(&mine->v[i], &e1) == 0)
			continue;
		log_error_info(&e1);
		if ((y = nodes_find(rec, mine->v[i].group))) /* recorded before it was given */
			y->failed = true;
	}
	rollback(mine);
	for (size_t i = 0; i < rec->n; i++) {
		const struct dev *m = devs_find(mine, rec->v[i].addr);
		if ((rec->v[i].from_record || (m && m->failed)) && devs_add(&keep, rec->v[i].addr))
			keep.v[keep.n - 1] = rec->v[i];
	}
	for (size_t i = 0; i < rec->nn; i++) {
		const struct node *y = &rec->nodes[i];
		if ((y->from_record || y->failed) &&
		    nodes_add(&keep, y->was.group, y->was.uid, y->was.gid, y->was.mode) < 0) {
			mvm_error_set(&e1, ENOMEM, "record", y->was.group, NULL);
			log_error_info(&e1);
		}
	}
	if (save_record(&keep, &e1) < 0)
		log_error_info(&e1);
	devs_free(&keep);
}

/* The plan made again once the claim is written, and compared: the first
 * was made before the lock of all VMs' runs (it reads driver_override,
 * which the kernel answers only once a device's own lock is free, so it
 * must not wait under that lock for another VM's stuck unbind), and
 * another VM's unbind or rollback may have been giving a device back
 * meanwhile. Once our claim is written and the other records were
 * checked, no other run writes our devices any more (each writes only
 * devices its record lists, and rewrites its record after): what is read
 * now is final. A plan that differs: -EAGAIN (do_bind() takes the claims
 * back and claims what it reads then), nothing having been changed. */
static int plan_again(const struct pci_list *list, const struct devs *mine,
		      struct mvm_error *e)
{
	struct devs now = { 0 };
	int r = plan_bind(list, &now, e);
	for (size_t i = 0; r == 0 && i < mine->n; i++) {
		const struct dev *a = &mine->v[i], *b = i < now.n ? &now.v[i] : NULL;
		if (b && !strcmp(a->addr, b->addr) && !strcmp(a->prev, b->prev) &&
		    !strcmp(a->override, b->override) && !strcmp(a->group, b->group) &&
		    a->by_group == b->by_group)
			continue;
		r = mvm_error_set(e, EAGAIN, "bind", a->addr,
				  "it changed while it was checked (another VM's run was giving it "
				  "back)");
	}
	if (r == 0 && now.n != mine->n)
		r = mvm_error_set(e, EAGAIN, "bind", mine->v[0].addr,
				  "its IOMMU group changed while it was checked");
	if (r == -EAGAIN)
		e->hint = "try again";
	devs_free(&now);
	return r;
}

/* How many times bind checks, claims and reads its devices again when
 * they changed meanwhile (another VM's run was giving one back): the
 * second read is final, so a third round is for a run of ours that was
 * itself slow to claim. */
#define PLAN_ROUNDS 3

/* bind NAME: 0, or -errno with e filled; reported when the rollback
 * followed (its failure is said before the rollback's own lines). */
static int do_bind(const struct vm *vm, struct mvm_error *e)
{
	struct pci_list list = { 0 };
	struct devs mine = { 0 }, rec = { 0 };
	struct helds held = { 0 };
	int r = vm_pci_devices(vm, &list, e);
	if (r < 0)
		goto out;
	if (list.n == 0) {
		log_debug("no PCI devices: nothing to do");
		goto out;
	}
	if ((r = load_record(&rec, e)) < 0 || (r = plan_bind(&list, &mine, e)) < 0)
		goto out;
	size_t earlier = rec.n; /* what earlier runs recorded; the claims follow */
	for (int round = 1;; round++) {
		int all = -1;
		if ((r = all_vms_lock(&all, e)) < 0)
			goto out;
		if ((r = load_held(true, &held, e)) == 0 && (r = check_held(&mine, &held, e)) == 0)
			r = claim(&mine, &rec, e);
		if (all >= 0)
			close(all);
		if (r < 0)
			goto out;
		if ((r = plan_again(&list, &mine, e)) == 0)
			break;
		unclaim(&rec, earlier);
		if (r != -EAGAIN || round == PLAN_ROUNDS)
			goto out;
		/* What is read now is final (plan_again()): claim that. */
		log_info("'%s': %s: checking again", ESC(e->path), mvm_error_reason(e));
		free(held.v);
		devs_free(&mine);
		held = (struct helds){ 0 };
		if ((r = plan_bind(&list, &mine, e)) < 0)
			goto out;
	}
	if ((r = confirm(&mine, &rec, e)) < 0) {
		unclaim(&rec, earlier);
		goto out;
	}
	if ((r = load_vfio(e)) < 0 || (r = bind_all(&mine, &rec, e)) < 0) {
		log_error_info(e);
		undo_bind(&mine, &rec);
	}
out:
	free(held.v);
	devs_free(&mine);
	devs_free(&rec);
	pci_list_free(&list);
	return r;
}

/* unbind's failure e1, logged now: the run goes on, and ends with status
 * r1 and, reported as its error, the first failure (e, when *r is 0). */
static void unbind_failed(struct mvm_error *e, struct mvm_error *e1, int *r, int r1)
{
	log_error_info(e1);
	if (*r == 0)
		*e = *e1;
	*r = r1;
}

/* unbind NAME: every recorded device given back; one that cannot be is
 * logged where the others go on, and stays recorded. 0, or -errno with e
 * filled (reported when it is such a device's). */
static int do_unbind(struct mvm_error *e)
{
	struct devs rec = { 0 }, left = { 0 };
	struct helds held = { 0 };
	struct mvm_error e2;
	int all = -1, r2, r = load_record(&rec, e);
	if (r < 0)
		goto out;
	if (rec.n == 0 && rec.nn == 0) {
		log_debug("no record: nothing to give back");
		r = save_record(&rec, e); /* a temporary file a killed bind left */
		goto out;
	}
	for (size_t i = rec.n; i-- > 0;) {
		struct mvm_error e1;
		if (rec.v[i].claimed) {
			log_debug("'%s' was claimed by a bind that changed nothing of it: left as it "
				  "is",
				  ESC(rec.v[i].addr));
			continue;
		}
		rec.v[i].failed = give_back(&rec.v[i], &e1) < 0;
		if (rec.v[i].failed)
			unbind_failed(e, &e1, &r, -EIO);
	}
	/* What could not be given back stays recorded for another try. */
	for (size_t i = 0; i < rec.n; i++) {
		if (!rec.v[i].failed)
			continue;
		if (!devs_add(&left, rec.v[i].addr)) {
			r = mvm_error_set(e, ENOMEM, "record", rec.v[i].addr, NULL);
			goto out;
		}
		left.v[left.n - 1] = rec.v[i];
	}
	/* The other records, the nodes and our record, under the lock of all
	 * VMs' binds (no device is read or written meanwhile): two unbinds of
	 * VMs whose records list one group (records of an earlier version)
	 * would each see the other's and both leave the node. Without the
	 * lock (another run of root's held it longer than the wait) the nodes
	 * are put back all the same, so that the stopped VM's user keeps none
	 * meanwhile; and the record stays, devices and all, for the next
	 * unbind (giving back what is back writes only the override it has),
	 * which does this again under the lock. Putting the nodes back
	 * without it races with no bind: while our record lists a group (a
	 * device of it, or its node), no other VM's bind claims a device of
	 * it (check_held()), and a record is read whole (written by a
	 * rename). What is left is the race above, where both leave the node,
	 * as neither rewrites its record without the lock. */
	/* (either way, the nodes are put back all the same) */
	bool locked = (r2 = all_vms_lock(&all, &e2)) == 0;
	if (!locked)
		unbind_failed(e, &e2, &r, r2);
	if ((r2 = load_held(false, &held, &e2)) < 0)
		unbind_failed(e, &e2, &r, r2);
	/* The groups' nodes that bind changed (the record's node lines), put
	 * back; but for a group of which another VM's record lists a device:
	 * that VM's user (maybe this VM's) keeps the node its VM runs with. One
	 * that cannot be put back stays recorded for another try. */
	for (size_t i = 0; i < rec.nn; i++) {
		struct mvm_error e1;
		const struct pci_node *x = &rec.nodes[i].was;
		const struct held *y;
		if ((y = held_group(&held, x->group))) {
			char vm[4 * sizeof(y->vm)];
			escape_text(y->vm, vm, sizeof(vm));
			log_notice("leaving the node of IOMMU group %s as it is: VM '%s' holds '%s' "
				   "of it",
				   ESC(x->group), vm, ESC(y->addr));
			continue;
		}
		if (put_back_node(x, &e1) == 0)
			continue;
		unbind_failed(e, &e1, &r, -EIO);
		if (nodes_add(&left, x->group, x->uid, x->gid, x->mode) < 0) {
			r = mvm_error_set(e, ENOMEM, "record", x->group, NULL);
			goto out;
		}
	}
	if (!locked)
		goto out;
	struct mvm_error e1; /* e may hold a device's error, logged already */
	int s = save_record(&left, &e1);
	if (s < 0) {
		*e = e1;
		r = s;
	}
out:
	if (all >= 0)
		close(all);
	free(held.v);
	devs_free(&rec);
	devs_free(&left);
	return r;
}

int main(int argc, char **argv)
{
	int st;
	int i = cli_parse(&tool, argc, argv, &c, &st);
	if (i < 0)
		return st;
	static const char *const verbs[] = { "bind", "unbind", NULL };
	int v = cli_verb(&tool, argc, argv, i, verbs, &st);
	if (v < 0)
		return st;
	if (!(vm_name = cli_vm_operand(&tool, argc, argv, i + 1, verbs[v], &st)))
		return st;
	struct mvm_error e;
	if (vm_name_check(vm_name, &e) < 0) { /* before it is in every line; a usage error */
		log_error_info(&e);
		return 2;
	}
	log_set_subject(vm_name);
	long wait_ms;
	if (lock_timeout_ms(&wait_ms, &e) < 0) {
		log_error_info(&e);
		return 2;
	}
	bool bind = v == 0;
	/* libkmod skips a configuration path it cannot open, and says so at
	 * debug level alone: a mistyped one would leave its blacklist
	 * unapplied. bind's alone, as the load is: the units give unbind the
	 * same options, and nothing there may keep the devices from going
	 * back. */
	struct stat cst;
	if (bind && opts.modprobe_config && stat(opts.modprobe_config, &cst) < 0) {
		mvm_error_set(&e, errno, "read", opts.modprobe_config, NULL);
		log_error_info(&e);
		return 2;
	}
	if (bind && cli_resolve_ids(&c, &e) < 0) {
		log_error_info(&e);
		return 1;
	}
	/* The runner before the lock: a VM that is not there (a mistyped name)
	 * fails before the lock file is made, and changes nothing. */
	struct vm vm = { 0 };
	if (bind && vm_open(&vm, c.state_dir, vm_name, VM_CURRENT, c.allow_untrusted, &e) < 0) {
		log_error_info(&e);
		return 1;
	}
	/* Runs for this VM (of pci-bind and tap-setup; a dry run too, without
	 * making the file) take turns; the lock goes at exit. An unbind for a
	 * VM that no run made anything for makes no lock either. */
	int lock, r = bind ? vm_lock(c.runtime_dir, vm_name, wait_ms, !c.dry_run, &lock, &e)
			   : vm_lock_to_undo(c.runtime_dir, vm_name, wait_ms, !c.dry_run, &lock, &e);
	if (r == 0) {
		lock_wait_ms = wait_ms; /* for the lock of all VMs' runs, taken in the verbs */
		r = bind ? do_bind(&vm, &e) : do_unbind(&e);
	} else if (r > 0) {
		log_debug("nothing made for the VM: nothing to give back");
		r = 0;
	}
	vm_close(&vm);
	if (r < 0) {
		log_error_info(&e); /* unless the verb logged it where it went on */
		return 1;
	}
	return 0;
}
