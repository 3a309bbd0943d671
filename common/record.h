/* SPDX-License-Identifier: MIT */
/* The runtime records of DESIGN.md section 4: what a root helper did (or
 * is about to do), so that its stop action undoes exactly that, whatever
 * `current` and `booted` point at by then, and even after a kill. One
 * text file per helper kind, at RUNTIME_DIR/VM/KIND ("tap", "macvtap",
 * "pci"), written atomically. The callers hold the VM's lock (lock.h):
 * the temporary file of a write has a fixed name, RUNTIME_DIR/VM/KIND.tmp.
 *
 * The parsers work on a buffer, so they can be tested and fuzzed without
 * files (tests/fuzz/fuzz_records.c). Each returns 0, -ENOMEM, or -EINVAL
 * with e->line, e->value and e->reason set (e->path is the caller's: the
 * *_load() functions fill it). Outputs are filled only on success. */
#pragma once

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* The largest record read back: thousands of entries. */
#define RECORD_MAX (1024 * 1024)

/* RUNTIME/VM/KIND as a new string in *out (the VM name checked). */
int record_path(const char *runtime_dir, const char *vm, const char *kind, char **out,
		struct mvm_error *e);
/* Write text (NUL-terminated) atomically: RUNTIME/VM made, mode
 * RUNTIME_DIR_MODE (0711), if missing (and refused if a symlink), KIND.tmp
 * written, fsync'ed and renamed over KIND. 0 or -errno. */
int record_write(const char *runtime_dir, const char *vm, const char *kind, const char *text,
		 struct mvm_error *e);
/* Read it back (NUL-terminated; the loaders below also take its length,
 * for a NUL byte in it); -ENOENT when there is none (nothing to undo). It is
 * opened without blocking and without following a symlink, and refused
 * (-EINVAL, "not a regular file") unless it is a regular file of at most
 * RECORD_MAX bytes (-EFBIG). */
int record_read(const char *runtime_dir, const char *vm, const char *kind, char **text,
		struct mvm_error *e);
/* Remove it and its temporary file (missing ones are fine), and RUNTIME/VM
 * when then empty. */
int record_remove(const char *runtime_dir, const char *vm, const char *kind, struct mvm_error *e);
/* Call fn(OTHER, arg) for each other VM that may have records: an entry of
 * RUNTIME that is a directory of root's, unwritable by group and others,
 * named as a VM is, and not self (the VMs' lock files, a symlink hold no
 * record: root alone writes them). Stops at the first non-zero return of
 * fn, and returns it; 0 when there is no RUNTIME; -errno with e set when
 * it cannot be listed. */
int record_each_other_vm(const char *runtime_dir, const char *self,
			 int (*fn)(const char *other, void *arg), void *arg, struct mvm_error *e);

/* ---- tap-setup: RUNTIME/VM/tap and RUNTIME/VM/macvtap ----------------------
 *
 *   # tap-setup record 2
 *   group G                 the VM's link group
 *   IFNAME IFINDEX [NODE]   an interface made, and the /dev/tapN node
 *                           tap-setup made for it (or is about to make)
 *   IFNAME pending          an interface about to be made, in group G
 *
 * A record without the first line is of version 1 (tap-setup 0.1.0): an
 * optional "group G" line anywhere and "IFNAME IFINDEX [NODE]" lines.
 * NODE is an absolute path ending in /tapN. */
struct tap_entry {
	char name[IFNAMSIZ];
	int ifindex; /* > 0: made with this index; 0: pending */
	char *node;  /* a device node made for it, or NULL */
};
struct tap_record {
	uint32_t group; /* 0: none recorded (version 1) */
	size_t n;
	struct tap_entry *v;
};
int tap_record_parse(const char *text, size_t len, struct tap_record *out, struct mvm_error *e);
/* The text of version 2 for r (malloc'ed); NULL on ENOMEM. */
char *tap_record_text(const struct tap_record *r);
/* Append an entry (node copied, may be NULL): 0 or -ENOMEM. */
int tap_record_add(struct tap_record *r, const char *name, int ifindex, const char *node);
void tap_record_free(struct tap_record *r);
/* record_read() and tap_record_parse() of all that was read (a NUL byte
 * in it is an error on its line), e->path the record's path. An empty
 * record (n == 0, group 0) when there is none. */
int tap_record_load(const char *runtime_dir, const char *vm, const char *kind,
		    struct tap_record *out, struct mvm_error *e);

/* ---- pci-bind: RUNTIME/VM/pci ------------------------------------------------
 *
 *   # pci-bind record 3                     (the first line that is not blank)
 *   # comment lines
 *   ADDRESS PREVIOUS-DRIVER listed|group PREVIOUS-OVERRIDE
 *   ADDRESS ? listed|group ?
 *   node GROUP UID GID MODE
 *
 * PREVIOUS-DRIVER and PREVIOUS-OVERRIDE (the device's driver_override
 * before bind) are "-" for none; both are "?" for a device claimed and
 * not yet read again (version 3): what it had is not known, and bind has
 * changed nothing of it. A node line is DEVFS/vfio/GROUP as it is
 * to be put back (MODE in octal), written before bind first changes it:
 * a group without one is a node that bind never changed. A record of
 * version 2 ("# pci-bind record 2") has no node lines; one without a
 * header is of version 1 (before the override was kept): "ADDRESS
 * PREVIOUS-DRIVER listed|group" lines, loaded with no override. A device
 * or a group named twice counts once (its first line). */
#define PCI_DRIVER_MAX 64
#define PCI_RECORD_VERSION 3
struct pci_entry {
	char addr[13];		       /* canonical "0000:01:00.0" */
	char prev[PCI_DRIVER_MAX];     /* "" for none */
	bool by_group;		       /* bound because it shares an IOMMU group */
	char override[PCI_DRIVER_MAX]; /* driver_override before bind, "" for none */
	bool claimed;		       /* "?": prev and override not known yet ("") */
};
struct pci_node {
	char group[16]; /* decimal, as in /sys/kernel/iommu_groups */
	uint32_t uid, gid;
	uint32_t mode; /* permission bits, at most 07777 */
};
/* Is s an IOMMU group's name as the kernel gives it (a decimal number,
 * no leading zero) that fits a pci_node? */
bool pci_group_ok(const char *s);
struct pci_record {
	int version; /* of the text parsed: 1, 2 or 3 */
	size_t n;
	struct pci_entry *v;
	size_t nn;
	struct pci_node *nodes;
};
int pci_record_parse(const char *text, size_t len, struct pci_record *out, struct mvm_error *e);
/* The text of version 3 for r (malloc'ed); NULL on ENOMEM. */
char *pci_record_text(const struct pci_record *r);
void pci_record_free(struct pci_record *r);
int pci_record_load(const char *runtime_dir, const char *vm, struct pci_record *out,
		    struct mvm_error *e);
