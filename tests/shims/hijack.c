/* SPDX-License-Identifier: MIT */
/* hijack.so: an LD_PRELOAD shim that plays someone who made tap-setup run
 * their code. At the program's first flock() (tap-setup takes its VM's
 * lock confined as it is when it reads the runner or a record, anything
 * a VM user could shape) it tries to get past its sandbox through another
 * process, then lets the program go on:
 *
 *   HIJACK_VICTIM=PID...  the processes to go through, separated by
 *                       spaces (root with every capability: PID 1, the
 *                       test itself; root with none)
 *   HIJACK_FILE=PATH    a file to create through /proc/PID/root
 *
 * and prints on stderr, one per line, "HIJACK KEY VALUE" (yes: through
 * any of the victims):
 *   root_write yes|no   created HIJACK_FILE through /proc/PID/root (past
 *                       a mount namespace: the victim's root)
 *   mem_open yes|no     opened /proc/PID/mem for writing
 *   vm_writev yes|no    process_vm_writev() reached PID's memory (the
 *                       write goes to address 8, which is never mapped:
 *                       EFAULT means it was let through, nothing written)
 *   systemd_private yes|no   connected to PID 1's private socket (as root:
 *                       systemd-run without polkit)
 *   system_bus yes|no   connected to the system bus (the same)
 *   uevent yes|no       sent a (harmless) udev event: a netlink
 *                       NETLINK_KOBJECT_UEVENT message to udev's group
 *   inet yes|no         made an AF_INET socket (a filter that allows
 *                       rtnetlink alone refuses it)
 *   dev_chmod yes|no    chmod("/dev/null", 0666), its mode already: could
 *                       change the modes of the host's device nodes
 *   self_caps HEX       its own CapPrm
 *   self_nnp 0|1        its own NoNewPrivs
 *   scanner_uid UID     the real uid of its child (the scan of /proc), or
 *                       "none"
 *   scanner_caps HEX    the child's CapPrm
 *   scanner_seccomp N   the child's Seccomp (2: a filter)
 *   scanner_nnp 0|1     the child's NoNewPrivs
 * Built without sanitizers. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <linux/netlink.h>
#include <sys/uio.h>
#include <unistd.h>

static void say(const char *key, const char *val)
{
	fprintf(stderr, "HIJACK %s %s\n", key, val);
}

/* The value of "Key:" in /proc/PID/status (first word), into out. */
static void status_field(const char *pid, const char *key, char *out, size_t n)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%s/status", pid);
	snprintf(out, n, "none");
	FILE *f = fopen(path, "re");
	if (!f)
		return;
	size_t kl = strlen(key);
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, kl) && line[kl] == ':') {
			char *v = line + kl + 1;
			v += strspn(v, " \t");
			v[strcspn(v, " \t\n")] = '\0';
			snprintf(out, n, "%s", v);
			break;
		}
	fclose(f);
}

/* Could it send udev an event? One naming a device that does not exist,
 * with no SYSTEMD_WANTS=. */
static int uevent(void)
{
	static const char msg[] = "libudev\0";
	int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_KOBJECT_UEVENT), ok = 0;
	if (fd >= 0) {
		struct sockaddr_nl a = { .nl_family = AF_NETLINK, .nl_groups = 2 };
		ok = sendto(fd, msg, sizeof(msg), 0, (struct sockaddr *)&a, sizeof(a)) >= 0;
		close(fd);
	}
	return ok;
}

/* Does a connect() to the unix socket at path succeed? */
static int reach(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), ok = 0;
	if (fd >= 0) {
		ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
		close(fd);
	}
	return ok;
}

/* The attacks through one victim: bit 0 root_write, 1 mem_open, 2 vm_writev. */
static int through(const char *victim, const char *file)
{
	char path[4096];
	int got = 0;
	if (file) {
		snprintf(path, sizeof(path), "/proc/%s/root%s", victim, file);
		int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd >= 0) {
			got |= 1;
			close(fd);
		}
	}
	snprintf(path, sizeof(path), "/proc/%s/mem", victim);
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		got |= 2;
		close(fd);
	}
	char b = 0;
	struct iovec l = { &b, 1 }, r = { (void *)8, 1 };
	if (process_vm_writev(atoi(victim), &l, 1, &r, 1, 0) >= 0 || errno == EFAULT)
		got |= 4;
	return got;
}

static void attack(void)
{
	const char *victims = getenv("HIJACK_VICTIM"), *file = getenv("HIJACK_FILE");
	char path[4096], v[64], me[32];
	if (victims) {
		int got = 0;
		char list[256];
		snprintf(list, sizeof(list), "%s", victims);
		for (char *save = NULL, *p = strtok_r(list, " ", &save); p;
		     p = strtok_r(NULL, " ", &save))
			got |= through(p, file);
		if (file)
			say("root_write", got & 1 ? "yes" : "no");
		say("mem_open", got & 2 ? "yes" : "no");
		say("vm_writev", got & 4 ? "yes" : "no");
	}
	say("uevent", uevent() ? "yes" : "no");
	int in = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	say("inet", in >= 0 ? "yes" : "no");
	if (in >= 0)
		close(in);
	say("dev_chmod", chmod("/dev/null", 0666) == 0 ? "yes" : "no");
	say("systemd_private", reach("/run/systemd/private") ? "yes" : "no");
	say("system_bus", reach("/run/dbus/system_bus_socket") ? "yes" : "no");
	snprintf(me, sizeof(me), "%d", (int)getpid());
	status_field(me, "CapPrm", v, sizeof(v));
	say("self_caps", v);
	status_field(me, "NoNewPrivs", v, sizeof(v));
	say("self_nnp", v);

	/* The child: /proc/self/task/PID/children. */
	char kids[256] = "";
	snprintf(path, sizeof(path), "/proc/self/task/%s/children", me);
	FILE *f = fopen(path, "re");
	if (f) {
		if (!fgets(kids, sizeof(kids), f))
			kids[0] = '\0';
		fclose(f);
	}
	kids[strcspn(kids, " \n")] = '\0';
	if (!kids[0]) {
		say("scanner_uid", "none");
		return;
	}
	status_field(kids, "Uid", v, sizeof(v));
	say("scanner_uid", v);
	status_field(kids, "CapPrm", v, sizeof(v));
	say("scanner_caps", v);
	status_field(kids, "Seccomp", v, sizeof(v));
	say("scanner_seccomp", v);
	status_field(kids, "NoNewPrivs", v, sizeof(v));
	say("scanner_nnp", v);
}

int flock(int fd, int op)
{
	static int done;
	static int (*real)(int, int);
	if (!real)
		real = (int (*)(int, int))dlsym(RTLD_NEXT, "flock");
	if (!done) {
		done = 1;
		int saved = errno;
		attack();
		errno = saved;
	}
	return real ? real(fd, op) : (errno = ENOSYS, -1);
}
