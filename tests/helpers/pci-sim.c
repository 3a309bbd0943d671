/* SPDX-License-Identifier: MIT */
/* pci-sim: builds and inspects a simulated PCI sysfs tree for the
 * pcisim.so shim (see tests/shims/pcisim.c for what the shim does with
 * it). Run without the shim.
 *
 *   pci-sim ROOT init
 *   pci-sim ROOT driver NAME
 *   pci-sim ROOT device ADDR [driver=DRV] [group=N] [vendor=0xVVVV]
 *                            [device=0xDDDD] [class=0xCCCCCC] [orig=DRV]
 *                            [override=DRV]
 *   pci-sim ROOT refuse DRV ADDR|all [ERRNO]
 *                                        DRV's probe of ADDR (all: of any
 *                                        device) fails
 *   pci-sim ROOT fail REL ERRNO          writes to ROOT/REL fail
 *   pci-sim ROOT module MOD [DRV]        loading MOD registers driver DRV
 *   pci-sim ROOT modfail MOD ERRNO       loading MOD fails
 *   pci-sim ROOT log                     print the write log
 *
 * `device ... driver=DRV` binds the device to DRV (made if missing) and
 * makes DRV its original driver, the one a plain reprobe gives it back
 * to (orig= overrides that; orig=- means none). override=DRV sets its
 * driver_override, as `driverctl set-override` does (without one it reads
 * "(null)", as the kernel's does).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layout.h"
#include "util.h"

static const char *root;

static void die(const char *what, const char *obj, int err)
{
	fprintf(stderr, "pci-sim: unable to %s '%s': %s\n", what, obj, strerror(err));
	exit(1);
}

static char *p(const char *rel)
{
	char *s = path_join(root, rel);
	if (!s)
		die("allocate", rel, ENOMEM);
	return s;
}

static void mkdirs(const char *rel)
{
	_cleanup_free_ char *d = p(rel);
	int r = mkdir_p(d, 0755);
	if (r < 0)
		die("create", d, -r);
}

/* Write a file under the root (made with its parents). */
static void put(const char *rel, const char *content)
{
	_cleanup_free_ char *f = p(rel);
	char *slash = strrchr(f, '/');
	*slash = '\0';
	int r = mkdir_p(f, 0755);
	if (r < 0)
		die("create", f, -r);
	*slash = '/';
	FILE *fp = fopen(f, "w");
	if (!fp)
		die("create", f, errno);
	fputs(content, fp);
	if (fclose(fp) != 0)
		die("write", f, errno);
}

static void link_rel(const char *target, const char *rel)
{
	_cleanup_free_ char *l = p(rel);
	unlink(l);
	if (symlink(target, l) < 0)
		die("symlink", l, errno);
}

/* DIR/NAME holding "VALUE\n". */
static void attr(const char *dir, const char *name, const char *value)
{
	_cleanup_free_ char *rel = xasprintf("%s/%s", dir, name);
	_cleanup_free_ char *v = xasprintf("%s\n", value);
	if (!rel || !v)
		die("allocate", name, ENOMEM);
	put(rel, v);
}

static void init(void)
{
	mkdirs("devices/pci0000:00");
	mkdirs("bus/pci/devices");
	mkdirs("bus/pci/drivers");
	mkdirs("kernel/iommu_groups");
	mkdirs("module");
	mkdirs(".sim/orig");
	put("bus/pci/drivers_probe", "");
	put("bus/pci/drivers_autoprobe", "1\n");
	put(".sim/log", "");
	/* The real module registers the driver "vfio-pci". */
	put(".sim/moddrv/vfio_pci", "vfio-pci\n");
}

static void driver(const char *name)
{
	static const char *const files[] = { "bind", "unbind", "new_id", "remove_id", "uevent" };
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		_cleanup_free_ char *rel = xasprintf("bus/pci/drivers/%s/%s", name, files[i]);
		put(rel, "");
	}
}

static void device(const char *addr, int argc, char **argv)
{
	struct pci_addr a;
	if (parse_pci_addr(addr, strlen(addr), &a) < 0)
		die("parse", addr, EINVAL);
	const char *drv = NULL, *group = NULL, *vendor = "0x8086", *dev = "0x1234",
		   *cls = "0x020000", *orig = NULL, *override = "(null)";
	for (int i = 0; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		if (!eq)
			die("parse", argv[i], EINVAL);
		*eq = '\0';
		const char *k = argv[i], *v = eq + 1;
		if (!strcmp(k, "driver"))
			drv = v;
		else if (!strcmp(k, "group"))
			group = v;
		else if (!strcmp(k, "vendor"))
			vendor = v;
		else if (!strcmp(k, "device"))
			dev = v;
		else if (!strcmp(k, "class"))
			cls = v;
		else if (!strcmp(k, "orig"))
			orig = v;
		else if (!strcmp(k, "override"))
			override = v;
		else
			die("parse", k, EINVAL);
	}
	_cleanup_free_ char *d = xasprintf("devices/pci0000:00/%s", a.str);
	attr(d, "vendor", vendor);
	attr(d, "device", dev);
	attr(d, "class", cls);
	attr(d, "driver_override", override);
	_cleanup_free_ char *f = xasprintf("bus/pci/devices/%s", a.str);
	_cleanup_free_ char *t = xasprintf("../../../%s", d);
	link_rel(t, f);
	if (group) {
		_cleanup_free_ char *g = xasprintf("kernel/iommu_groups/%s/devices", group);
		mkdirs(g);
		free(f), f = xasprintf("%s/iommu_group", d);
		_cleanup_free_ char *gt = xasprintf("../../../kernel/iommu_groups/%s", group);
		link_rel(gt, f);
		free(f), f = xasprintf("%s/%s", g, a.str);
		_cleanup_free_ char *dt = xasprintf("../../../../%s", d);
		link_rel(dt, f);
	}
	if (!orig)
		orig = drv;
	free(f), f = xasprintf(".sim/orig/%s", a.str);
	if (orig && strcmp(orig, "-") != 0)
		put(f, orig);
	if (drv) {
		driver(drv);
		free(f), f = xasprintf("%s/driver", d);
		_cleanup_free_ char *dr = xasprintf("../../../bus/pci/drivers/%s", drv);
		link_rel(dr, f);
		free(f), f = xasprintf("bus/pci/drivers/%s/%s", drv, a.str);
		_cleanup_free_ char *back = xasprintf("../../../../%s", d);
		link_rel(back, f);
	}
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: pci-sim ROOT init|driver|device|refuse|fail|module|"
				"modfail|log ARGS...\n");
		return 2;
	}
	root = argv[1];
	const char *cmd = argv[2];
	if (!strcmp(cmd, "init")) {
		init();
	} else if (!strcmp(cmd, "driver") && argc == 4) {
		driver(argv[3]);
	} else if (!strcmp(cmd, "device") && argc >= 4) {
		device(argv[3], argc - 4, argv + 4);
	} else if (!strcmp(cmd, "refuse") && (argc == 5 || argc == 6)) {
		_cleanup_free_ char *rel = xasprintf(".sim/refuse/%s/%s", argv[3], argv[4]);
		put(rel, argc == 6 ? argv[5] : "");
	} else if (!strcmp(cmd, "fail") && argc == 5) {
		_cleanup_free_ char *rel = xasprintf(".sim/fail/%s", argv[3]);
		put(rel, argv[4]);
	} else if (!strcmp(cmd, "module") && (argc == 4 || argc == 5)) {
		_cleanup_free_ char *rel = xasprintf(".sim/moddrv/%s", argv[3]);
		put(rel, argc == 5 ? argv[4] : "");
	} else if (!strcmp(cmd, "modfail") && argc == 5) {
		_cleanup_free_ char *rel = xasprintf(".sim/modfail/%s", argv[3]);
		put(rel, argv[4]);
	} else if (!strcmp(cmd, "log") && argc == 3) {
		_cleanup_free_ char *f = p(".sim/log");
		char *buf = NULL;
		size_t len;
		int r = read_file(f, 1 << 20, &buf, &len);
		if (r < 0)
			die("read", f, -r);
		fwrite(buf, 1, len, stdout);
		free(buf);
	} else {
		fprintf(stderr, "pci-sim: usage error: bad command '%s'\n", cmd);
		return 2;
	}
	return 0;
}
