// warren guest agent: re-identifies a guest resumed from a snapshot over the
// virtio-serial port org.warren.agent.0, whatever the guest's IP. Started by
// warren's inittab (minimal flavour) or warren-agent.service (systemd).
//
// A static program (no shared libraries, so any x86-64 Linux guest runs it),
// because a clone waits for its re-identification and under TCG every
// program a request starts, and every line a shell interprets, is guest code
// translated anew in the clone's QEMU. This one answers with system calls:
// ioctls for the MAC, address and route, clock_settime, sethostname. It
// starts a program only where no call does the job: `ip` for a guest with
// more than one address, ssh-keygen for OpenSSH's public key file,
// dropbearconvert for a key sent in OpenSSH's format only.
//
// Protocol (docs/SNAPSHOTS.md): one request per line, `VERB ID ARG...`, fields
// separated by spaces, "-" for an absent optional value; exactly one reply
// line per request, `ok ID [TEXT]` or `err ID MESSAGE`.
//   ping ID                        -> ok ID warren-agent 1
//   clock ID SEC.NSEC              -> steps the clock
//   reidentify ID MAC CIDR GW HOSTNAME DNS SEC.NSEC SEED_HEX KEY_BASE64 [DROPBEAR_KEY]
//       -> reseeds the RNG, steps the clock, sets eth0's MAC and only address
//          and the default route, hostname (+/etc/hosts), resolv.conf, and
//          installs the ed25519 host key (OpenSSH format; for dropbear, the
//          same key already in dropbear's format as `\ooo` octal escapes, when
//          given), then has the SSH server reload it. The key is never printed.
//
// Reading: the port is a virtio console port (QEMU `virtconsole`), the
// guest's only virtio console, so the kernel makes it /dev/hvc0. QEMU keeps a
// console port open towards the guest whether or not a host program is
// connected to its socket, so the agent's read blocks until a request comes:
// an idle agent costs the guest nothing. The tty is raw, without echo.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <net/route.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define PORT_NAME "org.warren.agent.0"
#define TTY "/dev/hvc0"
#define RUN_DIR "/run/warren"
#define AGENT_DIR RUN_DIR "/agent"
#define IFACE "eth0"
// warren-sshd (minimal flavour) restarts dropbear with this key when it exists.
#define SSHD_MARKER RUN_DIR "/warren-sshd"
#define DROPBEAR_OVERRIDE RUN_DIR "/dropbear_ed25519_host_key"
#define SEED_DROPBEAR_KEY RUN_DIR "/seed/dropbear_ed25519_host_key"
#define MAX_LINE 16384
#define MAX_FIELDS 12
#define MAX_FILE 65536

static const char *const kPath[] = {"/usr/sbin", "/usr/bin", "/sbin", "/bin", NULL};

// The failing request's message (one line; the reply carries it).
static char g_error[512];

static int fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(g_error, sizeof(g_error), fmt, ap);
  va_end(ap);
  return -1;
}

static int write_all(int fd, const char *data, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, data, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    data += n;
    len -= (size_t)n;
  }
  return 0;
}

// Replaces `path`'s content (through a symlink, as a shell's `>` does).
static int write_file(const char *path, const char *data, size_t len, mode_t mode) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return fail("cannot write %s: %s", path, strerror(errno));
  int rc = write_all(fd, data, len);
  int err = errno;
  if (close(fd) != 0 && rc == 0) rc = -1, err = errno;
  if (rc != 0) return fail("cannot write %s: %s", path, strerror(err));
  return 0;
}

// Reads up to cap-1 bytes, NUL-terminated; a missing file reads as empty.
static ssize_t read_file(const char *path, char *buf, size_t cap) {
  buf[0] = '\0';
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? 0 : -1;
  size_t got = 0;
  while (got + 1 < cap) {
    ssize_t n = read(fd, buf + got, cap - 1 - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += (size_t)n;
  }
  close(fd);
  buf[got] = '\0';
  return (ssize_t)got;
}

// `name` found in the PATH the agent uses, into out (PATH_MAX).
static int find_program(const char *name, char *out, size_t cap) {
  for (const char *const *dir = kPath; *dir != NULL; ++dir) {
    snprintf(out, cap, "%s/%s", *dir, name);
    if (access(out, X_OK) == 0) return 0;
  }
  return -1;
}

// Runs argv[0] (a path, or a name from the PATH, else a busybox applet), stdout to
// `out_path` (created 0600) or /dev/null, stdin and stderr /dev/null. Returns
// its exit status, or -1 when it could not run.
static int run(char *const argv[], const char *out_path) {
  char prog[256];
  char *busybox_argv[MAX_FIELDS + 2];
  char *const *use = argv;
  if (strchr(argv[0], '/') != NULL) {
    snprintf(prog, sizeof(prog), "%s", argv[0]);
  } else if (find_program(argv[0], prog, sizeof(prog)) != 0) {
    if (find_program("busybox", prog, sizeof(prog)) != 0) return -1;
    busybox_argv[0] = "busybox";
    size_t i = 0;
    for (; argv[i] != NULL && i < MAX_FIELDS; ++i) busybox_argv[i + 1] = argv[i];
    busybox_argv[i + 1] = NULL;
    use = busybox_argv;
  }
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    int null = open("/dev/null", O_RDWR);
    int out = out_path != NULL ? open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600) : null;
    if (null < 0 || out < 0) _exit(127);
    dup2(null, 0);
    dup2(out, 1);
    dup2(null, 2);
    setpriority(PRIO_PROCESS, 0, 0);
    execv(prog, use);
    _exit(127);
  }
  int status;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// ---- clock and RNG ----

static int parse_time(const char *text, struct timespec *ts) {
  char *end;
  errno = 0;
  long long sec = strtoll(text, &end, 10);
  if (errno != 0 || end == text || sec <= 0) return -1;
  long nsec = 0;
  if (*end == '.') {
    const char *frac = end + 1;
    int digits = 0;
    for (; *frac >= '0' && *frac <= '9' && digits < 9; ++frac, ++digits) {
      nsec = nsec * 10 + (*frac - '0');
    }
    if (digits == 0 || *frac != '\0') return -1;
    for (; digits < 9; ++digits) nsec *= 10;
  } else if (*end != '\0') {
    return -1;
  }
  ts->tv_sec = (time_t)sec;
  ts->tv_nsec = nsec;
  return 0;
}

static int set_clock(const char *when) {
  struct timespec ts;
  if (parse_time(when, &ts) != 0) return fail("bad time %s (want SEC.NSEC)", when);
  if (clock_settime(CLOCK_REALTIME, &ts) != 0) {
    return fail("cannot set the clock: %s", strerror(errno));
  }
  return 0;
}

// Mixed into the pool (not credited), so clones of one snapshot diverge.
static int reseed(const char *hex) {
  int fd = open("/dev/urandom", O_WRONLY | O_CLOEXEC);
  if (fd < 0) return fail("cannot open /dev/urandom: %s", strerror(errno));
  int rc = write_all(fd, hex, strlen(hex));
  close(fd);
  return rc == 0 ? 0 : fail("cannot write /dev/urandom: %s", strerror(errno));
}

// ---- network ----

// IPv4 addresses besides loopback's (each counted once).
static int count_addresses(void) {
  struct ifaddrs *all;
  if (getifaddrs(&all) != 0) return -1;
  in_addr_t seen[64];
  int n = 0;
  for (struct ifaddrs *a = all; a != NULL; a = a->ifa_next) {
    if (a->ifa_addr == NULL || a->ifa_addr->sa_family != AF_INET) continue;
    in_addr_t ip = ((struct sockaddr_in *)a->ifa_addr)->sin_addr.s_addr;
    if ((ntohl(ip) >> 24) == 127) continue;
    int dup = 0;
    for (int i = 0; i < n; ++i) dup |= seen[i] == ip;
    if (!dup && n < 64) seen[n++] = ip;
  }
  freeifaddrs(all);
  return n;
}

static void set_sockaddr(struct sockaddr *sa, in_addr_t ip) {
  struct sockaddr_in sin;
  memset(&sin, 0, sizeof(sin));
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = ip;
  memcpy(sa, &sin, sizeof(sin));
}

static int if_ioctl(int sock, unsigned long req, struct ifreq *ifr, const char *what) {
  strncpy(ifr->ifr_name, IFACE, IFNAMSIZ - 1);
  if (ioctl(sock, req, ifr) != 0) return fail("%s on " IFACE ": %s", what, strerror(errno));
  return 0;
}

// The MAC (virtio-net changes it while up; a NIC that cannot is taken down
// for it), then the one address, replacing the parent's.
static int set_mac_and_address(int sock, const unsigned char mac[6], in_addr_t ip,
                               in_addr_t mask) {
  struct ifreq ifr;
  memset(&ifr, 0, sizeof(ifr));
  ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
  memcpy(ifr.ifr_hwaddr.sa_data, mac, 6);
  if (if_ioctl(sock, SIOCSIFHWADDR, &ifr, "set MAC") != 0) {
    struct ifreq flags;
    memset(&flags, 0, sizeof(flags));
    if (if_ioctl(sock, SIOCGIFFLAGS, &flags, "read flags") != 0) return -1;
    flags.ifr_flags &= ~IFF_UP;
    if (if_ioctl(sock, SIOCSIFFLAGS, &flags, "set down") != 0) return -1;
    if (if_ioctl(sock, SIOCSIFHWADDR, &ifr, "set MAC") != 0) return -1;
  }
  memset(&ifr, 0, sizeof(ifr));
  set_sockaddr(&ifr.ifr_addr, ip);
  if (if_ioctl(sock, SIOCSIFADDR, &ifr, "set address") != 0) return -1;
  memset(&ifr, 0, sizeof(ifr));
  set_sockaddr(&ifr.ifr_netmask, mask);
  if (if_ioctl(sock, SIOCSIFNETMASK, &ifr, "set netmask") != 0) return -1;
  memset(&ifr, 0, sizeof(ifr));
  if (if_ioctl(sock, SIOCGIFFLAGS, &ifr, "read flags") != 0) return -1;
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  return if_ioctl(sock, SIOCSIFFLAGS, &ifr, "set up");
}

// More than one address (a user added some): `ip` flushes them all, so none
// of a parent's extra addresses reaches a clone.
static int set_with_ip(const char *mac, const char *cidr) {
  char *link[] = {"ip", "link", "set", IFACE, "address", (char *)mac, NULL};
  if (run(link, NULL) != 0) {
    char *down[] = {"ip", "link", "set", IFACE, "down", NULL};
    char *up[] = {"ip", "link", "set", IFACE, "up", NULL};
    if (run(down, NULL) != 0 || run(link, NULL) != 0 || run(up, NULL) != 0) {
      return fail("ip cannot set the MAC of " IFACE " to %s", mac);
    }
  }
  char *flush[] = {"ip", "addr", "flush", "dev", IFACE, NULL};
  char *add[] = {"ip", "addr", "add", (char *)cidr, "dev", IFACE, NULL};
  if (run(flush, NULL) != 0 || run(add, NULL) != 0) {
    return fail("ip cannot set the address of " IFACE " to %s", cidr);
  }
  return 0;
}

// The default route via `gw` replaces any other (changing the address
// removed the old one with it).
static int set_default_route(int sock, in_addr_t gw) {
  struct rtentry rt;
  memset(&rt, 0, sizeof(rt));
  set_sockaddr(&rt.rt_dst, INADDR_ANY);
  set_sockaddr(&rt.rt_genmask, INADDR_ANY);
  set_sockaddr(&rt.rt_gateway, gw);
  rt.rt_flags = RTF_UP | RTF_GATEWAY;
  rt.rt_dev = IFACE;
  for (int tries = 0; tries < 8; ++tries) {
    if (ioctl(sock, SIOCADDRT, &rt) == 0) return 0;
    if (errno != EEXIST) break;
    struct rtentry old;
    memset(&old, 0, sizeof(old));
    set_sockaddr(&old.rt_dst, INADDR_ANY);
    set_sockaddr(&old.rt_genmask, INADDR_ANY);
    if (ioctl(sock, SIOCDELRT, &old) != 0) break;
  }
  return fail("cannot set the default route via %s: %s", inet_ntoa((struct in_addr){gw}),
              strerror(errno));
}

static int parse_mac(const char *text, unsigned char mac[6]) {
  unsigned int b[6];
  char tail;
  if (sscanf(text, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
             &tail) != 6) {
    return -1;
  }
  for (int i = 0; i < 6; ++i) mac[i] = (unsigned char)b[i];
  return 0;
}

static int set_network(const char *mac_text, const char *cidr, const char *gw_text) {
  unsigned char mac[6];
  if (parse_mac(mac_text, mac) != 0) return fail("bad MAC %s", mac_text);
  char addr_text[INET_ADDRSTRLEN];
  const char *slash = strchr(cidr, '/');
  char *end;
  long prefix = slash != NULL ? strtol(slash + 1, &end, 10) : -1;
  struct in_addr ip;
  if (slash == NULL || (size_t)(slash - cidr) >= sizeof(addr_text) || *end != '\0' ||
      prefix < 1 || prefix > 32) {
    return fail("bad address %s (want A.B.C.D/N)", cidr);
  }
  memcpy(addr_text, cidr, (size_t)(slash - cidr));
  addr_text[slash - cidr] = '\0';
  if (inet_pton(AF_INET, addr_text, &ip) != 1) return fail("bad address %s", cidr);
  struct in_addr gw = {0};
  if (strcmp(gw_text, "-") != 0 && inet_pton(AF_INET, gw_text, &gw) != 1) {
    return fail("bad gateway %s", gw_text);
  }
  in_addr_t mask = htonl(prefix == 32 ? 0xffffffffu : ~(0xffffffffu >> prefix));

  int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) return fail("socket: %s", strerror(errno));
  int rc = count_addresses() <= 1 ? set_mac_and_address(sock, mac, ip.s_addr, mask)
                                  : set_with_ip(mac_text, cidr);
  if (rc == 0 && gw.s_addr != 0) rc = set_default_route(sock, gw.s_addr);
  close(sock);
  return rc;
}

// ---- names ----

// Every line of `text` for which keep(line) is true, into out (cap bytes).
static size_t filter_lines(const char *text, int (*keep)(const char *, size_t), char *out,
                           size_t cap) {
  size_t len = 0;
  while (*text != '\0') {
    const char *nl = strchr(text, '\n');
    size_t n = nl != NULL ? (size_t)(nl - text) : strlen(text);
    if (keep(text, n) && len + n + 1 < cap) {
      memcpy(out + len, text, n);
      len += n;
      out[len++] = '\n';
    }
    text += n + (nl != NULL);
  }
  out[len] = '\0';
  return len;
}

static int not_loopback_name(const char *line, size_t n) {
  return !(n > 9 && strncmp(line, "127.0.1.1", 9) == 0 && (line[9] == ' ' || line[9] == '\t'));
}

static int is_search(const char *line, size_t n) {
  return n >= 6 && strncmp(line, "search", 6) == 0;
}

// /etc/hosts keeps every line but 127.0.1.1's, which names the new host.
static int set_hostname(const char *name) {
  static char old[MAX_FILE], hosts[MAX_FILE + 300];
  char line[300];
  if (sethostname(name, strlen(name)) != 0) {
    return fail("cannot set the hostname: %s", strerror(errno));
  }
  snprintf(line, sizeof(line), "%s\n", name);
  if (write_file("/etc/hostname", line, strlen(line), 0644) != 0) return -1;
  if (read_file("/etc/hosts", old, sizeof(old)) < 0) return fail("cannot read /etc/hosts");
  size_t len = filter_lines(old, not_loopback_name, hosts, MAX_FILE);
  len += (size_t)snprintf(hosts + len, sizeof(hosts) - len, "127.0.1.1\t%s\n", name);
  return write_file("/etc/hosts", hosts, len, 0644);
}

// Keeps the search line.
static int set_dns(const char *server) {
  static char old[MAX_FILE], conf[MAX_FILE + 80];
  if (read_file("/etc/resolv.conf", old, sizeof(old)) < 0) {
    return fail("cannot read /etc/resolv.conf");
  }
  size_t len = filter_lines(old, is_search, conf, MAX_FILE);
  len += (size_t)snprintf(conf + len, sizeof(conf) - len, "nameserver %s\n", server);
  return write_file("/etc/resolv.conf", conf, len, 0644);
}

// ---- host key ----

static int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// Standard base64 with padding; returns the length or -1.
static ssize_t base64_decode(const char *in, char *out, size_t cap) {
  size_t len = 0;
  unsigned int acc = 0;
  int bits = 0;
  for (; *in != '\0' && *in != '='; ++in) {
    int v = base64_value(*in);
    if (v < 0) return -1;
    acc = (acc << 6) | (unsigned int)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (len >= cap) return -1;
      out[len++] = (char)((acc >> bits) & 0xff);
    }
  }
  return (ssize_t)len;
}

// `\ooo` escapes only (what the daemon sends), as printf(1) would write them.
static ssize_t octal_decode(const char *in, char *out, size_t cap) {
  size_t len = 0;
  while (*in != '\0') {
    if (in[0] != '\\' || in[1] < '0' || in[1] > '3' || in[2] < '0' || in[2] > '7' ||
        in[3] < '0' || in[3] > '7' || len >= cap) {
      return -1;
    }
    out[len++] = (char)(((in[1] - '0') << 6) | ((in[2] - '0') << 3) | (in[3] - '0'));
    in += 4;
  }
  return (ssize_t)len;
}

// Sends `sig` to the SSH server's listener (a child of init, or of
// warren-sshd, which restarts dropbear at once), not to the per-connection
// processes it forked: open sessions live on.
static void signal_listener(const char *comm, int sig) {
  DIR *proc = opendir("/proc");
  if (proc == NULL) return;
  struct dirent *e;
  while ((e = readdir(proc)) != NULL) {
    if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
    char path[300], stat[512], name[64];
    snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
    if (read_file(path, stat, sizeof(stat)) <= 0) continue;
    char *open = strchr(stat, '('), *close = strrchr(stat, ')');
    if (open == NULL || close == NULL || close < open) continue;
    *close = '\0';
    if (strcmp(open + 1, comm) != 0) continue;
    int ppid = 0;
    if (sscanf(close + 2, "%*c %d", &ppid) != 1) continue;
    int listener = ppid == 1;
    if (!listener) {
      snprintf(path, sizeof(path), "/proc/%d/comm", ppid);
      listener = read_file(path, name, sizeof(name)) > 0 && strcmp(name, "warren-sshd\n") == 0;
    }
    if (listener) kill(atoi(e->d_name), sig);
  }
  closedir(proc);
}

static int mounted(const char *target) {
  static char mounts[MAX_FILE];
  if (read_file("/proc/mounts", mounts, sizeof(mounts)) <= 0) return 0;
  size_t n = strlen(target);
  for (const char *line = mounts; line != NULL && *line != '\0';) {
    const char *space = strchr(line, ' ');
    if (space != NULL && strncmp(space + 1, target, n) == 0 && space[1 + n] == ' ') return 1;
    line = strchr(line, '\n');
    if (line != NULL) ++line;
  }
  return 0;
}

static int install_openssh_key(const char *key, size_t len) {
  DIR *dir = opendir("/etc/ssh");
  if (dir != NULL) {
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
      if (strncmp(e->d_name, "ssh_host_", 9) == 0) unlinkat(dirfd(dir), e->d_name, 0);
    }
    closedir(dir);
  }
  const char *path = "/etc/ssh/ssh_host_ed25519_key";
  if (write_file(path, key, len, 0600) != 0) return -1;
  char *keygen[] = {"ssh-keygen", "-y", "-f", (char *)path, NULL};
  if (run(keygen, "/etc/ssh/ssh_host_ed25519_key.pub") != 0) {
    return fail("ssh-keygen cannot read the host key");
  }
  chmod("/etc/ssh/ssh_host_ed25519_key.pub", 0644);
  signal_listener("sshd", SIGHUP);
  return 0;
}

// Dropbear reads the key named on its command line (on the read-only seed),
// so without warren-sshd a bind mount puts the new key there; init then
// restarts the listener this ends.
static int install_dropbear_key(const char *id, const char *openssh, size_t openssh_len,
                                const char *dropbear, size_t dropbear_len) {
  if (dropbear != NULL && access(SSHD_MARKER, F_OK) == 0) {
    if (write_file(DROPBEAR_OVERRIDE, dropbear, dropbear_len, 0600) != 0) return -1;
    signal_listener("dropbear", SIGTERM);
    return 0;
  }
  if (access(SEED_DROPBEAR_KEY, F_OK) != 0) {
    return fail("no dropbear host key at %s to replace", SEED_DROPBEAR_KEY);
  }
  // A new file per request: the one bound over the seed's stays intact until
  // the new one replaces it.
  char key[128];
  snprintf(key, sizeof(key), AGENT_DIR "/dropbear_ed25519_host_key.%s", id);
  if (dropbear != NULL) {
    if (write_file(key, dropbear, dropbear_len, 0600) != 0) return -1;
  } else {
    const char *tmp = AGENT_DIR "/key.openssh";
    if (write_file(tmp, openssh, openssh_len, 0600) != 0) return -1;
    char convert[256];
    if (find_program("dropbearconvert", convert, sizeof(convert)) != 0) {
      snprintf(convert, sizeof(convert), "/usr/lib/dropbear/dropbearconvert");
    }
    char *argv[] = {convert, "openssh", "dropbear", (char *)tmp, key, NULL};
    int rc = run(argv, NULL);
    truncate(tmp, 0);
    if (rc != 0) return fail("dropbearconvert cannot read the host key");
  }
  while (mounted(SEED_DROPBEAR_KEY)) {
    if (umount(SEED_DROPBEAR_KEY) != 0) return fail("umount: %s", strerror(errno));
  }
  if (mount(key, SEED_DROPBEAR_KEY, NULL, MS_BIND, NULL) != 0) {
    return fail("bind mount of the host key: %s", strerror(errno));
  }
  signal_listener("dropbear", SIGTERM);
  return 0;
}

static int install_host_key(const char *id, const char *key_base64, const char *dropbear_octal) {
  static char openssh[8192], dropbear[1024];
  ssize_t openssh_len = base64_decode(key_base64, openssh, sizeof(openssh));
  if (openssh_len <= 0) return fail("bad host key");
  ssize_t dropbear_len = 0;
  if (dropbear_octal != NULL) {
    dropbear_len = octal_decode(dropbear_octal, dropbear, sizeof(dropbear));
    if (dropbear_len <= 0) return fail("bad dropbear host key");
  }
  char sshd[256];
  if (find_program("sshd", sshd, sizeof(sshd)) == 0) {
    return install_openssh_key(openssh, (size_t)openssh_len);
  }
  return install_dropbear_key(id, openssh, (size_t)openssh_len,
                              dropbear_octal != NULL ? dropbear : NULL, (size_t)dropbear_len);
}

// ---- requests ----

// f: the fields after the verb; n: how many.
static int reidentify(char **f, int n) {
  if (n < 9) return fail("reidentify needs 9 arguments");
  const char *id = f[0], *mac = f[1], *cidr = f[2], *gw = f[3], *host = f[4], *dns = f[5],
             *when = f[6], *seed = f[7], *key = f[8];
  const char *dropbear = n > 9 ? f[9] : NULL;
  if (reseed(seed) != 0 || set_clock(when) != 0 || set_network(mac, cidr, gw) != 0 ||
      set_hostname(host) != 0) {
    return -1;
  }
  if (strcmp(dns, "-") != 0 && set_dns(dns) != 0) return -1;
  return install_host_key(id, key, dropbear);
}

// Answers one request line (fields split in place).
static void handle(int tty, char *line) {
  char *f[MAX_FIELDS];
  int n = 0;
  for (char *save = NULL, *t = strtok_r(line, " \t\r", &save); t != NULL && n < MAX_FIELDS;
       t = strtok_r(NULL, " \t\r", &save)) {
    f[n++] = t;
  }
  if (n < 2) return;
  const char *verb = f[0], *id = f[1];
  const char *text = NULL;
  int rc;
  g_error[0] = '\0';
  if (strcmp(verb, "ping") == 0) {
    rc = 0;
    text = "warren-agent 1";
  } else if (strcmp(verb, "clock") == 0) {
    rc = n < 3 ? fail("clock needs a time") : set_clock(f[2]);
  } else if (strcmp(verb, "reidentify") == 0) {
    rc = reidentify(f + 1, n - 1);
  } else {
    rc = fail("unknown request %s", verb);
  }
  char reply[sizeof(g_error) + 64];
  if (rc == 0) {
    snprintf(reply, sizeof(reply), "ok %s%s%s\n", id, text ? " " : "", text ? text : "");
  } else {
    for (char *c = g_error; *c != '\0'; ++c) {
      if (*c == '\n' || *c == '\r') *c = ' ';
    }
    snprintf(reply, sizeof(reply), "err %s %s\n", id, g_error);
  }
  write_all(tty, reply, strlen(reply));
}

// True once the kernel has named warren's port. QEMU announces a console port
// before naming it, so by then the kernel has made its console, TTY. (No
// trial open: a close discards whatever the host had sent meanwhile.)
static int port_named(void) {
  DIR *dir = opendir("/sys/class/virtio-ports");
  if (dir == NULL) return 0;
  int found = 0;
  struct dirent *e;
  while (!found && (e = readdir(dir)) != NULL) {
    char path[300], name[64];
    snprintf(path, sizeof(path), "/sys/class/virtio-ports/%s/name", e->d_name);
    found = read_file(path, name, sizeof(name)) > 0 && strcmp(name, PORT_NAME "\n") == 0;
  }
  closedir(dir);
  return found;
}

int main(void) {
  // Boot first: init starts the agent beside the SSH server on what is often
  // one vCPU, and the SSH server is what the daemon waits for.
  setpriority(PRIO_PROCESS, 0, 19);
  signal(SIGPIPE, SIG_IGN);
  umask(022);
  mkdir(RUN_DIR, 0755);
  mkdir(AGENT_DIR, 0700);

  // The driver names its ports only once QEMU has announced them, a moment
  // after the module loads: wait up to 10 s.
  char *modprobe[] = {"modprobe", "virtio_console", NULL};
  run(modprobe, NULL);
  int waited = 0;
  for (; !port_named() && waited < 100; ++waited) {
    struct timespec tenth = {0, 100 * 1000 * 1000};
    nanosleep(&tenth, NULL);
  }
  if (waited >= 100) {
    fprintf(stderr, "warren-agent: no virtio console port " PORT_NAME " (" TTY "); not serving\n");
    for (;;) pause();
  }
  int tty = open(TTY, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (tty < 0) {
    fprintf(stderr, "warren-agent: cannot open " TTY ": %s\n", strerror(errno));
    return 1;
  }
  struct termios raw;
  if (tcgetattr(tty, &raw) == 0) {
    cfmakeraw(&raw);
    tcsetattr(tty, TCSANOW, &raw);
  }
  // Blocks in read until the host sends a line; EOF only if the tty is hung
  // up, and then init restarts the agent. A line longer than MAX_LINE is
  // dropped whole.
  static char buf[MAX_LINE];
  size_t len = 0;
  int overlong = 0;
  for (;;) {
    ssize_t n = read(tty, buf + len, sizeof(buf) - 1 - len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return 0;
    len += (size_t)n;
    char *start = buf, *nl;
    while ((nl = memchr(start, '\n', len - (size_t)(start - buf))) != NULL) {
      *nl = '\0';
      if (!overlong) handle(tty, start);
      overlong = 0;
      start = nl + 1;
    }
    len -= (size_t)(start - buf);
    memmove(buf, start, len);
    if (len == sizeof(buf) - 1) {
      overlong = 1;
      len = 0;
    }
  }
}
