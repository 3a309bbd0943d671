/* SPDX-License-Identifier: MIT */
/* virtiofs-launch: what its files share. One process, one global state.
 *
 *   virtiofs-launch.c  command line, set-up, dry run, main()
 *   path.c             opening a path one component at a time (the walk)
 *   pin.c              the launcher's mount namespace, sources pinned in it
 *   sock.c             the shares' sockets, owned by the launcher
 *   daemon.c           virtiofsd's dialects: detection, settings, argv
 *   supervise.c        the daemons' life: start, restart, reload, stop */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

#include "cli.h"
#include "error.h"
#include "vm.h"

enum dialect {
	DIALECT_AUTO,
	DIALECT_RUST, /* virtiofsd 1.x (Rust; NixOS, Debian 13) */
	DIALECT_C,    /* QEMU's tools/virtiofsd (Debian 12) */
};

struct settings {
	const char *virtiofsd;
	enum dialect dialect;
	long threads, rlimit; /* -1: not given */
	const char **extra;
	size_t n_extra;
	long long timeout, min_uptime, restart_delay, grace; /* ms */
	unsigned long max_failures;
};

/* A share's socket, bound and listening by the launcher itself. */
struct listener {
	int fd;	     /* listening; -1: none */
	int dir;     /* its directory, O_PATH; -1: none */
	dev_t dev;   /* the socket file it made */
	ino_t ino;
};

enum state {
	ST_WAIT,     /* to be started at start_at */
	ST_UP,	     /* its daemon runs (the socket listens all along) */
	ST_IDLE,     /* its client left: started again when one connects */
	ST_STOPPING, /* SIGTERM sent; SIGKILL at kill_at */
	ST_DOWN,     /* stopped for good (the launcher is stopping) */
};

struct child {
	struct share sh; /* tag, source, socket, settings (owned) */
	struct listener sock;
	enum state st;
	pid_t pid;	     /* 0: not running */
	int out;	     /* read end of its stdout and stderr, -1: none */
	int exec_fd;	     /* says whether its exec worked (spawn_nowait), -1: none */
	bool prepared;	     /* source pinned, socket listening: to be started */
	bool removed;	     /* dropped by a reload: forgotten once it exited */
	bool kept;	     /* (reload()) the new runner has it as it is */
	bool killed;	     /* SIGKILL sent */
	bool held;	     /* waits for a removed share's daemon, not yet killed */
	bool late;	     /* a reload's, once the launcher was ready: given up alone */
	bool dropped;	     /* given up alone: forgotten by the loop (forget_dropped()) */
	bool src_known;	     /* (writable) the source its last walk opened: src_dev, src_ino */
	dev_t src_dev;
	ino_t src_ino;
	unsigned failures;   /* quick failures in a row */
	long long started;   /* its last start */
	long long down_since;/* since when it has had no daemon but quick failures
			      * (or was released: held) */
	long long start_at, kill_at;
	long long term_at, term_gap; /* stopping: SIGTERM again then, the gap doubling */
	size_t llen;
	char line[256]; /* a partial line of its output */
};

/* Directories walks made (WALK_CREATE), for a run that fails to undo:
 * each named by its parent's descriptor and its name, with its identity. */
struct made_dir {
	int parent; /* O_PATH */
	dev_t dev;
	ino_t ino;
	char name[NAME_MAX + 1];
};
struct made_dirs {
	struct made_dir *v;
	size_t n;
};

struct launcher {
	struct cli c;
	struct settings set;
	const char *name;
	struct vm vm;
	char *virtiofsd;
	enum dialect dialect;
	gid_t gid;	 /* the sockets' group */
	dev_t state_dev; /* the state dir, as the walk found it */
	ino_t state_ino;
	int state_fd;	 /* it, O_PATH; -1: not opened yet */
	char *runtime;	 /* the runtime dir, absolute */
	int rt_fd;	 /* the tmpfs on it, in our mount namespace; -1: none yet */
	int host_rt;	 /* the host's runtime dir itself (under the tmpfs once
			  * pin_setup() mounted it), O_PATH, walked root's all the
			  * way: where the records of served.c are; -1: none yet */
	int host_ns;	 /* the mount namespace it was started in (the host's),
			  * where what it made is removed; -1: not opened yet */
	int root_fd;	 /* "/" and the working directory, to come back from chroot */
	int cwd_fd;
	int sfd;	 /* signalfd */
	struct child **v;
	size_t n;
	bool stopping, fatal, ready_pending;
	bool was_ready; /* the first READY=1 went out */
	long long stop_by; /* stopping: wait for the daemons' own children until then */
	size_t status_up, status_total; /* what STATUS= said last */
	bool status_sent;
	struct made_dirs *made; /* where walk_dir() notes what it makes; NULL: nowhere */
	/* The sources of the writable shares, by identity (writable_note()):
	 * a walk that reaches one, by whatever name, follows no link and no
	 * '..' below it (its guest's root makes them as host uid 0). */
	struct dir_id {
		dev_t dev;
		ino_t ino;
	} *writable;
	size_t n_writable;
	/* The directories above the state dir, and those its walk passed
	 * through (state_dir_note()): a writable share of one is refused. */
	struct dir_id *above;
	size_t n_above;
	/* The directories made for the start until its first READY=1 (the
	 * runtime dir, the shares'): removed again, when still empty, if the
	 * start gives up (end_start()). */
	struct made_dirs start_made;
};
extern struct launcher L;

/* ---- path.c ---- */
enum {
	WALK_CREATE = 1u << 0, /* make missing directories (root's, 0755; noted in
				  L.made when set) */
	WALK_ROOTS = 1u << 1,  /* every directory on the way must be root's and
				  unwritable by others (sticky ones are fine);
				  those made are RUNTIME_DIR_MODE, 0711 */
	WALK_AS_MADE = 1u << 2, /* (without WALK_CREATE) a missing directory is
				   walked as WALK_CREATE would make it: empty,
				   so the walk goes on from its parent where a
				   '..' step leaves it (ROOT/new/../data is
				   ROOT/data); -ENOENT if the path ends below it */
};
/* The directory at path (absolute) as an O_PATH descriptor, walked from /
 * one component at a time (see path.c for which symlinks are followed).
 * Without WALK_CREATE a missing component gives -ENOENT, e untouched;
 * other failures -errno with e filled: verb, the whole path, the reason. */
int walk_dir(const char *path, unsigned flags, const char *verb, struct mvm_error *e);
/* Remove the directories in m that are still empty and still the ones
 * made, deepest (latest) first, each relative to its parent's descriptor,
 * in the host's mount namespace (L.host_ns: a mount point there stays);
 * then forget them. */
void made_dirs_undo(struct made_dirs *m);
/* Forget them (kept). */
void made_dirs_forget(struct made_dirs *m);
/* Note the directory name in parent, just made, whose descriptor is fd,
 * in L.made (when set; not noted for want of memory: left, as before). */
void made_dirs_note(int parent, const char *name, int fd);
/* Those of from appended to to (undone with them, or forgotten), from
 * emptied. */
void made_dirs_move(struct made_dirs *to, struct made_dirs *from);
/* Note the identity of each writable share's source of l that is there
 * now (walked without making anything, as the start would walk it:
 * WALK_AS_MADE; one that cannot be walked is the share's own error
 * later), for walk_dir(); and of the directory fd, the source of a
 * writable share just walked to (fd < 0: none). Kept until the launcher
 * stops: what a guest made there stays. 0, or -errno with e filled (no
 * memory: a walk that knows not all of them is refused). */
int writable_note(const struct share_list *l, int fd, struct mvm_error *e);
/* Is the identity dev, ino one of v (n of them)? */
bool dir_id_in(const struct dir_id *v, size_t n, dev_t dev, ino_t ino);
/* The identity dev, ino noted as a writable source's (once): 0, or
 * -ENOMEM. */
int writable_add(dev_t dev, ino_t ino);
/* writable_note() of the shares of every other VM in the state dir, each
 * read as this VM's (its pin, else a `current` of root's): an
 * administrator may nest a share of this VM in another's writable one, a
 * nesting this VM's runner does not show. A VM whose runner cannot be
 * read so is passed over: silently when it has none, else with a
 * warning naming it. Then what the other running launchers serve
 * writable, by their records (served_note_others()), which their VMs'
 * runners may no longer say. 0, or -errno with e filled (no memory, the
 * state dir unreadable, the runtime dir refused). */
int others_note(struct mvm_error *e);
/* The state dir (absolute) walked as the shares' paths will be: its
 * identity into L.state_dev and L.state_ino, and into L.above each
 * directory the walk stood in on the way and each of its parents. 0, or
 * -errno with e filled. */
int state_dir_note(const char *abs, struct mvm_error *e);
/* Refuse a writable share of l whose source is the state dir, a directory
 * in it (a VM's, or one the start would make there) or a directory of
 * L.above, each by identity, whatever the path's spelling: the guest's
 * root would make links of host uid 0 there, a VM's `current` among them.
 * The error names the share's source file, its line and the value. A
 * source that cannot be walked is passed over (the share's own walk
 * fails later); the walk here takes no writable source for one (only
 * compared, where it leads is not used). 0, or -errno with e filled. */
int vm_dirs_refuse(const struct share_list *l, struct mvm_error *e);
/* The directory part of path ("/" for "/x"), in buf; returns the base. */
const char *path_split(const char *path, char *buf, size_t size);

/* ---- pin.c ---- */
/* A mount namespace of the launcher's own (nothing propagates to the
 * host), a tmpfs on the runtime dir in it (made if missing, root's). */
int pin_setup(struct mvm_error *e);
/* RUNTIME/NAME/virtiofs/TAG, what the daemon of tag serves (malloc'ed). */
char *pin_path(const char *tag);
/* Mount the directory src (a descriptor) on pin_path(tag), read-only if
 * asked, replacing what was there: 0 or -errno with e filled. */
int pin_source(const char *tag, int src, bool read_only, struct mvm_error *e);
/* Unmount pin_path(tag). */
void pin_drop(const char *tag);
/* Take the tmpfs (and all on it) off the runtime dir, which is then the
 * host's directory again, as pin_setup() found or made it. */
void pin_teardown(void);
/* Call fn(arg) with the root directory changed so that the absolute path
 * abs_dir is the directory dir (a descriptor): a path string names it
 * exactly, with no symlink or rename of anyone's on the way (the tmpfs's
 * directories lead there, to a mount of dir, kept for the next call).
 * Returns what fn returned, or -errno with e filled. */
int pin_chroot_call(int dir, const char *abs_dir, int (*fn)(void *), void *arg,
		    struct mvm_error *e);

/* ---- served.c ---- */
/* The record RUNTIME/NAME/virtiofs-writable made to say the writable
 * sources of the shares in L.v (their last walk's: src_known), written
 * anew only when that set changed, removed when it is empty: 0, or
 * -errno with e filled (the record then as it was). */
int served_publish(struct mvm_error *e);
/* May ch's daemon be started: is its source, when writable, in the
 * record? */
bool served_may_start(const struct child *ch);
/* The record removed (the launcher stops, no daemon left); a failure is
 * one warning. */
void served_remove(void);
void served_free(void);
/* The records of the other VMs' launchers in the runtime dir (L.host_rt;
 * walked to root's all the way first when not open yet, a missing one
 * holding none): each source noted (writable_add()). A record that
 * cannot be read, or a line of one, is passed over with a warning naming
 * the file, its line and the value, once. 0, or -errno with e filled (no
 * memory, the runtime dir refused or unreadable). */
int served_note_others(struct mvm_error *e);
/* served_note_others() before a round of daemon starts: taken as read
 * when others_note() read them just before (the start, a reload). */
int served_note_others_round(struct mvm_error *e);

/* ---- sock.c ---- */
#define LISTENER_INIT {.fd = -1, .dir = -1}
/* The socket at path (absolute): its directory opened by walk_dir (made
 * if missing), a stale socket there removed if nobody listens on it,
 * bound with owner root, group L.gid and mode 0660 from the start, and
 * listening. With dry_run only say what would be done. verb names the
 * share in messages. */
int sock_open(struct listener *l, const char *path, bool dry_run, const char *verb,
	      struct mvm_error *e);
/* The socket at path's directory walked to as sock_open() does (made if
 * missing), nothing bound: for a socket that is made later. */
int sock_dir(const char *path, const char *verb, struct mvm_error *e);
/* Close it and remove its file, if that is still the one it made. */
void sock_close(struct listener *l, const char *path);
/* --group: a number, or a name looked up in /etc/group. */
int group_lookup(const char *name, gid_t *gid, struct mvm_error *e);

/* ---- daemon.c ---- */
/* Which command line L.virtiofsd takes, from its --help. */
int detect_dialect(struct mvm_error *e);
/* Can the dialect honour every setting of the share? */
int check_share(const struct share *sh, struct mvm_error *e);
/* The daemon's argv: it serves pin, listens on fd 3. NULL on ENOMEM. */
char **make_argv(const struct share *sh, const char *pin);
void argv_free(char **argv);
/* argv quoted as a shell would need it, whole (malloc'ed; NULL on
 * ENOMEM), for --dry-run and messages: an argument that is not plain in
 * $'...', escaped as a value in a line is (escape_text()). */
char *argv_str(char *const *argv);
extern const char *const no_notify[];

/* ---- supervise.c ---- */
struct child *child_add(struct share *sh, long long now);
void child_free(struct child *ch);
/* The loop: 0 when stopped by a signal; -errno with e filled when it
 * cannot go on, or after giving up on a share (e then is that share's
 * failure, logged when the loop gave up: error.h's loop case). The
 * sockets are closed and removed when it returns. */
int run(struct mvm_error *e);
int setup_events(struct mvm_error *e);
/* The verb of a share's messages ("use share 'TAG' source"). */
const char *share_verb(const struct share *sh, const char *what);
