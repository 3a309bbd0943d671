/* SPDX-License-Identifier: MIT */
/* Helpers of the pci suite: see pcikit.h. Nothing here names the real
 * /sys. */
#include "pcikit.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "util.h"

void sim_cmd(struct sim *s, const char *const args[])
{
	const char *argv[16];
	size_t n = 0;
	char *bin = tu_bin("tests/helpers/pci-sim");
	argv[n++] = bin;
	argv[n++] = s->sys;
	for (size_t i = 0; args[i]; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	struct tu_run r;
	tu_run(&r, argv);
	ck_assert_msg(r.status == 0, "pci-sim %s: %s", args[0], r.err);
	tu_run_free(&r);
	free(bin);
}

void sim_make(struct sim *s)
{
	memset(s, 0, sizeof(*s));
	tu_vm_make(&s->vm, "vm1");
	s->sys = tu_path(s->vm.root, "sys");
	s->dev = tu_path(s->vm.root, "dev");
	SIM(s, "init");
	char *vfio = tu_path(s->dev, "vfio");
	ck_assert_int_eq(mkdir_p(vfio, 0755), 0);
	free(vfio);
}

void sim_free(struct sim *s)
{
	tu_vm_free(&s->vm);
	free(s->sys);
	free(s->dev);
	free(s->mods);
}

void vfio_node(struct sim *s, const char *group)
{
	char *rel = xasprintf("vfio/%s", group);
	char *p = tu_path(s->dev, rel);
	struct stat st;
	if (stat(p, &st) < 0)
		ck_assert_msg(mknod(p, S_IFCHR | 0600, makedev(10, 200)) == 0, "mknod %s: %s", p,
			      strerror(errno));
	free(p);
	free(rel);
}

void sim_device(struct sim *s, const char *addr, const char *drv, const char *group)
{
	char d[64] = "";
	if (drv)
		snprintf(d, sizeof(d), "driver=%s", drv);
	else
		snprintf(d, sizeof(d), "orig=-");
	if (group) {
		char g[64];
		snprintf(g, sizeof(g), "group=%s", group);
		vfio_node(s, group);
		SIM(s, "device", addr, d, g);
	} else {
		SIM(s, "device", addr, d);
	}
}

void pci_devices(struct sim *s, const char *content)
{
	tu_write(s->vm.runner, "share/microvm/pci-devices", content);
}

const char *driver_of(struct sim *s, const char *addr)
{
	static char buf[256];
	char *rel = xasprintf("bus/pci/devices/%s/driver", addr);
	char *p = tu_path(s->sys, rel);
	char *d = NULL;
	int r = read_link_base(p, &d);
	snprintf(buf, sizeof(buf), "%s", r == 0 ? d : "");
	free(d);
	free(p);
	free(rel);
	return buf;
}

const char *override_of(struct sim *s, const char *addr)
{
	static char buf[256];
	char *rel = xasprintf("bus/pci/devices/%s/driver_override", addr);
	char *p = tu_path(s->sys, rel);
	char *v = NULL;
	int r = read_line(p, &v);
	ck_assert_msg(r == 0, "read %s: %s", p, strerror(-r));
	snprintf(buf, sizeof(buf), "%s", v);
	free(v);
	free(p);
	free(rel);
	return buf;
}

char *sim_log(struct sim *s)
{
	char *p = tu_path(s->sys, ".sim/log");
	char *buf = NULL;
	size_t len;
	ck_assert_int_eq(read_file(p, 1 << 20, &buf, &len), 0);
	free(p);
	return buf;
}

void sim_log_clear(struct sim *s)
{
	tu_write(s->sys, ".sim/log", "");
}

bool record_exists(struct sim *s)
{
	char *p = tu_path(s->vm.runtime, "vm1/pci");
	bool r = access(p, F_OK) == 0;
	free(p);
	return r;
}

char *record_text(struct sim *s)
{
	char *p = tu_path(s->vm.runtime, "vm1/pci");
	char *buf = NULL;
	size_t len;
	ck_assert_int_eq(read_file(p, 1 << 16, &buf, &len), 0);
	free(p);
	return buf;
}

void pci_run_env(struct sim *s, struct tu_run *r, const char *verb, const char *const extra[],
		  const char *const env[], const char *preload, const char *const wrap[])
{
	const char *argv[40];
	size_t n = 0;
	char *bin = tu_bin("pci-bind");
	for (size_t i = 0; wrap && wrap[i] && n < 8; i++)
		argv[n++] = wrap[i];
	argv[n++] = bin;
	const char *common[] = { "--sysfs", s->sys, "--devfs", s->dev, "--state-dir", s->vm.state,
				 "--runtime-dir", s->vm.runtime, "--user", UID, "--group", GID };
	for (size_t i = 0; i < ARRAY_SIZE(common); i++)
		argv[n++] = common[i];
	for (size_t i = 0; extra && extra[i] && n < 37; i++)
		argv[n++] = extra[i];
	argv[n++] = verb;
	argv[n++] = s->vm.name;
	argv[n] = NULL;

	char *shim = tu_bin("tests/shims/pcisim.so");
	char *pre = xasprintf("LD_PRELOAD=%s%s%s", preload ? preload : "", preload ? ":" : "", shim);
	char *root = xasprintf("PCISIM_ROOT=%s", s->sys);
	/* A sanitized pci-bind with a preloaded shim: ASan must not insist
	 * on being first (tests/run sets this too). */
	const char *ao = getenv("ASAN_OPTIONS");
	char *asan = xasprintf("ASAN_OPTIONS=%s%sverify_asan_link_order=0", ao ? ao : "",
			       ao && *ao ? ":" : "");
	const char *all[16] = { pre, root, asan, "MICROVM_MODULES_DIR=" };
	size_t k = 4;
	for (size_t i = 0; env && env[i] && k < 15; i++)
		all[k++] = env[i];
	all[k] = NULL;
	tu_run_env(r, argv, all);
	free(asan);
	free(root);
	free(pre);
	free(shim);
	free(bin);
}

void pci_run(struct sim *s, struct tu_run *r, const char *verb, const char *const extra[])
{
	pci_run_env(s, r, verb, extra, NULL, NULL, NULL);
}

void two_devices(struct sim *s)
{
	sim_make(s);
	sim_device(s, "0000:01:00.0", "e1000e", "5");
	sim_device(s, "0000:02:00.0", "snd_hda_intel", "6");
	SIM(s, "driver", "vfio-pci");
	pci_devices(s, "0000:01:00.0\n02:00.0\n");
}

int set_acl_for(const char *p, uint32_t uid)
{
	struct {
		uint16_t tag, perm;
		uint32_t id;
	} __attribute__((packed)) e[] = {
		{ 0x01, 6, UINT32_MAX }, /* user::rw- */
		{ 0x02, 6, uid },	 /* user:UID:rw- */
		{ 0x04, 6, UINT32_MAX }, /* group::rw- */
		{ 0x10, 6, UINT32_MAX }, /* mask::rw- */
		{ 0x20, 0, UINT32_MAX }, /* other::--- */
	};
	char buf[4 + sizeof(e)];
	uint32_t version = 2;
	memcpy(buf, &version, 4);
	memcpy(buf + 4, e, sizeof(e));
	return setxattr(p, "system.posix_acl_access", buf, sizeof(buf), 0) < 0 ? errno : 0;
}

bool has_acl(const char *p)
{
	return getxattr(p, "system.posix_acl_access", NULL, 0) >= 0;
}
