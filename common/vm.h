/* SPDX-License-Identifier: MIT */
/* A VM's directory under the state dir and the runner package behind its
 * `current` (or `booted`) link, read under the trust rule of DESIGN.md
 * section 3: the runner and every file read from it must be owned by root
 * and not writable by group or others along the whole resolved path (a
 * root-owned sticky directory is accepted), and the runner lie below a runner root
 * ($MICROVM_RUNNER_ROOTS, default DEFAULT_RUNNER_ROOTS), unless
 * allow_untrusted. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "layout.h"

/* Where runners may lie: written through the Nix daemon alone. */
#define DEFAULT_RUNNER_ROOTS "/nix/store"
/* Where root names a VM's runner, as a link PINS/NAME, out of the VM
 * user's and the guests' reach ($MICROVM_RUNNER_PINS). */
#define DEFAULT_RUNNER_PINS "/etc/microvm/runners"

enum vm_link {
	VM_CURRENT,
	VM_BOOTED,
	/* `booted` as root may act on it (runner-exec stop run as root):
	 * only a link root made, by the rule of a `current` without a pin.
	 * `booted` is the VM user's (runner-exec start makes it as that
	 * user), so what it names is that user's choice. */
	VM_BOOTED_BY_ROOT,
};
const char *vm_link_name(enum vm_link l);

struct vm {
	char *name;
	char *dir;    /* STATE_DIR/NAME, absolute */
	/* That directory (O_PATH), opened once in the state dir, no FUSE
	 * mount asked anything (vm_dir()): what the VM's directory is used
	 * by after vm_open() (the state dir is the VM user's too, who could
	 * rename another directory to NAME since). dir_link: reached through
	 * a link STATE_DIR/NAME (only with root's pin, or allow_untrusted). */
	int dfd;
	bool dir_link;
	char *link;   /* STATE_DIR/NAME/current (or booted), or root's pin */
	char *runner; /* what it resolves to */
	bool allow_untrusted;
};

/* Validate name (one path component, at most VM_NAME_MAX bytes), resolve
 * the link and trust-check the runner (unless allow_untrusted). For
 * VM_CURRENT the runner is root's pin PINS/NAME when there is one (then
 * vm->link is the pin; a dangling one is -ENOLINK), else what `current`
 * names, a link root owns. -ENOENT (e filled) when the state dir, the
 * VM's directory or `current` is missing, or `current` dangles. The
 * callers: what acts on the runner `current` names (tap-setup up,
 * pci-bind bind, virtiofs-launch, runner-exec start), for which that is
 * an error; runner-exec register and unregister on `current` and stop on
 * `booted` (VM_BOOTED_BY_ROOT when it runs as root), for which -ENOENT is
 * nothing to do; runner-exec status on both links, trusting any (it acts on
 * nothing). tap-setup down and pci-bind unbind do not call it: they undo
 * what their records name, whatever the links point at. */
int vm_open(struct vm *vm, const char *state_dir, const char *name, enum vm_link which,
	    bool allow_untrusted, struct mvm_error *e);
void vm_close(struct vm *vm);

/* What vm_scan_open() of many VMs of one state dir takes once for all:
 * the state dir, resolved and opened; whether root's pins' directory is
 * there, resolved; and the directories their runners lie in (as written:
 * /nix/store, the pins' directory), each resolved and checked by the rule
 * of a runner's way once. For a walk over every VM, at one moment (a
 * virtiofs-launch start or reload): not kept. Zeroed is empty. */
struct vm_rooted_dir {
	char *written; /* NULL: unused */
	char *res;
	int fd;
};
struct vm_scan {
	const char *state_dir;
	int sd; /* (sd, state: state_dir resolved, set when state is) */
	char *state;
	int pins; /* 0: not looked at yet; 1: pins_dir; -1: none */
	char *pins_dir;
	struct vm_rooted_dir dirs[4];
	unsigned next;
};
/* vm_open(vm, scan->state_dir, name, VM_CURRENT, false, e), with what
 * scan took before (the first call takes it): the same checks, each of a
 * directory shared by the VMs made once. */
int vm_scan_open(struct vm_scan *scan, struct vm *vm, const char *name, struct mvm_error *e);
/* Is STATE/NAME of scan the root of a FUSE mount (not virtiofs), as its
 * VM user can make one (with allow_other where /etc/fuse.conf lets it),
 * whose daemon could keep root waiting on any question? Asked of no FUSE
 * daemon (statx() with AT_STATX_DONT_SYNC; the mount's type from this
 * process's mount table, read only when NAME is a mount point). 1, 0
 * (also when the state dir cannot be opened: vm_scan_open() says why),
 * or -errno. */
int vm_scan_dir_on_fuse(struct vm_scan *scan, const char *name);
void vm_scan_free(struct vm_scan *scan);
/* Every directory in the state dir but a dot one, sorted: the VMs (names
 * malloc'ed, as the array; -errno). Not checked as VM names. A FUSE
 * mount in the state dir is listed unasked (vm_dir() refuses it). */
int vm_list(const char *state_dir, char ***names, size_t *n);
/* The VM's directory STATE_DIR/NAME (name checked by the caller) as
 * vm_open() opens it, its descriptor (O_PATH, close-on-exec): the state
 * dir resolved and the directory opened in it with nothing looked up on
 * a FUSE mount (not virtiofs) or asked of one (each step's mount ID,
 * statx() with AT_STATX_DONT_SYNC, before anything else: a VM user can
 * mount one, with allow_other where /etc/fuse.conf lets it, whose daemon
 * could keep root waiting on any question). A link in its place is
 * followed so (*link true) when link_ok, else refused, naming its target.
 * -ENOENT (e filled, "no directory") when there is none, -EPERM when on
 * FUSE, -errno. */
int vm_dir(const char *state_dir, const char *name, bool link_ok, bool *link,
	   struct mvm_error *e);
/* Is fd (found in directory pfd; name "" or its name in fd) the root of
 * a FUSE mount (not virtiofs) other than pfd's? Asked of no FUSE daemon
 * (mount IDs from statx() with AT_STATX_DONT_SYNC; the mount table read
 * only for a mount point). 1, 0, or -errno (-ENOSYS: no mount IDs). */
int mount_point_on_fuse(int pfd, int fd, const char *name);
/* Is the mount of that ID (statx()'s stx_mnt_id) a FUSE mount (not
 * virtiofs)? Its type from the mount table: 1, 0, or -errno (-ENOENT:
 * gone). */
int mount_is_fuse(uint64_t id);

/* Only the name check of vm_open(). */
int vm_name_check(const char *name, struct mvm_error *e);

/* Trust check of one resolved absolute path, and of every directory
 * above it: -EPERM with e naming the offending path. */
int trust_check(const char *path, struct mvm_error *e);

/* Is the file fd (path when fd < 0) on FUSE, whose owners are whatever
 * its daemon says? A user's own, mounted with allow_other where
 * /etc/fuse.conf has user_allow_other, can show every file as root's: so
 * nothing on one is root's, whatever stat says. virtiofs has FUSE's magic
 * number but is no user's: only root in the initial user namespace mounts
 * it (a user's FUSE, through fusermount or in a user namespace, has the
 * type "fuse", "fuse.SUBTYPE" or "fuseblk"), and its owners are those of
 * the host that serves it. So on that magic number the file's mount is
 * looked up by its ID in /proc/self/mountinfo: 0 when its type is exactly
 * "virtiofs"; 1 for any other type, and when it cannot be told (fail
 * closed). 1, 0, or -errno. */
int on_fuse(const char *path, int fd);

/* The file system type of the mount whose ID is id, from text (len bytes,
 * need not be NUL-terminated) in the form of /proc/self/mountinfo
 * (proc(5): ID PARENT MAJ:MIN ROOT MOUNT-POINT OPTIONS [OPTIONAL...] -
 * TYPE SOURCE SUPER-OPTIONS), into type (size bytes, NUL-terminated; as
 * the kernel prints it, escaped): 1; 0 when no line has that ID; -EINVAL
 * when the text is not what the kernel prints (a line without a numeric
 * ID, without the "-" separator after six fields, or with nothing after
 * the type; an empty type; a blank line; a NUL byte; the ID on two lines);
 * -ENAMETOOLONG when the type does not fit. type is set only on 1. */
int mountinfo_fstype(const char *text, size_t len, unsigned long long id, char *type,
		     size_t size);

/* Read RUNNER/rel (at most LAYOUT_FILE_MAX bytes), trust-checked.
 * -ENOENT when it does not exist (an optional file: nothing to do); a
 * dangling symlink (-ENOLINK), a directory, an unreadable or too large
 * file are errors. */
int vm_read(const struct vm *vm, const char *rel, char **buf, size_t *len, struct mvm_error *e);

/* Read and parse the layout files; a missing file gives an empty list. */
int vm_tap_interfaces(const struct vm *vm, struct ifname_list *out, struct mvm_error *e);
int vm_tap_flags(const struct vm *vm, unsigned *flags, struct mvm_error *e);
int vm_macvtap_interfaces(const struct vm *vm, struct macvtap_list *out, struct mvm_error *e);
int vm_pci_devices(const struct vm *vm, struct pci_list *out, struct mvm_error *e);

struct share {
	char *tag;
	char *source; /* absolute */
	char *source_written; /* source as its file has it, on line source_line */
	unsigned source_line;
	char *socket; /* absolute */
	char *conf;   /* the resolved TAG directory in the runner, for messages */
	struct share_settings set; /* the optional setting files */
};
struct share_list {
	size_t n;
	struct share *v; /* sorted by tag */
};
/* share/microvm/virtiofs/TAG/{source,socket} for every TAG, and the
 * optional setting files beside them (layout.h); any other file there is
 * an error naming it. */
int vm_shares(const struct vm *vm, struct share_list *out, struct mvm_error *e);
/* Are absolute paths a and b one path, step by step as written ("" and
 * "." skipped, ".." back one)? How two shares of one runner are found to
 * name one socket (refused), and how a reload finds a daemon in the way. */
bool path_same_as_written(const char *a, const char *b);
/* The absolute path in that form, into out (PATH_MAX): no "", "." or ".."
 * step, a ".." at / staying there, as the kernel takes it where no step
 * is a link or a mount ("" for /). 0, or -ENAMETOOLONG. */
int path_lexical(const char *path, char *out);
/* a and b the same text, or the same once "" and "." steps are dropped,
 * neither with a ".." step nor ending in "/" or "/.": how a reload finds
 * a socket to keep or hand over (by its path, which must then lead to it
 * as the launcher walks it). */
bool path_same_plain(const char *a, const char *b);
void share_free(struct share *s);
void share_list_free(struct share_list *l);

/* RUNNER/rel as an executable file (bin/microvm-run): its path in *out;
 * -ENOENT when missing, -EACCES when not executable, trust-checked. */
int vm_executable(const struct vm *vm, const char *rel, char **out, struct mvm_error *e);

/* Target of RUNNER/share/microvm/system; -ENOENT when there is none. */
int vm_system(const struct vm *vm, char **out, struct mvm_error *e);
