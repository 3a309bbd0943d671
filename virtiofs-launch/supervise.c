/* SPDX-License-Identifier: MIT */
/* The daemons' life (after s6-supervise): signals arrive through a
 * signalfd; each child writes its stdout and stderr into a pipe of its
 * own, whose lines are logged with the share's tag; a small state a share.
 *
 * A share is started by pinning its source (at every start), opening its
 * socket (once: it stays across restarts) and starting virtiofsd on both.
 * The shares due at the same moment are prepared first, all of them, then
 * their daemons are forked at once, without waiting for each exec (its
 * result comes through a pipe polled with the rest). The sockets listen
 * from then on, so READY=1 goes out as soon as every share is prepared,
 * just before the forks: a VM that connects before its daemon accepts
 * waits in the socket's backlog. A share counts as up from then on while
 * its daemon runs, and while it is idle (its client left: the next
 * client's connection starts a daemon); one that cannot start is
 * restarted, and given up on as virtiofs-launch(8) says: the launcher
 * exits 1, unless a reload added (or changed) the share once the
 * launcher was ready: then that share alone is given up
 * (share_failed_for_good()). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "launch.h"
#include "log.h"
#include "notify.h"
#include "spawn.h"
#include "util.h"

/* The longest back-off between two restarts. */
#define RESTART_DELAY_MAX 30000LL

static void begin_shutdown(bool fatal);

/* The first failure the launcher gave up on (logged when it did): what
 * run() returns, so that main() does not log it again. */
static struct mvm_error gave_up;

/* Stop every daemon and exit 1 afterwards: e is why (logged already). */
static void give_up(const struct mvm_error *e)
{
	if (!L.fatal)
		gave_up = *e;
	begin_shutdown(true);
}

/* A share's failure, logged where the supervisor goes on (a restart, or
 * stopping): named by e's object, or else by a "share 'TAG': " prefix. */
static void log_share_error(const struct child *ch, struct mvm_error *e, bool named)
{
	if (named || e->reported) {
		log_error_info(e); /* (nothing when reported) */
		return;
	}
	char lead[4 * VIRTIOFS_TAG_MAX + 16];
	snprintf(lead, sizeof(lead), "share '%s': ", ESC(ch->sh.tag));
	log_error_as(LOG_ERR, e, lead);
	e->reported = true;
}

/* "1500ms", "2s" for messages. */
static const char *time_str(long long ms, char *buf, size_t size)
{
	if (ms % 1000 == 0)
		snprintf(buf, size, "%llds", ms / 1000);
	else
		snprintf(buf, size, "%lldms", ms);
	return buf;
}

const char *share_verb(const struct share *sh, const char *what)
{
	static char verb[2][64 + 4 * VIRTIOFS_TAG_MAX]; /* (two may be in use at once) */
	static int k;
	k = !k;
	snprintf(verb[k], sizeof(verb[k]), "use share '%s' %s", ESC(sh->tag), what);
	return verb[k];
}

void child_free(struct child *ch)
{
	if (!ch)
		return;
	if (ch->out >= 0)
		close(ch->out);
	if (ch->exec_fd >= 0)
		close(ch->exec_fd);
	sock_close(&ch->sock, NULL);
	share_free(&ch->sh);
	free(ch);
}

/* Take over *sh (left empty). */
struct child *child_add(struct share *sh, long long now)
{
	struct child **v = realloc(L.v, (L.n + 1) * sizeof(*v));
	struct child *ch = calloc(1, sizeof(*ch));
	if (v)
		L.v = v;
	if (!v || !ch) {
		free(ch);
		return NULL;
	}
	ch->sh = *sh;
	*sh = (struct share){0};
	share_settings_init(&sh->set);
	ch->sock = (struct listener)LISTENER_INIT;
	ch->out = -1;
	ch->exec_fd = -1;
	ch->st = ST_WAIT;
	ch->start_at = now;
	ch->down_since = now;
	L.v[L.n++] = ch;
	return ch;
}

/* Forget child i: its socket closed and removed, its pin dropped unless
 * another share has its tag. */
static void child_remove(size_t i)
{
	struct child *ch = L.v[i];
	bool tag_used = false;
	for (size_t j = 0; j < L.n; j++)
		tag_used |= j != i && strcmp(L.v[j]->sh.tag, ch->sh.tag) == 0;
	if (!tag_used)
		pin_drop(ch->sh.tag);
	sock_close(&ch->sock, ch->sh.socket);
	child_free(ch);
	memmove(&L.v[i], &L.v[i + 1], (L.n - i - 1) * sizeof(*L.v));
	L.n--;
}

/* Share ch, which has no daemon, cannot come up: err and why say how,
 * status is the STATUS= that names it. A share the VM was started with
 * (there at the first READY=1) takes every share with it: the launcher
 * exits 1, and systemd starts it again with the VM, which Requires= it. A
 * share that a reload added or changed once the launcher was ready (late)
 * is for the VM's next boot, not the running one: it is given up alone
 * (no restart; the loop forgets it before it waits again: its socket
 * closed and removed, its pin dropped), the other shares serve on, and
 * the next reload finds it new. */
static void share_failed_for_good(struct child *ch, int err, const char *why,
				  const char *status)
{
	struct mvm_error e;
	if (!ch->late) {
		mvm_error_setf(&e, err, "start share", ch->sh.tag, "%s", why);
		log_error_info(&e);
		/* (escaped as in a line: a quote, a backslash or a bidi
		 * override of the tag, which its validation lets through,
		 * would mislead in systemctl status) */
		notifyf("STATUS=share '%s' %s", ESC(ch->sh.tag), status);
		give_up(&e);
		return;
	}
	mvm_error_setf(&e, err, "start share", ch->sh.tag, "%s; the other shares serve on", why);
	e.hint = "fix the runner, then reload";
	log_error_info(&e);
	ch->st = ST_DOWN;
	ch->prepared = false;
	ch->dropped = true;
}

/* Forget the shares given up alone (not in the middle of a walk of L.v:
 * run() calls it once timers() is done). */
static void forget_dropped(void)
{
	for (size_t i = 0; i < L.n;)
		if (L.v[i]->dropped && L.v[i]->pid == 0)
			child_remove(i);
		else
			i++;
}

/* A start that failed or a daemon that did not stay: restart it, at once
 * the first time, with a doubling back-off after that; give up after
 * max_failures quick ones in a row. */
static void failed(struct child *ch, long long now)
{
	ch->st = ST_WAIT;
	ch->failures = now - ch->started < L.set.min_uptime ? ch->failures + 1 : 1;
	if (ch->failures >= L.set.max_failures) {
		char why[64], status[64];
		const char *times = plural(ch->failures, "time", "times");
		snprintf(why, sizeof(why), "it failed %u %s in a row", ch->failures, times);
		snprintf(status, sizeof(status), "failed %u %s in a row", ch->failures, times);
		share_failed_for_good(ch, EIO, why, status);
		return;
	}
	long long delay = 0;
	if (ch->failures > 1) {
		delay = L.set.restart_delay;
		for (unsigned k = 2; k < ch->failures && delay < RESTART_DELAY_MAX; k++)
			delay *= 2;
		if (delay > RESTART_DELAY_MAX)
			delay = RESTART_DELAY_MAX;
	}
	ch->start_at = now + delay;
	if (delay) {
		char t[32];
		log_info("share '%s': starting again in %s", ESC(ch->sh.tag),
			 time_str(delay, t, sizeof(t)));
	}
}

/* The pinned source of a share (pin), and its socket the first time
 * (sock); the source is walked to, and made if missing, either way, and
 * so is the socket's directory when the socket is not made now (a
 * reload's, for a socket another share has yet): a path the walk refuses
 * fails here, not at each start. */
static int prepare(struct child *ch, bool pin, bool sock, struct mvm_error *e)
{
	int src = walk_dir(ch->sh.source, WALK_CREATE, share_verb(&ch->sh, "source"), e);
	if (src < 0)
		return src;
	int r = ch->sh.set.read_only ? 0 : writable_note(NULL, src, e); /* (made now, say) */
	struct stat st = {0};
	if (r == 0 && !ch->sh.set.read_only && fstat(src, &st) < 0)
		r = mvm_error_set(e, errno, share_verb(&ch->sh, "source"), ch->sh.source, NULL);
	if (r < 0) {
		close(src);
		return r;
	}
	r = pin ? pin_source(ch->sh.tag, src, ch->sh.set.read_only, e) : 0;
	close(src);
	if (r == 0 && sock && ch->sock.fd < 0)
		r = sock_open(&ch->sock, ch->sh.socket, false, share_verb(&ch->sh, "socket"), e);
	else if (r == 0 && !sock)
		r = sock_dir(ch->sh.socket, share_verb(&ch->sh, "socket"), e);
	/* Its daemon may be started now: its source, when writable, is the
	 * record's to say from now on (served_publish()). (One that failed
	 * here leaves what an earlier daemon of the share served said.) */
	if (r == 0 && !ch->sh.set.read_only) {
		ch->src_known = true;
		ch->src_dev = st.st_dev;
		ch->src_ino = st.st_ino;
	}
	return r;
}

static pid_t spawn_daemon(struct child *ch, char **argv, struct mvm_error *e)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return mvm_error_set(e, errno, "start", L.virtiofsd, NULL);
	struct spawn_opts o = SPAWN_OPTS_INIT;
	o.stdout_fd = p[1];
	o.stderr_fd = p[1];
	o.pdeathsig = true;
	o.unset_env = no_notify;
	o.pass_fd = ch->sock.fd;
	pid_t pid = spawn_nowait(argv, &o, &ch->exec_fd, e);
	close(p[1]);
	if (pid < 0) {
		close(p[0]);
		return pid;
	}
	ch->out = p[0];
	fcntl(ch->out, F_SETFL, O_NONBLOCK);
	return pid;
}

/* A share's start failed: say why (e names the share, or not), restart. */
static void start_failed(struct child *ch, struct mvm_error *e, bool named)
{
	log_share_error(ch, e, named);
	failed(ch, ch->started);
}

/* Phase one of a start: pin the source, open the socket. */
static void prepare_start(struct child *ch, long long now)
{
	struct mvm_error e = {0};
	ch->started = now;
	if (prepare(ch, true, true, &e) < 0)
		start_failed(ch, &e, true);
	else
		ch->prepared = true;
}

/* Phase two: fork the daemon. */
static void launch(struct child *ch)
{
	struct mvm_error e = {0};
	ch->prepared = false;
	_cleanup_free_ char *pin = pin_path(ch->sh.tag);
	char **argv = pin ? make_argv(&ch->sh, pin) : NULL;
	pid_t pid = argv ? spawn_daemon(ch, argv, &e)
			 : mvm_error_set(&e, ENOMEM, "start", L.virtiofsd, NULL);
	if (pid < 0) {
		argv_free(argv);
		start_failed(ch, &e, false);
		return;
	}
	ch->pid = pid;
	ch->st = ST_UP;
	ch->killed = false;
	ch->llen = 0;
	if (log_get_verbose() > 0) {
		_cleanup_free_ char *cmd = argv_str(argv);
		log_debug("share '%s': started pid %d: %s", ESC(ch->sh.tag), pid,
			  cmd ? cmd : "(no memory to show its command line)");
	}
	argv_free(argv);
}

/* Its exec's result came: a failed one is logged (the exit follows). */
static void exec_result(struct child *ch)
{
	int err = spawn_exec_error(ch->exec_fd);
	close(ch->exec_fd);
	ch->exec_fd = -1;
	if (err) {
		struct mvm_error e;
		mvm_error_set(&e, err, "start", L.virtiofsd,
			      spawn_exec_reason(err, L.virtiofsd, NULL));
		log_share_error(ch, &e, false);
	}
}

/* The first SIGTERM again after this long (ms); each next gap doubles,
 * up to the second. */
#define TERM_AGAIN_MS 100
/* After the grace: the SIGKILLed daemons reaped, the sockets removed. */
#define STOP_MARGIN_MS 5000LL
#define TERM_GAP_MAX_MS 1000

/* Stop the daemon of a share that goes: SIGTERM, and its socket shut down,
 * which makes an accept() that SIGTERM came too early for (a daemon still
 * starting) fail at once. A socket that goes on to the share's successor
 * (a reload that changed it) is not ours to shut down: there SIGTERM
 * comes again (timers()), as the C virtiofsd's handler only notes it, and
 * one that came before its accept() left it waiting there for a client
 * (tests/unit/virtiofs.c, reload_signal_before_accept_is_sent_again). */
static void stop(struct child *ch, long long now)
{
	if (ch->sock.fd >= 0)
		shutdown(ch->sock.fd, SHUT_RDWR);
	if (ch->pid > 0)
		kill(ch->pid, SIGTERM);
	ch->st = ST_STOPPING;
	ch->kill_at = now + L.set.grace;
	ch->term_gap = TERM_AGAIN_MS;
	ch->term_at = now + ch->term_gap;
	ch->killed = false;
}

static void begin_shutdown(bool fatal)
{
	L.fatal |= fatal;
	if (L.stopping)
		return;
	L.stopping = true;
	/* Time for the grace and STOP_MARGIN_MS more, asked of systemd
	 * (EXTEND_TIMEOUT_USEC=, systemd 236; it never shortens the unit's
	 * own TimeoutStopSec=): a --grace longer than that would have systemd
	 * SIGKILL the launcher and its daemons first, and the sockets left. */
	notifyf("STOPPING=1%s\nEXTEND_TIMEOUT_USEC=%lld", fatal ? "" : "\nSTATUS=stopping",
		(L.set.grace + STOP_MARGIN_MS) * 1000);
	long long now = now_ms();
	L.stop_by = now + L.set.grace;
	for (size_t i = 0; i < L.n; i++) {
		struct child *ch = L.v[i];
		if (ch->st == ST_STOPPING && ch->pid > 0)
			continue; /* (a reload's: its grace runs on) */
		if (ch->pid > 0)
			stop(ch, now);
		else
			ch->st = ST_DOWN;
	}
}

/* ---- the children's output, a line at a time with the tag ---- */

static void flush_line(struct child *ch)
{
	if (ch->llen == 0)
		return;
	size_t n = ch->llen;
	if (ch->line[n - 1] == '\r')
		n--;
	char text[sizeof(ch->line) + 1];
	memcpy(text, ch->line, n);
	text[n] = '\0';
	/* (its text too: it may name the guest's files) */
	log_info("%s: %s", ESC(ch->sh.tag), ESC(text));
	ch->llen = 0;
}

/* Read what is there (all of it when all), log complete lines. */
static void read_output(struct child *ch, bool all)
{
	char buf[1024];
	while (ch->out >= 0) {
		ssize_t n = read(ch->out, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			flush_line(ch);
			close(ch->out);
			ch->out = -1;
			return;
		}
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\n') {
				flush_line(ch);
				continue;
			}
			ch->line[ch->llen++] = buf[i];
			if (ch->llen == sizeof(ch->line))
				flush_line(ch);
		}
		if (!all)
			return;
	}
}

/* ---- readiness ---- */

/* STATUS=, and READY=1 when every share is up: true when this sent it. */
static bool update_status(void)
{
	if (L.stopping)
		return false;
	size_t up = 0, total = 0;
	bool leaving = false;
	for (size_t i = 0; i < L.n; i++) {
		if (L.v[i]->dropped)
			continue; /* (given up alone: not a share any more) */
		if (L.v[i]->removed) {
			leaving = true;
			continue;
		}
		total++;
		up += L.v[i]->st == ST_UP || L.v[i]->st == ST_IDLE || L.v[i]->prepared;
	}
	bool ready = L.ready_pending && up == total && !leaving;
	if (ready) {
		int r = notifyf("READY=1\nSTATUS=%zu of %zu %s up", up, total,
				plural(total, "share", "shares"));
		if (r < 0) {
			/* Lost, the service manager would wait for it until its
			 * start timeout, and the VM with it: a start gives up (and
			 * takes what it made with it); after a reload the shares
			 * serve on as they are, and the journal says why. */
			struct mvm_error e;
			mvm_error_set(&e, -r, "send READY=1 to", getenv("NOTIFY_SOCKET"), NULL);
			log_error_info(&e);
			if (!L.was_ready) {
				give_up(&e);
				return false;
			}
		}
		L.ready_pending = false;
		L.was_ready = true;
		if (L.made == &L.start_made)
			L.made = NULL;
		made_dirs_forget(&L.start_made); /* (the start is done) */
		log_debug("ready: %zu %s up", up, plural(up, "share", "shares"));
	} else if (L.status_sent && up == L.status_up && total == L.status_total) {
		return false;
	} else {
		notifyf("STATUS=%zu of %zu %s up", up, total, plural(total, "share", "shares"));
	}
	L.status_sent = true;
	L.status_up = up;
	L.status_total = total;
	return ready;
}

/* ---- events ---- */

static void describe_exit(int status, char *buf, size_t size)
{
	if (WIFEXITED(status))
		snprintf(buf, size, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, size, "was killed by signal %d (SIG%s)", WTERMSIG(status),
			 sigabbrev_np(WTERMSIG(status)) ? sigabbrev_np(WTERMSIG(status)) : "?");
	else
		snprintf(buf, size, "ended (wait status 0x%x)", (unsigned)status);
}

/* Is a connection in ch's socket's backlog? (A daemon takes its one
 * client off it with accept(); the launcher never does.) */
static bool client_waiting(const struct child *ch)
{
	struct pollfd p = {.fd = ch->sock.fd, .events = POLLIN};
	return ch->sock.fd >= 0 && poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

static void child_exited(size_t i, int status)
{
	struct child *ch = L.v[i];
	pid_t pid = ch->pid;
	long long now = now_ms();
	char why[96];
	if (ch->exec_fd >= 0)
		exec_result(ch);
	read_output(ch, true);
	if (ch->out >= 0) { /* a grandchild holds the pipe: let it go */
		close(ch->out);
		ch->out = -1;
	}
	ch->pid = 0;
	describe_exit(status, why, sizeof(why));
	if (ch->removed || L.stopping) {
		log_debug("share '%s': virtiofsd (pid %d) %s", ESC(ch->sh.tag), pid, why);
		if (ch->removed)
			child_remove(i);
		else
			ch->st = ST_DOWN;
		return;
	}
	bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
	if (clean && !client_waiting(ch)) {
		/* Its VM disconnected (stopped or rebooting). The socket still
		 * listens: the next daemon starts when a client connects, not
		 * now (a VM that stops for good, or a whole host that does,
		 * would have every share's daemon started only to be stopped). */
		log_info("share '%s': virtiofsd (pid %d) exited, its client left; "
			 "starting it again when a client connects",
			 ESC(ch->sh.tag), pid);
		ch->failures = 0;
		ch->st = ST_IDLE;
		return;
	}
	/* Status 0 with a client in the backlog: most likely the one this
	 * daemon was started for and never took (a broken daemon). Going
	 * idle would start the next one at once, which would exit at once,
	 * and so on without a back-off: a failure instead. (Telling whether
	 * the daemon ever accepted would need its descriptors; the backlog
	 * is what matters.) A client that came just after the daemon's own
	 * one left looks the same: that costs one failure in the count (a
	 * first one is restarted at once); only repeated quick ones give up. */
	log_warn("share '%s': virtiofsd (pid %d) %s%s", ESC(ch->sh.tag), pid, why,
		 clean ? ", a client still waiting" : "");
	/* --timeout counts from the last daemon that was not a quick failure. */
	if (now - ch->started >= L.set.min_uptime)
		ch->down_since = now;
	failed(ch, now);
}

static void reap(void)
{
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (size_t i = 0; i < L.n; i++)
			if (L.v[i]->pid == pid) {
				child_exited(i, status);
				break;
			}
	}
}

/* The daemon of a removed share with ch's tag (its pin) or socket, which
 * must be gone before ch starts; NULL when none. */
static const struct child *blocker(const struct child *ch)
{
	for (size_t i = 0; i < L.n; i++) {
		const struct child *o = L.v[i];
		if (o != ch && o->pid > 0 &&
		    (strcmp(o->sh.tag, ch->sh.tag) == 0 ||
		     path_same_as_written(o->sh.socket, ch->sh.socket)))
			return o;
	}
	return NULL;
}

/* The shares behind `current` now, checked for the dialect. */
static int read_shares(struct vm *vm, struct share_list *l, struct mvm_error *e)
{
	int r = vm_open(vm, L.c.state_dir, L.name, VM_CURRENT, L.c.allow_untrusted, e);
	if (r < 0)
		return r;
	r = vm_shares(vm, l, e);
	if (r == 0)
		r = writable_note(l, -1, e); /* before any walk of the new shares */
	if (r == 0)
		r = others_note(e); /* (theirs may have changed too) */
	if (r == 0)
		r = vm_dirs_refuse(l, e);
	for (size_t i = 0; r == 0 && i < l->n; i++)
		r = check_share(&l->v[i], e);
	if (r < 0) {
		share_list_free(l);
		vm_close(vm);
	}
	return r;
}

/* Is sh what ch serves, in every respect? (Never a share given up alone:
 * a reload tries that one again.) */
static bool same_share(const struct child *ch, const struct share *sh)
{
	return !ch->dropped && sh->tag && strcmp(sh->tag, ch->sh.tag) == 0 &&
	       strcmp(sh->source, ch->sh.source) == 0 && path_same_plain(sh->socket, ch->sh.socket) &&
	       share_settings_equal(&sh->set, &ch->sh.set);
}

/* The share removed by this reload (not kept, not stopping: those went
 * with an earlier one) whose socket the new share ch takes over (it never
 * stops listening); NULL when none. */
static struct child *socket_giver(const struct child *ch, size_t old)
{
	for (size_t i = 0; i < old; i++) {
		struct child *o = L.v[i];
		if (!o->kept && o->st != ST_STOPPING && o->sock.fd >= 0 &&
		    path_same_plain(o->sh.socket, ch->sh.socket))
			return o;
	}
	return NULL;
}

/* A new share of a reload, before the reload is taken: its source walked
 * to (made if missing) and pinned, its socket made, so that one that
 * cannot be used refuses the reload instead of failing, and giving up on
 * every share, once it is taken. Not what another share still has: the
 * pin of its tag (the daemon of a share that goes may serve it yet: the
 * source is pinned at the start), a socket taken over, or one that a
 * going share's daemon holds (made at the start, once that daemon is
 * gone: blocker()). */
static int prepare_new(struct child *ch, size_t old, struct mvm_error *e)
{
	bool pin = true, sock = !socket_giver(ch, old);
	for (size_t i = 0; i < old; i++) {
		const struct child *o = L.v[i];
		pin &= strcmp(o->sh.tag, ch->sh.tag) != 0;
		sock &= !((o->pid > 0 || o->sock.fd >= 0) &&
			  (path_same_as_written(o->sh.socket, ch->sh.socket) ||
			   path_same_plain(o->sh.socket, ch->sh.socket)));
	}
	return prepare(ch, pin, sock, e);
}

/* SIGHUP: the runner behind `current` may have changed. Shares the same in
 * every respect keep their daemon; a new share with the socket of one
 * removed by this reload takes that socket over (it never stops
 * listening). One removed by an earlier reload, its daemon still within
 * its grace, had its socket shut down (stop()): that one is no use, and
 * goes with the share; the new share makes its own once that daemon is
 * gone (blocker()). The new shares are prepared first (prepare_new()): if
 * one cannot be, or the shares cannot be read, the reload is refused as a
 * whole, what it made is undone, and the shares stay as they were (READY=1
 * follows all the same: the service is what it was). */
static void reload(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	notifyf("RELOADING=1\nMONOTONIC_USEC=%llu",
		(unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
	struct mvm_error e = {0};
	struct vm nv;
	struct share_list l = {0};
	L.ready_pending = true;
	if (read_shares(&nv, &l, &e) < 0) {
		log_error_info(&e);
		log_err("unable to reload: the shares stay as they were");
		return;
	}
	long long now = now_ms();
	size_t old = L.n;
	for (size_t i = 0; i < old; i++) {
		struct child *ch = L.v[i];
		ch->kept = false;
		for (size_t j = 0; j < l.n && !ch->removed && !ch->kept; j++)
			if (l.v[j].tag && same_share(ch, &l.v[j])) {
				share_free(&l.v[j]); /* (tag NULL: taken) */
				ch->kept = true;
			}
	}
	int r = 0;
	struct made_dirs made = {0}, *outer = L.made;
	L.made = &made;
	for (size_t j = 0; j < l.n && r == 0; j++) {
		if (!l.v[j].tag)
			continue;
		char *tag = l.v[j].tag;
		struct child *nch = child_add(&l.v[j], now);
		if (!nch) {
			r = mvm_error_set(&e, ENOMEM, "reload share", tag, NULL);
		} else {
			/* (For the VM's next boot, not the running one: when the
			 * VM restarts, systemd restarts this launcher too, its unit
			 * being PartOf= the VM's, and every share is of the start
			 * again. Run by hand without that, a late share stays late.) */
			nch->late = L.was_ready;
			r = prepare_new(nch, old, &e);
		}
	}
	share_list_free(&l);
	L.made = outer;
	if (r < 0) {
		while (L.n > old)
			child_remove(L.n - 1);
		made_dirs_undo(&made); /* (once their sockets are gone) */
		vm_close(&nv);
		log_error_info(&e);
		log_err("unable to reload: the shares stay as they were");
		return;
	}
	/* Before the first READY=1 its shares are the start's: what it made
	 * goes if the start gives up. */
	if (outer == &L.start_made)
		made_dirs_move(&L.start_made, &made);
	else
		made_dirs_forget(&made);
	vm_close(&L.vm);
	L.vm = nv;
	for (size_t i = 0; i < old; i++) {
		struct child *ch = L.v[i];
		if (!ch->kept && !ch->removed) {
			log_info("share '%s': removed or changed, stopping it", ESC(ch->sh.tag));
			ch->removed = true;
		}
	}
	for (size_t k = old; k < L.n; k++) {
		struct child *nch = L.v[k];
		log_info("share '%s': new", ESC(nch->sh.tag));
		struct child *giver = socket_giver(nch, old);
		if (giver) {
			nch->sock = giver->sock;
			giver->sock = (struct listener)LISTENER_INIT;
		}
	}
	for (size_t i = 0; i < L.n;) {
		struct child *ch = L.v[i];
		if (ch->removed && ch->pid == 0) {
			child_remove(i);
			continue;
		}
		if (ch->removed && ch->st != ST_STOPPING)
			stop(ch, now);
		i++;
	}
}

static void on_signals(void)
{
	struct signalfd_siginfo si;
	bool chld = false;
	while (read(L.sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGCHLD:
			chld = true;
			break;
		case SIGTERM:
		case SIGINT:
			log_debug("signal %u: stopping", si.ssi_signo);
			begin_shutdown(false);
			break;
		case SIGHUP:
			if (!L.stopping)
				reload();
			break;
		default:
			break;
		}
	}
	if (chld)
		reap();
}

/* No daemon of ch stayed up for --timeout: give up. */
static void share_timeout(struct child *ch)
{
	char t[32], why[64], status[64];
	time_str(L.set.timeout, t, sizeof(t));
	snprintf(why, sizeof(why), "no daemon stayed up in %s", t);
	snprintf(status, sizeof(status), "not up in %s", t);
	share_failed_for_good(ch, ETIMEDOUT, why, status);
}

/* Whether a failure to update the record was said (until one works). */
static bool publish_said;

/* The record of the writable sources (served.c) made to say what the
 * shares hold now, before the daemons prepared are forked: a share whose
 * source it cannot say is not started now (its start failed, as one
 * whose source cannot be pinned); a record that cannot be made to forget
 * a share is left saying more than is served (the others stricter): one
 * warning. */
static void publish(void)
{
	struct mvm_error e = {0};
	if (served_publish(&e) == 0) {
		publish_said = false;
		return;
	}
	bool failed_one = false;
	for (size_t i = 0; i < L.n; i++) {
		struct child *ch = L.v[i];
		if (!ch->prepared || served_may_start(ch))
			continue;
		if (!failed_one)
			log_error_info(&e); /* (once for all of them) */
		failed_one = true;
		ch->prepared = false;
		start_failed(ch, &e, true);
	}
	if (!failed_one && !publish_said) {
		e.hint = "left saying more than is served: the other launchers stricter";
		log_error_as(LOG_WARNING, &e, "");
	}
	publish_said = !failed_one;
}

/* Run what is due; returns the next deadline (LLONG_MAX: none). */
static long long timers(void)
{
	long long now = now_ms(), next = LLONG_MAX;
	char t[32];
	/* Daemons that go: SIGTERM again, SIGKILL once the grace is over. */
	for (size_t i = 0; i < L.n; i++) {
		struct child *ch = L.v[i];
		if (ch->st != ST_STOPPING || ch->pid <= 0 || ch->killed)
			continue;
		if (now >= ch->kill_at) {
			log_warn("share '%s': virtiofsd (pid %d) still there after %s, killing it",
				 ESC(ch->sh.tag), ch->pid, time_str(L.set.grace, t, sizeof(t)));
			kill(ch->pid, SIGKILL);
			ch->killed = true;
			continue;
		}
		if (now >= ch->term_at) {
			kill(ch->pid, SIGTERM);
			if (ch->term_gap < TERM_GAP_MAX_MS)
				ch->term_gap *= 2;
			ch->term_at = now + ch->term_gap;
		}
		if (ch->kill_at < next)
			next = ch->kill_at;
		if (ch->term_at < next)
			next = ch->term_at;
	}
	struct mvm_error oe = {0};
	int others = 1; /* (1: not read yet this round) */
	for (size_t i = 0; i < L.n && !L.stopping; i++) {
		struct child *ch = L.v[i];
		if (ch->st != ST_WAIT || ch->removed)
			continue;
		/* Waiting for a removed share's daemon to go, within its
		 * --grace, is not failing: the --timeout runs from when it is
		 * gone, or from its SIGKILL (a daemon stuck in the kernel
		 * may outlive that, and the share would wait for ever). */
		const struct child *b = blocker(ch);
		bool was_held = ch->held;
		ch->held = b && !b->killed;
		if (was_held && !ch->held)
			ch->down_since = now;
		if (now < ch->start_at || b)
			continue;
		/* What the other launchers serve writable now, once a round,
		 * before a walk: one may have started since the last look, or
		 * been switched to another runner. */
		if (others == 1 && (others = served_note_others_round(&oe)) < 0)
			log_error_info(&oe);
		if (others < 0) {
			ch->started = now;
			start_failed(ch, &oe, true);
		} else {
			prepare_start(ch, now);
		}
	}
	publish();
	/* Every socket listens: READY=1 before the daemons are forked (they
	 * would only slow the launcher down now; a VM waits for them). An
	 * AF_UNIX datagram wakes its reader with the "sync" hint (the sender
	 * is about to sleep), so the scheduler puts the service manager on
	 * this CPU, where it would wait behind those forks: let it read
	 * READY=1 first (README, Performance, virtiofs). */
	if (update_status())
		sched_yield();
	for (size_t i = 0; i < L.n; i++)
		if (L.v[i]->prepared && !L.stopping)
			launch(L.v[i]);
		else
			L.v[i]->prepared = false;
	for (size_t i = 0; i < L.n; i++) {
		struct child *ch = L.v[i];
		if (ch->st != ST_WAIT || L.stopping || ch->removed)
			continue;
		/* (a failed start may be due again at once) */
		if (!blocker(ch) && ch->start_at < next)
			next = ch->start_at;
		if (ch->held)
			continue;
		long long deadline = ch->down_since + L.set.timeout;
		if (now >= deadline)
			share_timeout(ch);
		else if (deadline < next)
			next = deadline;
	}
	return next;
}

static bool any_running(void)
{
	for (size_t i = 0; i < L.n; i++)
		if (L.v[i]->pid > 0)
			return true;
	return false;
}

/* Stopped for good: no daemon left, nor a process of one (the launcher is
 * their subreaper: a sandbox process the Rust virtiofsd forks outlives
 * it for a moment), or the grace is over (then systemd kills the rest). */
static bool all_gone(long long now)
{
	if (any_running())
		return false;
	siginfo_t si = {0};
	if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
		return true; /* ECHILD: none */
	return now >= L.stop_by;
}

/* An idle share (its client left) whose socket is to be watched. */
static bool waits_for_client(const struct child *ch)
{
	return ch->st == ST_IDLE && !ch->removed && !L.stopping && ch->sock.fd >= 0;
}

/* A client is in an idle share's backlog: start its daemon now. */
static void client_came(struct child *ch)
{
	long long now = now_ms();
	log_debug("share '%s': a client connects, starting virtiofsd", ESC(ch->sh.tag));
	ch->st = ST_WAIT;
	ch->start_at = now;
	ch->down_since = now;
}

int setup_events(struct mvm_error *e)
{
	/* The daemons' own children come to us when they are orphaned. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		return mvm_error_set(e, errno, "become", "a subreaper", NULL);
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return mvm_error_set(e, errno, "block", "signals", NULL);
	/* (SIGCHLD is not ignored: cli_parse() set it to its default. An
	 * ignored one would not be sent at all, blocked or not, and the
	 * kernel would reap each daemon itself: none seen to exit.) */
	signal(SIGPIPE, SIG_IGN);
	L.sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (L.sfd < 0)
		return mvm_error_set(e, errno, "create", "signalfd", NULL);
	return 0;
}

/* Room for n descriptors to poll and the child of each. */
static int poll_room(struct pollfd **pfd, struct child ***pch, size_t *cap, size_t n)
{
	if (*pfd && *pch && *cap >= n)
		return 0;
	*cap = n + 8;
	struct pollfd *np = realloc(*pfd, *cap * sizeof(*np));
	if (np)
		*pfd = np;
	struct child **nc = realloc(*pch, *cap * sizeof(*nc));
	if (nc)
		*pch = nc;
	return np && nc ? 0 : -ENOMEM;
}

int run(struct mvm_error *e)
{
	struct pollfd *pfd = NULL;
	struct child **pch = NULL;
	size_t cap = 0;
	int ret = 0;
	for (;;) {
		long long next = timers();
		forget_dropped();
		update_status();
		if (L.stopping && all_gone(now_ms()))
			break;
		if (L.stopping && !any_running() && (next == LLONG_MAX || L.stop_by < next))
			next = L.stop_by;
		if (poll_room(&pfd, &pch, &cap, 3 * L.n + 1) < 0) {
			ret = mvm_error_set(e, ENOMEM, "wait for", "events", NULL);
			break;
		}
		size_t k = 0;
		pfd[k++] = (struct pollfd){.fd = L.sfd, .events = POLLIN};
		size_t nout;
		for (size_t i = 0; i < L.n; i++)
			if (L.v[i]->out >= 0) {
				pch[k] = L.v[i];
				pfd[k++] = (struct pollfd){.fd = L.v[i]->out, .events = POLLIN};
			}
		nout = k;
		for (size_t i = 0; i < L.n; i++)
			if (L.v[i]->exec_fd >= 0) {
				pch[k] = L.v[i];
				pfd[k++] = (struct pollfd){.fd = L.v[i]->exec_fd, .events = POLLIN};
			}
		size_t nexec = k;
		for (size_t i = 0; i < L.n; i++)
			if (waits_for_client(L.v[i])) {
				pch[k] = L.v[i];
				pfd[k++] = (struct pollfd){.fd = L.v[i]->sock.fd, .events = POLLIN};
			}
		int timeout = -1;
		if (next != LLONG_MAX) {
			long long d = next - now_ms();
			timeout = d < 0 ? 0 : d > INT_MAX ? INT_MAX : (int)d;
		}
		if (poll(pfd, k, timeout) < 0) {
			if (errno == EINTR)
				continue;
			ret = mvm_error_set(e, errno, "wait for", "events", NULL);
			break;
		}
		for (size_t i = nexec; i < k; i++)
			if (pfd[i].revents && waits_for_client(pch[i]))
				client_came(pch[i]);
		for (size_t i = nout; i < nexec; i++)
			if (pfd[i].revents)
				exec_result(pch[i]);
		for (size_t i = 1; i < nout; i++)
			if (pfd[i].revents)
				read_output(pch[i], false);
		if (pfd[0].revents)
			on_signals();
	}
	free(pfd);
	free(pch);
	/* The sockets go with the launcher (before the directories a start
	 * that failed made: end_start()). */
	for (size_t i = 0; i < L.n; i++)
		sock_close(&L.v[i]->sock, L.v[i]->sh.socket);
	/* (a daemon left, the loop given up on: the record stays) */
	if (!any_running())
		served_remove();
	if (ret < 0 || !L.fatal)
		return ret;
	*e = gave_up; /* logged when the loop gave up */
	return -EIO;
}
