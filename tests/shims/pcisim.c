/* SPDX-License-Identifier: MIT */
/* pcisim.so: an LD_PRELOAD shim that makes a plain directory tree behave
 * like the kernel's PCI sysfs on write, and stands in for the kernel's
 * module loader, so pci-bind can be tested without touching /sys/bus/pci
 * or loading anything.
 *
 * The idea is the one of libvirt's tests/virpcimock.c and kmod's
 * testsuite (path.c, init_module.c): the program under test runs
 * unchanged, with --sysfs pointing into a temp tree, and the shim
 * intercepts the libc calls that matter.
 *
 * $PCISIM_ROOT is the simulated sysfs root (the tree is built by
 * tests/helpers/pci-sim.c). Under it:
 *   devices/pci0000:00/ADDR/{vendor,device,class,driver_override}
 *   devices/pci0000:00/ADDR/driver -> ../../../bus/pci/drivers/DRV
 *   devices/pci0000:00/ADDR/iommu_group -> ../../../kernel/iommu_groups/N
 *   bus/pci/devices/ADDR -> ../../../devices/pci0000:00/ADDR
 *   bus/pci/drivers/DRV/{bind,unbind,new_id,remove_id}, DRV/ADDR -> device
 *   bus/pci/{drivers_probe,drivers_autoprobe}
 *   kernel/iommu_groups/N/devices/ADDR -> device
 *   module/NAME/initstate
 * and the simulation's own state in .sim/:
 *   .sim/orig/ADDR       driver that takes ADDR on a probe without override
 *   .sim/ids/DRV         "VVVV DDDD" lines added through new_id
 *   .sim/refuse/DRV/ADDR DRV's probe of ADDR fails (.../DRV/all: of every
 *                        device): a drivers_probe write succeeds and binds
 *                        nothing (as the kernel does); a write to DRV/bind
 *                        fails with the errno number in the file (ENODEV
 *                        when empty)
 *   .sim/fail/REL        any write to REL (relative to the root, e.g.
 *                        bus/pci/drivers/e1000e/unbind) fails with the
 *                        errno number in the file
 *   .sim/held/ADDR       the write of ADDR to a driver's unbind waits while
 *                        the file exists: as the kernel's to vfio-pci's
 *                        waits for the device's last descriptor (a VMM's)
 *                        to close, or another driver's remove takes long
 *   .sim/moddrv/MOD      loading module MOD registers the PCI driver named
 *                        in the file (bus/pci/drivers/NAME appears)
 *   .sim/modfail/MOD     loading MOD fails with that errno
 *   .sim/log             every write and module operation, one a line:
 *                        "write REL DATA" (DATA escaped), "load MOD",
 *                        "unload MOD"
 *
 * Writes: open() of an attribute under the root for writing is tracked by
 * descriptor; each write() on it is one "store" as in the kernel, acted on
 * and answered with the kernel's errno. Paths outside the root pass
 * through untouched. With $PCISIM_ROOT set, /sys/module/... is read from
 * ROOT/module/... (libkmod looks there for a module's state).
 * init_module, finit_module (also through syscall()) and delete_module
 * never reach the kernel, whether $PCISIM_ROOT is set or not: without it
 * they fail with EPERM. An open of anything in the host's /sys for
 * writing fails with EPERM too, so a bug cannot reach the real devices.
 *
 * Built without sanitizers (it is preloaded into sanitized programs).
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>
#include "openmode.h"

/* Paths in the simulated tree are short; a cut one fails to resolve,
 * which the tests would see. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

#define MAX_FD 4096

static char root[PATH_MAX];
static size_t rootlen;
static char *tracked[MAX_FD]; /* attribute (relative to root) open for writing */

static int (*real_open)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static ssize_t (*real_write)(int, const void *, size_t);
static int (*real_close)(int);
static int (*real_stat)(const char *, struct stat *);
static int (*real_lstat)(const char *, struct stat *);
static int (*real_fstatat)(int, const char *, struct stat *, int);
static FILE *(*real_fopen)(const char *, const char *);
static DIR *(*real_opendir)(const char *);
static int (*real_access)(const char *, int);
static long (*real_syscall)(long, ...);
static int (*real_dup)(int);
static int (*real_dup2)(int, int);
static int (*real_dup3)(int, int, int);
static int (*real_fcntl)(int, int, ...);

static void *next(const char *sym)
{
	void *p = dlsym(RTLD_NEXT, sym);
	if (!p) {
		fprintf(stderr, "pcisim: no next %s: %s\n", sym, dlerror());
		abort();
	}
	return p;
}

__attribute__((constructor)) static void sim_init(void)
{
	if (real_open)
		return;
	real_open = next("open");
	real_openat = next("openat");
	real_write = next("write");
	real_close = next("close");
	real_stat = next("stat");
	real_lstat = next("lstat");
	real_fstatat = next("fstatat");
	real_fopen = next("fopen");
	real_opendir = next("opendir");
	real_access = next("access");
	real_syscall = next("syscall");
	real_dup = next("dup");
	real_dup2 = next("dup2");
	real_dup3 = next("dup3");
	real_fcntl = next("fcntl");
	const char *r = getenv("PCISIM_ROOT");
	if (r && *r && realpath(r, root))
		rootlen = strlen(root);
}

/* ---- small helpers (use only the real_* functions) ---- */

static void sim_path(char *buf, size_t size, const char *rel)
{
	snprintf(buf, size, "%s/%s", root, rel);
}

/* Contents of ROOT/rel, trailing newline removed; false when missing. */
static bool sim_read(const char *rel, char *buf, size_t size)
{
	char p[PATH_MAX];
	sim_path(p, sizeof(p), rel);
	int fd = real_open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, size - 1);
	real_close(fd);
	if (n < 0)
		return false;
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	return true;
}

static void sim_put(const char *rel, const char *data, int oflags)
{
	char p[PATH_MAX];
	sim_path(p, sizeof(p), rel);
	int fd = real_open(p, O_WRONLY | O_CREAT | O_CLOEXEC | oflags, 0644);
	if (fd < 0)
		return;
	if (real_write(fd, data, strlen(data)) < 0)
		fprintf(stderr, "pcisim: write %s: %s\n", p, strerror(errno));
	real_close(fd);
}

static bool sim_exists(const char *rel)
{
	char p[PATH_MAX];
	struct stat st;
	sim_path(p, sizeof(p), rel);
	return real_lstat(p, &st) == 0;
}

/* An errno number configured in ROOT/rel: 0 when the file is missing,
 * dflt when it is empty. */
static int sim_errno(const char *rel, int dflt)
{
	char buf[32];
	if (!sim_read(rel, buf, sizeof(buf)))
		return 0;
	if (!*buf)
		return dflt;
	int e = atoi(buf);
	return e > 0 ? e : dflt;
}

static void sim_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sim_log(const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	strcat(line, "\n");
	sim_put(".sim/log", line, O_APPEND);
}

static void escape(const char *s, size_t n, char *out, size_t size)
{
	size_t o = 0;
	for (size_t i = 0; i < n && o + 5 < size; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c > ' ' && c < 0x7f && c != '\\')
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, size - o, "\\x%02x", c);
	}
	out[o] = '\0';
}

/* "../" times the depth of the directory holding rel. */
static void up_to_root(const char *rel, char *buf, size_t size)
{
	buf[0] = '\0';
	for (const char *p = rel; (p = strchr(p, '/')); p++)
		strncat(buf, "../", size - strlen(buf) - 1);
}

/* The device directory of ADDR, relative to the root: false if there is
 * no such device. */
static bool device_dir(const char *addr, char *out, size_t size)
{
	char p[PATH_MAX], real[PATH_MAX];
	if (!*addr || strchr(addr, '/'))
		return false;
	snprintf(p, sizeof(p), "%s/bus/pci/devices/%s", root, addr);
	if (!realpath(p, real) || strncmp(real, root, rootlen) != 0 || real[rootlen] != '/')
		return false;
	snprintf(out, size, "%s", real + rootlen + 1);
	return true;
}

/* Current driver of a device: "" when none. */
static void device_driver(const char *dev, char *out, size_t size)
{
	char p[PATH_MAX], t[PATH_MAX];
	snprintf(p, sizeof(p), "%s/%s/driver", root, dev);
	ssize_t n = readlink(p, t, sizeof(t) - 1);
	out[0] = '\0';
	if (n <= 0)
		return;
	t[n] = '\0';
	const char *b = strrchr(t, '/');
	snprintf(out, size, "%s", b ? b + 1 : t);
}

static void device_override(const char *dev, char *out, size_t size)
{
	char rel[PATH_MAX];
	snprintf(rel, sizeof(rel), "%s/driver_override", dev);
	if (!sim_read(rel, out, size) || strcmp(out, "(null)") == 0)
		out[0] = '\0';
}

static bool driver_exists(const char *drv)
{
	char rel[PATH_MAX];
	if (!*drv || strchr(drv, '/'))
		return false;
	snprintf(rel, sizeof(rel), "bus/pci/drivers/%s", drv);
	return sim_exists(rel);
}

/* Does drv match the device by its id tables (the original driver, or an
 * id added through new_id)? */
static bool driver_ids_match(const char *drv, const char *addr, const char *dev)
{
	char rel[PATH_MAX], buf[4096];
	snprintf(rel, sizeof(rel), ".sim/orig/%s", addr);
	if (sim_read(rel, buf, sizeof(buf)) && strcmp(buf, drv) == 0)
		return true;
	char vendor[32] = "", device[32] = "";
	snprintf(rel, sizeof(rel), "%s/vendor", dev);
	sim_read(rel, vendor, sizeof(vendor));
	snprintf(rel, sizeof(rel), "%s/device", dev);
	sim_read(rel, device, sizeof(device));
	snprintf(rel, sizeof(rel), ".sim/ids/%s", drv);
	if (!sim_read(rel, buf, sizeof(buf)))
		return false;
	unsigned v = (unsigned)strtoul(vendor, NULL, 16), d = (unsigned)strtoul(device, NULL, 16);
	for (char *save, *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		unsigned lv, ld;
		if (sscanf(l, "%x %x", &lv, &ld) == 2 && lv == v && ld == d)
			return true;
	}
	return false;
}

/* driver_match_device(): with an override only that driver matches. */
static bool driver_matches(const char *drv, const char *addr, const char *dev)
{
	char ov[256];
	device_override(dev, ov, sizeof(ov));
	if (*ov)
		return strcmp(ov, drv) == 0;
	return driver_ids_match(drv, addr, dev);
}

static void link_device(const char *drv, const char *addr, const char *dev)
{
	char rel[PATH_MAX], up[PATH_MAX], target[PATH_MAX * 2], p[PATH_MAX];
	snprintf(rel, sizeof(rel), "%s/driver", dev);
	up_to_root(rel, up, sizeof(up));
	snprintf(target, sizeof(target), "%sbus/pci/drivers/%s", up, drv);
	sim_path(p, sizeof(p), rel);
	if (symlink(target, p) < 0)
		fprintf(stderr, "pcisim: symlink %s: %s\n", p, strerror(errno));
	snprintf(rel, sizeof(rel), "bus/pci/drivers/%s/%s", drv, addr);
	up_to_root(rel, up, sizeof(up));
	snprintf(target, sizeof(target), "%s%s", up, dev);
	sim_path(p, sizeof(p), rel);
	if (symlink(target, p) < 0)
		fprintf(stderr, "pcisim: symlink %s: %s\n", p, strerror(errno));
}

static void unlink_device(const char *drv, const char *addr, const char *dev)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/%s/driver", root, dev);
	unlink(p);
	snprintf(p, sizeof(p), "%s/bus/pci/drivers/%s/%s", root, drv, addr);
	unlink(p);
}

/* really_probe(): 0 when bound, else the probe's errno. */
static int probe(const char *drv, const char *addr, const char *dev)
{
	char rel[PATH_MAX];
	snprintf(rel, sizeof(rel), ".sim/refuse/%s/%s", drv, addr);
	int e = sim_errno(rel, ENODEV);
	snprintf(rel, sizeof(rel), ".sim/refuse/%s/all", drv);
	if (!e)
		e = sim_errno(rel, ENODEV);
	if (e) {
		sim_log("refuse %s %s", drv, addr);
		return e;
	}
	link_device(drv, addr, dev);
	return 0;
}

/* ---- the stores ---- */

static int store_unbind(const char *drv, const char *addr)
{
	char dev[PATH_MAX], cur[256], held[PATH_MAX], buf[8];
	if (!device_dir(addr, dev, sizeof(dev)))
		return ENODEV;
	snprintf(held, sizeof(held), ".sim/held/%s", addr);
	while (sim_read(held, buf, sizeof(buf)))
		usleep(10000);
	device_driver(dev, cur, sizeof(cur));
	if (strcmp(cur, drv) != 0)
		return ENODEV;
	unlink_device(drv, addr, dev);
	return 0;
}

static int store_bind(const char *drv, const char *addr)
{
	char dev[PATH_MAX], cur[256];
	if (!device_dir(addr, dev, sizeof(dev)) || !driver_matches(drv, addr, dev))
		return ENODEV;
	device_driver(dev, cur, sizeof(cur));
	if (*cur)
		return EBUSY;
	return probe(drv, addr, dev);
}

static int store_drivers_probe(const char *addr)
{
	char dev[PATH_MAX], cur[256], ov[256], rel[PATH_MAX], orig[256] = "";
	if (!device_dir(addr, dev, sizeof(dev)))
		return ENODEV;
	device_driver(dev, cur, sizeof(cur));
	if (*cur)
		return 0;
	device_override(dev, ov, sizeof(ov));
	if (*ov) {
		if (driver_exists(ov))
			(void)probe(ov, addr, dev);
		return 0;
	}
	snprintf(rel, sizeof(rel), ".sim/orig/%s", addr);
	if (sim_read(rel, orig, sizeof(orig)) && driver_exists(orig) &&
	    driver_ids_match(orig, addr, dev))
		(void)probe(orig, addr, dev);
	else {
		/* a driver that gained the id through new_id */
		char p[PATH_MAX];
		sim_path(p, sizeof(p), "bus/pci/drivers");
		DIR *d = real_opendir(p);
		struct dirent *de;
		while (d && (de = readdir(d))) {
			if (de->d_name[0] != '.' && driver_ids_match(de->d_name, addr, dev) &&
			    probe(de->d_name, addr, dev) == 0)
				break;
		}
		if (d)
			closedir(d);
	}
	return 0;
}

static int store_driver_override(const char *dev, const char *data, size_t n)
{
	char rel[PATH_MAX], val[4096];
	if (n >= 4095)
		return EINVAL;
	memcpy(val, data, n);
	val[n] = '\0';
	char *nl = strchr(val, '\n');
	if (nl)
		*nl = '\0';
	snprintf(rel, sizeof(rel), "%s/driver_override", dev);
	char p[PATH_MAX];
	sim_path(p, sizeof(p), rel);
	int fd = real_open(p, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0)
		return EIO;
	char out[4100];
	snprintf(out, sizeof(out), "%s\n", *val ? val : "(null)");
	ssize_t w = real_write(fd, out, strlen(out));
	real_close(fd);
	return w < 0 ? EIO : 0;
}

static int store_new_id(const char *drv, const char *data)
{
	unsigned v, d;
	if (sscanf(data, "%x %x", &v, &d) != 2)
		return EINVAL;
	char rel[PATH_MAX], line[64];
	snprintf(rel, sizeof(rel), ".sim/ids/%s", drv);
	snprintf(line, sizeof(line), "%04x %04x\n", v, d);
	sim_put(rel, line, O_APPEND);
	/* driver_attach(): take every unbound device that now matches */
	char p[PATH_MAX];
	sim_path(p, sizeof(p), "bus/pci/devices");
	DIR *dir = real_opendir(p);
	struct dirent *de;
	while (dir && (de = readdir(dir))) {
		char dev[PATH_MAX], cur[256];
		if (de->d_name[0] == '.' || !device_dir(de->d_name, dev, sizeof(dev)))
			continue;
		device_driver(dev, cur, sizeof(cur));
		if (!*cur && driver_matches(drv, de->d_name, dev))
			(void)probe(drv, de->d_name, dev);
	}
	if (dir)
		closedir(dir);
	return 0;
}

/* One write to a tracked attribute: 0 or the errno the kernel gives. */
static int store(const char *rel, const char *data, size_t n)
{
	char buf[4096], esc[1024], frel[PATH_MAX];
	escape(data, n, esc, sizeof(esc));
	sim_log("write %s %s", rel, esc);

	snprintf(frel, sizeof(frel), ".sim/fail/%s", rel);
	int e = sim_errno(frel, EIO);
	if (e)
		return e;

	size_t m = n < sizeof(buf) - 1 ? n : sizeof(buf) - 1;
	memcpy(buf, data, m);
	buf[m] = '\0';
	/* sysfs_streq(): one trailing newline is ignored */
	char arg[4096];
	snprintf(arg, sizeof(arg), "%s", buf);
	size_t al = strlen(arg);
	if (al && arg[al - 1] == '\n')
		arg[--al] = '\0';

	const char *base = strrchr(rel, '/');
	base = base ? base + 1 : rel;
	char drv[256] = "";
	if (strncmp(rel, "bus/pci/drivers/", 16) == 0) {
		const char *s = rel + 16, *slash = strchr(s, '/');
		if (slash && (size_t)(slash - s) < sizeof(drv)) {
			memcpy(drv, s, (size_t)(slash - s));
			drv[slash - s] = '\0';
		}
	}
	if (strcmp(rel, "bus/pci/drivers_probe") == 0)
		return store_drivers_probe(arg);
	if (strcmp(rel, "bus/pci/drivers_autoprobe") == 0 || strcmp(base, "uevent") == 0 ||
	    strcmp(base, "rescan") == 0 || strcmp(base, "remove") == 0)
		return 0;
	if (*drv && strcmp(base, "unbind") == 0)
		return store_unbind(drv, arg);
	if (*drv && strcmp(base, "bind") == 0)
		return store_bind(drv, arg);
	if (*drv && strcmp(base, "new_id") == 0)
		return store_new_id(drv, arg);
	if (*drv && strcmp(base, "remove_id") == 0)
		return 0;
	if (strcmp(base, "driver_override") == 0) {
		char dev[PATH_MAX];
		snprintf(dev, sizeof(dev), "%.*s", (int)(base - 1 - rel), rel);
		return store_driver_override(dev, buf, m);
	}
	return EACCES;
}

/* Attributes the kernel lets one open for writing. */
static bool writable_attr(const char *rel)
{
	static const char *const names[] = { "driver_override", "bind", "unbind", "new_id",
					     "remove_id", "drivers_probe", "drivers_autoprobe",
					     "uevent", "remove", "rescan" };
	const char *base = strrchr(rel, '/');
	base = base ? base + 1 : rel;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(base, names[i]) == 0)
			return true;
	return false;
}

/* ---- path handling ---- */

/* Absolute form of (dirfd, path) without resolving its last component. */
static bool absolute(int dirfd, const char *path, char *out, size_t size)
{
	if (path[0] == '/') {
		snprintf(out, size, "%s", path);
		return true;
	}
	char base[PATH_MAX];
	if (dirfd == AT_FDCWD) {
		if (!getcwd(base, sizeof(base)))
			return false;
	} else {
		char fdp[64];
		snprintf(fdp, sizeof(fdp), "/proc/self/fd/%d", dirfd);
		ssize_t n = readlink(fdp, base, sizeof(base) - 1);
		if (n <= 0)
			return false;
		base[n] = '\0';
	}
	snprintf(out, size, "%s/%s", base, path);
	return true;
}

/* If (dirfd, path) names something under the root (the directories
 * resolved, the last component not), its path relative to the root. */
static bool under_root(int dirfd, const char *path, char *rel, size_t size)
{
	char abs[PATH_MAX], dir[PATH_MAX];
	if (!rootlen || !path || !absolute(dirfd, path, abs, sizeof(abs)))
		return false;
	char *slash = strrchr(abs, '/');
	if (!slash || !slash[1])
		return false;
	*slash = '\0';
	if (!realpath(*abs ? abs : "/", dir))
		return false;
	if (strncmp(dir, root, rootlen) != 0 || (dir[rootlen] != '/' && dir[rootlen] != '\0'))
		return false;
	const char *sub = dir[rootlen] == '/' ? dir + rootlen + 1 : "";
	snprintf(rel, size, "%s%s%s", sub, *sub ? "/" : "", slash + 1);
	return strncmp(rel, ".sim/", 5) != 0;
}

/* Is (dirfd, path) in the host's /sys? */
static bool real_sysfs(int dirfd, const char *path)
{
	char abs[PATH_MAX], dir[PATH_MAX];
	if (!path || !absolute(dirfd, path, abs, sizeof(abs)))
		return false;
	char *slash = strrchr(abs, '/');
	if (slash)
		*slash = '\0';
	if (!realpath(*abs ? abs : "/", dir))
		return false;
	return strcmp(dir, "/sys") == 0 || strncmp(dir, "/sys/", 5) == 0;
}

/* /sys/module/... read from ROOT/module/... */
static const char *redirect(const char *path, char *buf, size_t size)
{
	if (!rootlen || !path || strncmp(path, "/sys/module", 11) != 0 ||
	    (path[11] != '/' && path[11] != '\0'))
		return path;
	snprintf(buf, size, "%s/module%s", root, path + 11);
	return buf;
}

static int do_open(int dirfd, const char *path, int flags, mode_t mode)
{
	sim_init();
	char buf[PATH_MAX], rel[PATH_MAX];
	path = redirect(path, buf, sizeof(buf));
	bool w = (flags & O_ACCMODE) != O_RDONLY;
	if (w && real_sysfs(dirfd, path)) {
		/* a test must never write the host's sysfs: fail loudly */
		fprintf(stderr, "pcisim: refusing to open the real '%s' for writing\n", path);
		errno = EPERM;
		return -1;
	}
	if (w && under_root(dirfd, path, rel, sizeof(rel))) {
		if (!writable_attr(rel)) {
			errno = EACCES;
			return -1;
		}
		int fd = real_openat(dirfd, path, flags & ~(O_CREAT | O_TRUNC), mode);
		if (fd >= 0 && fd < MAX_FD) {
			free(tracked[fd]);
			tracked[fd] = strdup(rel);
		}
		return fd;
	}
	return real_openat(dirfd, path, flags, mode);
}

int open(const char *path, int flags, ...)
{
	mode_t m = OPEN_MODE(flags);
	return do_open(AT_FDCWD, path, flags, m);
}

int open64(const char *path, int flags, ...)
{
	mode_t m = OPEN_MODE(flags);
	return do_open(AT_FDCWD, path, flags, m);
}

int openat(int dirfd, const char *path, int flags, ...)
{
	mode_t m = OPEN_MODE(flags);
	return do_open(dirfd, path, flags, m);
}

int openat64(int dirfd, const char *path, int flags, ...)
{
	mode_t m = OPEN_MODE(flags);
	return do_open(dirfd, path, flags, m);
}

/* The _FORTIFY_SOURCE entry points. */
int __open_2(const char *path, int flags);
int __open_2(const char *path, int flags)
{
	return do_open(AT_FDCWD, path, flags, 0);
}
int __open64_2(const char *path, int flags);
int __open64_2(const char *path, int flags)
{
	return do_open(AT_FDCWD, path, flags, 0);
}
int __openat_2(int dirfd, const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags)
{
	return do_open(dirfd, path, flags, 0);
}
int __openat64_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags)
{
	return do_open(dirfd, path, flags, 0);
}

ssize_t write(int fd, const void *data, size_t n)
{
	sim_init();
	if (fd >= 0 && fd < MAX_FD && tracked[fd]) {
		int e = store(tracked[fd], data, n);
		if (e) {
			errno = e;
			return -1;
		}
		return (ssize_t)n;
	}
	return real_write(fd, data, n);
}

int close(int fd)
{
	sim_init();
	if (fd >= 0 && fd < MAX_FD && tracked[fd]) {
		free(tracked[fd]);
		tracked[fd] = NULL;
	}
	return real_close(fd);
}

/* A shell redirection dups the descriptor: the copy is tracked too. */
static int dup_track(int from, int to)
{
	if (to >= 0 && to < MAX_FD) {
		free(tracked[to]);
		tracked[to] = NULL;
		if (from >= 0 && from < MAX_FD && tracked[from])
			tracked[to] = strdup(tracked[from]);
	}
	return to;
}

int dup(int fd)
{
	sim_init();
	return dup_track(fd, real_dup(fd));
}

int dup2(int fd, int to)
{
	sim_init();
	int r = real_dup2(fd, to);
	return r < 0 || fd == to ? r : dup_track(fd, r);
}

int dup3(int fd, int to, int flags)
{
	sim_init();
	int r = real_dup3(fd, to, flags);
	return r < 0 ? r : dup_track(fd, r);
}

int fcntl(int fd, int cmd, ...)
{
	sim_init();
	va_list ap;
	va_start(ap, cmd);
	long arg = va_arg(ap, long);
	va_end(ap);
	int r = real_fcntl(fd, cmd, arg);
	if (r >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC))
		dup_track(fd, r);
	return r;
}
int fcntl64(int fd, int cmd, ...);
int fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	long arg = va_arg(ap, long);
	va_end(ap);
	return fcntl(fd, cmd, arg);
}

int stat(const char *path, struct stat *st)
{
	sim_init();
	char buf[PATH_MAX];
	return real_stat(redirect(path, buf, sizeof(buf)), st);
}

int lstat(const char *path, struct stat *st)
{
	sim_init();
	char buf[PATH_MAX];
	return real_lstat(redirect(path, buf, sizeof(buf)), st);
}

int fstatat(int dirfd, const char *path, struct stat *st, int flags)
{
	sim_init();
	char buf[PATH_MAX];
	return real_fstatat(dirfd, redirect(path, buf, sizeof(buf)), st, flags);
}

int access(const char *path, int mode)
{
	sim_init();
	char buf[PATH_MAX];
	return real_access(redirect(path, buf, sizeof(buf)), mode);
}

FILE *fopen(const char *path, const char *mode)
{
	sim_init();
	char buf[PATH_MAX];
	return real_fopen(redirect(path, buf, sizeof(buf)), mode);
}

FILE *fopen64(const char *path, const char *mode)
{
	return fopen(path, mode);
}

DIR *opendir(const char *path)
{
	sim_init();
	char buf[PATH_MAX];
	return real_opendir(redirect(path, buf, sizeof(buf)));
}

/* ---- the module loader ---- */

static void modname_of(const char *s, size_t n, char *out, size_t size)
{
	size_t o = 0;
	for (size_t i = 0; i < n && o + 1 < size; i++)
		out[o++] = s[i] == '-' ? '_' : s[i];
	out[o] = '\0';
}

static int sim_load(const char *name)
{
	char rel[PATH_MAX], drv[256];
	if (!rootlen || !*name || strchr(name, '/'))
		return EPERM;
	snprintf(rel, sizeof(rel), "module/%s/initstate", name);
	if (sim_exists(rel))
		return EEXIST;
	snprintf(rel, sizeof(rel), ".sim/modfail/%s", name);
	int e = sim_errno(rel, EPERM);
	sim_log("load %s%s", name, e ? " (fails)" : "");
	if (e)
		return e;
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/module", root);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/module/%s", root, name);
	mkdir(p, 0755);
	snprintf(rel, sizeof(rel), "module/%s/initstate", name);
	sim_put(rel, "live\n", O_TRUNC);
	snprintf(rel, sizeof(rel), ".sim/moddrv/%s", name);
	if (sim_read(rel, drv, sizeof(drv)) && *drv && !strchr(drv, '/')) {
		static const char *const files[] = { "bind", "unbind", "new_id", "remove_id" };
		snprintf(p, sizeof(p), "%s/bus/pci/drivers/%s", root, drv);
		mkdir(p, 0755);
		for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
			snprintf(rel, sizeof(rel), "bus/pci/drivers/%s/%s", drv, files[i]);
			sim_put(rel, "", O_TRUNC);
		}
	}
	return 0;
}

/* init_module(2): the name is the "name=" entry of .modinfo. */
static int sim_init_module(const void *mem, unsigned long len)
{
	const char *p = memmem(mem, len, "name=", 5);
	char name[64] = "";
	if (p) {
		p += 5;
		size_t n = strnlen(p, (size_t)((const char *)mem + len - p));
		modname_of(p, n < sizeof(name) ? n : sizeof(name) - 1, name, sizeof(name));
	}
	return sim_load(name);
}

/* finit_module(2): the name from the file's name, as depmod does. */
static int sim_finit_module(int fd)
{
	char fdp[64], path[PATH_MAX], name[256];
	snprintf(fdp, sizeof(fdp), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(fdp, path, sizeof(path) - 1);
	if (n <= 0)
		return EBADF;
	path[n] = '\0';
	const char *b = strrchr(path, '/');
	b = b ? b + 1 : path;
	const char *dot = strstr(b, ".ko");
	modname_of(b, dot ? (size_t)(dot - b) : strlen(b), name, sizeof(name));
	return sim_load(name);
}

static int sim_delete_module(const char *name)
{
	char p[PATH_MAX];
	if (!rootlen || !name || !*name || strchr(name, '/'))
		return EPERM;
	snprintf(p, sizeof(p), "%s/module/%s/initstate", root, name);
	if (unlink(p) < 0)
		return ENOENT;
	snprintf(p, sizeof(p), "%s/module/%s", root, name);
	rmdir(p);
	sim_log("unload %s", name);
	return 0;
}

static long ret(int e)
{
	if (e) {
		errno = e;
		return -1;
	}
	return 0;
}

long init_module(const void *mem, unsigned long len, const char *args);
long init_module(const void *mem, unsigned long len, const char *args)
{
	sim_init();
	return ret(sim_init_module(mem, len));
}

long finit_module(int fd, const char *args, int flags);
long finit_module(int fd, const char *args, int flags)
{
	sim_init();
	return ret(sim_finit_module(fd));
}

long delete_module(const char *name, unsigned int flags);
long delete_module(const char *name, unsigned int flags)
{
	sim_init();
	return ret(sim_delete_module(name));
}

long syscall(long nr, ...)
{
	sim_init();
	va_list ap;
	va_start(ap, nr);
	long a[6];
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	switch (nr) {
	case SYS_init_module:
		return ret(sim_init_module((const void *)a[0], (unsigned long)a[1]));
	case SYS_finit_module:
		return ret(sim_finit_module((int)a[0]));
	case SYS_delete_module:
		return ret(sim_delete_module((const char *)a[0]));
	default:
		return real_syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
	}
}
