/* SPDX-License-Identifier: MIT */
/* What the launchers serve writable, said to each other.
 *
 * A guest's root makes links of host uid 0 in its writable shares, so a
 * walk follows no link and no '..' below the source of any writable share
 * of any VM (path.c). Another VM's runner says which sources it shares
 * (others_note()), but what that VM's launcher serves can differ from
 * what its runner says now: a switch of its `current` or its pin restarts
 * no launcher (microvm.nix restarts no VM on a switch), nor does the stop
 * of its VM alone. So each launcher publishes the writable sources it
 * holds, in the host's runtime dir (root's all the way, as pin_setup()
 * walked it, and opened before its tmpfs covered it):
 *
 *   RUNTIME/NAME/virtiofs-writable    root's, 0600
 *     # virtiofs-launch record 1
 *     # MAJOR:MINOR INODE SOURCE
 *     8:1 1234567 /srv/data              one line a writable source
 *
 * the identity the walks compare, and the source as the runner wrote it
 * (for messages). A source is there from before its daemon starts (the
 * record is written before the daemons of a round are forked: timers())
 * until the launcher forgets the share: a share a reload dropped stays
 * until its daemon is gone. The record is written anew (a temporary file
 * renamed over it, relative to the directory's descriptor) when that set
 * changes, and removed when the launcher stops with no daemon left; one
 * left by a launcher that was killed stays until that VM's launcher starts
 * again, and only makes the others stricter. Every launcher reads the
 * others' records at its start, at each reload and before each round of
 * daemon starts (served_note_others()), its own VM's excepted. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "launch.h"
#include "log.h"
#include "util.h"

#define RECORD "virtiofs-writable"
#define RECORD_TMP RECORD ".tmp"
#define HEADER "# virtiofs-launch record 1"
#define COLUMNS "# MAJOR:MINOR INODE SOURCE"
/* (as the other helpers' records: thousands of lines) */
#define SERVED_RECORD_MAX (1024 * 1024)

/* What the record holds: pub_known false until it was written or removed
 * once (at the start, one that a killed launcher of this VM left may be
 * there). */
static struct dir_id *pub;
static size_t n_pub;
static bool pub_known;

/* The bad records of the others warned about, each once (a record that is
 * written anew is another file: a rename). */
static struct seen {
	dev_t dev;
	ino_t ino;
	struct timespec mtime;
	off_t size;
} *seen;
static size_t n_seen;

bool served_may_start(const struct child *ch)
{
	return ch->sh.set.read_only || !ch->src_known ||
	       (pub_known && dir_id_in(pub, n_pub, ch->src_dev, ch->src_ino));
}

/* RUNTIME/NAME/virtiofs-writable, for messages. */
static char *record_path(const char *name, const char *file)
{
	return xasprintf("%s/%s/%s", L.runtime, name, file);
}

static int record_error(struct mvm_error *e, int err, const char *verb, const char *file,
			const char *reason)
{
	_cleanup_free_ char *path = record_path(L.name, file);
	return mvm_error_set(e, err, verb, path ? path : file, reason);
}

/* RUNTIME/NAME, made if missing (RUNTIME_DIR_MODE, as the other helpers
 * make it; noted in L.made, so that a start that gives up takes it with
 * it): an O_PATH descriptor, or -errno with e filled. It must be a
 * directory of root's that only root can write. */
static int record_dir(struct mvm_error *e)
{
	/* (made first, whether there or not: each write makes the same calls,
	 * which tests/shims/failat.so counts) */
	bool made = mkdirat(L.host_rt, L.name, RUNTIME_DIR_MODE) == 0;
	if (!made && errno != EEXIST) {
		int err = errno;
		_cleanup_free_ char *dir = path_join(L.runtime, L.name);
		return mvm_error_set(e, err, "create", dir ? dir : L.name, NULL);
	}
	int fd = openat(L.host_rt, L.name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	if (fd >= 0 && made)
		made_dirs_note(L.host_rt, L.name, fd);
	if (fd >= 0 && fstat(fd, &st) == 0 && st.st_uid == 0 && !(st.st_mode & 022))
		return fd;
	int err = fd < 0 ? errno : EPERM;
	if (fd >= 0)
		close(fd);
	_cleanup_free_ char *dir = path_join(L.runtime, L.name);
	return mvm_error_set(e, err, "open", dir ? dir : L.name,
			     err == EPERM ? "not a directory of root's that only root can write"
			     : err == ENOTDIR || err == ELOOP ? "not a directory (a symlink is not "
								"followed)"
							      : NULL);
}

/* text written atomically to the record: 0, or -errno with e filled. */
static int record_write(const char *text, struct mvm_error *e)
{
	int r = 0;
	/* (tap-setup and pci-bind remove RUNTIME/NAME with their last record,
	 * under a lock of theirs: made again, once or twice, when it went
	 * between its making and the file's) */
	for (int tries = 0; tries < 3; tries++) {
		int dfd = record_dir(e);
		if (dfd < 0)
			return dfd;
		int fd = openat(dfd, RECORD_TMP,
				O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
		if (fd < 0) {
			r = -errno;
			close(dfd);
			if (r == -ENOENT)
				continue;
			return record_error(e, -r, "create", RECORD_TMP, NULL);
		}
		r = write_all(fd, text, strlen(text));
		if (r == 0 && fsync(fd) < 0)
			r = -errno;
		if (close(fd) < 0 && r == 0)
			r = -errno;
		if (r == 0 && renameat(dfd, RECORD_TMP, dfd, RECORD) < 0)
			r = -errno;
		if (r < 0)
			unlinkat(dfd, RECORD_TMP, 0);
		close(dfd);
		if (r != -ENOENT)
			break;
	}
	return r < 0 ? record_error(e, -r, "write", RECORD, NULL) : 0;
}

/* The record removed (a missing one is fine): 0, or -errno with e filled. */
static int record_remove(struct mvm_error *e)
{
	_cleanup_close_ int dfd = openat(L.host_rt, L.name, O_PATH | O_DIRECTORY | O_NOFOLLOW |
								    O_CLOEXEC);
	if (dfd < 0 && errno == ENOENT)
		return 0;
	if (dfd < 0 || (unlinkat(dfd, RECORD, 0) < 0 && errno != ENOENT))
		return record_error(e, errno, "remove", RECORD, NULL);
	return 0;
}

/* Is ch's source one of the record's? (Not a read-only share's, nor one
 * given up alone, nor one whose source was not walked to yet.) */
static bool writable_held(const struct child *ch)
{
	return !ch->sh.set.read_only && ch->src_known && !ch->dropped;
}

/* The text of the record for the sources of L.v: v (n of them), each
 * once, with the path of the first share that has it. NULL: no memory. */
static char *record_text(const struct dir_id *v, size_t n)
{
	char *text = NULL;
	size_t len, k = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f)
		return NULL;
	fputs(HEADER "\n" COLUMNS "\n", f);
	for (size_t i = 0; i < L.n && k < n; i++) {
		const struct child *ch = L.v[i];
		if (!writable_held(ch) || v[k].dev != ch->src_dev || v[k].ino != ch->src_ino)
			continue;
		/* (the source as written: an absolute path, no control character) */
		fprintf(f, "%u:%u %llu %s\n", major(ch->src_dev), minor(ch->src_dev),
			(unsigned long long)ch->src_ino, ch->sh.source);
		k++;
	}
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

int served_publish(struct mvm_error *e)
{
	struct dir_id *v = NULL;
	size_t n = 0;
	for (size_t i = 0; i < L.n; i++) {
		const struct child *ch = L.v[i];
		if (!writable_held(ch) || dir_id_in(v, n, ch->src_dev, ch->src_ino))
			continue;
		struct dir_id *nv = realloc(v, (n + 1) * sizeof(*v));
		if (!nv) {
			free(v);
			return record_error(e, ENOMEM, "write", RECORD, NULL);
		}
		v = nv;
		v[n++] = (struct dir_id){ch->src_dev, ch->src_ino};
	}
	bool same = pub_known && n == n_pub;
	for (size_t i = 0; same && i < n; i++)
		same = dir_id_in(pub, n_pub, v[i].dev, v[i].ino);
	if (same) {
		free(v);
		return 0;
	}
	int r = 0;
	if (n) {
		/* (one the others would pass over as a whole, as too large,
		 * would let them follow this VM's guest's links: not written,
		 * its new sources not served) */
		_cleanup_free_ char *text = record_text(v, n);
		r = !text ? record_error(e, ENOMEM, "write", RECORD, NULL)
		    : strlen(text) > SERVED_RECORD_MAX
			? record_error(e, EFBIG, "write", RECORD,
				       "larger than the 1 MiB the other launchers read")
			: record_write(text, e);
	} else {
		r = record_remove(e);
	}
	if (r < 0) {
		free(v);
		return r;
	}
	log_debug("record '%s/%s/" RECORD "': %zu writable %s", ESC(L.runtime), ESC(L.name), n,
		  plural(n, "source", "sources"));
	free(pub);
	pub = v;
	n_pub = n;
	pub_known = true;
	return 0;
}

void served_remove(void)
{
	struct mvm_error e = {0};
	if (L.host_rt < 0 || (pub_known && n_pub == 0))
		return;
	if (record_remove(&e) < 0) {
		e.hint = "left behind: it only makes the other launchers stricter, and the next start "
			 "of this VM's launcher replaces it";
		log_error_as(LOG_WARNING, &e, "");
		return;
	}
	pub_known = true;
	n_pub = 0;
}

void served_free(void)
{
	free(pub);
	pub = NULL;
	n_pub = 0;
	free(seen);
	seen = NULL;
	n_seen = 0;
}

/* Was this bad record (st) warned about? Noted now if not. */
static bool seen_before(const struct stat *st)
{
	for (size_t i = 0; i < n_seen; i++)
		if (seen[i].dev == st->st_dev && seen[i].ino == st->st_ino &&
		    seen[i].size == st->st_size && seen[i].mtime.tv_sec == st->st_mtim.tv_sec &&
		    seen[i].mtime.tv_nsec == st->st_mtim.tv_nsec)
			return true;
	struct seen *v = realloc(seen, (n_seen + 1) * sizeof(*v));
	if (v) { /* (else warned again next time) */
		seen = v;
		seen[n_seen++] = (struct seen){st->st_dev, st->st_ino, st->st_mtim, st->st_size};
	}
	return false;
}

/* One line "MAJOR:MINOR INODE SOURCE" (n bytes at s) into *dev, *ino:
 * 0, or -EINVAL. */
static int parse_line(const char *s, size_t n, dev_t *dev, ino_t *ino)
{
	char buf[PATH_MAX + 64];
	if (n >= sizeof(buf) || memchr(s, '\0', n) || has_control(s, n))
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	char *colon = strchr(buf, ':'), *sp1 = strchr(buf, ' ');
	char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	if (!colon || !sp1 || !sp2 || colon > sp1 || sp2[1] != '/')
		return -EINVAL;
	*colon = *sp1 = *sp2 = '\0';
	unsigned long maj, min, in;
	if (parse_uint(buf, 0xffffffffUL, &maj) < 0 || parse_uint(colon + 1, 0xffffffffUL, &min) < 0 ||
	    parse_uint(sp1 + 1, ~0UL, &in) < 0)
		return -EINVAL;
	*dev = makedev(maj, min);
	*ino = (ino_t)in;
	return 0;
}

/* The record of VM name (text, len; path for messages): each good line's
 * source noted (writable_add()). A first line that is not HEADER:
 * nothing noted, -EINVAL with e filled; a bad line after it: passed over,
 * how many in *nbad, the first in e. 0, or -ENOMEM. */
static int parse(const char *name, const char *path, const char *text, size_t len, unsigned *nbad,
		 struct mvm_error *e)
{
	struct lines ls;
	const char *s;
	size_t n;
	*nbad = 0;
	lines_init(&ls, text, len);
	while (lines_next(&ls, &s, &n)) {
		dev_t dev;
		ino_t ino;
		const char *why = NULL;
		if (ls.lineno == 1 && (n != strlen(HEADER) || memcmp(s, HEADER, n) != 0))
			why = "not the first line of a record of virtiofs-launch ('" HEADER "')";
		else if (ls.lineno == 1 || n == 0 || s[0] == '#')
			continue; /* (the header, a blank line, a comment) */
		else if (parse_line(s, n, &dev, &ino) < 0)
			why = "not 'MAJOR:MINOR INODE SOURCE'";
		if (why) {
			if ((*nbad)++ == 0) {
				mvm_error_set(e, EINVAL, "parse", path, why);
				e->line = ls.lineno;
				escape_value(s, n, e->value, sizeof(e->value));
			}
			if (ls.lineno == 1)
				return -EINVAL;
			continue;
		}
		int r = writable_add(dev, ino);
		if (r < 0)
			return mvm_error_set(e, -r, "note", path, NULL);
		if (log_get_verbose() > 0) {
			char shown[ESC_MAX];
			log_debug("VM '%s' serves writable, its launcher says: '%s'", ESC(name),
				  escape_value(s, n, shown, sizeof(shown)));
		}
	}
	if (ls.lineno == 0) {
		*nbad = 1;
		mvm_error_set(e, EINVAL, "parse", path,
			      "empty, not a record of virtiofs-launch ('" HEADER "' first)");
		return -EINVAL;
	}
	return 0;
}

/* The record of VM name, in its directory vfd, read and noted. A record
 * that cannot be read is passed over with a warning (once), a bad line
 * too. 0, or -ENOMEM with e filled. */
static int note_one(int vfd, const char *name, struct mvm_error *e)
{
	struct mvm_error w = {0};
	char lead[4 * VM_NAME_MAX + 96];
	_cleanup_free_ char *path = record_path(name, RECORD), *text = NULL;
	_cleanup_close_ int fd = -1;
	struct stat st;
	size_t len = 0;
	if (!path)
		return mvm_error_set(e, ENOMEM, "read", name, NULL);
	if (fstatat(vfd, RECORD, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return 0;
		mvm_error_set(&w, errno, "read", path, NULL);
		goto passed_over;
	}
	if (!S_ISREG(st.st_mode)) {
		mvm_error_set(&w, EINVAL, "read", path, "not a regular file");
		goto passed_over;
	}
	fd = openat(vfd, RECORD, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return 0; /* (removed since: its launcher stopped) */
	int r = fd < 0 ? -errno : read_fd(fd, SERVED_RECORD_MAX, &text, &len);
	if (r == -ENOMEM)
		return mvm_error_set(e, ENOMEM, "read", path, NULL);
	if (r < 0) {
		mvm_error_set(&w, -r, "read", path,
			      r == -EFBIG	    ? "larger than 1 MiB"
			      : r == -ELOOP || r == -EINVAL ? "not a regular file"
							    : NULL);
		goto passed_over;
	}
	unsigned nbad;
	r = parse(name, path, text, len, &nbad, &w);
	if (r == -ENOMEM)
		return mvm_error_set(e, ENOMEM, "note", path, NULL);
	if (r == -EINVAL)
		goto passed_over;
	if (nbad && (fstat(fd, &st) < 0 || !seen_before(&st))) {
		snprintf(lead, sizeof(lead), "VM '%s': %u %s of its launcher's record passed over%s: ",
			 ESC(name), nbad, plural(nbad, "line", "lines"), nbad > 1 ? ", the first" : "");
		log_error_as(LOG_WARNING, &w, lead);
	}
	return 0;
passed_over:
	if (fd >= 0 ? fstat(fd, &st) == 0 && seen_before(&st)
		    : fstatat(vfd, RECORD, &st, AT_SYMLINK_NOFOLLOW) == 0 && seen_before(&st))
		return 0;
	snprintf(lead, sizeof(lead), "VM '%s' passed over (what its launcher serves unknown): ",
		 ESC(name));
	log_error_as(LOG_WARNING, &w, lead);
	return 0;
}

static int note_others(struct mvm_error *e)
{
	if (L.host_rt < 0) {
		/* (before pin_setup(): not made, a missing one holds no record) */
		int rt = walk_dir(L.runtime, WALK_ROOTS, "use runtime dir", e);
		if (rt == -ENOENT)
			return 0;
		if (rt < 0)
			return rt;
		L.host_rt = rt;
	}
	int dfd = openat(L.host_rt, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (!d) {
		int err = errno;
		if (dfd >= 0)
			close(dfd);
		return mvm_error_set(e, err, "list", L.runtime, NULL);
	}
	int r = 0;
	struct dirent *de;
	while (r == 0 && (de = readdir(d))) {
		struct stat st;
		/* (what a VM's directory of records is: the lock files, anything
		 * else, hold none; root alone makes entries here) */
		if (strcmp(de->d_name, L.name) == 0 || vm_name_check(de->d_name, NULL) < 0 ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISDIR(st.st_mode) || st.st_uid != 0 || (st.st_mode & 022))
			continue;
		int vfd = openat(dirfd(d), de->d_name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (vfd < 0)
			continue; /* (gone since) */
		r = note_one(vfd, de->d_name, e);
		close(vfd);
	}
	closedir(d);
	return r;
}

/* When others_note() last read them all (the start, a reload): the round
 * of daemon starts that follows at once takes them as read. */
static long long others_read_at = -1;
/* (well above the time from that reading to the first round) */
#define OTHERS_FRESH_MS 1000

int served_note_others(struct mvm_error *e)
{
	int r = note_others(e);
	others_read_at = r == 0 ? now_ms() : -1;
	return r;
}

int served_note_others_round(struct mvm_error *e)
{
	long long read_at = others_read_at;
	others_read_at = -1;
	if (read_at >= 0 && now_ms() - read_at < OTHERS_FRESH_MS)
		return 0;
	return note_others(e);
}
