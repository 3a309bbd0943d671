/* SPDX-License-Identifier: MIT */
/* pci-bind against a simulated PCI sysfs: the tool runs with
 * tests/shims/pcisim.so preloaded and --sysfs, --devfs pointing into a
 * temp dir, so writing driver_override, unbind and drivers_probe moves
 * the `driver` links the way the kernel does, and a module "load" only
 * makes directories. Nothing here names the real /sys. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "pcikit.h"
#include "testutil.h"
#include "util.h"

START_TEST(bind_unbind_restores_both)
{
	struct sim s;
	struct tu_run r;
	two_devices(&s);

	pci_run(&s, &r, "bind", NULL);
	ck_assert_msg(r.status == 0, "bind: %s", r.err);
	ck_assert_str_eq(driver_of(&s, "0000:01:00.0"), "vfio-pci");
	ck_assert_str_eq(driver_of(&s, "0000:02:00.0"), "vfio-pci");
	ck_assert(record_exists(&s));
	tu_run_free(&r);

	pci_run(&s, &r, "unbind", NULL);
	ck_assert_msg(r.status == 0, "unbind: %s", r.err);
	ck_assert_str_eq(driver_of(&s, "0000:01:00.0"), "e1000e");
	ck_assert_str_eq(driver_of(&s, "0000:02:00.0"), "snd_hda_intel");
	ck_assert(!record_exists(&s));
	/* and the overrides are cleared, so a later reprobe does the same */
	char *p = tu_path(s.sys, "bus/pci/devices/0000:01:00.0/driver_override");
	char *ov = NULL;
	ck_assert_int_eq(read_line(p, &ov), 0);
	ck_assert_str_eq(ov, "(null)");
	free(ov);
	free(p);
	tu_run_free(&r);

	/* a second unbind: no record, nothing to do */
	sim_log_clear(&s);
	pci_run(&s, &r, "unbind", NULL);
	ck_assert_int_eq(r.status, 0);
	char *log = sim_log(&s);
	ck_assert_str_eq(log, "");
	free(log);
	tu_run_free(&r);
	sim_free(&s);
}
END_TEST

START_TEST(already_bound_no_writes)
{
	struct sim s;
	struct tu_run r;
	sim_make(&s);
	SIM(&s, "device", "0000:03:00.0", "driver=vfio-pci", "orig=e1000e", "group=9");
	vfio_node(&s, "9");
	pci_devices(&s, "0000:03:00.0\n");

	pci_run(&s, &r, "bind", NULL);
	ck_assert_msg(r.status == 0, "bind: %s", r.err);
	char *log = sim_log(&s);
	ck_assert_msg(strcmp(log, "") == 0, "expected no sysfs writes, got:\n%s", log);
	free(log);
	ck_assert_str_eq(driver_of(&s, "0000:03:00.0"), "vfio-pci");
	/* Recorded all the same, as on vfio-pci before (found in review: with
	 * no record, unbind never took back the group's node, which stays). */
	char *rec = record_text(&s);
	ck_assert_msg(rec && strstr(rec, "0000:03:00.0 vfio-pci listed"), "record: %s",
		      rec ? rec : "(none)");
	free(rec);
	char *node = tu_path(s.dev, "vfio/9");
	struct stat st;
	ck_assert_int_eq(lstat(node, &st), 0);
	ck_assert_uint_eq(st.st_uid, 990);
	tu_run_free(&r);
	/* unbind leaves it on vfio-pci, writes nothing to sysfs, and takes
	 * the node back */
	pci_run(&s, &r, "unbind", NULL);
	ck_assert_msg(r.status == 0, "unbind: %s", r.err);
	log = sim_log(&s);
	ck_assert_msg(strcmp(log, "") == 0, "expected no sysfs writes, got:\n%s", log);
	free(log);
	ck_assert_str_eq(driver_of(&s, "0000:03:00.0"), "vfio-pci");
	ck_assert(!record_exists(&s));
	ck_assert_int_eq(lstat(node, &st), 0);
	ck_assert_uint_eq(st.st_uid, 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	free(node);
	tu_run_free(&r);
	sim_free(&s);
}
END_TEST

/* Group 7: the listed NIC, its audio function on another driver, and a
 * bridge on pcieport (allowed, as the kernel allows it). */
static void shared_group(struct sim *s)
{
	sim_make(s);
	sim_device(s, "0000:01:00.0", "e1000e", "7");
	sim_device(s, "0000:01:00.1", "snd_hda_intel", "7");
	SIM(s, "device", "0000:00:1c.0", "driver=pcieport", "group=7", "class=0x060400");
	SIM(s, "driver", "vfio-pci");
	pci_devices(s, "0000:01:00.0\n");
}

START_TEST(group_not_viable_refused)
{
	struct sim s;
	struct tu_run r;
	shared_group(&s);

	pci_run(&s, &r, "bind", NULL);
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strstr(r.err, "not viable") && strstr(r.err, "0000:01:00.1") &&
			      strstr(r.err, "--bind-group"),
		      "stderr: %s", r.err);
	ck_assert_msg(!strstr(r.err, "0000:00:1c.0"), "the bridge is fine: %s", r.err);
	char *log = sim_log(&s);
	ck_assert_str_eq(log, "");
	free(log);
	ck_assert_str_eq(driver_of(&s, "0000:01:00.0"), "e1000e");
	ck_assert(!record_exists(&s));
	tu_run_free(&r);
	sim_free(&s);
}
END_TEST

/* A group of many devices on other drivers: the reason names as many as
 * fit, each whole, then how many more, and the advice after them stays.
 * 40 functions on a driver snd'\hda (shown snd\'\\hda): before, the
 * list was cut at 1023 bytes inside a name or an escape, unmarked. */
START_TEST(group_not_viable_many_named)
{
	struct sim s;
	struct tu_run r;
	sim_make(&s);
	sim_device(&s, "0000:01:00.0", "e1000e", "7");
	for (int i = 1; i <= 40; i++) {
		char addr[16];
		snprintf(addr, sizeof(addr), "0000:01:%02x.%d", i / 8, i % 8);
		sim_device(&s, addr, "snd'\\hda", "7");
	}
	SIM(&s, "driver", "vfio-pci");
	pci_devices(&s, "0000:01:00.0\n");

	pci_run(&s, &r, "bind", NULL);
	ck_assert_int_eq(r.status, 1);
	const char *lead = "the group is not viable, it also holds ";
	const char *tail = " more; bind those to vfio-pci too (--bind-group) or unbind them\n";
	char *list = strstr(r.err, lead);
	ck_assert_msg(list && strlen(r.err) > strlen(tail) &&
			      !strcmp(r.err + strlen(r.err) - strlen(tail), tail),
		      "stderr: %s", r.err);
	list += strlen(lead);
	r.err[strlen(r.err) - strlen(tail)] = '\0';
	/* "ADDR (driver snd\'\\hda), ..., and N more" */
	const char *entry = " (driver snd\\'\\\\hda)";
	size_t named = 0;
	for (char *p = list; (p = strstr(p, entry)); p += strlen(entry))
		named++;
	char want[64];
	snprintf(want, sizeof(want), "hda), and %zu", 40 - named);
	ck_assert_msg(named > 10 && named < 40 && strlen(list) > strlen(want) &&
			      !strcmp(list + strlen(list) - strlen(want), want),
		      "%zu named; list: %s", named, list);
	char *log = sim_log(&s);
	ck_assert_str_eq(log, "");
	free(log);
	tu_run_free(&r);
	sim_free(&s);
}
END_TEST

/* A device of the group that no host driver uses for DMA: the kernel lets a
 * VM use the group all the same (vfio's viability allows a device on
 * pci-stub, parked there by pci-stub.ids=, or on no driver, and a bridge,
 * PCI-to-PCI or CardBus, on its driver), so the bind goes through without
 * --bind-group, and that device stays as it was, through bind and unbind,
 * unrecorded. _i: its driver (NULL: none) and class. (The CardBus bridge
 * found by a mutation test: one that took it for a device was not seen.) */
static const char *const parked_drv[] = { "pci-stub", NULL, "pcieport", "yenta_cardbus" };
static const char *const parked_cls[] = { "class=0x020000", "class=0x020000", "class=0x060400",
					  "class=0x060700" };
START_TEST(group_member_that_does_no_dma_is_viable)
{
	struct sim s;
	struct tu_run r;
	struct stat st;
	const char *drv = parked_drv[_i];
	sim_make(&s);
	sim_device(&s, "0000:01:00.0", "e1000e", "7");
	if (drv) {
		char d[64];
		snprintf(d, sizeof(d), "driver=%s", drv);
		SIM(&s, "device", "0000:01:00.1", d, "orig=snd_hda_intel", "group=7",
		    parked_cls[_i]);
	} else {
		SIM(&s, "device", "0000:01:00.1", "orig=-", "group=7", parked_cls[_i]);
	}
	SIM(&s, "driver", "vfio-pci");
	pci_devices(&s, "0000:01:00.0\n");
	char *node = tu_path(s.dev, "vfio/7");

	pci_run(&s, &r, "bind", NULL);
	ck_assert_msg(r.status == 0, "bind (01:00.1 on %s, %s): %s", drv ? drv : "no driver",
		      parked_cls[_i], r.err);
	ck_assert_str_eq(driver_of(&s, "0000:01:00.0"), "vfio-pci");
	ck_assert_str_eq(driver_of(&s, "0000:01:00.1"), drv ? drv : "");
	ck_assert_int_eq(lstat(node, &st), 0);
	ck_assert_uint_eq(st.st_uid, 990);
	char *rec = record_text(&s);
	ck_assert_msg(!strstr(rec, "0000:01:00.1"), "record: %s", rec);
	free(rec);
	tu_run_free(&r);

	pci_run(&s, &r, "unbind", NULL);
	ck_assert_msg(r.status == 0, "unbind: %s", r.err);
	ck_assert_str_eq(driver_of(&s, "0000:01:00.0"), "e1000e");
	ck_assert_str_eq(driver_of(&s, "0000:01:00.1"), drv ? drv : "");
	ck_assert(!record_exists(&s));
	tu_run_free(&r);
	free(node);
	sim_free(&s);
}
END_TEST

START_TEST(bind_group_binds_and_restores)
{
	struct sim s;
	struct tu_run r;
	shared_group(&s);

	pci_run(&s, &r, "bind", EXTRA("--bind-group"));
	ck_assert_msg(r.status == 0, "bind: %s", r.err);
	ck_assert_str_eq(driver_of(&s, "0000:01:00.0"), "vfio-pci");
	ck_assert_str_eq(driver_of(&s, "0000:01:00.1"), "vfio-pci");
	ck_assert_str_eq(driver_of(&s, "0000:00:1c.0"), "pcieport");
	char *rec = record_text(&s);
	ck_assert_msg(strstr(rec, "0000:01:00.0 e1000e listed") &&
			      strstr(rec, "0000:01:00.1 snd_hda_intel group"),
		      "record: %s", rec);
	free(rec);
	tu_run_free(&r);

	pci_run(&s, &r, "unbind", NULL);
	ck_assert_msg(r.status == 0, "unbind: %s", r.err);
	ck_assert_str_eq(driver_of(&s, "0000:01:00.0"), "e1000e");
	ck_assert_str_eq(driver_of(&s, "0000:01:00.1"), "snd_hda_intel");
	ck_assert_str_eq(driver_of(&s, "0000:00:1c.0"), "pcieport");
	tu_run_free(&r);
	sim_free(&s);
}
END_TEST

/* A member of an IOMMU group is named by its entry in
 * kernel/iommu_groups/N/devices: a PCI address for a PCI device, any name
 * for a device of another bus (a platform device, which some platforms
 * group with PCI ones). Such a name is never kept in the record (which
 * would not parse) nor printed as it is (a newline in it would start a
 * line of its own). */
#define ODD_NAME "odd'\n\\x41"
#define ODD_SHOWN "odd\\'\\x0a\\\\x41"

/* ODD_NAME in group 7, a device of another bus (rel: its directory,
 * made), on a driver when bound ("odd\'"); with pci, listed by the PCI
 * bus too. */
static void odd_member(struct sim *s, const char *rel, bool pci, bool bound)
{
	char *dir = tu_path(s->sys, rel);
	char *drv = tu_path(s->sys, "bus/platform/drivers/odd'");
	char *drvlink = xasprintf("%s/driver", dir);
	char *member = tu_path(s->sys, "kernel/iommu_groups/7/devices/" ODD_NAME);
	ck_assert_int_eq(mkdir_p(dir, 0755), 0);
	ck_assert_int_eq(mkdir_p(drv, 0755), 0);
	if (bound)
		ck_assert_int_eq(symlink(drv, drvlink), 0);
	ck_assert_int_eq(symlink(dir, member), 0);
	if (pci) {
		char *bus = tu_path(s->sys, "bus/pci/devices/" ODD_NAME);
		ck_assert_int_eq(symlink(dir, bus), 0);
		tu_write(dir, "driver_override", "(null)\n");
		free(bus);
	}
	free(member);
	free(drvlink);
	free(drv);
	free(dir);
}

/* Every line of out starts with "pci-bind: ": no value began one. */
static bool lines_are_ours(const char *out)
{
	for (const char *l = out; *l; l = strchr(l, '\n') + 1) {
		if (strncmp(l, "pci-bind: ", 10) != 0)
			return false;
		if (!strchr(l, '\n'))
			break;
	}
	return true;
}

/* A device of another bus in the group, on no driver: vfio-pci cannot
 * take it, nor need it; it was skipped, silently; it still is, said in a
 * debug line, escaped. */
START_TEST(group_member_of_another_bus_skipped)
{
	struct sim s;
	struct tu_run r;
	shared_group(&s);
	odd_member(&s, "devices/platform/" ODD_NAME, false, false);

	pci_run(&s, &r, "bind", EXTRA("-v", "--bind-group"));
	ck_assert_msg(r.status == 0, "bind: %s", r.err);
	ck_assert_msg(strstr(r.err, "IOMMU group 7: '" ODD_SHOWN "' is no PCI device") &&
			      lines_are_ours(r.err),
		      "stderr: %s", r.err);
	ck_assert_str_eq(driver_of(&s, "0000:01:00.0"), "vfio-pci");
	ck_assert_str_eq(driver_of(&s, "0000:01:00.1"), "vfio-pci");
	char *rec = record_text(&s);
	ck_assert_msg(!strstr(rec, "odd"), "record: %s", rec);
	free(rec);
	tu_run_free(&r);

	pci_run(&s, &r, "unbind", NULL);
	ck_assert_msg(r.status == 0, "unbind: %s", r.err);
	ck_assert_str_eq(driver_of(&s, "0000:01:00.0"), "e1000e");
	ck_assert_str_eq(driver_of(&s, "0000:01:00.1"), "snd_hda_intel");
	tu_run_free(&r);
	sim_free(&s);
}
END_TEST

/* A device of another bus in the group, on a driver of its own: the
 * kernel gives no VM a group one of whose devices a driver uses for DMA
 * (opening it fails, EBUSY, when QEMU starts), and vfio-pci cannot take
 * it. Refused before any change, naming it and its driver, escaped, with
 * --bind-group or without. Before: it was skipped, and the bind went
 * through for a group no VM could open (found by two helpers, as
 * libvirt refuses it). */
START_TEST(group_member_of_another_bus_on_a_driver_refused)
{
	struct sim s;
	struct tu_run r;
	shared_group(&s);
	odd_member(&s, "devices/platform/" ODD_NAME, false, true);
	const char *const *extras[] = { NULL, EXTRA("--bind-group") };

	for (size_t i = 0; i < ARRAY_SIZE(extras); i++) {
		pci_run(&s, &r, "bind", extras[i]);
		ck_assert_msg(r.status == 1 &&
				      !strcmp(r.err, "pci-bind: vm1: unable to use IOMMU group 7 of "
						     "'0000:01:00.0': it holds '" ODD_SHOWN "', a "
						     "device of another bus, on its driver "
						     "'odd\\'': vfio-pci cannot take it, and the "
						     "kernel lets no VM use a group with such a device\n"),
			      "exit %d: %s", r.status, r.err);
		char *log = sim_log(&s);
		ck_assert_str_eq(log, "");
		free(log);
		ck_assert_str_eq(driver_of(&s, "0000:01:00.0"), "e1000e");
		ck_assert_str_eq(driver_of(&s, "0000:01:00.1"), "snd_hda_intel");
		ck_assert(!record_exists(&s));
		tu_run_free(&r);
	}
	sim_free(&s);
}
END_TEST

/* A device the PCI bus lists under a name that is no PCI address: no
 * kernel makes one, no record could keep it; refused before any change,
 * in one line that shows it escaped, with --bind-group or without. */
START_TEST(group_member_misnamed_on_the_pci_bus_refused)
{
	struct sim s;
	struct tu_run r;
	shared_group(&s);
	odd_member(&s, "devices/pci0000:00/" ODD_NAME, true, true);
	const char *const *extras[] = { EXTRA("--bind-group"), NULL };

	for (size_t i = 0; i < ARRAY_SIZE(extras); i++) {
		pci_run(&s, &r, "bind", extras[i]);
		ck_assert_msg(r.status == 1 &&
				      !strcmp(r.err, "pci-bind: vm1: unable to use IOMMU group 7 of "
						     "'0000:01:00.0': it holds a device on the PCI "
						     "bus whose name is no PCI address "
						     "(DDDD:BB:DD.F): '" ODD_SHOWN "'\n"),
			      "exit %d: %s", r.status, r.err);
		char *log = sim_log(&s);
		ck_assert_str_eq(log, "");
		free(log);
		ck_assert_str_eq(driver_of(&s, "0000:01:00.0"), "e1000e");
		ck_assert_str_eq(driver_of(&s, "0000:01:00.1"), "snd_hda_intel");
		ck_assert(!record_exists(&s));
		tu_run_free(&r);
	}
	sim_free(&s);
}
END_TEST

START_TEST(refused_bind_rolls_back)
{
	struct sim s;
	struct tu_run r;
	two_devices(&s);
	/* vfio-pci's probe fails for the second device: drivers_probe
	 * succeeds and nothing binds, as with the kernel */
	SIM(&s, "refuse", "vfio-pci", "0000:02:00.0");

	pci_run(&s, &r, "bind", NULL);
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strstr(r.err, "unable to bind '0000:02:00.0' to vfio-pci: the driver did "
					     "not take it (driver now: none)"),
		      "stderr: %s", r.err);
	ck_assert_str_eq(driver_of(&s, "0000:01:00.0"), "e1000e");
	ck_assert_str_eq(driver_of(&s, "0000:02:00.0"), "snd_hda_intel");
	ck_assert(!record_exists(&s));
	/* /dev/vfio untouched */
	char *p = tu_path(s.dev, "vfio/5");
	struct stat st;
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_uint_eq(st.st_uid, 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	free(p);
	tu_run_free(&r);
	sim_free(&s);
}
END_TEST

/* A rollback that cannot give a device back (its old driver refuses it)
 * keeps that device in the record, so that unbind can finish the job. */
START_TEST(rollback_failure_keeps_record)
{
	struct sim s;
	struct tu_run r;
	two_devices(&s);
	SIM(&s, "refuse", "vfio-pci", "0000:02:00.0");
	SIM(&s, "refuse", "e1000e", "0000:01:00.0");

	pci_run(&s, &r, "bind", NULL);
	ck_assert_int_eq(r.status, 1);
	ck_assert_str_eq(driver_of(&s, "0000:01:00.0"), "");
	ck_assert_str_eq(driver_of(&s, "0000:02:00.0"), "snd_hda_intel");
	ck_assert(record_exists(&s));
	char *rec = record_text(&s);
	ck_assert_msg(strstr(rec, "0000:01:00.0 e1000e") && !strstr(rec, "0000:02:00.0"),
		      "record: %s", rec);
	free(rec);
	tu_run_free(&r);

	char *refuse = tu_path(s.sys, ".sim/refuse/e1000e/0000:01:00.0");
	ck_assert_int_eq(unlink(refuse), 0);
	free(refuse);
	pci_run(&s, &r, "unbind", NULL);
	ck_assert_msg(r.status == 0, "unbind: %s", r.err);
	ck_assert_str_eq(driver_of(&s, "0000:01:00.0"), "e1000e");
	ck_assert(!record_exists(&s));
	tu_run_free(&r);
	sim_free(&s);
}
END_TEST

/* Each failure in one line, once, in the order it happened: a bind's
 * failure before the rollback's lines (which log the failures they go
 * on after), an unbind's failures where it goes on with the next device;
 * nothing logged again at the end (error.h's rule). */
START_TEST(failures_once_in_order)
{
	struct sim s;
	struct tu_run r;
	two_devices(&s);
	SIM(&s, "refuse", "vfio-pci", "0000:02:00.0");
	SIM(&s, "refuse", "e1000e", "0000:01:00.0");
	pci_run(&s, &r, "bind", NULL);
	ck_assert_int_eq(r.status, 1);
	ck_assert_str_eq(r.err, "pci-bind: vm1: unable to bind '0000:02:00.0' to vfio-pci: the "
				"driver did not take it (driver now: none)\n"
				"pci-bind: vm1: giving '0000:02:00.0' back to snd_hda_intel\n"
				"pci-bind: vm1: giving '0000:01:00.0' back to e1000e\n"
				"pci-bind: vm1: unable to give back '0000:01:00.0' to e1000e: the "
				"driver did not take it (driver now: none)\n");
	tu_run_free(&r);

	/* Both on vfio-pci (0000:01:00.0 still recorded as e1000e's), then
	 * neither old driver takes its device back. */
	char *refuse = tu_path(s.sys, ".sim/refuse/vfio-pci/0000:02:00.0");
	ck_assert_int_eq(unlink(refuse), 0);
	free(refuse);
	pci_run(&s, &r, "bind", NULL);
	ck_assert_msg(r.status == 0, "bind: %s", r.err);
	tu_run_free(&r);
	SIM(&s, "refuse", "snd_hda_intel", "0000:02:00.0");
	pci_run(&s, &r, "unbind", NULL);
	ck_assert_int_eq(r.status, 1);
	ck_assert_str_eq(r.err, "pci-bind: vm1: unable to give back '0000:02:00.0' to "
				"snd_hda_intel: the driver did not take it (driver now: none)\n"
				"pci-bind: vm1: unable to give back '0000:01:00.0' to e1000e: the "
				"driver did not take it (driver now: none)\n");
	char *rec = record_text(&s);
	ck_assert_msg(strstr(rec, "0000:01:00.0 e1000e") && strstr(rec, "0000:02:00.0 snd_hda_intel"),
		      "record: %s", rec);
	free(rec);
	tu_run_free(&r);
	sim_free(&s);
}
END_TEST

START_TEST(unbind_error_rolls_back)
{
	struct sim s;
	struct tu_run r;
	two_devices(&s);
	/* the second device's driver will not let go */
	SIM(&s, "fail", "bus/pci/drivers/snd_hda_intel/unbind", "16");

	pci_run(&s, &r, "bind", NULL);
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strstr(r.err, "snd_hda_intel/unbind") &&
			      strstr(r.err, strerror(EBUSY)),
		      "stderr: %s", r.err);
	ck_assert_str_eq(driver_of(&s, "0000:01:00.0"), "e1000e");
	ck_assert_str_eq(driver_of(&s, "0000:02:00.0"), "snd_hda_intel");
	ck_assert(!record_exists(&s));
	tu_run_free(&r);
	sim_free(&s);
}
END_TEST

START_TEST(bad_address_nothing_written)
{
	struct sim s;
	struct tu_run r;
	two_devices(&s);
	pci_devices(&s, "0000:01:00.0\n0000:zz:00.0\n");

	pci_run(&s, &r, "bind", NULL);
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strstr(r.err, "pci-devices' line 2") && strstr(r.err, "0000:zz:00.0"),
		      "stderr: %s", r.err);
	char *log = sim_log(&s);
	ck_assert_str_eq(log, "");
	free(log);
	ck_assert_str_eq(driver_of(&s, "0000:01:00.0"), "e1000e");
	tu_run_free(&r);
	sim_free(&s);
}
END_TEST

/* The record is made durable (fsync) before the change it is for: one the
 * file system cannot make durable (EIO at fsync, as a failing disk
 * answers) fails the bind before any device is changed, in one line that
 * names the record, and leaves no record. */
START_TEST(record_not_durable_nothing_changed)
{
	struct sim s;
	struct tu_run r;
	struct tu_failat f;
	two_devices(&s);
	tu_failat_init(&f, s.vm.root);
	pci_run_env(&s, &r, "bind", NULL, (const char *const[]){ "FAILAT_FSYNC=1", NULL }, f.shim,
		    NULL);
	char *want = xasprintf("pci-bind: vm1: unable to write '%s/vm1': pci: %s\n", s.vm.runtime,
			       strerror(EIO));
	ck_assert_msg(r.status == 1 && !strcmp(r.err, want), "bind: exit %d: %s", r.status, r.err);
	free(want);
	tu_run_free(&r);
	char *log = sim_log(&s);
	ck_assert_str_eq(log, "");
	free(log);
	ck_assert_str_eq(driver_of(&s, "0000:01:00.0"), "e1000e");
	ck_assert_str_eq(driver_of(&s, "0000:02:00.0"), "snd_hda_intel");
	ck_assert(!record_exists(&s));
	tu_failat_free(&f);
	sim_free(&s);
}
END_TEST

START_TEST(no_iommu_group)
{
	struct sim s;
	struct tu_run r;
	sim_make(&s);
	sim_device(&s, "0000:01:00.0", "e1000e", NULL);
	SIM(&s, "driver", "vfio-pci");
	pci_devices(&s, "0000:01:00.0\n");

	pci_run(&s, &r, "bind", NULL);
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strstr(r.err, "IOMMU") && strstr(r.err, "0000:01:00.0"), "stderr: %s",
		      r.err);
	char *log = sim_log(&s);
	ck_assert_str_eq(log, "");
	free(log);
	tu_run_free(&r);
	sim_free(&s);
}
END_TEST

/* An IOMMU group's name is the kernel's number of it, and bind writes it
 * into its record's node lines and into /dev/vfio/NAME. One that is no
 * number (a tree not as the kernel makes it) is refused before any
 * change, in one escaped line. Before: bind went on, wrote the name to its
 * record (which no later run could parse: "not a record of pci-bind") and
 * printed it raw. */
START_TEST(group_not_a_number_refused)
{
	struct sim s;
	struct tu_run r;
	sim_make(&s);
	sim_device(&s, "0000:01:00.0", "e1000e", "7'\\x41");
	SIM(&s, "driver", "vfio-pci");
	pci_devices(&s, "0000:01:00.0\n");

	pci_run(&s, &r, "bind", NULL);
	ck_assert_msg(r.status == 1 &&
			      !strcmp(r.err, "pci-bind: vm1: unable to read the IOMMU group of "
					     "'0000:01:00.0': not a group number: '7\\'\\\\x41'\n"),
		      "exit %d: %s", r.status, r.err);
	char *log = sim_log(&s);
	ck_assert_str_eq(log, "");
	free(log);
	ck_assert_str_eq(driver_of(&s, "0000:01:00.0"), "e1000e");
	ck_assert(!record_exists(&s));
	tu_run_free(&r);
	sim_free(&s);
}
END_TEST

START_TEST(missing_device)
{
	struct sim s;
	struct tu_run r;
	two_devices(&s);
	pci_devices(&s, "0000:01:00.0\n0000:09:00.0\n");

	pci_run(&s, &r, "bind", NULL);
	ck_assert_int_eq(r.status, 1);
	/* where it looked, so that a wrong --sysfs shows (the whole line) */
	char *want = xasprintf("pci-bind: vm1: unable to find PCI device '0000:09:00.0' in "
			       "%s/bus/pci/devices: No such file or directory\n",
			       s.sys);
	ck_assert_msg(!strcmp(r.err, want), "want %sgot %s", want, r.err);
	free(want);
	char *log = sim_log(&s);
	ck_assert_str_eq(log, "");
	free(log);
	tu_run_free(&r);
	sim_free(&s);
}
END_TEST

START_TEST(vfio_node_owner_mode)
{
	struct sim s;
	struct tu_run r;
	two_devices(&s);

	pci_run(&s, &r, "bind", NULL);
	ck_assert_msg(r.status == 0, "bind: %s", r.err);
	const char *groups[] = { "vfio/5", "vfio/6" };
	for (size_t i = 0; i < ARRAY_SIZE(groups); i++) {
		char *p = tu_path(s.dev, groups[i]);
		struct stat st;
		ck_assert_int_eq(stat(p, &st), 0);
		ck_assert_uint_eq(st.st_uid, 990);
		ck_assert_uint_eq(st.st_gid, 78);
		ck_assert_uint_eq(st.st_mode & 07777, 0660);
		ck_assert(S_ISCHR(st.st_mode));
		free(p);
	}
	tu_run_free(&r);
	sim_free(&s);
}
END_TEST

/* Found by an audit: the VM user owns /dev/vfio/GROUP while its VM runs
 * and may set an ACL on it, which chown and chmod leave. On a node that
 * stays after unbind (a device of the group bound to vfio-pci at boot),
 * it kept access after its VM stopped, and the next bind, for another
 * VM's user, gave the node on with the entry still in it. unbind now
 * takes such a node back (root:root 0600, no ACL), and bind strips any. */
START_TEST(vfio_node_acl_taken_back)
{
	struct sim s;
	struct tu_run r;
	two_devices(&s);
	char *p = tu_path(s.dev, "vfio/5");
	struct stat st;

	pci_run(&s, &r, "bind", NULL);
	ck_assert_msg(r.status == 0, "bind: %s", r.err);
	tu_run_free(&r);
	int err = set_acl_for(p, 4242);
	if (err == ENOTSUP || err == EOPNOTSUPP) {
		tu_skip_now(vfio_node_acl_taken_back, 0, "no POSIX ACLs where the test's /dev is");
		free(p);
		sim_free(&s);
		return;
	}
	ck_assert_int_eq(err, 0);
	ck_assert(has_acl(p));
	/* (the simulation, unlike the kernel, never removes the node: it
	 * stays, as with a device of the group on vfio-pci from boot) */
	pci_run(&s, &r, "unbind", NULL);
	ck_assert_msg(r.status == 0, "unbind: %s", r.err);
	tu_run_free(&r);
	ck_assert_int_eq(lstat(p, &st), 0);
	ck_assert_uint_eq(st.st_uid, 0);
	ck_assert_uint_eq(st.st_gid, 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	ck_assert_msg(!has_acl(p), "the VM user's ACL outlasted unbind");

	/* An ACL left on a node of root's: bind gives the node without it. */
	ck_assert_int_eq(set_acl_for(p, 4242), 0);
	pci_run(&s, &r, "bind", NULL);
	ck_assert_msg(r.status == 0, "bind: %s", r.err);
	tu_run_free(&r);
	ck_assert_int_eq(lstat(p, &st), 0);
	ck_assert_uint_eq(st.st_uid, 990);
	ck_assert_uint_eq(st.st_mode & 07777, 0660);
	ck_assert_msg(!has_acl(p), "bind gave the node on with another user's ACL");

	/* The VM user's ACL on the node it was given, whose owner and mode
	 * are then set back to what the record keeps (a udev rule applied
	 * again, by `udevadm trigger`, which leaves ACLs): unbind removes it
	 * all the same. (The ACL set before bind made the mode 0660.) */
	char *rec = record_text(&s);
	ck_assert_msg(strstr(rec, "\nnode 5 0 0 0660\n"), "record: %s", rec);
	free(rec);
	ck_assert_int_eq(set_acl_for(p, 990), 0);
	ck_assert_int_eq(chown(p, 0, 0), 0);
	ck_assert_int_eq(chmod(p, 0660), 0);
	ck_assert(has_acl(p));
	pci_run(&s, &r, "unbind", NULL);
	ck_assert_msg(r.status == 0, "unbind: %s", r.err);
	tu_run_free(&r);
	ck_assert_msg(!has_acl(p), "the VM user's ACL outlasted unbind on a node as recorded");
	free(p);
	sim_free(&s);
}
END_TEST

/* unbind puts a node back to what it was before bind, which the record
 * keeps (an admin's owner and mode stay the admin's), but one that the VM
 * user owned already (an unbind before could not take it back) goes back
 * to root:root 0600: the stopped VM's user keeps no access to it. */
START_TEST(vfio_node_of_the_vm_user_taken_back)
{
	struct sim s;
	struct tu_run r;
	two_devices(&s);
	char *p5 = tu_path(s.dev, "vfio/5"), *p6 = tu_path(s.dev, "vfio/6");
	ck_assert_int_eq(chown(p5, 990, 78), 0);
	ck_assert_int_eq(chmod(p5, 0660), 0);
	ck_assert_int_eq(chown(p6, 0, 36), 0);
	ck_assert_int_eq(chmod(p6, 0660), 0);
	pci_run(&s, &r, "bind", NULL);
	ck_assert_msg(r.status == 0, "bind: %s", r.err);
	tu_run_free(&r);
	char *rec = record_text(&s);
	ck_assert_msg(strstr(rec, "\nnode 5 0 0 0600\n") && strstr(rec, "\nnode 6 0 36 0660\n"),
		      "record: %s", rec);
	free(rec);
	pci_run(&s, &r, "unbind", NULL);
	ck_assert_msg(r.status == 0, "unbind: %s", r.err);
	tu_run_free(&r);
	struct stat st;
	ck_assert_int_eq(lstat(p5, &st), 0);
	ck_assert_uint_eq(st.st_uid, 0);
	ck_assert_uint_eq(st.st_gid, 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	ck_assert_int_eq(lstat(p6, &st), 0);
	ck_assert_uint_eq(st.st_uid, 0);
	ck_assert_uint_eq(st.st_gid, 36);
	ck_assert_uint_eq(st.st_mode & 07777, 0660);
	ck_assert(!record_exists(&s));
	free(p6);
	free(p5);
	sim_free(&s);
}
END_TEST

/* A record of version 2 (written by a pci-bind from before the record kept
 * the nodes, which an upgrade left while the VM ran) does not say which
 * node bind gave: unbind takes each recorded device's group node back to
 * root:root 0600, as that version's unbind did, so that the stopped VM's
 * user keeps no access to the group. */
START_TEST(record_of_version_2_node_taken_back)
{
	struct sim s;
	struct tu_run r;
	struct stat st;
	sim_make(&s);
	SIM(&s, "driver", "e1000e");
	SIM(&s, "device", "0000:01:00.0", "driver=vfio-pci", "orig=e1000e", "group=5");
	vfio_node(&s, "5");
	char *node = tu_path(s.dev, "vfio/5");
	ck_assert_int_eq(chown(node, 990, 78), 0);
	ck_assert_int_eq(chmod(node, 0660), 0);
	tu_write(s.vm.runtime, "vm1/pci", "# pci-bind record 2\n0000:01:00.0 e1000e listed -\n");

	pci_run(&s, &r, "unbind", NULL);
	ck_assert_msg(r.status == 0, "unbind: %s", r.err);
	ck_assert_str_eq(driver_of(&s, "0000:01:00.0"), "e1000e");
	ck_assert_int_eq(lstat(node, &st), 0);
	ck_assert_msg(st.st_uid == 0 && st.st_gid == 0 && (st.st_mode & 07777) == 0600,
		      "%s: %u:%u %04o", node, (unsigned)st.st_uid, (unsigned)st.st_gid,
		      (unsigned)(st.st_mode & 07777));
	ck_assert(!record_exists(&s));
	tu_run_free(&r);
	free(node);
	sim_free(&s);
}
END_TEST

/* A dry run with --bind-group says that it would bind the group's other
 * device, as an action on stdout: before, it wrote "bound '0000:01:00.1'
 * of IOMMU group 6 too (--bind-group)" to stderr, as if it had, and
 * nothing was bound. */
START_TEST(bind_group_dry_run_says_would)
{
	struct sim s;
	struct tu_run r;
	shared_group(&s);
	pci_run(&s, &r, "bind", EXTRA("--bind-group", "--dry-run"));
	ck_assert_msg(r.status == 0, "bind: %s", r.err);
	ck_assert_msg(!strstr(r.err, "bound"), "stderr: %s", r.err);
	ck_assert_msg(strstr(r.out, "pci-bind: vm1: would bind '0000:01:00.1' of IOMMU group "),
		      "stdout: %s", r.out);
	ck_assert_str_eq(driver_of(&s, "0000:01:00.1"), "snd_hda_intel");
	tu_run_free(&r);
	/* A real run says it did. */
	pci_run(&s, &r, "bind", EXTRA("--bind-group"));
	ck_assert_msg(r.status == 0 && strstr(r.err, "pci-bind: vm1: bound '0000:01:00.1' of IOMMU "
						     "group "),
		      "bind: %s", r.err);
	tu_run_free(&r);
	sim_free(&s);
}
END_TEST

START_TEST(dry_run_prints_writes)
{
	struct sim s;
	struct tu_run r;
	two_devices(&s);
	/* a runtime dir others may read: a dry run leaves it so (a real run
	 * makes it root's alone to read, pci-attack.c) */
	ck_assert_int_eq(mkdir(s.vm.runtime, 0755), 0);

	pci_run(&s, &r, "bind", EXTRA("--dry-run"));
	ck_assert_msg(r.status == 0, "bind: %s", r.err);
	struct stat rst;
	ck_assert_int_eq(stat(s.vm.runtime, &rst), 0);
	ck_assert_msg((rst.st_mode & 07777) == 0755, "a dry run made the runtime dir %04o",
		      (unsigned)(rst.st_mode & 07777));
	/* nor the VM's lock file (found by a mutation test) */
	char *lock = tu_path(s.vm.runtime, "vm1.lock");
	ck_assert_msg(access(lock, F_OK) < 0 && errno == ENOENT, "a dry run made %s", lock);
	free(lock);
	char *want = xasprintf("pci-bind: vm1: would write 'vfio-pci' to "
			       "%s/bus/pci/devices/0000:01:00.0/driver_override\n"
			       "pci-bind: vm1: would write '0000:01:00.0' to "
			       "%s/bus/pci/drivers/e1000e/unbind\n"
			       "pci-bind: vm1: would write '0000:01:00.0' to "
			       "%s/bus/pci/drivers_probe\n",
			       s.sys, s.sys, s.sys);
	ck_assert_msg(strncmp(r.out, want, strlen(want)) == 0, "stdout:\n%s\nwant:\n%s", r.out,
		      want);
	ck_assert_msg(strstr(r.out, "would chown ") && strstr(r.out, "vfio/6 to 990:78 mode 0660"),
		      "stdout: %s", r.out);
	free(want);
	char *log = sim_log(&s);
	ck_assert_str_eq(log, "");
	free(log);
	ck_assert(!record_exists(&s));
	ck_assert_str_eq(driver_of(&s, "0000:01:00.0"), "e1000e");
	tu_run_free(&r);
	sim_free(&s);
}
END_TEST

/* What bind --dry-run prints names each path escaped as an error names
 * one (escape_text()): a backslash in --sysfs and --devfs (the command
 * line's) doubled, the escape character in them as \x1b; so that
 * "sys\x41" (a backslash, x, 4, 1) does not read as the escape of
 * "sysA", nor a path holding "\x1b" as one holding the character.
 * (Noticed at the last review: only the line's escape went over them,
 * which keeps a backslash.) */
START_TEST(dry_run_lines_are_escaped)
{
	struct sim s;
	struct tu_run r;
	two_devices(&s);
	char *sys = tu_path(s.vm.root, "sys\\x41\x1b"), *dev = tu_path(s.vm.root, "dev\\x41\x1b");
	ck_assert_int_eq(rename(s.sys, sys), 0);
	ck_assert_int_eq(rename(s.dev, dev), 0);
	free(s.sys);
	free(s.dev);
	s.sys = sys;
	s.dev = dev;
	pci_run(&s, &r, "bind", EXTRA("--dry-run"));
	/* (the temp dir's own name is plain) */
	char *want = xasprintf("pci-bind: vm1: would write 'vfio-pci' to "
			       "%s/sys\\\\x41\\x1b/bus/pci/devices/0000:01:00.0/driver_override\n"
			       "pci-bind: vm1: would write '0000:01:00.0' to "
			       "%s/sys\\\\x41\\x1b/bus/pci/drivers/e1000e/unbind\n"
			       "pci-bind: vm1: would write '0000:01:00.0' to "
			       "%s/sys\\\\x41\\x1b/bus/pci/drivers_probe\n",
			       s.vm.root, s.vm.root, s.vm.root);
	char *chown = xasprintf("pci-bind: vm1: would chown %s/dev\\\\x41\\x1b/vfio/6 to 990:78 "
				"mode 0660, without an ACL\n",
				s.vm.root);
	ck_assert_msg(r.status == 0 && strncmp(r.out, want, strlen(want)) == 0 &&
			      strstr(r.out, chown),
		      "exit %d; want:\n%s...\n%sstdout:\n%sstderr:\n%s", r.status, want, chown, r.out,
		      r.err);
	free(chown);
	free(want);
	char *log = sim_log(&s);
	ck_assert_str_eq(log, "");
	free(log);
	tu_run_free(&r);
	sim_free(&s);
}
END_TEST

/* Found by a mutation test: no test ran unbind --dry-run, and one that put
 * the groups' nodes back for real passed. It prints each write and the
 * chown of each node, and changes nothing: the devices stay on vfio-pci,
 * the nodes the VM user's, the record as it was. */
START_TEST(dry_run_unbind_changes_nothing)
{
	struct sim s;
	struct tu_run r;
	two_devices(&s);
	pci_run(&s, &r, "bind", NULL);
	ck_assert_msg(r.status == 0, "bind: %s", r.err);
	tu_run_free(&r);
	char *rec = record_text(&s);
	sim_log_clear(&s);

	pci_run(&s, &r, "unbind", EXTRA("--dry-run"));
	ck_assert_msg(r.status == 0, "unbind --dry-run: %s", r.err);
	char *write = xasprintf("pci-bind: vm1: would write 'e1000e' to "
				"%s/bus/pci/devices/0000:01:00.0/driver_override\n",
				s.sys);
	char *chown = xasprintf("pci-bind: vm1: would chown %s/vfio/5 to 0:0 mode 0600, without "
				"an ACL (if it stays)\n",
				s.dev);
	char *log = sim_log(&s);
	ck_assert_msg(!strcmp(log, ""), "unbind --dry-run wrote:\n%s", log);
	free(log);
	ck_assert_str_eq(driver_of(&s, "0000:01:00.0"), "vfio-pci");
	ck_assert_str_eq(driver_of(&s, "0000:02:00.0"), "vfio-pci");
	const char *nodes[] = { "vfio/5", "vfio/6" };
	for (size_t i = 0; i < ARRAY_SIZE(nodes); i++) {
		char *p = tu_path(s.dev, nodes[i]);
		struct stat st;
		ck_assert_int_eq(lstat(p, &st), 0);
		ck_assert_msg(st.st_uid == 990 && st.st_gid == 78 && (st.st_mode & 07777) == 0660,
			      "after unbind --dry-run, %s is %u:%u %04o, not the VM user's "
			      "990:78 0660",
			      p, (unsigned)st.st_uid, (unsigned)st.st_gid,
			      (unsigned)(st.st_mode & 07777));
		free(p);
	}
	char *after = record_text(&s);
	ck_assert_str_eq(after, rec);
	free(after);
	free(rec);
	ck_assert_msg(strstr(r.out, write) && strstr(r.out, chown), "stdout:\n%s\nwant:\n%s%s",
		      r.out, write, chown);
	free(chown);
	free(write);
	tu_run_free(&r);
	sim_free(&s);
}
END_TEST

/* Names the kernel gives (a driver's, read from sysfs or kept in the
 * record) are escaped where a reason names them, as the object is: a
 * driver "snd\x41'" must not read as "sndA", nor its quote end the
 * value. Found where a group is not viable and where a device does not
 * go back to the driver it had. */
START_TEST(driver_names_in_reasons_escaped)
{
	struct sim s;
	struct tu_run r;
	sim_make(&s);
	sim_device(&s, "0000:01:00.0", "e1\\x41'", "7");
	sim_device(&s, "0000:01:00.1", "snd\\x41'", "7");
	SIM(&s, "driver", "vfio-pci");
	pci_devices(&s, "0000:01:00.0\n");
	pci_run(&s, &r, "bind", NULL);
	ck_assert_msg(r.status == 1 && strstr(r.err, "it also holds 0000:01:00.1 (driver "
						     "snd\\\\x41\\'); bind those"),
		      "exit %d: %s", r.status, r.err);
	tu_run_free(&r);

	pci_devices(&s, "0000:01:00.0\n0000:01:00.1\n");
	pci_run(&s, &r, "bind", NULL);
	ck_assert_msg(r.status == 0, "bind: %s", r.err);
	tu_run_free(&r);
	SIM(&s, "refuse", "e1\\x41'", "0000:01:00.0");
	pci_run(&s, &r, "unbind", NULL);
	ck_assert_msg(r.status == 1 && !strcmp(r.err, "pci-bind: vm1: unable to give back "
							"'0000:01:00.0' to e1\\\\x41\\': the driver "
							"did not take it (driver now: none)\n"),
		      "exit %d: %s", r.status, r.err);
	tu_run_free(&r);
	sim_free(&s);
}
END_TEST

/* Found by a mutation test: a sysfs write that fails names the value it
 * wrote escaped, as a reason names a driver: the driver a device goes back
 * to, read from sysfs into the record, is the kernel's name, and one
 * "e1\x41'" must not read as "e1A", nor its quote end the value. */
START_TEST(written_value_in_a_failed_write_escaped)
{
	struct sim s;
	struct tu_run r;
	sim_make(&s);
	sim_device(&s, "0000:01:00.0", "e1\\x41'", "7");
	SIM(&s, "driver", "vfio-pci");
	pci_devices(&s, "0000:01:00.0\n");
	pci_run(&s, &r, "bind", NULL);
	ck_assert_msg(r.status == 0, "bind: %s", r.err);
	tu_run_free(&r);
	SIM(&s, "fail", "devices/pci0000:00/0000:01:00.0/driver_override", "5");
	pci_run(&s, &r, "unbind", NULL);
	char *want = xasprintf("pci-bind: vm1: unable to write 'e1\\\\x41\\'' to "
			       "'%s/bus/pci/devices/0000:01:00.0/driver_override': %s\n",
			       s.sys, strerror(EIO));
	ck_assert_msg(r.status == 1 && !strcmp(r.err, want), "exit %d: %s\nwant: %s", r.status,
		      r.err, want);
	free(want);
	tu_run_free(&r);
	sim_free(&s);
}
END_TEST

/* A second bind (unit restarted without stop) must not lose the
 * original drivers: the record keeps them. */
START_TEST(bind_twice_keeps_record)
{
	struct sim s;
	struct tu_run r;
	two_devices(&s);
	pci_run(&s, &r, "bind", NULL);
	ck_assert_msg(r.status == 0, "bind: %s", r.err);
	tu_run_free(&r);
	char *first = record_text(&s);
	sim_log_clear(&s);
	pci_run(&s, &r, "bind", NULL);
	ck_assert_msg(r.status == 0, "bind: %s", r.err);
	tu_run_free(&r);
	char *log = sim_log(&s);
	ck_assert_str_eq(log, "");
	free(log);
	char *rec = record_text(&s);
	ck_assert_msg(strstr(rec, "0000:01:00.0 e1000e") && strstr(rec, "0000:02:00.0 snd_hda_intel"),
		      "record: %s", rec);
	/* and nothing more: the devices it lists already are not claimed
	 * again (found by a mutation test: a second line of each, claimed) */
	ck_assert_msg(!strcmp(rec, first), "the second bind changed the record:\n%s\nfrom:\n%s",
		      rec, first);
	free(first);
	free(rec);
	pci_run(&s, &r, "unbind", NULL);
	ck_assert_msg(r.status == 0, "unbind: %s", r.err);
	ck_assert_str_eq(driver_of(&s, "0000:01:00.0"), "e1000e");
	ck_assert_str_eq(driver_of(&s, "0000:02:00.0"), "snd_hda_intel");
	tu_run_free(&r);
	sim_free(&s);
}
END_TEST

/* A second bind (the runner now lists one more device) that fails gives
 * back what it changed, and keeps in the record what the first bind did:
 * the VM's stop still gives every device back to its own driver. */
START_TEST(failed_second_bind_keeps_the_first)
{
	struct sim s;
	struct tu_run r;
	two_devices(&s);
	/* the admin's owner and mode of group 5's node (a udev rule's) */
	char *node5 = tu_path(s.dev, "vfio/5");
	ck_assert_int_eq(chown(node5, 0, 36), 0);
	ck_assert_int_eq(chmod(node5, 0660), 0);
	pci_devices(&s, "0000:01:00.0\n");
	pci_run(&s, &r, "bind", NULL);
	ck_assert_msg(r.status == 0, "bind: %s", r.err);
	tu_run_free(&r);
	ck_assert_str_eq(driver_of(&s, "0000:01:00.0"), "vfio-pci");

	pci_devices(&s, "0000:01:00.0\n0000:02:00.0\n");
	SIM(&s, "refuse", "vfio-pci", "0000:02:00.0");
	pci_run(&s, &r, "bind", NULL);
	ck_assert_msg(r.status == 1 && strstr(r.err, "0000:02:00.0"), "bind: exit %d: %s",
		      r.status, r.err);
	tu_run_free(&r);
	ck_assert_str_eq(driver_of(&s, "0000:01:00.0"), "vfio-pci");
	ck_assert_str_eq(driver_of(&s, "0000:02:00.0"), "snd_hda_intel");
	char *rec = record_text(&s);
	ck_assert_msg(strstr(rec, "\n0000:01:00.0 e1000e listed -\n") &&
			      !strstr(rec, "0000:02:00.0"),
		      "record: %s", rec);
	/* and the first bind's node line: what unbind puts the node back to
	 * (found by a mutation test: the rollback dropped it, and unbind left
	 * the node the VM user's) */
	ck_assert_msg(strstr(rec, "\nnode 5 0 36 0660\n"),
		      "after a failed second bind, the record lost the first's node line: %s",
		      rec);
	free(rec);

	pci_run(&s, &r, "unbind", NULL);
	ck_assert_msg(r.status == 0, "unbind: %s", r.err);
	ck_assert_str_eq(driver_of(&s, "0000:01:00.0"), "e1000e");
	ck_assert_str_eq(driver_of(&s, "0000:02:00.0"), "snd_hda_intel");
	ck_assert(!record_exists(&s));
	struct stat st;
	ck_assert_int_eq(lstat(node5, &st), 0);
	ck_assert_msg(st.st_uid == 0 && st.st_gid == 36 && (st.st_mode & 07777) == 0660,
		      "after unbind, %s is %u:%u %04o, not the admin's 0:36 0660", node5,
		      (unsigned)st.st_uid, (unsigned)st.st_gid, (unsigned)(st.st_mode & 07777));
	free(node5);
	tu_run_free(&r);
	sim_free(&s);
}
END_TEST

/* Found by a mutation test: no test unbound a recorded device that is
 * gone (unplugged, or its VF removed, while the VM ran). The kernel took
 * it and its group away; unbind says so, writes nothing for it, gives
 * the others back and drops the record: there is nothing left to retry. */
START_TEST(unbind_of_a_device_that_is_gone)
{
	struct sim s;
	struct tu_run r;
	two_devices(&s);
	pci_run(&s, &r, "bind", NULL);
	ck_assert_msg(r.status == 0, "bind: %s", r.err);
	tu_run_free(&r);
	/* 0000:02:00.0 unplugged: what the kernel removes with it */
	const char *gone[] = { "bus/pci/devices/0000:02:00.0",
			       "bus/pci/drivers/vfio-pci/0000:02:00.0",
			       "devices/pci0000:00/0000:02:00.0", "kernel/iommu_groups/6" };
	for (size_t i = 0; i < ARRAY_SIZE(gone); i++) {
		char *p = tu_path(s.sys, gone[i]);
		tu_rm_rf(p);
		free(p);
	}
	char *node6 = tu_path(s.dev, "vfio/6");
	ck_assert_int_eq(unlink(node6), 0);
	free(node6);
	sim_log_clear(&s);

	pci_run(&s, &r, "unbind", NULL);
	ck_assert_msg(r.status == 0, "unbind with 0000:02:00.0 gone: exit %d: %s", r.status,
		      r.err);
	ck_assert_msg(strstr(r.err, "pci-bind: vm1: device '0000:02:00.0' is gone: nothing to "
				    "give back\n"),
		      "stderr: %s", r.err);
	char *log = sim_log(&s);
	ck_assert_msg(!strstr(log, "0000:02:00.0"), "writes for the device that is gone:\n%s",
		      log);
	free(log);
	ck_assert_str_eq(driver_of(&s, "0000:01:00.0"), "e1000e");
	ck_assert_msg(!record_exists(&s), "the record stays for a device that is gone");
	tu_run_free(&r);
	sim_free(&s);
}
END_TEST

/* unbind when the old driver will not take a device back: the others
 * are given back, that one stays recorded, and a later unbind finishes. */
START_TEST(unbind_partial_keeps_record)
{
	struct sim s;
	struct tu_run r;
	two_devices(&s);
	pci_run(&s, &r, "bind", NULL);
	ck_assert_msg(r.status == 0, "bind: %s", r.err);
	tu_run_free(&r);

	SIM(&s, "refuse", "snd_hda_intel", "0000:02:00.0");
	pci_run(&s, &r, "unbind", NULL);
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strstr(r.err, "unable to give back '0000:02:00.0' to snd_hda_intel"),
		      "stderr: %s", r.err);
	ck_assert_str_eq(driver_of(&s, "0000:01:00.0"), "e1000e");
	ck_assert_str_eq(driver_of(&s, "0000:02:00.0"), "");
	char *rec = record_text(&s);
	ck_assert_msg(strstr(rec, "0000:02:00.0 snd_hda_intel") && !strstr(rec, "0000:01:00.0"),
		      "record: %s", rec);
	free(rec);
	tu_run_free(&r);

	char *refuse = tu_path(s.sys, ".sim/refuse/snd_hda_intel/0000:02:00.0");
	ck_assert_int_eq(unlink(refuse), 0);
	free(refuse);
	pci_run(&s, &r, "unbind", NULL);
	ck_assert_msg(r.status == 0, "unbind: %s", r.err);
	ck_assert_str_eq(driver_of(&s, "0000:02:00.0"), "snd_hda_intel");
	ck_assert(!record_exists(&s));
	tu_run_free(&r);
	sim_free(&s);
}
END_TEST

/* A device that had no driver goes back to no driver. */
START_TEST(unbound_device_stays_unbound)
{
	struct sim s;
	struct tu_run r;
	sim_make(&s);
	sim_device(&s, "0000:04:00.0", NULL, "3");
	SIM(&s, "driver", "vfio-pci");
	pci_devices(&s, "0000:04:00.0\n");
	pci_run(&s, &r, "bind", NULL);
	ck_assert_msg(r.status == 0, "bind: %s", r.err);
	ck_assert_str_eq(driver_of(&s, "0000:04:00.0"), "vfio-pci");
	tu_run_free(&r);
	pci_run(&s, &r, "unbind", NULL);
	ck_assert_msg(r.status == 0, "unbind: %s", r.err);
	ck_assert_str_eq(driver_of(&s, "0000:04:00.0"), "");
	tu_run_free(&r);
	sim_free(&s);
}
END_TEST

/* Found by an audit: give_back ended every device's return, on rollback
 * and on unbind, by clearing its driver_override, so an admin's pin
 * (driverctl set-override: to the device's own driver, to pci-stub) was
 * lost. The override found before bind is kept (in the record, for
 * unbind) and put back. A record of the earlier format, without it, still
 * loads, and its devices' overrides are cleared, as before. */
START_TEST(driver_override_kept)
{
	struct sim s;
	struct tu_run r;
	sim_make(&s);
	SIM(&s, "device", "0000:01:00.0", "driver=e1000e", "group=5", "override=e1000e");
	SIM(&s, "device", "0000:02:00.0", "driver=snd_hda_intel", "group=6", "override=pci-stub");
	SIM(&s, "device", "0000:03:00.0", "driver=xhci_hcd", "group=7");
	vfio_node(&s, "5");
	vfio_node(&s, "6");
	vfio_node(&s, "7");
	SIM(&s, "driver", "vfio-pci");
	SIM(&s, "driver", "pci-stub");
	pci_devices(&s, "0000:01:00.0\n0000:02:00.0\n0000:03:00.0\n");

	pci_run(&s, &r, "bind", NULL);
	ck_assert_msg(r.status == 0, "bind: %s", r.err);
	tu_run_free(&r);
	ck_assert_str_eq(override_of(&s, "0000:01:00.0"), "vfio-pci");
	char *rec = record_text(&s);
	pci_run(&s, &r, "unbind", NULL);
	ck_assert_msg(r.status == 0, "unbind: %s", r.err);
	tu_run_free(&r);
	ck_assert_str_eq(driver_of(&s, "0000:01:00.0"), "e1000e");
	ck_assert_str_eq(driver_of(&s, "0000:02:00.0"), "snd_hda_intel");
	ck_assert_str_eq(driver_of(&s, "0000:03:00.0"), "xhci_hcd");
	ck_assert_str_eq(override_of(&s, "0000:01:00.0"), "e1000e");
	ck_assert_str_eq(override_of(&s, "0000:02:00.0"), "pci-stub");
	/* kept for unbind, another process, in the record */
	ck_assert_msg(!strncmp(rec, "# pci-bind record 3\n", 20) &&
			      strstr(rec, "\n0000:01:00.0 e1000e listed e1000e\n") &&
			      strstr(rec, "\n0000:02:00.0 snd_hda_intel listed pci-stub\n") &&
			      strstr(rec, "\n0000:03:00.0 xhci_hcd listed -\n"),
		      "record: %s", rec);
	free(rec);
	/* none stays none: the file reads "(null)\n", as the kernel's */
	char *p = tu_path(s.sys, "bus/pci/devices/0000:03:00.0/driver_override");
	char *raw = NULL;
	size_t len;
	ck_assert_int_eq(read_file(p, 4096, &raw, &len), 0);
	ck_assert_str_eq(raw, "(null)\n");
	free(raw);
	free(p);

	/* The rollback of a failed bind puts them back too. */
	SIM(&s, "refuse", "vfio-pci", "0000:03:00.0");
	pci_run(&s, &r, "bind", NULL);
	ck_assert_msg(r.status == 1, "bind: exit %d: %s", r.status, r.err);
	tu_run_free(&r);
	ck_assert_str_eq(driver_of(&s, "0000:01:00.0"), "e1000e");
	ck_assert_str_eq(driver_of(&s, "0000:02:00.0"), "snd_hda_intel");
	ck_assert_str_eq(override_of(&s, "0000:01:00.0"), "e1000e");
	ck_assert_str_eq(override_of(&s, "0000:02:00.0"), "pci-stub");
	ck_assert_str_eq(override_of(&s, "0000:03:00.0"), "(null)");
	ck_assert(!record_exists(&s));
	char *refuse = tu_path(s.sys, ".sim/refuse/vfio-pci/0000:03:00.0");
	ck_assert_int_eq(unlink(refuse), 0);
	free(refuse);

	/* A record of the earlier format (no override field) still loads. */
	pci_devices(&s, "0000:01:00.0\n");
	pci_run(&s, &r, "bind", NULL);
	ck_assert_msg(r.status == 0, "bind: %s", r.err);
	tu_run_free(&r);
	tu_write(s.vm.runtime, "vm1/pci",
		 "# pci-bind: ADDRESS PREVIOUS-DRIVER listed|group\n0000:01:00.0 e1000e listed\n");
	pci_run(&s, &r, "unbind", NULL);
	ck_assert_msg(r.status == 0, "unbind: %s", r.err);
	tu_run_free(&r);
	ck_assert_str_eq(driver_of(&s, "0000:01:00.0"), "e1000e");
	ck_assert_str_eq(override_of(&s, "0000:01:00.0"), "(null)");
	ck_assert(!record_exists(&s));
	sim_free(&s);
}
END_TEST

/* Found by a mutation test: a device that unbind gives back without a
 * probe (one that had no driver before bind; one on its driver already,
 * as a bind killed once its claim was written leaves it) had its
 * driver_override cleared instead of put back: with that write cleared
 * too, no test saw it, and an admin's pin was lost. */
START_TEST(override_kept_without_a_probe)
{
	struct sim s;
	struct tu_run r;
	sim_make(&s);
	SIM(&s, "device", "0000:04:00.0", "orig=-", "group=3", "override=pci-stub");
	SIM(&s, "device", "0000:01:00.0", "driver=e1000e", "group=5", "override=e1000e");
	vfio_node(&s, "3");
	vfio_node(&s, "5");
	SIM(&s, "driver", "vfio-pci");
	pci_devices(&s, "0000:04:00.0\n");
	pci_run(&s, &r, "bind", NULL);
	ck_assert_msg(r.status == 0, "bind: %s", r.err);
	tu_run_free(&r);
	ck_assert_str_eq(driver_of(&s, "0000:04:00.0"), "vfio-pci");
	pci_run(&s, &r, "unbind", NULL);
	ck_assert_msg(r.status == 0, "unbind: %s", r.err);
	tu_run_free(&r);
	ck_assert_str_eq(driver_of(&s, "0000:04:00.0"), "");
	ck_assert_str_eq(override_of(&s, "0000:04:00.0"), "pci-stub");

	/* the claim of a bind killed before it changed the device */
	tu_write(s.vm.runtime, "vm1/pci", "# pci-bind record 2\n0000:01:00.0 e1000e listed e1000e\n");
	pci_run(&s, &r, "unbind", NULL);
	ck_assert_msg(r.status == 0, "unbind: %s", r.err);
	tu_run_free(&r);
	ck_assert_str_eq(driver_of(&s, "0000:01:00.0"), "e1000e");
	ck_assert_str_eq(override_of(&s, "0000:01:00.0"), "e1000e");
	ck_assert(!record_exists(&s));
	sim_free(&s);
}
END_TEST

/* Giving back a device that is on its own driver already (a bind killed
 * once its record was written, before it changed the device) writes only
 * the override it had, as do_unbind() says: no override to the driver, no
 * probe, nothing the device's driver could be disturbed by. */
START_TEST(give_back_of_a_device_back_already_writes_its_override)
{
	struct sim s;
	struct tu_run r;
	two_devices(&s);
	tu_write(s.vm.runtime, "vm1/pci", "# pci-bind record 3\n0000:01:00.0 e1000e listed -\n");
	sim_log_clear(&s);
	pci_run(&s, &r, "unbind", NULL);
	ck_assert_msg(r.status == 0, "unbind: %s", r.err);
	tu_run_free(&r);
	ck_assert_str_eq(driver_of(&s, "0000:01:00.0"), "e1000e");
	ck_assert_str_eq(override_of(&s, "0000:01:00.0"), "(null)");
	char *log = sim_log(&s);
	ck_assert_msg(!strcmp(log, "write devices/pci0000:00/0000:01:00.0/driver_override \\x0a\n"),
		      "sysfs writes:\n%s", log);
	free(log);
	ck_assert(!record_exists(&s));
	sim_free(&s);
}
END_TEST

/* An override that is no driver name cannot be kept in the record: bind
 * refuses the device before any change, naming it and the value. */
START_TEST(driver_override_not_a_name_refused)
{
	struct sim s;
	struct tu_run r;
	two_devices(&s);
	char *p = tu_path(s.sys, "devices/pci0000:00/0000:02:00.0/driver_override");
	FILE *f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fputs("a b\n", f);
	fclose(f);
	free(p);
	pci_run(&s, &r, "bind", NULL);
	ck_assert_msg(r.status == 1, "bind: exit %d: %s", r.status, r.err);
	ck_assert_str_eq(r.err, "pci-bind: vm1: unable to bind '0000:02:00.0': its driver_override "
				"is no driver name, which the record could not keep: 'a b'\n");
	tu_run_free(&r);
	char *log = sim_log(&s);
	ck_assert_str_eq(log, "");
	free(log);
	ck_assert(!record_exists(&s));
	sim_free(&s);
}
END_TEST

/* ---- libkmod against a fake module tree ---- */

#define KVER "6.1.0-sim"

static const char *depmod_path(void)
{
	static const char *const c[] = { "/usr/sbin/depmod", "/sbin/depmod", "/usr/bin/depmod" };
	for (size_t i = 0; i < ARRAY_SIZE(c); i++)
		if (access(c[i], X_OK) == 0)
			return c[i];
	ck_abort_msg("depmod not found (Debian package kmod)");
	return NULL;
}

/* ROOT/mods/lib/modules/KVER with the given modules.builtin and .ko
 * files (relative paths, NULL-terminated), indexed by depmod. Returns the
 * modules dir. */
static char *modules_tree(struct sim *s, const char *builtin, const char *const kos[])
{
	s->mods = tu_path(s->vm.root, "mods");
	char *dir = tu_path(s->mods, "lib/modules/" KVER);
	ck_assert_int_eq(mkdir_p(dir, 0755), 0);
	char order[4096] = "";
	for (size_t i = 0; kos && kos[i]; i++) {
		/* not ELF: enough for libkmod, which hands the file to the
		 * (simulated) finit_module */
		const char *b = strrchr(kos[i], '/');
		char *content = xasprintf("name=%.*s", (int)strcspn(b + 1, "."), b + 1);
		tu_write(dir, kos[i], content);
		free(content);
		snprintf(order + strlen(order), sizeof(order) - strlen(order), "%s\n", kos[i]);
	}
	tu_write(dir, "modules.order", order);
	tu_write(dir, "modules.builtin", builtin);
	const char *argv[] = { depmod_path(), "-b", s->mods, KVER, NULL };
	struct tu_run r;
	tu_run(&r, argv);
	ck_assert_msg(r.status == 0, "depmod: %s", r.err);
	tu_run_free(&r);
	return dir;
}

/* One device on e1000e listed by the runner, and a modules tree
 * (modules_tree()): what every kmod test starts from. */
static char *kmod_vm(struct sim *s, const char *builtin, const char *const kos[])
{
	sim_make(s);
	sim_device(s, "0000:01:00.0", "e1000e", "5");
	pci_devices(s, "0000:01:00.0\n");
	return modules_tree(s, builtin, kos);
}

#define VFIO_KO ((const char *const[]){ "kernel/drivers/vfio/pci/vfio-pci.ko", NULL })

START_TEST(kmod_loads_vfio_pci)
{
	struct sim s;
	struct tu_run r;
	char *dir = kmod_vm(&s, "", VFIO_KO);

	pci_run(&s, &r, "bind", EXTRA("--modules-dir", dir));
	ck_assert_msg(r.status == 0, "bind: %s", r.err);
	char *log = sim_log(&s);
	ck_assert_msg(strstr(log, "load vfio_pci\n"), "log: %s", log);
	free(log);
	ck_assert_str_eq(driver_of(&s, "0000:01:00.0"), "vfio-pci");
	tu_run_free(&r);
	free(dir);
	sim_free(&s);
}
END_TEST

/* Found by a mutation test: no dry run found vfio-pci missing, and one
 * that loaded it passed. It says it would load it, and loads nothing. */
START_TEST(kmod_dry_run_loads_nothing)
{
	struct sim s;
	struct tu_run r;
	char *dir = kmod_vm(&s, "", VFIO_KO);

	pci_run(&s, &r, "bind", EXTRA("--modules-dir", dir, "--dry-run"));
	ck_assert_msg(r.status == 0, "bind --dry-run: %s", r.err);
	char *log = sim_log(&s);
	ck_assert_msg(!strstr(log, "load "), "a dry run loaded a module: %s", log);
	free(log);
	char *drv = tu_path(s.sys, "bus/pci/drivers/vfio-pci");
	ck_assert_msg(access(drv, F_OK) < 0, "a dry run registered %s", drv);
	free(drv);
	ck_assert_str_eq(driver_of(&s, "0000:01:00.0"), "e1000e");
	ck_assert_msg(strstr(r.out, "pci-bind: vm1: would load module vfio-pci\n"), "stdout: %s",
		      r.out);
	tu_run_free(&r);
	/* -v: libkmod's dry run is no load, and not said to be one */
	pci_run(&s, &r, "bind", EXTRA("-v", "--modules-dir", dir, "--dry-run"));
	ck_assert_msg(r.status == 0 && !strstr(r.err, "loaded") &&
			      strstr(r.out, "pci-bind: vm1: would load module vfio-pci\n"),
		      "bind -v --dry-run: exit %d: stdout: %s stderr: %s", r.status, r.out, r.err);
	log = sim_log(&s);
	ck_assert_msg(!strstr(log, "load "), "a dry run loaded a module: %s", log);
	free(log);
	tu_run_free(&r);
	free(dir);
	sim_free(&s);
}
END_TEST

/* libkmod's own lines (-v) are shown whole, not cut at 1024 bytes
 * without a mark: a load that fails (tests/shims/failat.so fails the
 * finit_module) is logged with the module's path, here over 1100 bytes.
 * Before, the line ended inside the path ("...00000000"), its reason
 * gone. */
START_TEST(kmod_long_message_whole)
{
	char ko[1200] = "kernel/drivers/vfio/pci";
	for (int i = 0; i < 5; i++)
		snprintf(ko + strlen(ko), sizeof(ko) - strlen(ko), "/%0200d", i);
	strcat(ko, "/vfio-pci.ko");
	const char *const kos[] = { ko, NULL };
	long at = 0;
	for (int run = 0; run < 2; run++) {
		struct sim s;
		struct tu_run r;
		struct tu_failat f;
		char *dir = kmod_vm(&s, "", kos);
		tu_failat_init(&f, s.vm.root);
		if (run == 0) {
			/* which counted call is the module's load */
			pci_run_env(&s, &r, "bind", EXTRA("-v", "--modules-dir", dir),
				    (const char *const[]){ f.logenv, NULL }, f.shim, NULL);
			ck_assert_msg(r.status == 0, "bind: %s", r.err);
			char *text = NULL;
			size_t len;
			ck_assert_int_eq(read_file(f.log, 1 << 20, &text, &len), 0);
			char *l = strstr(text, " syscall(module)\n");
			ck_assert_msg(l, "no module load counted: %s", text);
			while (l > text && l[-1] != '\n')
				l--;
			at = atol(l);
			free(text);
		} else {
			tu_failat_at(&f, at, "EIO");
			pci_run_env(&s, &r, "bind", EXTRA("-v", "--modules-dir", dir),
				    (const char *const[]){ f.at, f.err, NULL }, f.shim, NULL);
			ck_assert_int_eq(r.status, 1);
			/* (the text is libkmod's: all of it escaped, its quotes too) */
			char *want = xasprintf("libkmod: Failed to insert module \\'%s/%s\\': %s\n", dir,
					       ko, strerror(EIO));
			ck_assert_msg(strstr(r.err, want), "want: %s\nstderr: %s", want, r.err);
			free(want);
		}
		tu_run_free(&r);
		tu_failat_free(&f);
		free(dir);
		sim_free(&s);
	}
}
END_TEST

START_TEST(kmod_builtin)
{
	struct sim s;
	struct tu_run r;
	char *dir = kmod_vm(&s, "kernel/drivers/vfio/pci/vfio-pci.ko\n", NULL);

	/* libkmod finds it built in and loads nothing; the simulated sysfs
	 * has no vfio-pci driver (a real kernel would), which the tool
	 * names instead of going on. */
	pci_run(&s, &r, "bind", EXTRA("--modules-dir", dir));
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strstr(r.err, "is built in") && strstr(r.err, "driver 'vfio-pci'"),
		      "stderr: %s", r.err);
	char *log = sim_log(&s);
	ck_assert_msg(strcmp(log, "") == 0, "log: %s", log);
	free(log);
	tu_run_free(&r);
	free(dir);
	sim_free(&s);
}
END_TEST

START_TEST(kmod_missing)
{
	struct sim s;
	struct tu_run r;
	char *dir = kmod_vm(&s, "", (const char *const[]){ "kernel/drivers/net/e1000e.ko", NULL });

	pci_run(&s, &r, "bind", EXTRA("--modules-dir", dir));
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strstr(r.err, "unable to load module 'vfio-pci': not found"), "stderr: %s",
		      r.err);
	char *log = sim_log(&s);
	ck_assert_str_eq(log, "");
	free(log);
	ck_assert_str_eq(driver_of(&s, "0000:01:00.0"), "e1000e");
	tu_run_free(&r);
	free(dir);
	sim_free(&s);
}
END_TEST

START_TEST(kmod_blacklisted)
{
	struct sim s;
	struct tu_run r;
	char *dir = kmod_vm(&s, "", VFIO_KO);
	tu_write(s.vm.root, "modprobe.d/vfio.conf", "# no VFIO here\nblacklist vfio_pci\n");
	char *cfg = tu_path(s.vm.root, "modprobe.d");

	pci_run(&s, &r, "bind", EXTRA("--modules-dir", dir, "--modprobe-config", cfg));
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strstr(r.err, "unable to load module 'vfio_pci': it is blacklisted"),
		      "stderr: %s", r.err);
	char *log = sim_log(&s);
	ck_assert_str_eq(log, "");
	free(log);
	ck_assert_str_eq(driver_of(&s, "0000:01:00.0"), "e1000e");
	tu_run_free(&r);

	/* the same tree without the blacklist loads it: the test can fail */
	tu_write(s.vm.root, "modprobe.d/vfio.conf", "# nothing\n");
	pci_run(&s, &r, "bind", EXTRA("--modules-dir", dir, "--modprobe-config", cfg));
	ck_assert_msg(r.status == 0, "bind: %s", r.err);
	ck_assert_str_eq(driver_of(&s, "0000:01:00.0"), "vfio-pci");
	tu_run_free(&r);
	free(cfg);
	free(dir);
	sim_free(&s);
}
END_TEST

/* A dry run asks libkmod what a bind would: one for a vfio-pci that is
 * blacklisted, or not in the modules dir, refuses as the bind would,
 * instead of promising a load ("would load module vfio-pci", exit 0). */
START_TEST(kmod_dry_run_checks_the_module)
{
	struct sim s;
	struct tu_run r;
	char *dir = kmod_vm(&s, "", VFIO_KO);
	tu_write(s.vm.root, "modprobe.d/vfio.conf", "blacklist vfio_pci\n");
	char *cfg = tu_path(s.vm.root, "modprobe.d");
	pci_run(&s, &r, "bind", EXTRA("-n", "--modules-dir", dir, "--modprobe-config", cfg));
	ck_assert_msg(r.status == 1 &&
			      strstr(r.err, "unable to load module 'vfio_pci': it is blacklisted") &&
			      !strstr(r.out, "would load module"),
		      "dry run, blacklisted: exit %d: stdout: %s stderr: %s", r.status, r.out, r.err);
	tu_run_free(&r);
	char *log = sim_log(&s);
	ck_assert_str_eq(log, "");
	free(log);
	free(cfg);
	free(dir);
	sim_free(&s);

	dir = kmod_vm(&s, "", (const char *const[]){ "kernel/drivers/net/e1000e.ko", NULL });
	pci_run(&s, &r, "bind", EXTRA("-n", "--modules-dir", dir));
	ck_assert_msg(r.status == 1 &&
			      strstr(r.err, "unable to load module 'vfio-pci': not found in ") &&
			      !strstr(r.out, "would load module"),
		      "dry run, no vfio-pci: exit %d: stdout: %s stderr: %s", r.status, r.out, r.err);
	tu_run_free(&r);
	free(dir);
	sim_free(&s);
}
END_TEST

/* A --modprobe-config that is not there is refused, naming it: libkmod
 * skips a configuration path it cannot open (said at debug level alone),
 * so a mistyped one bound a device its blacklist was to keep from
 * vfio-pci, without a word. */
START_TEST(kmod_missing_modprobe_config_refused)
{
	struct sim s;
	struct tu_run r;
	char *dir = kmod_vm(&s, "", VFIO_KO);
	char *cfg = tu_path(s.vm.root, "modprobe.d.typo");
	pci_run(&s, &r, "bind", EXTRA("--modules-dir", dir, "--modprobe-config", cfg));
	char *want = xasprintf("pci-bind: vm1: unable to read '%s': No such file or directory\n",
			       cfg);
	ck_assert_msg(r.status == 2 && !strcmp(r.err, want), "exit %d; want %sgot %s", r.status,
		      want, r.err);
	ck_assert_str_eq(driver_of(&s, "0000:01:00.0"), "e1000e");
	char *log = sim_log(&s);
	ck_assert_str_eq(log, "");
	free(log);
	free(want);
	tu_run_free(&r);
	/* unbind loads nothing: the same mistyped path keeps no device from
	 * going back (the units give both verbs the same options) */
	pci_run(&s, &r, "bind", EXTRA("--modules-dir", dir));
	ck_assert_msg(r.status == 0, "bind: exit %d: %s", r.status, r.err);
	tu_run_free(&r);
	ck_assert_str_eq(driver_of(&s, "0000:01:00.0"), "vfio-pci");
	pci_run(&s, &r, "unbind", EXTRA("--modules-dir", dir, "--modprobe-config", cfg));
	ck_assert_msg(r.status == 0, "unbind with a missing --modprobe-config: exit %d: %s",
		      r.status, r.err);
	tu_run_free(&r);
	ck_assert_str_eq(driver_of(&s, "0000:01:00.0"), "e1000e");
	free(cfg);
	free(dir);
	sim_free(&s);
}
END_TEST

START_TEST(kmod_load_fails)
{
	struct sim s;
	struct tu_run r;
	char *dir = kmod_vm(&s, "", VFIO_KO);
	SIM(&s, "modfail", "vfio_pci", "22");

	pci_run(&s, &r, "bind", EXTRA("--modules-dir", dir));
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strstr(r.err, "unable to load module 'vfio_pci': ") &&
			      strstr(r.err, strerror(EINVAL)),
		      "stderr: %s", r.err);
	ck_assert_str_eq(driver_of(&s, "0000:01:00.0"), "e1000e");
	tu_run_free(&r);
	free(dir);
	sim_free(&s);
}
END_TEST

/* The paths of the command line in a reason, escaped as the object is:
 * --modules-dir where vfio-pci is not found, --sysfs where the module is
 * there but the driver did not register. */
START_TEST(kmod_reasons_name_paths_escaped)
{
	struct sim s;
	struct tu_run r;
	char *dir = kmod_vm(&s, "", (const char *const[]){ "kernel/drivers/net/e1000e.ko", NULL });
	char *odd = tu_path(s.vm.root, "mods\\x41'");
	ck_assert_int_eq(rename(dir, odd), 0);
	pci_run(&s, &r, "bind", EXTRA("--modules-dir", odd));
	char *want = xasprintf("pci-bind: vm1: unable to load module 'vfio-pci': not found in "
			       "%s/mods\\\\x41\\'\n",
			       s.vm.root);
	ck_assert_msg(r.status == 1 && !strcmp(r.err, want), "exit %d; want:\n%sstderr:\n%s",
		      r.status, want, r.err);
	free(want);
	tu_run_free(&r);
	free(odd);
	free(dir);
	sim_free(&s);

	dir = kmod_vm(&s, "kernel/drivers/vfio/pci/vfio-pci.ko\n", NULL);
	char *sys = tu_path(s.vm.root, "sys\\x41'");
	ck_assert_int_eq(rename(s.sys, sys), 0);
	free(s.sys);
	s.sys = sys;
	pci_run(&s, &r, "bind", EXTRA("--modules-dir", dir));
	want = xasprintf(" in %s/sys\\\\x41\\'/bus/pci/drivers: module vfio-pci is built in",
			 s.vm.root);
	ck_assert_msg(r.status == 1 && strstr(r.err, want), "exit %d; want:\n%s\nstderr:\n%s",
		      r.status, want, r.err);
	free(want);
	tu_run_free(&r);
	free(dir);
	sim_free(&s);
}
END_TEST

/* A modprobe.d install command would go through a shell: not run. */
START_TEST(kmod_install_command_not_run)
{
	struct sim s;
	struct tu_run r;
	char *dir = kmod_vm(&s, "", VFIO_KO);
	char *ran = tu_path(s.vm.root, "ran");
	char *conf = xasprintf("install vfio_pci /bin/touch %s\n", ran);
	tu_write(s.vm.root, "modprobe.d/vfio.conf", conf);
	char *cfg = tu_path(s.vm.root, "modprobe.d");

	pci_run(&s, &r, "bind", EXTRA("--modules-dir", dir, "--modprobe-config", cfg));
	ck_assert_msg(r.status == 0, "bind: %s", r.err);
	ck_assert_msg(strstr(r.err, "install command is not run"), "stderr: %s", r.err);
	ck_assert_int_eq(access(ran, F_OK), -1);
	char *log = sim_log(&s);
	ck_assert_msg(strstr(log, "load vfio_pci\n"), "log: %s", log);
	free(log);
	tu_run_free(&r);
	free(cfg);
	free(conf);
	free(ran);
	free(dir);
	sim_free(&s);
}
END_TEST

/* Under its unit pci-bind has no CAP_SYS_MODULE (the unit loads vfio-pci
 * before it, outside the sandbox): with the driver missing, it names
 * that, and what to do, before libkmod would try (the simulation's
 * finit_module would "load" it, a real one refuse with EPERM), and
 * changes nothing. The same run with the capability loads it. */
START_TEST(kmod_without_cap_sys_module)
{
	struct sim s;
	struct tu_run r;
	char *dir = kmod_vm(&s, "", VFIO_KO);

	pci_run_env(&s, &r, "bind", EXTRA("--modules-dir", dir), NULL, NULL,
		    (const char *const[]){ "/usr/bin/setpriv", "--bounding-set", "-sys_module",
					   NULL });
	ck_assert_msg(r.status == 1, "exit %d: %s", r.status, r.err);
	ck_assert_msg(!strcmp(r.err, "pci-bind: vm1: unable to load module 'vfio-pci': the driver "
				     "is not there and this process may not load modules (no "
				     "CAP_SYS_MODULE): it must be loaded before (modprobe -b "
				     "vfio-pci, as the unit's ExecStartPre= does)\n"),
		      "stderr: %s", r.err);
	char *log = sim_log(&s);
	ck_assert_str_eq(log, "");
	free(log);
	ck_assert_str_eq(driver_of(&s, "0000:01:00.0"), "e1000e");
	ck_assert(!record_exists(&s));
	tu_run_free(&r);

	/* A dry run says so too: not "would load module vfio-pci" and exit
	 * 0, as it did, for a load the real run never tries. */
	pci_run_env(&s, &r, "bind", EXTRA("-n", "--modules-dir", dir), NULL, NULL,
		    (const char *const[]){ "/usr/bin/setpriv", "--bounding-set", "-sys_module",
					   NULL });
	ck_assert_msg(r.status == 1, "dry run: exit %d: %s%s", r.status, r.out, r.err);
	ck_assert_msg(strstr(r.err, "this process may not load modules (no CAP_SYS_MODULE)") &&
			      !strstr(r.out, "would load module") &&
			      !strstr(r.err, "would load module"),
		      "dry run: stdout: %s stderr: %s", r.out, r.err);
	tu_run_free(&r);

	pci_run(&s, &r, "bind", EXTRA("--modules-dir", dir));
	ck_assert_msg(r.status == 0, "bind: %s", r.err);
	ck_assert_str_eq(driver_of(&s, "0000:01:00.0"), "vfio-pci");
	tu_run_free(&r);
	free(dir);
	sim_free(&s);
}
END_TEST

/* A VM name with a control character is refused in one line of its own
 * (it was put into the line, unescaped, before it was checked). */
START_TEST(bad_name_one_error_line)
{
	char *bin = tu_bin("pci-bind");
	const char *argv[] = { bin, "unbind", "a\nb", NULL };
	struct tu_run r;
	tu_run(&r, argv);
	ck_assert_msg(r.status == 2, "exit %d: %s", r.status, r.err);
	ck_assert_msg(!strcmp(r.err, "pci-bind: unable to use VM name 'a\\x0ab': a name may not "
				     "contain control characters\n"),
		      "stderr: %s", r.err);
	tu_run_free(&r);
	free(bin);
}
END_TEST

/* A device that another driver than its own would take on a plain
 * reprobe (pci-stub holds it, by an override or a new_id of the admin's;
 * nouveau would win a probe): unbind gives it back to the driver it had,
 * pci-stub, not to whichever driver claims it first, and clears the
 * override. Found in review: it was left on nouveau, unbind failed and
 * refused for ever after. */
START_TEST(unbind_back_to_the_driver_it_had)
{
	struct sim s;
	sim_make(&s);
	vfio_node(&s, "5");
	SIM(&s, "driver", "nouveau");
	SIM(&s, "device", "0000:01:00.0", "driver=pci-stub", "group=5", "orig=nouveau");
	SIM(&s, "driver", "vfio-pci");
	pci_devices(&s, "0000:01:00.0\n");
	struct tu_run r;
	pci_run(&s, &r, "bind", NULL);
	ck_assert_msg(r.status == 0, "bind: %s", r.err);
	ck_assert_str_eq(driver_of(&s, "0000:01:00.0"), "vfio-pci");
	tu_run_free(&r);
	pci_run(&s, &r, "unbind", NULL);
	ck_assert_msg(r.status == 0, "unbind: exit %d: %s", r.status, r.err);
	ck_assert_str_eq(driver_of(&s, "0000:01:00.0"), "pci-stub");
	ck_assert_str_eq(override_of(&s, "0000:01:00.0"), "(null)");
	ck_assert(!record_exists(&s));
	tu_run_free(&r);
	/* pci-stub now refuses it: unbind fails, the device stays recorded
	 * (for another try), and the override is cleared all the same. */
	pci_run(&s, &r, "bind", NULL);
	ck_assert_msg(r.status == 0, "bind: %s", r.err);
	tu_run_free(&r);
	SIM(&s, "refuse", "pci-stub", "0000:01:00.0");
	pci_run(&s, &r, "unbind", NULL);
	ck_assert_msg(r.status == 1, "unbind: exit %d: %s", r.status, r.err);
	ck_assert_str_eq(driver_of(&s, "0000:01:00.0"), "");
	ck_assert_str_eq(override_of(&s, "0000:01:00.0"), "(null)");
	ck_assert(record_exists(&s));
	tu_run_free(&r);
	sim_free(&s);
}
END_TEST

/* A VM that is not there (a mistyped name): bind fails on it, unbind finds
 * nothing to undo, and neither makes anything, not even the VM's lock
 * file in the runtime dir (it was made before the runner was read). */
START_TEST(unknown_vm_makes_nothing)
{
	struct sim s;
	struct tu_run r;
	two_devices(&s);
	ck_assert_int_eq(mkdir(s.vm.runtime, 0755), 0);
	struct sim ghost = s;
	ghost.vm.name = "vm9";
	static const char *const verbs[] = { "bind", "unbind" };
	for (size_t i = 0; i < ARRAY_SIZE(verbs); i++) {
		pci_run(&ghost, &r, verbs[i], NULL);
		ck_assert_msg(r.status == (i == 0 ? 1 : 0), "%s: exit %d: %s", verbs[i], r.status,
			      r.err);
		ck_assert_msg(i > 0 || (strstr(r.err, "unable to find VM 'vm9': no directory '") &&
					strstr(r.err, "/state/vm9'\n")),
			      "%s: %s", verbs[i], r.err);
		char names[256];
		tu_list_dir(s.vm.runtime, names, sizeof(names));
		ck_assert_msg(!names[0], "%s left in the runtime dir: %s", verbs[i], names);
		tu_run_free(&r);
	}
	char *log = sim_log(&s);
	ck_assert_str_eq(log, "");
	free(log);
	sim_free(&s);
}
END_TEST

Suite *pci_suite(void)
{
	Suite *s = suite_create("pci");
	TCase *tc = tu_tcase_create("sim");
	tcase_set_timeout(tc, 30);
	tu_add_test_if(tc, bind_unbind_restores_both, tu_need_root());
	tu_add_test_if(tc, already_bound_no_writes, tu_need_root());
	tu_add_test_if(tc, group_not_viable_refused, tu_need_root());
	tu_add_test_if(tc, group_not_viable_many_named, tu_need_root());
	tu_add_loop_test_if(tc, group_member_that_does_no_dma_is_viable, 0, ARRAY_SIZE(parked_drv),
			    tu_need_root());
	tu_add_test_if(tc, bind_group_binds_and_restores, tu_need_root());
	tu_add_test_if(tc, group_member_of_another_bus_skipped, tu_need_root());
	tu_add_test_if(tc, group_member_of_another_bus_on_a_driver_refused, tu_need_root());
	tu_add_test_if(tc, group_member_misnamed_on_the_pci_bus_refused, tu_need_root());
	tu_add_test_if(tc, refused_bind_rolls_back, tu_need_root());
	tu_add_test_if(tc, unbind_error_rolls_back, tu_need_root());
	tu_add_test_if(tc, rollback_failure_keeps_record, tu_need_root());
	tu_add_test_if(tc, failures_once_in_order, tu_need_root());
	tu_add_test_if(tc, bad_address_nothing_written, tu_need_root());
	tu_add_test_if(tc, record_not_durable_nothing_changed, tu_need_root());
	tu_add_test_if(tc, no_iommu_group, tu_need_root());
	tu_add_test_if(tc, group_not_a_number_refused, tu_need_root());
	tu_add_test_if(tc, missing_device, tu_need_root());
	tu_add_test_if(tc, vfio_node_owner_mode, tu_need_root());
	tu_add_test_if(tc, vfio_node_acl_taken_back, tu_need_root());
	tu_add_test_if(tc, vfio_node_of_the_vm_user_taken_back, tu_need_root());
	tu_add_test_if(tc, record_of_version_2_node_taken_back, tu_need_root());
	tu_add_test_if(tc, dry_run_prints_writes, tu_need_root());
	tu_add_test_if(tc, bind_group_dry_run_says_would, tu_need_root());
	tu_add_test_if(tc, dry_run_lines_are_escaped, tu_need_root());
	tu_add_test_if(tc, dry_run_unbind_changes_nothing, tu_need_root());
	tu_add_test_if(tc, driver_names_in_reasons_escaped, tu_need_root());
	tu_add_test_if(tc, written_value_in_a_failed_write_escaped, tu_need_root());
	tu_add_test_if(tc, bind_twice_keeps_record, tu_need_root());
	tu_add_test_if(tc, failed_second_bind_keeps_the_first, tu_need_root());
	tu_add_test_if(tc, unbound_device_stays_unbound, tu_need_root());
	tu_add_test_if(tc, unbind_partial_keeps_record, tu_need_root());
	tu_add_test_if(tc, unbind_of_a_device_that_is_gone, tu_need_root());
	tu_add_test_if(tc, unbind_back_to_the_driver_it_had, tu_need_root());
	tu_add_test_if(tc, driver_override_kept, tu_need_root());
	tu_add_test_if(tc, override_kept_without_a_probe, tu_need_root());
	tu_add_test_if(tc, give_back_of_a_device_back_already_writes_its_override, tu_need_root());
	tu_add_test_if(tc, driver_override_not_a_name_refused, tu_need_root());
	tu_add_test_if(tc, unknown_vm_makes_nothing, tu_need_root());
	tcase_add_test(tc, bad_name_one_error_line);
	suite_add_tcase(s, tc);
	TCase *km = tu_tcase_create("kmod");
	tcase_set_timeout(km, 30);
	tu_add_test_if(km, kmod_loads_vfio_pci, tu_need_root());
	tu_add_test_if(km, kmod_dry_run_loads_nothing, tu_need_root());
	tu_add_test_if(km, kmod_long_message_whole, tu_need_root());
	tu_add_test_if(km, kmod_builtin, tu_need_root());
	tu_add_test_if(km, kmod_missing, tu_need_root());
	tu_add_test_if(km, kmod_reasons_name_paths_escaped, tu_need_root());
	tu_add_test_if(km, kmod_blacklisted, tu_need_root());
	tu_add_test_if(km, kmod_dry_run_checks_the_module, tu_need_root());
	tu_add_test_if(km, kmod_missing_modprobe_config_refused, tu_need_root());
	tu_add_test_if(km, kmod_load_fails, tu_need_root());
	tu_add_test_if(km, kmod_install_command_not_run, tu_need_root());
	tu_add_test_if(km, kmod_without_cap_sys_module, tu_need_root());
	suite_add_tcase(s, km);
	pci_attack_cases(s);
	return s;
}
