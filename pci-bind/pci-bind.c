/* SPDX-License-Identifier: MIT */
/* pci-bind: hand a VM's PCI devices to vfio-pci, and give them back.
 *
 *   bind NAME    load vfio-pci (libkmod), check each device's IOMMU group,
 *                rebind each device in share/microvm/pci-devices to
 *                vfio-pci, give /dev/vfio/GROUP to the VM user; all or
 *                nothing; record each device's previous driver.
 *   unbind NAME  give every recorded device back to its previous driver.
 *
 * Rebinding follows libvirt (src/util/virpci.c): write driver_override,
 * unbind from the current driver, write drivers_probe, then check the
 * `driver` link, since the kernel can refuse a bind without an error.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <libkmod.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
		"                       (default libkmod's: /etc/modprobe.d, /lib/modprobe.d, ...)",
	.flags = CLI_SYSFS | CLI_DEVFS | CLI_MODULES | CLI_IDS | CLI_UNTRUSTED | CLI_RUNTIME,
	.options = options,
	.handle = handle,
	.userdata = &opts,
};

static struct cli c;
static const char *vm_name;

/* One device this run handles, or one line of the record. */
struct dev {
	char addr[16];
	char prev[DRIVER_MAX]; /* driver before bind, "" for none */
	bool by_group;	       /* bound because it shares a group (--bind-group) */
	bool from_record;      /* entry of an earlier record */
	bool changed;	       /* this run wrote to it */
	bool failed;	       /* unbind could not give it back */
	char group[16];
};

struct devs {
	size_t n;
	struct dev *v;
};

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
static int sysfs_write(const char *path, const char *value)
{
	char esc[128];
	escape_value(value, strlen(value), esc, sizeof(esc));
	if (c.dry_run) {
		log_action("write '%s' to %s", esc, path);
		return 0;
	}
	log_debug("write '%s' to %s", esc, path);
	int r = write_str(path, value);
	if (r < 0)
		log_err("unable to write '%s' to '%s': %s", esc, path, strerror(-r));
	return r;
}

static int write_override(const char *addr, const char *value)
{
	_cleanup_free_ char *p = dev_path(addr, "driver_override");
	return p ? sysfs_write(p, value) : -ENOMEM;
}

static int write_unbind(const char *driver, const char *addr)
{
	_cleanup_free_ char *p = xasprintf("%s/bus/pci/drivers/%s/unbind", c.sysfs, driver);
	return p ? sysfs_write(p, addr) : -ENOMEM;
}

static int write_probe(const char *addr)
{
	_cleanup_free_ char *p = xasprintf("%s/bus/pci/drivers_probe", c.sysfs);
	return p ? sysfs_write(p, addr) : -ENOMEM;
}

/* After a probe: is the device on `want` ("" for no driver)? */
static int check_driver(const char *addr, const char *want, const char *verb)
{
	char now[DRIVER_MAX];
	if (c.dry_run)
		return 0;
	int r = dev_driver(addr, now, sizeof(now));
	if (r < 0)
		return log_fail(r, "read the driver of", addr);
	if (strcmp(now, want) == 0)
		return 0;
	if (*want)
		log_err("unable to %s '%s' to %s: the driver did not take it (driver now: %s)", verb,
			addr, want, *now ? now : "none");
	else
		log_err("unable to %s '%s': it is still bound to %s", verb, addr, now);
	return -EIO;
}

/* ---- the vfio-pci driver ---- */

static void kmod_log(void *data, int prio, const char *file, int line, const char *fn,
		     const char *fmt, va_list ap)
{
	char msg[1024];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	log_debug("libkmod: %s", msg);
}

static bool have_vfio_driver(void)
{
	_cleanup_free_ char *p = xasprintf("%s/bus/pci/drivers/%s", c.sysfs, VFIO_DRIVER);
	struct stat st;
	return p && stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Load vfio-pci through libkmod with the blacklist applied, as modprobe
 * does; one already loaded or built in is fine. 0 or -errno (logged). */
static int load_vfio(void)
{
	if (have_vfio_driver()) {
		log_debug("driver %s is there", VFIO_DRIVER);
		return 0;
	}
	if (c.dry_run) {
		log_action("load module %s", VFIO_MODULE);
		return 0;
	}
	const char *cfg[] = { opts.modprobe_config, NULL };
	struct kmod_ctx *ctx = kmod_new(c.modules_dir, opts.modprobe_config ? cfg : NULL);
	if (!ctx) {
		log_err("unable to load module '%s': libkmod could not start (modules dir '%s')",
			VFIO_MODULE, c.modules_dir ? c.modules_dir : "default");
		return -ENOMEM;
	}
	kmod_set_log_fn(ctx, kmod_log, NULL);
	kmod_set_log_priority(ctx, log_get_verbose() > 0 ? LOG_INFO : LOG_ERR);

	struct kmod_list *list = NULL, *l;
	bool builtin = false;
	int r = kmod_module_new_from_lookup(ctx, VFIO_MODULE, &list);
	if (r < 0) {
		log_err("unable to look up module '%s': %s", VFIO_MODULE, strerror(-r));
		goto out;
	}
	if (!list) {
		log_err("unable to load module '%s': not found in %s", VFIO_MODULE,
			kmod_get_dirname(ctx));
		r = -ENOENT;
		goto out;
	}
	kmod_list_foreach(l, list) {
		struct kmod_module *mod = kmod_module_get_module(l);
		const char *name = kmod_module_get_name(mod);
		if (kmod_module_get_initstate(mod) == KMOD_MODULE_BUILTIN)
			builtin = true;
		/* modprobe.d "install" commands would be run by libkmod through
		 * a shell: not from here (DESIGN.md section 3). */
		if (kmod_module_get_install_commands(mod))
			log_warn("module %s: the modprobe.d install command is not run", name);
		r = kmod_module_probe_insert_module(
			mod, KMOD_PROBE_APPLY_BLACKLIST | KMOD_PROBE_IGNORE_COMMAND, NULL, NULL, NULL,
			NULL);
		if (r > 0) {
			log_err("unable to load module '%s': it is blacklisted (modprobe.d)", name);
			r = -EPERM;
		} else if (r < 0) {
			log_err("unable to load module '%s': %s", name, strerror(-r));
		} else {
			log_debug("module %s %s", name, builtin ? "is built in" : "loaded");
		}
		kmod_module_unref(mod);
		if (r < 0)
			goto out;
	}
	if (!have_vfio_driver()) {
		log_err("unable to find driver '%s' in %s/bus/pci/drivers: module %s %s, but the "
			"driver did not register",
			VFIO_DRIVER, c.sysfs, VFIO_MODULE, builtin ? "is built in" : "loaded");
		r = -ENOENT;
	}
out:
	kmod_module_unref_list(list);
	kmod_unref(ctx);
	return r;
}

/* ---- IOMMU groups ---- */

static int dev_group(const char *addr, char *buf, size_t size)
{
	_cleanup_free_ char *p = dev_path(addr, "iommu_group");
	_cleanup_free_ char *g = NULL;
	if (!p)
		return -ENOMEM;
	int r = read_link_base(p, &g);
	if (r == -ENOENT) {
		log_err("unable to find the IOMMU group of '%s': the device has no iommu_group "
			"(is the IOMMU off? enable it in firmware and with intel_iommu=on or "
			"amd_iommu=on)",
			addr);
		return r;
	}
	if (r < 0)
		return log_fail(r, "read the IOMMU group of", addr);
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

/* Members of group g that keep it from being viable: bound to a driver
 * other than vfio-pci or pci-stub, not bridges, not in `mine`. Appended
 * to `bad` (by_group set, prev their driver). */
static int group_check(const char *g, const struct devs *mine, struct devs *bad)
{
	_cleanup_free_ char *dir = xasprintf("%s/kernel/iommu_groups/%s/devices", c.sysfs, g);
	if (!dir)
		return -ENOMEM;
	DIR *d = opendir(dir);
	if (!d)
		return log_fail(-errno, "list", dir);
	struct dirent *de;
	int r = 0;
	while ((de = readdir(d))) {
		char drv[DRIVER_MAX];
		if (de->d_name[0] == '.' || devs_find(mine, de->d_name) || devs_find(bad, de->d_name))
			continue;
		r = dev_driver(de->d_name, drv, sizeof(drv));
		if (r < 0) {
			log_fail(r, "read the driver of", de->d_name);
			break;
		}
		if (!*drv || !strcmp(drv, VFIO_DRIVER) || !strcmp(drv, "pci-stub") ||
		    dev_is_bridge(de->d_name))
			continue;
		struct dev *x = devs_add(bad, de->d_name);
		if (!x) {
			r = log_fail(-ENOMEM, "check group", g);
			break;
		}
		snprintf(x->prev, sizeof(x->prev), "%s", drv);
		snprintf(x->group, sizeof(x->group), "%s", g);
		x->by_group = true;
	}
	closedir(d);
	return r;
}

/* /dev/vfio/GROUP to the VM user and group, mode 0660. */
static int give_group_node(const char *g)
{
	_cleanup_free_ char *p = xasprintf("%s/vfio/%s", c.devfs, g);
	if (!p)
		return -ENOMEM;
	if (c.dry_run) {
		log_action("chown %s to %u:%u mode 0660", p, (unsigned)c.uid, (unsigned)c.gid);
		return 0;
	}
	struct stat st;
	if (lstat(p, &st) < 0)
		return log_fail(-errno, "find", p);
	if (!S_ISCHR(st.st_mode)) {
		log_err("unable to give '%s' to the VM: not a character device", p);
		return -EINVAL;
	}
	if (lchown(p, c.uid, c.gid) < 0 || chmod(p, 0660) < 0)
		return log_fail(-errno, "give to the VM", p);
	log_debug("%s owned by %u:%u mode 0660", p, (unsigned)c.uid, (unsigned)c.gid);
	return 0;
}

/* ---- the record ---- */

/* The record is rec (common/record.h): what each device had before. */
static int save_record(const struct devs *d)
{
	struct mvm_error e;
	if (c.dry_run)
		return 0;
	if (d->n == 0) {
		int r = record_remove(c.runtime_dir, vm_name, RECORD_KIND, &e);
		if (r < 0)
			log_error_info(&e);
		return r;
	}
	struct pci_record rec = { .n = d->n, .v = calloc(d->n, sizeof(*rec.v)) };
	if (!rec.v)
		return log_fail(-ENOMEM, "write the record of", vm_name);
	for (size_t i = 0; i < d->n; i++) {
		snprintf(rec.v[i].addr, sizeof(rec.v[i].addr), "%.12s", d->v[i].addr);
		snprintf(rec.v[i].prev, sizeof(rec.v[i].prev), "%s", d->v[i].prev);
		rec.v[i].by_group = d->v[i].by_group;
	}
	_cleanup_free_ char *t = pci_record_text(&rec);
	pci_record_free(&rec);
	if (!t)
		return log_fail(-ENOMEM, "write the record of", vm_name);
	int r = record_write(c.runtime_dir, vm_name, RECORD_KIND, t, &e);
	if (r < 0)
		log_error_info(&e);
	return r;
}

/* Read the record: 0 (an empty list when there is none) or -errno. */
static int load_record(struct devs *d)
{
	struct mvm_error e;
	struct pci_record rec;
	int r = pci_record_load(c.runtime_dir, vm_name, &rec, &e);
	if (r < 0) {
		log_error_info(&e);
		return r;
	}
	for (size_t i = 0; i < rec.n && r == 0; i++) {
		struct dev *x = devs_add(d, rec.v[i].addr);
		if (!x) {
			r = log_fail(-ENOMEM, "read", RECORD_KIND);
			break;
		}
		snprintf(x->prev, sizeof(x->prev), "%s", rec.v[i].prev);
		x->by_group = rec.v[i].by_group;
		x->from_record = true;
	}
	pci_record_free(&rec);
	return r;
}

/* ---- rebinding ---- */

/* To vfio-pci: override, unbind, probe, check. */
static int bind_one(struct dev *x)
{
	x->changed = true;
	int r = write_override(x->addr, VFIO_DRIVER);
	if (r == 0 && *x->prev)
		r = write_unbind(x->prev, x->addr);
	if (r == 0)
		r = write_probe(x->addr);
	if (r == 0)
		r = check_driver(x->addr, VFIO_DRIVER, "bind");
	return r;
}

/* Back to x->prev: clear the override, unbind from vfio-pci, reprobe,
 * check. A device some other driver took meanwhile is left alone, with
 * no write at all. */
static int give_back(const struct dev *x)
{
	char now[DRIVER_MAX];
	_cleanup_free_ char *p = dev_path(x->addr, NULL);
	if (p && access(p, F_OK) < 0 && errno == ENOENT) {
		log_warn("device '%s' is gone: nothing to give back", x->addr);
		return 0;
	}
	int r = dev_driver(x->addr, now, sizeof(now));
	if (r < 0)
		return log_fail(r, "read the driver of", x->addr);
	/* Another driver took it meanwhile: refused before any write. */
	if (*now && strcmp(now, VFIO_DRIVER) != 0 && strcmp(now, x->prev) != 0) {
		log_err("unable to give '%s' back to %s: it is bound to %s now", x->addr,
			*x->prev ? x->prev : "no driver", now);
		return -EBUSY;
	}
	r = write_override(x->addr, "\n");
	if (r < 0)
		return r;
	if (!strcmp(now, VFIO_DRIVER)) {
		r = write_unbind(VFIO_DRIVER, x->addr);
		if (r < 0)
			return r;
		*now = '\0';
	}
	if (*x->prev && !*now) {
		r = write_probe(x->addr);
		if (r < 0)
			return r;
	}
	return check_driver(x->addr, x->prev, "give back");
}

/* Give back what this run changed, last first; what could not be given
 * back is marked failed. */
static void rollback(struct devs *d)
{
	for (size_t i = d->n; i-- > 0;) {
		if (!d->v[i].changed)
			continue;
		log_notice("giving '%s' back to %s", d->v[i].addr,
			   *d->v[i].prev ? d->v[i].prev : "no driver");
		d->v[i].failed = give_back(&d->v[i]) < 0;
	}
}

/* ---- the verbs ---- */

/* Look before touching anything: each device there, its driver and
 * group; every group viable (or, with --bind-group, its other devices
 * appended to mine). */
static int plan_bind(const struct pci_list *list, struct devs *mine)
{
	struct devs extra = { 0 };
	int r = 0;
	for (size_t i = 0; i < list->n && r == 0; i++) {
		const char *addr = list->v[i].str;
		_cleanup_free_ char *p = dev_path(addr, NULL);
		struct stat st;
		if (!p || stat(p, &st) < 0) {
			r = log_fail(p ? -errno : -ENOMEM, "find PCI device", addr);
			break;
		}
		struct dev *x = devs_add(mine, addr);
		if (!x) {
			r = log_fail(-ENOMEM, "bind", addr);
			break;
		}
		r = dev_driver(addr, x->prev, sizeof(x->prev));
		if (r < 0) {
			log_fail(r, "read the driver of", addr);
			break;
		}
		r = dev_group(addr, x->group, sizeof(x->group));
	}
	for (size_t i = 0; i < mine->n && r == 0; i++) {
		size_t before = extra.n;
		r = group_check(mine->v[i].group, mine, &extra);
		if (r == 0 && extra.n > before && !opts.bind_group) {
			char names[1024] = "";
			for (size_t k = before; k < extra.n; k++)
				snprintf(names + strlen(names), sizeof(names) - strlen(names),
					 "%s%s (driver %s)", k > before ? ", " : "", extra.v[k].addr,
					 extra.v[k].prev);
			log_err("unable to use IOMMU group %s of '%s': the group is not viable, "
				"it also holds %s; bind those to vfio-pci too (--bind-group) or "
				"unbind them",
				mine->v[i].group, mine->v[i].addr, names);
			r = -EBUSY;
		}
	}
	/* --bind-group: the group's other devices are bound after the listed ones. */
	for (size_t i = 0; i < extra.n && r == 0; i++) {
		struct dev *y = devs_add(mine, extra.v[i].addr);
		if (!y)
			r = log_fail(-ENOMEM, "bind", extra.v[i].addr);
		else
			*y = extra.v[i];
	}
	free(extra.v);
	return r;
}

/* Each device of mine to vfio-pci. The record lists every device changed
 * so far, before it is changed, so that unbind undoes even a bind that
 * died halfway; then the groups' nodes to the VM user. */
static int bind_all(struct devs *mine, struct devs *rec)
{
	int r = 0;
	for (size_t i = 0; i < mine->n && r == 0; i++) {
		struct dev *x = &mine->v[i];
		if (!strcmp(x->prev, VFIO_DRIVER)) {
			log_debug("'%s' is on %s already", x->addr, VFIO_DRIVER);
			continue;
		}
		struct dev *y = devs_find(rec, x->addr);
		if (!y) {
			y = devs_add(rec, x->addr);
			if (!y)
				return log_fail(-ENOMEM, "bind", x->addr);
			*y = *x;
		}
		if ((r = save_record(rec)) < 0 || (r = bind_one(x)) < 0)
			break;
		if (opts.bind_group && x->by_group)
			log_info("bound '%s' of IOMMU group %s too (--bind-group)", x->addr, x->group);
	}
	for (size_t i = 0; i < mine->n && r == 0; i++) {
		bool seen = false;
		for (size_t k = 0; k < i; k++)
			seen |= !strcmp(mine->v[k].group, mine->v[i].group);
		if (!seen)
			r = give_group_node(mine->v[i].group);
	}
	return r;
}

/* After a failed bind_all(): give back what this run changed. What
 * earlier runs recorded stays in the record, and so does what the
 * rollback could not give back: unbind retries it. */
static void undo_bind(struct devs *mine, const struct devs *rec)
{
	struct devs keep = { 0 };
	rollback(mine);
	for (size_t i = 0; i < rec->n; i++) {
		const struct dev *m = devs_find(mine, rec->v[i].addr);
		if ((rec->v[i].from_record || (m && m->failed)) && devs_add(&keep, rec->v[i].addr))
			keep.v[keep.n - 1] = rec->v[i];
	}
	save_record(&keep);
	free(keep.v);
}

static int do_bind(void)
{
	struct mvm_error e;
	struct vm vm = { 0 };
	struct pci_list list = { 0 };
	struct devs mine = { 0 }, rec = { 0 };
	int r = vm_open(&vm, c.state_dir, vm_name, VM_CURRENT, c.allow_untrusted, &e);
	if (r == 0)
		r = vm_pci_devices(&vm, &list, &e);
	if (r < 0) {
		log_error_info(&e);
		goto out;
	}
	if (list.n == 0) {
		log_debug("no PCI devices: nothing to do");
		goto out;
	}
	if ((r = load_record(&rec)) < 0 || (r = plan_bind(&list, &mine)) < 0 ||
	    (r = load_vfio()) < 0)
		goto out;
	if ((r = bind_all(&mine, &rec)) < 0)
		undo_bind(&mine, &rec);
out:
	free(mine.v);
	free(rec.v);
	pci_list_free(&list);
	vm_close(&vm);
	return r;
}

static int do_unbind(void)
{
	struct devs rec = { 0 }, left = { 0 };
	int r = load_record(&rec);
	if (r < 0)
		goto out;
	if (rec.n == 0) {
		log_debug("no record: nothing to give back");
		r = save_record(&rec); /* a temporary file a killed bind left */
		goto out;
	}
	for (size_t i = rec.n; i-- > 0;) {
		rec.v[i].failed = give_back(&rec.v[i]) < 0;
		if (rec.v[i].failed)
			r = -EIO;
	}
	/* What could not be given back stays recorded for another try. */
	for (size_t i = 0; i < rec.n; i++) {
		if (!rec.v[i].failed)
			continue;
		if (!devs_add(&left, rec.v[i].addr)) {
			r = log_fail(-ENOMEM, "record", rec.v[i].addr);
			goto out;
		}
		left.v[left.n - 1] = rec.v[i];
	}
	int s = save_record(&left);
	if (r == 0)
		r = s;
out:
	free(rec.v);
	free(left.v);
	return r;
}

int main(int argc, char **argv)
{
	int st;
	int i = cli_parse(&tool, argc, argv, &c, &st);
	if (i < 0)
		return st;
	if (argc - i != 2)
		return cli_usage_error(&tool, "expected a verb and a VM name");
	const char *verb = argv[i];
	vm_name = argv[i + 1];
	if (strcmp(verb, "bind") != 0 && strcmp(verb, "unbind") != 0)
		return cli_usage_error(&tool, "unknown verb '%s'", verb);
	struct mvm_error e;
	if (vm_name_check(vm_name, &e) < 0) { /* before it is in every line */
		log_error_info(&e);
		return 1;
	}
	log_set_subject(vm_name);
	long wait_ms;
	if (lock_timeout_ms(&wait_ms, &e) < 0) {
		log_error_info(&e);
		return 2;
	}
	bool bind = !strcmp(verb, "bind");
	if (bind && cli_resolve_ids(&c, &e) < 0) {
		log_error_info(&e);
		return 1;
	}
	/* Runs for this VM (of pci-bind and tap-setup; a dry run too, without
	 * making the file) take turns; the lock goes at exit. */
	int lock;
	if (vm_lock(c.runtime_dir, vm_name, wait_ms, !c.dry_run, &lock, &e) < 0) {
		log_error_info(&e);
		return 1;
	}
	return (bind ? do_bind() : do_unbind()) < 0 ? 1 : 0;
}
