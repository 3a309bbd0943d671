/* SPDX-License-Identifier: MIT */
/* Helpers of the pci suite (tests/unit/pci.c, pci-attack.c): pci-bind
 * runs with tests/shims/pcisim.so preloaded and --sysfs, --devfs pointing
 * into a temp dir; tests/helpers/pci-sim builds the simulated tree. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "testutil.h"

#define UID "990"
#define GID "78"

struct sim {
	struct tu_vm vm;
	char *sys;  /* simulated sysfs root */
	char *dev;  /* simulated /dev */
	char *mods; /* fake /lib/modules tree (ROOT/mods), when made */
};

/* tests/helpers/pci-sim SYS ARGS... (must succeed). */
void sim_cmd(struct sim *s, const char *const args[]);
#define SIM(s, ...) sim_cmd((s), (const char *const[]){ __VA_ARGS__, NULL })
/* A VM vm1 and an empty simulated sysfs with DEV/vfio. */
void sim_make(struct sim *s);
void sim_free(struct sim *s);
/* The /dev/vfio/GROUP node the kernel makes, root-owned 0600. */
void vfio_node(struct sim *s, const char *group);
/* A device bound to drv (NULL: none) in IOMMU group (NULL: no IOMMU). */
void sim_device(struct sim *s, const char *addr, const char *drv, const char *group);
void pci_devices(struct sim *s, const char *content);
/* Driver the device is bound to now, "" for none (static buffer). */
const char *driver_of(struct sim *s, const char *addr);
/* The device's driver_override, "(null)" when none (static buffer). */
const char *override_of(struct sim *s, const char *addr);
/* What the shim logged (every sysfs write, module load), malloc'ed. */
char *sim_log(struct sim *s);
void sim_log_clear(struct sim *s);
bool record_exists(struct sim *s);
char *record_text(struct sim *s);
/* pci-bind [extra...] VERB NAME against the simulation, with env (extra
 * "K=V" entries, NULL-terminated, or NULL), preload (shims put before
 * pcisim.so in LD_PRELOAD, or NULL) and wrap (a command line that runs
 * it, e.g. timeout 10, or NULL). */
void pci_run_env(struct sim *s, struct tu_run *r, const char *verb, const char *const extra[],
		 const char *const env[], const char *preload, const char *const wrap[]);
void pci_run(struct sim *s, struct tu_run *r, const char *verb, const char *const extra[]);
#define EXTRA(...) ((const char *const[]){ __VA_ARGS__, NULL })
/* The usual start: two devices on their drivers, vfio-pci registered. */
void two_devices(struct sim *s);

/* An access ACL on p naming uid (rw), as its owner may set with setfacl:
 * 0, or errno (ENOTSUP: the file system has none). */
int set_acl_for(const char *p, uint32_t uid);
bool has_acl(const char *p);

/* The attack tests (pci-attack.c), added to the pci suite. */
void pci_attack_cases(Suite *s);
