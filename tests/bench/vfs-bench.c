/* SPDX-License-Identifier: MIT */
/* vfs-bench: one run of the virtiofsd fleet bench.
 *
 *   vfs-bench [OPTIONS] -s SOCKET... -- CMD ARGS...
 *       supervised: start CMD (virtiofs-launch, supervisord, ...) with
 *       $NOTIFY_SOCKET pointing at a socket of ours; wait for READY=1
 *       and for every SOCKET to listen; then SIGTERM to CMD
 *   vfs-bench [OPTIONS] -s SOCKET... --floor CMD1... [:: CMD2...]...
 *       the floor: start every CMD (the K virtiofsd) at once, directly;
 *       ready when every SOCKET listens; then SIGTERM to each of them
 *
 * OPTIONS: -S the served probe: once READY=1 has come and every SOCKET
 * listens, connect to each SOCKET and send VHOST_USER_GET_FEATURES (the
 * first message QEMU sends) and wait for every answer: what a VM that
 * starts at READY gets (a launcher that listens itself is READY before
 * any daemon runs; the answer comes when one serves the socket);
 * -n N the daemons to wait for below CMD before the memory is read
 * [one a SOCKET; 0: a CMD that starts none, the bench's listen-only
 * bound]; -t SECONDS timeout for each phase [20]; -i US how often to
 * look at /proc/net/unix while a socket file exists that does not listen
 * yet [200] (otherwise inotify on the sockets' directories wakes us, or
 * 20 ms pass); -l LOG the children's stdout and stderr
 * [/dev/null]; -N PATH the notify socket [/tmp/vfs-bench-PID.notify].
 *
 * Messages on the notify socket are drained all along, and descriptors
 * sent with them closed, as systemd does (systemd-notify waits for that).
 * A socket listens when /proc/net/unix shows it with __SO_ACCEPTCON;
 * nothing ever connects to it (virtiofsd serves one client, then exits).
 * Prints key=value lines, times in ms from the start of CMD (or from the
 * SIGTERM for the stop times):
 *   ready_ms            READY=1 received (floor: = listen_ms)
 *   listening_at_ready  how many SOCKETs listened when READY=1 came
 *   listen_ms           every SOCKET listens
 *   served_ms           (-S) every SOCKET answered VHOST_USER_GET_FEATURES
 *   daemons             virtiofsd processes found below CMD
 *   rss_kib             sum of VmHWM of the supervising processes: CMD and
 *                       its descendants that are not virtiofsd (nor a
 *                       passing systemd-notify) (floor: this program),
 *                       once every daemon runs, or the -n N of them (up
 *                       to 2 s after READY=1)
 *   uss_kib             their private memory (Private_Clean + Private_Dirty
 *                       of smaps_rollup) at that moment: VmHWM counts the
 *                       pages of libc.so too, which every process shares
 *   rss_detail          comm:VmHWM of each of them
 *   stop_ms             SIGTERM until every virtiofsd is gone
 *   exit_ms             SIGTERM until CMD has exited (supervised)
 * Exit 0, or 1 after "error=..." (what did not happen in time). */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAXS 256
#define MAXP 4096

static const char *sockets[MAXS];
static int nsockets;
static pid_t kids[MAXS]; /* what we started */
static int nkids;
static long long t0;

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static double ms(long long a, long long b)
{
	return (double)(b - a) / 1e6;
}

static void kill_all(void);

__attribute__((noreturn)) static void die(const char *what)
{
	printf("error=%s\n", what);
	fflush(stdout);
	kill_all();
	exit(1);
}

/* Listed path L names expected path E: the same, or L is relative (bound
 * after a chdir) and E ends with "/L". */
static bool same_socket(const char *l, const char *e)
{
	if (!strcmp(l, e))
		return true;
	size_t ll = strlen(l), el = strlen(e);
	return l[0] != '/' && el > ll && e[el - ll - 1] == '/' && !strcmp(e + el - ll, l);
}

/* How many of the expected sockets listen now. */
static int count_listening(void)
{
	FILE *f = fopen("/proc/net/unix", "re");
	if (!f)
		return -1;
	bool seen[MAXS] = { false };
	int count = 0;
	char line[512];
	while (fgets(line, sizeof(line), f)) {
		/* Num RefCount Protocol Flags Type St Inode Path */
		unsigned long flags;
		int path_at = 0;
		line[strcspn(line, "\n")] = '\0';
		if (sscanf(line, "%*s %*s %*s %lx %*s %*s %*s %n", &flags, &path_at) < 1 || !path_at)
			continue;
		if (!(flags & 0x10000)) /* __SO_ACCEPTCON */
			continue;
		const char *path = line + path_at;
		for (int k = 0; k < nsockets; k++) {
			if (!seen[k] && same_socket(path, sockets[k])) {
				seen[k] = true;
				count++;
			}
		}
	}
	fclose(f);
	return count;
}

struct proc {
	pid_t pid, ppid;
	char comm[32];
};

static int read_procs(struct proc *p, int max)
{
	DIR *d = opendir("/proc");
	if (!d)
		return 0;
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)) && n < max) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		char path[300], buf[512];
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t r = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (r <= 0)
			continue;
		buf[r] = '\0';
		char *lp = strchr(buf, '('), *rp = strrchr(buf, ')');
		if (!lp || !rp || rp < lp)
			continue;
		char state;
		int ppid;
		if (sscanf(rp + 2, "%c %d", &state, &ppid) != 2 || state == 'Z')
			continue;
		p[n].pid = atoi(buf);
		p[n].ppid = ppid;
		size_t cl = (size_t)(rp - lp - 1);
		if (cl >= sizeof(p[n].comm))
			cl = sizeof(p[n].comm) - 1;
		memcpy(p[n].comm, lp + 1, cl);
		p[n].comm[cl] = '\0';
		n++;
	}
	closedir(d);
	return n;
}

static long vmhwm_kib(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	long v = 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmHWM:", 6))
			v = atol(line + 6);
	fclose(f);
	return v;
}

/* Private memory now (Private_Clean + Private_Dirty): what the process
 * costs beyond the shared libraries' pages every process shares. */
static long uss_kib(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	long v = 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "Private_Clean:", 14) || !strncmp(line, "Private_Dirty:", 14))
			v += atol(line + 14);
	fclose(f);
	return v;
}

static long uss_total;

static bool alive(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t r = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (r <= 0)
		return false;
	buf[r] = '\0';
	char *rp = strrchr(buf, ')');
	return rp && rp[1] && rp[2] != 'Z' && rp[2] != 'X';
}

static struct proc procs[MAXP];
static pid_t daemons[MAXP];
static int ndaemons;

/* Descendants of our children: virtiofsd into daemons[], the rest are
 * supervisors (their VmHWM summed). */
static long survey(char *detail, size_t dlen)
{
	int n = read_procs(procs, MAXP);
	pid_t tree[MAXP];
	int nt = 0;
	for (int k = 0; k < nkids; k++)
		tree[nt++] = kids[k];
	for (int k = 0; k < nt; k++)
		for (int j = 0; j < n; j++)
			if (procs[j].ppid == tree[k] && nt < MAXP)
				tree[nt++] = procs[j].pid;
	long rss = 0;
	ndaemons = 0;
	uss_total = 0;
	detail[0] = '\0';
	for (int k = 0; k < nt; k++) {
		const char *comm = "?";
		for (int j = 0; j < n; j++)
			if (procs[j].pid == tree[k])
				comm = procs[j].comm;
		if (!strcmp(comm, "systemd-notify"))
			continue; /* a helper of a moment, not a supervisor */
		if (!strncmp(comm, "virtiofsd", 9)) {
			daemons[ndaemons++] = tree[k];
			continue;
		}
		long v = vmhwm_kib(tree[k]);
		rss += v;
		uss_total += uss_kib(tree[k]);
		size_t l = strlen(detail);
		snprintf(detail + l, dlen - l, "%s%s:%ld", l ? "," : "", comm, v);
	}
	return rss;
}

/* SIGKILL everything below us (we are a subreaper: orphans are ours) and
 * reap it, so the next run finds no daemon holding its sockets. */
static void kill_all(void)
{
	long long end = now_ns() + 5000000000LL;
	for (;;) {
		int n = read_procs(procs, MAXP);
		pid_t tree[MAXP];
		int nt = 0;
		tree[nt++] = getpid();
		for (int k = 0; k < nt; k++)
			for (int j = 0; j < n; j++)
				if (procs[j].ppid == tree[k] && nt < MAXP)
					tree[nt++] = procs[j].pid;
		for (int k = 1; k < nt; k++)
			kill(tree[k], SIGKILL);
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		if (nt == 1 || now_ns() > end)
			return;
		struct timespec t = { 0, 1000000 };
		nanosleep(&t, NULL);
	}
}

static long long drain_notify(int nfd)
{
	long long t_ready = -1;
	for (;;) {
		char msg[4096];
		union {
			struct cmsghdr h;
			char buf[CMSG_SPACE(sizeof(int) * 16)];
		} ctl;
		struct iovec iov = { msg, sizeof(msg) - 1 };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &ctl,
				     .msg_controllen = sizeof(ctl) };
		ssize_t r = recvmsg(nfd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (r < 0)
			return t_ready;
		long long t = now_ns();
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
				continue;
			int nf = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			int fds[16];
			memcpy(fds, CMSG_DATA(c), sizeof(int) * (size_t)(nf < 16 ? nf : 16));
			for (int k = 0; k < nf && k < 16; k++)
				close(fds[k]);
		}
		msg[r] = '\0';
		char *save = NULL;
		for (char *l = strtok_r(msg, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
			if (!strcmp(l, "READY=1") && t_ready < 0)
				t_ready = t;
	}
}

static volatile sig_atomic_t interrupted;

/* -S: connect to every socket, send VHOST_USER_GET_FEATURES, wait for
 * every answer; the time of the last one, or -1 after the deadline. The
 * connections stay open until the end (a C virtiofsd exits when its
 * client leaves). */
static long long probe_served(long long deadline)
{
	int fds[MAXS];
	bool done[MAXS] = { false };
	int left = nsockets;
	for (int k = 0; k < nsockets; k++) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sockets[k]);
		fds[k] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		uint32_t req[3] = { 1 /* VHOST_USER_GET_FEATURES */, 0x1 /* version */, 0 };
		if (fds[k] < 0 || connect(fds[k], (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
		    send(fds[k], req, sizeof(req), MSG_NOSIGNAL) != (ssize_t)sizeof(req))
			return -1;
	}
	long long t_last = -1;
	while (left > 0) {
		struct pollfd p[MAXS];
		for (int k = 0; k < nsockets; k++)
			p[k] = (struct pollfd){ .fd = done[k] ? -1 : fds[k], .events = POLLIN };
		struct timespec ts = { 0, 20000000 };
		ppoll(p, (nfds_t)nsockets, &ts, NULL);
		for (int k = 0; k < nsockets; k++) {
			if (done[k] || !(p[k].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			unsigned char reply[20];
			ssize_t n = recv(fds[k], reply, sizeof(reply), MSG_WAITALL);
			uint32_t hdr[3];
			memcpy(hdr, reply, sizeof(hdr));
			if (n != (ssize_t)sizeof(reply) || hdr[0] != 1 || !(hdr[1] & 0x4) || hdr[2] != 8)
				return -1;
			done[k] = true;
			left--;
			t_last = now_ns();
		}
		if (interrupted || now_ns() > deadline)
			return -1;
	}
	return t_last;
}

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1; /* the loops look at it: they clean up and exit */
}

static pid_t start(char **argv, int logfd, const char *notify)
{
	if (!argv[0])
		die("empty-command");
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		int nul = open("/dev/null", O_RDONLY);
		dup2(nul, 0);
		dup2(logfd, 1);
		dup2(logfd, 2);
		if (notify) {
			setenv("NOTIFY_SOCKET", notify, 1);
		} else {
			unsetenv("NOTIFY_SOCKET");
			prctl(PR_SET_PDEATHSIG, SIGKILL); /* the floor's daemons die with us */
		}
		sigset_t all;
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		signal(SIGPIPE, SIG_DFL);
		execvp(argv[0], argv);
		_exit(127);
	}
	return pid;
}

int main(int argc, char **argv)
{
	double timeout = 20;
	long interval_us = 200;
	const char *log = "/dev/null";
	char notify_buf[108];
	const char *notify = NULL;
	bool floor = false, served = false;
	int i = 1, want_daemons = -1;
	for (; i < argc; i++) {
		if (!strcmp(argv[i], "-t") && i + 1 < argc)
			timeout = atof(argv[++i]);
		else if (!strcmp(argv[i], "-i") && i + 1 < argc)
			interval_us = atol(argv[++i]);
		else if (!strcmp(argv[i], "-l") && i + 1 < argc)
			log = argv[++i];
		else if (!strcmp(argv[i], "-S"))
			served = true;
		else if (!strcmp(argv[i], "-n") && i + 1 < argc &&
			 sscanf(argv[i + 1], "%d", &want_daemons) == 1 && want_daemons >= 0)
			i++;
		else if (!strcmp(argv[i], "-N") && i + 1 < argc)
			notify = argv[++i];
		else if (!strcmp(argv[i], "-s") && i + 1 < argc && nsockets < MAXS)
			sockets[nsockets++] = argv[++i];
		else if (!strcmp(argv[i], "--")) {
			i++;
			break;
		} else if (!strcmp(argv[i], "--floor")) {
			floor = true;
			i++;
			break;
		} else {
			fputs("usage: vfs-bench [-S] [-n N] [-t S] [-i US] [-l LOG] [-N PATH] -s SOCKET... "
			      "(-- CMD... | --floor CMD... [:: CMD...]...)\n",
			      stderr);
			return 2;
		}
	}
	if (i >= argc || !nsockets) {
		fputs("vfs-bench: no command or no -s SOCKET\n", stderr);
		return 2;
	}
	if (want_daemons < 0 || want_daemons > nsockets)
		want_daemons = nsockets;
	setvbuf(stdout, NULL, _IOLBF, 0);
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa_int = { .sa_handler = on_signal }; /* no SA_RESTART: wake the waits */
	sigaction(SIGINT, &sa_int, NULL);
	sigaction(SIGTERM, &sa_int, NULL);
	sigaction(SIGHUP, &sa_int, NULL);
	int logfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (logfd < 0)
		die("open-log");
	long long tmo = (long long)(timeout * 1e9);

	int nfd = -1;
	if (!floor) {
		if (!notify) {
			snprintf(notify_buf, sizeof(notify_buf), "/tmp/vfs-bench-%d.notify", (int)getpid());
			notify = notify_buf;
		}
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", notify);
		unlink(notify);
		nfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (nfd < 0 || bind(nfd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			die("bind-notify-socket");
	}

	t0 = now_ns();
	if (floor) {
		while (i < argc) {
			int end = i;
			while (end < argc && strcmp(argv[end], "::") != 0)
				end++;
			argv[end < argc ? end : argc] = NULL;
			if (nkids < MAXS)
				kids[nkids++] = start(argv + i, logfd, NULL);
			i = end + 1;
		}
	} else {
		kids[nkids++] = start(argv + i, logfd, notify);
	}

	/* Phase 1: ready and listening. Wake on the notify socket and on
	 * inotify events in the sockets' directories (bind() makes the file);
	 * while a socket file exists that does not listen yet, look at
	 * /proc/net/unix every interval_us; otherwise every 20 ms at most.
	 * So the watcher takes next to no CPU from what it watches. */
	int ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	for (int k = 0; k < nsockets && ino >= 0; k++) {
		char dir[4096];
		snprintf(dir, sizeof(dir), "%s", sockets[k]);
		char *sl = strrchr(dir, '/');
		if (sl && sl != dir)
			*sl = '\0';
		else
			snprintf(dir, sizeof(dir), "%s", sl ? "/" : ".");
		inotify_add_watch(ino, dir, IN_CREATE | IN_MOVED_TO | IN_ATTRIB);
	}
	long long t_ready = -1, t_listen = -1;
	int at_ready = -1;
	bool pending = true; /* a socket file that does not listen yet */
	while (t_listen < 0 || (!floor && t_ready < 0)) {
		if (interrupted)
			die("interrupted");
		if (now_ns() - t0 > tmo)
			die(t_ready < 0 && !floor ? "no-READY" : "sockets-not-listening");
		for (int k = 0; k < nkids; k++) {
			int st;
			if (kids[k] > 0 && waitpid(kids[k], &st, WNOHANG) == kids[k]) {
				kids[k] = -1;
				die("command-exited");
			}
		}
		struct pollfd pfd[2] = { { .fd = nfd, .events = POLLIN }, { .fd = ino, .events = POLLIN } };
		long wait_us = pending ? interval_us : 20000;
		struct timespec ts = { wait_us / 1000000, (wait_us % 1000000) * 1000 };
		ppoll(pfd, 2, &ts, NULL);
		if (nfd >= 0 && (pfd[0].revents & POLLIN)) {
			long long t = drain_notify(nfd);
			if (t >= 0 && t_ready < 0) {
				t_ready = t;
				at_ready = count_listening();
			}
		}
		if (ino >= 0 && (pfd[1].revents & POLLIN)) {
			char ev[4096];
			while (read(ino, ev, sizeof(ev)) > 0)
				;
		}
		if (t_listen < 0) {
			int l = count_listening();
			if (l == nsockets) {
				t_listen = now_ns();
			} else {
				int files = 0;
				struct stat st;
				for (int k = 0; k < nsockets; k++)
					files += stat(sockets[k], &st) == 0 && S_ISSOCK(st.st_mode);
				pending = files > l;
			}
		}
	}
	if (ino >= 0)
		close(ino);
	if (floor) {
		t_ready = t_listen;
		at_ready = nsockets;
	}
	long long t_served = -1;
	if (served && (t_served = probe_served(t0 + tmo)) < 0)
		die("not-served");

	/* Phase 2: who is there, how much memory the supervisors took. */
	char detail[1024];
	long rss;
	if (floor) {
		rss = vmhwm_kib(getpid());
		uss_total = uss_kib(getpid());
		snprintf(detail, sizeof(detail), "vfs-bench:%ld", rss);
		survey(detail + strlen(detail), 1); /* only the daemons */
		snprintf(detail, sizeof(detail), "vfs-bench:%ld", rss);
	} else {
		/* A supervisor may send READY=1 before it forks its daemons
		 * (virtiofs-launch does: its sockets listen already): wait
		 * until every daemon runs virtiofsd, so that a child not yet
		 * past its exec is not taken for a supervisor. */
		long long end = now_ns() + 2000000000LL;
		while ((rss = survey(detail, sizeof(detail)), ndaemons < want_daemons) && now_ns() < end) {
			struct timespec t = { 0, 200000 };
			nanosleep(&t, NULL);
		}
	}
	printf("ready_ms=%.3f\nlistening_at_ready=%d\nlisten_ms=%.3f\n", ms(t0, t_ready), at_ready,
	       ms(t0, t_listen));
	if (served)
		printf("served_ms=%.3f\n", ms(t0, t_served));
	printf("daemons=%d\nrss_kib=%ld\nuss_kib=%ld\nrss_detail=%s\n", ndaemons, rss, uss_total,
	       detail);

	/* Phase 3: SIGTERM, until every virtiofsd is gone. */
	long long t_term = now_ns(), t_gone = -1, t_exit = -1;
	if (floor) {
		for (int k = 0; k < nkids; k++)
			kill(kids[k], SIGTERM);
	} else {
		kill(kids[0], SIGTERM);
	}
	struct timespec tick = { 0, 200000 };
	while (t_gone < 0 || (!floor && t_exit < 0)) {
		int st;
		pid_t w;
		while ((w = waitpid(-1, &st, WNOHANG)) > 0)
			if (!floor && w == kids[0]) {
				t_exit = now_ns();
				kids[0] = -1;
			}
		if (t_gone < 0) {
			bool any = false;
			for (int k = 0; k < ndaemons && !any; k++)
				any = alive(daemons[k]);
			if (!any)
				t_gone = now_ns();
		}
		if (nfd >= 0)
			drain_notify(nfd);
		if (interrupted)
			die("interrupted");
		if (now_ns() - t_term > tmo)
			die("daemons-left-after-SIGTERM");
		nanosleep(&tick, NULL);
	}
	printf("stop_ms=%.3f\n", ms(t_term, t_gone));
	if (!floor)
		printf("exit_ms=%.3f\n", ms(t_term, t_exit));
	if (nfd >= 0)
		unlink(notify);
	kill_all();
	return 0;
}
