/*
 * agent_procfs.c - /proc/self/fd/N, /proc/self/fdinfo/N and /proc/mounts
 * as the kernel shows them for bpf objects, in the traced process.
 *
 * Under bpftime-run a bpf fd is a memfd ("memfd:bpf-map:<name>") or a file
 * under <session>/obj/ (emul/fdtable.c), so procfs describes that file, not
 * the kernel's anon inode. Clients read procfs to learn about their fds:
 * bpftool's get_fdinfo() fopen()s /proc/self/fdinfo/<fd> and getline()s
 * "memlock", "frozen", "owner_prog_type"; its get_fd_type() readlink()s
 * /proc/self/fd/<fd> and looks for "bpf-map" / "bpf-prog" / "bpf-link"; and
 * `bpftool -f` walks the bpf mounts listed by setmntent("/proc/mounts").
 * The seccomp filter cannot match path strings, so the supervisor never sees
 * these opens; the agent interposes the libc entry points instead: fopen,
 * fopen64, open, open64, openat, openat64, their _FORTIFY_SOURCE twins
 * (__open_2, __open64_2, __openat_2, __openat64_2), readlink, readlinkat,
 * __readlink_chk, __readlinkat_chk, and setmntent.
 *
 * Only absolute paths /proc/{self,thread-self,<our pid>}/{fd,fdinfo}/<n>
 * whose fd is a live bpftime object, and the mount tables
 * (/proc/mounts, /proc/{self,thread-self,<pid>}/mounts, /etc/mtab), are
 * answered here; everything else goes to the next definition (dlsym
 * RTLD_NEXT) after one compare of the path's first bytes.
 *
 * Where the facts come from: the session registry this agent already maps
 * (emul/registry_layout.h), found by the fd's (st_dev, st_ino) as the
 * supervisor finds objects (emul/fdtable.c). We do not ask the supervisor
 * with BPF_OBJ_GET_INFO_BY_FD: that would cost a seccomp round trip per
 * open, would show the traced process making bpf() calls it never made, and
 * would still lack the map memlock and the link's uprobe; the registry slot is
 * exactly what emul/info.c answers from, and the text is formatted by
 * emul/fdinfo_text.c, shared with the supervisor side, so the two agree.
 *
 * The answer is a read-only fd on a sealed memfd holding the text (reopened
 * O_RDONLY through /proc/self/fd, so writes fail with EBADF as on procfs),
 * wrapped by fdopen() for fopen(). An open for writing is left to procfs,
 * which decides by DAC and capabilities as it does for any fdinfo file.
 *
 * Cost: a path that does not start with "/proc/" (or is not /etc/mtab) costs
 * a few byte compares; an fd path of a regular file that is not ours costs
 * one fstat() and a walk of a table of the live objects' (st_dev, st_ino),
 * rebuilt only when the registry generation moves (bench/procfs_bench.sh).
 *
 * DIVERGES: the generic "pos/mnt_id/ino" lines are those of the backing file
 * (the kernel shows the anon inode shared by all bpf fds); a statically
 * linked program, or one that uses raw syscalls or a directory fd
 * (openat(dirfd, "3")), reads the real procfs; the opens we answer are made
 * of a few extra syscalls (memfd_create, write, openat) a syscall tracepoint
 * on this process can see.
 */
#define _GNU_SOURCE
#include "hooks/agent_int.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <mntent.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "common/utils.h"
#include "emul/fdinfo_text.h"
#include "hooks/tp_event.h"
#include "maps/maps.h"

#define EXPORT __attribute__((visibility("default")))
#define TEXT_MAX 8192

enum proc_what {
	PROC_NONE = 0,
	PROC_FD,     /* /proc/.../fd/<n>: a symlink */
	PROC_FDINFO, /* /proc/.../fdinfo/<n> */
	PROC_MOUNTS, /* /proc/mounts and friends */
};

/* ---- next definitions ---- */

static void *next_sym(void **cache, const char *name)
{
	void *f = __atomic_load_n(cache, __ATOMIC_RELAXED);

	if (!f) {
		f = dlsym(RTLD_NEXT, name);
		__atomic_store_n(cache, f, __ATOMIC_RELAXED);
	}
	return f;
}

#define NEXT(type, name)                                         \
	({                                                       \
		static void *cache_;                             \
		(type) next_sym(&cache_, name);                  \
	})

typedef FILE *(*fopen_fn)(const char *, const char *);
typedef int (*open_fn)(const char *, int, ...);
typedef int (*openat_fn)(int, const char *, int, ...);
typedef int (*open2_fn)(const char *, int);
typedef int (*openat2_fn)(int, const char *, int);
typedef ssize_t (*readlink_fn)(const char *, char *, size_t);
typedef ssize_t (*readlinkat_fn)(int, const char *, char *, size_t);
typedef FILE *(*setmntent_fn)(const char *, const char *);

/* ---- which path is it ---- */

static const char *skip_num(const char *p, long *out)
{
	long v = 0;

	if (*p < '0' || *p > '9')
		return NULL;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (*p - '0');
		if (v > 0x7fffffff)
			return NULL;
	}
	*out = v;
	return p;
}

/* Classify @path; for PROC_FD/PROC_FDINFO *fd gets the fd number. */
static enum proc_what proc_classify(const char *path, int *fd)
{
	const char *p;
	long v;

	if (!path || path[0] != '/')
		return PROC_NONE;
	if (!strcmp(path, "/etc/mtab"))
		return PROC_MOUNTS;
	if (strncmp(path, "/proc/", 6))
		return PROC_NONE;
	p = path + 6;
	if (!strcmp(p, "mounts"))
		return PROC_MOUNTS;
	if (!strncmp(p, "self/", 5)) {
		p += 5;
	} else if (!strncmp(p, "thread-self/", 12)) {
		p += 12;
	} else {
		p = skip_num(p, &v);
		if (!p || *p != '/' || v != (long)agent_pid())
			return PROC_NONE;
		p++;
	}
	if (!strcmp(p, "mounts"))
		return PROC_MOUNTS;
	if (!strncmp(p, "fd/", 3)) {
		p = skip_num(p + 3, &v);
		if (!p || *p)
			return PROC_NONE;
		*fd = (int)v;
		return PROC_FD;
	}
	if (!strncmp(p, "fdinfo/", 7)) {
		p = skip_num(p + 7, &v);
		if (!p || *p)
			return PROC_NONE;
		*fd = (int)v;
		return PROC_FDINFO;
	}
	return PROC_NONE;
}

/*
 * The (st_dev, st_ino) of every live object, rebuilt when the registry
 * generation moves (as agent_poll.c keeps its rings): a path about an fd that
 * is not ours then costs one fstat() and a walk of this short table, not of
 * the registry's 4096 slots.
 */
struct obj_key {
	uint64_t dev;
	uint64_t ino;
	uint32_t idx; /* registry slot index */
};

static pthread_mutex_t objs_lock = PTHREAD_MUTEX_INITIALIZER;
static struct obj_key *objs; /* EMU_REG_SLOT_CNT entries, under objs_lock */
static uint32_t objs_cnt;    /* under objs_lock */
static uint32_t objs_gen;    /* generation objs was built at; under objs_lock */
static bool objs_built;      /* under objs_lock */

static const struct emu_reg_slot *slot_at(uint32_t i)
{
	return (const void *)((const uint8_t *)agent_sess.reg + EMU_REG_HDR_SZ + (size_t)i * EMU_REG_SLOT_SZ);
}

/* Called with objs_lock held. */
static void objs_rebuild(uint32_t gen)
{
	uint32_t cnt = 0;

	if (!objs) {
		objs = calloc(EMU_REG_SLOT_CNT, sizeof(*objs));
		if (!objs)
			return;
	}
	for (uint32_t i = 0; i < EMU_REG_SLOT_CNT; i++) {
		const struct emu_reg_slot *s = slot_at(i);

		/* Pairs with the store-release in emu_reg_publish() (emul/registry.c). */
		if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) == EMU_REG_LIVE)
			objs[cnt++] = (struct obj_key){ s->dev, s->ino, i };
	}
	objs_cnt = cnt;
	objs_gen = gen;
	objs_built = true;
}

/* fork() copies the lock in whatever state another thread left it; only one thread runs now. */
static void objs_atfork_child(void)
{
	pthread_mutex_init(&objs_lock, NULL);
}

__attribute__((constructor)) static void procfs_init(void)
{
	pthread_atfork(NULL, NULL, objs_atfork_child);
}

/* The live registry slot @fd stands for, or NULL. */
static const struct emu_reg_slot *fd_slot(int fd)
{
	const struct emu_reg_slot *found = NULL;
	struct stat st;
	uint32_t gen;

	if (!agent_sess.reg || fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return NULL;
	/* Read before the walk: a change during the walk makes the next call rebuild. */
	gen = __atomic_load_n(&agent_sess.reg->generation, __ATOMIC_ACQUIRE);
	pthread_mutex_lock(&objs_lock);
	if (!objs_built || gen != objs_gen)
		objs_rebuild(gen);
	for (uint32_t i = 0; objs && i < objs_cnt; i++)
		if (objs[i].dev == (uint64_t)st.st_dev && objs[i].ino == (uint64_t)st.st_ino) {
			found = slot_at(objs[i].idx);
			break;
		}
	pthread_mutex_unlock(&objs_lock);
	/* The slot may have been released since the table was built. */
	if (found && (__atomic_load_n(&found->state, __ATOMIC_ACQUIRE) != EMU_REG_LIVE ||
		      found->dev != (uint64_t)st.st_dev || found->ino != (uint64_t)st.st_ino))
		return NULL;
	return found;
}

/* ---- the texts ---- */

/* Read a small procfs file with raw syscalls (not through our own open()). */
static ssize_t raw_read_file(const char *path, char *buf, size_t sz)
{
	_cleanup_close_ int fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
	size_t len = 0;

	if (fd < 0)
		return -errno;
	while (len + 1 < sz) {
		ssize_t n = read(fd, buf + len, sz - 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = 0;
	return (ssize_t)len;
}

static uint64_t count_cb(struct map *m, const void *key, void *value, void *ctx)
{
	(void)m;
	(void)key;
	(void)value;
	(*(uint64_t *)ctx)++;
	return 0;
}

/* Elements in the map behind @fd (a BPF_F_NO_PREALLOC hash's memlock grows with them). */
static uint64_t map_elem_cnt(int fd)
{
	struct map *m;
	uint64_t cnt = 0;

	if (map_open_fd(fd, &m))
		return 0;
	map_for_each_elem(m, count_cb, &cnt, 0);
	map_put(m);
	return cnt;
}

static const char *tp_name(uint32_t tp_id)
{
	const struct tp_event *ev;

	return tp_event_lookup_id(tp_id, &ev) ? NULL : ev->name;
}

/* The running kernel's structure sizes, read once from its vmlinux BTF (emul/fdinfo_sizes.c). */
static struct emu_kstruct_sizes ksizes;
static pthread_once_t ksizes_once = PTHREAD_ONCE_INIT;

static void ksizes_load(void)
{
	size_t cap = 8u << 20, len = 0;
	_cleanup_close_ int fd = -1;
	_cleanup_free_ uint8_t *buf = NULL;

	emu_kstruct_sizes_default(&ksizes);
	fd = (int)syscall(SYS_openat, AT_FDCWD, "/sys/kernel/btf/vmlinux", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	for (;;) {
		ssize_t n;

		if (buf && len == cap) {
			uint8_t *nb;

			if (cap >= (64u << 20))
				return; /* not vmlinux BTF as we know it */
			nb = realloc(buf, cap * 2);
			if (!nb)
				return;
			buf = nb;
			cap *= 2;
		} else if (!buf && !(buf = malloc(cap))) {
			return;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	emu_kstruct_sizes_from_btf(buf, len, &ksizes);
}

static uint32_t kernel_version(void)
{
	static uint32_t kver;
	struct utsname u;

	if (!__atomic_load_n(&kver, __ATOMIC_RELAXED) && uname(&u) == 0)
		__atomic_store_n(&kver, emu_kver_parse(u.release), __ATOMIC_RELAXED);
	return __atomic_load_n(&kver, __ATOMIC_RELAXED);
}

/*
 * fs/proc/fd.c seq_show(): "pos/flags/mnt_id/ino", then the object's lines.
 * flags: the access mode the kernel gives each kind (bpf_map_new_fd() honours
 * BPF_F_RDONLY/WRONLY, so a map keeps its fd's; programs O_RDWR; links and BTF
 * O_RDONLY; perf events O_RDWR) plus O_CLOEXEC when the fd has FD_CLOEXEC.
 */
static int fdinfo_text(int fd, const struct emu_reg_slot *slot, char *buf, size_t sz)
{
	struct statx stx;
	off_t pos = lseek(fd, 0, SEEK_CUR);
	struct emu_fdinfo_env env = { kernel_version(), map_possible_cpus(), 0, tp_name, &ksizes };
	int fl = fcntl(fd, F_GETFL), fdfl = fcntl(fd, F_GETFD), acc, n, m;

	if (fl < 0 || fdfl < 0)
		return -errno;
	pthread_once(&ksizes_once, ksizes_load);
	switch (slot->kind) {
	case EMU_REG_MAP:
		acc = fl & O_ACCMODE;
		break;
	case EMU_REG_LINK:
	case EMU_REG_BTF:
		acc = O_RDONLY;
		break;
	default:
		acc = O_RDWR;
	}
	if (fdfl & FD_CLOEXEC)
		acc |= O_CLOEXEC;
	/* The backing file's mount id and inode (what its own fdinfo would say). */
	memset(&stx, 0, sizeof(stx));
	if (statx(fd, "", AT_EMPTY_PATH, STATX_INO | STATX_MNT_ID, &stx) < 0)
		return -errno;
	n = snprintf(buf, sz, "pos:\t%lld\nflags:\t0%o\nmnt_id:\t%llu\nino:\t%llu\n", (long long)(pos < 0 ? 0 : pos),
		     (unsigned)acc, (unsigned long long)stx.stx_mnt_id, (unsigned long long)stx.stx_ino);
	if (n < 0 || (size_t)n >= sz)
		return -ENOSPC;
	if (slot->kind == EMU_REG_MAP && (slot->u.map.map_flags & BPF_F_NO_PREALLOC))
		env.elem_cnt = map_elem_cnt(fd);
	m = emu_fdinfo_format(agent_sess.reg, slot, &env, buf + n, sz - (size_t)n);
	return m < 0 ? m : n + m;
}

/* Is /sys/fs/bpf the session's pin directory (supervisor/launch.c bind-mounts it)? */
static bool bpffs_is_session(void)
{
	char dir[4096];
	struct stat a, b;

	if (!agent_sess.dir || snprintf(dir, sizeof(dir), "%s/bpffs", agent_sess.dir) >= (int)sizeof(dir))
		return false;
	return stat("/sys/fs/bpf", &a) == 0 && stat(dir, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/*
 * The mount table with the session's /sys/fs/bpf shown as the bpf file
 * system it stands for (fs/proc_namespace.c show_vfsmnt() line format).
 * DIVERGES: its options read "rw,relatime", those of `mount -t bpf bpf
 * /sys/fs/bpf`; mountinfo is not rewritten.
 */
static ssize_t mounts_text(char **out)
{
	size_t cap = 1 << 16, len = 0, grown = 0;
	char *in = NULL, *res = NULL, *line, *save = NULL;
	ssize_t n;
	bool rewrite = bpffs_is_session();

	for (;;) {
		free(in);
		in = malloc(cap);
		if (!in)
			return -ENOMEM;
		n = raw_read_file("/proc/self/mounts", in, cap);
		if (n < 0) {
			free(in);
			return n;
		}
		if ((size_t)n + 1 < cap)
			break;
		cap *= 2;
	}
	/* Room for the bpf line replacing each short bind-mount line (there is one). */
	res = malloc((size_t)n + 4096);
	if (!res) {
		free(in);
		return -ENOMEM;
	}
	for (line = strtok_r(in, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		static const char bpf_line[] = "bpf /sys/fs/bpf bpf rw,relatime 0 0";
		char *sp = strchr(line, ' ');
		const char *src = line;
		size_t l;

		if (rewrite && sp && !strncmp(sp + 1, "/sys/fs/bpf ", 12) && grown + sizeof(bpf_line) < 4096) {
			src = bpf_line;
			grown += sizeof(bpf_line);
		}
		l = strlen(src);
		memcpy(res + len, src, l);
		len += l;
		res[len++] = '\n';
	}
	free(in);
	*out = res;
	return (ssize_t)len;
}

/* A read-only fd holding @len bytes of @text, positioned at 0. */
static int text_fd(const char *text, size_t len, int oflags)
{
	char path[64];
	_cleanup_close_ int mfd = (int)syscall(SYS_memfd_create, "bpftime-procfs", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	size_t done = 0;
	int fd;

	if (mfd < 0)
		return -errno;
	while (done < len) {
		ssize_t w = write(mfd, text + done, len - done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		done += (size_t)w;
	}
	fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", mfd);
	fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | (oflags & (O_CLOEXEC | O_NONBLOCK)));
	return fd < 0 ? -errno : fd;
}

/*
 * The fd to hand out for an open of @path, -errno on failure, or INT_MIN if
 * the path is not ours (the caller then calls the next definition).
 */
#define NOT_OURS (-0x7fffffff - 1)

static int procfs_open(const char *path, int oflags)
{
	char buf[TEXT_MAX];
	const struct emu_reg_slot *slot;
	enum proc_what what;
	int fd = -1, n;

	what = proc_classify(path, &fd);
	if (what == PROC_NONE || what == PROC_FD || !agent_sess.reg || (oflags & O_PATH))
		return NOT_OURS;
	if (what == PROC_MOUNTS) {
		_cleanup_free_ char *text = NULL;
		ssize_t len;

		if (!bpffs_is_session())
			return NOT_OURS;
		if ((oflags & O_ACCMODE) != O_RDONLY)
			return NOT_OURS; /* procfs decides, as above */
		len = mounts_text(&text);
		return len < 0 ? (int)len : text_fd(text, (size_t)len, oflags);
	}
	slot = fd_slot(fd);
	if (!slot)
		return NOT_OURS;
	/* proc_fdinfo_operations: the file is 0400; writing is refused at open. */
	if (oflags & O_DIRECTORY)
		return -ENOTDIR;
	/*
	 * Opening for writing is the real procfs file's business: whether it is
	 * allowed depends on DAC and capabilities (root may), and a write then
	 * fails as on the kernel. DIVERGES: reading through such an fd gives the
	 * backing file's text.
	 */
	if ((oflags & O_ACCMODE) != O_RDONLY || (oflags & O_TRUNC))
		return NOT_OURS;
	n = fdinfo_text(fd, slot, buf, sizeof(buf));
	if (n < 0)
		return n;
	return text_fd(buf, (size_t)n, oflags);
}

/* readlink of /proc/.../fd/<n> for a bpftime fd: copy as readlink(2) does (no NUL, truncated). */
static ssize_t procfs_readlink(const char *path, char *buf, size_t sz)
{
	const struct emu_reg_slot *slot;
	const char *name;
	int fd = -1;
	size_t len;

	if (proc_classify(path, &fd) != PROC_FD || !agent_sess.reg)
		return NOT_OURS;
	slot = fd_slot(fd);
	if (!slot || !(name = emu_fdinfo_link_name(slot->kind)))
		return NOT_OURS;
	if (!sz) {
		errno = EINVAL; /* fs/stat.c do_readlinkat(): bufsiz <= 0 */
		return -1;
	}
	len = strlen(name);
	if (len > sz)
		len = sz;
	memcpy(buf, name, len);
	return (ssize_t)len;
}

static int ret_fd(int fd)
{
	if (fd < 0) {
		errno = -fd;
		return -1;
	}
	return fd;
}

/* ---- the interposed symbols ---- */

static FILE *fopen_common(const char *path, const char *mode, fopen_fn next)
{
	int oflags = O_RDONLY, fd;
	FILE *f;

	if (mode && (strchr(mode, 'w') || strchr(mode, 'a') || strchr(mode, '+')))
		oflags = O_RDWR;
	if (mode && strchr(mode, 'e'))
		oflags |= O_CLOEXEC;
	fd = procfs_open(path, oflags);
	if (fd == NOT_OURS) {
		if (!next) {
			errno = ENOSYS;
			return NULL;
		}
		return next(path, mode);
	}
	if (fd < 0) {
		errno = -fd;
		return NULL;
	}
	f = fdopen(fd, (oflags & O_CLOEXEC) ? "re" : "r");
	if (!f) {
		int e = errno;

		close(fd);
		errno = e;
	}
	return f;
}

EXPORT FILE *fopen(const char *path, const char *mode)
{
	return fopen_common(path, mode, NEXT(fopen_fn, "fopen"));
}

EXPORT FILE *fopen64(const char *path, const char *mode)
{
	return fopen_common(path, mode, NEXT(fopen_fn, "fopen64"));
}

static bool needs_mode(int flags)
{
	return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE;
}

/* open(2)'s mode argument, present only with O_CREAT or O_TMPFILE. */
#define OPEN_MODE(flags, mode)                          \
	do {                                            \
		if (needs_mode(flags)) {                \
			va_list ap_;                    \
			va_start(ap_, flags);           \
			mode = va_arg(ap_, mode_t);     \
			va_end(ap_);                    \
		}                                       \
	} while (0)

/* NOT_OURS, or what the open call returns: an fd, or -1 with errno set. */
static int open_ours(const char *path, int flags)
{
	int fd = procfs_open(path, flags);

	return fd == NOT_OURS ? NOT_OURS : ret_fd(fd);
}

EXPORT int open(const char *path, int flags, ...)
{
	mode_t mode = 0;
	int fd = open_ours(path, flags);
	open_fn next;

	if (fd != NOT_OURS)
		return fd;
	OPEN_MODE(flags, mode);
	next = NEXT(open_fn, "open");
	return next ? next(path, flags, mode) : (int)syscall(SYS_openat, AT_FDCWD, path, flags, mode);
}

EXPORT int open64(const char *path, int flags, ...)
{
	mode_t mode = 0;
	int fd = open_ours(path, flags);
	open_fn next;

	if (fd != NOT_OURS)
		return fd;
	OPEN_MODE(flags, mode);
	next = NEXT(open_fn, "open64");
	return next ? next(path, flags, mode) : (int)syscall(SYS_openat, AT_FDCWD, path, flags, mode);
}

/* Only absolute paths are ours: a relative one (or a dirfd's) goes on unchanged. */
EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;
	int fd = open_ours(path, flags);
	openat_fn next;

	if (fd != NOT_OURS)
		return fd;
	OPEN_MODE(flags, mode);
	next = NEXT(openat_fn, "openat");
	return next ? next(dirfd, path, flags, mode) : (int)syscall(SYS_openat, dirfd, path, flags, mode);
}

EXPORT int openat64(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;
	int fd = open_ours(path, flags);
	openat_fn next;

	if (fd != NOT_OURS)
		return fd;
	OPEN_MODE(flags, mode);
	next = NEXT(openat_fn, "openat64");
	return next ? next(dirfd, path, flags, mode) : (int)syscall(SYS_openat, dirfd, path, flags, mode);
}

/* glibc's fortified opens (io/open_2.c): O_CREAT without a mode is their error, not ours. */
EXPORT int __open_2(const char *path, int flags);
EXPORT int __open_2(const char *path, int flags)
{
	int fd = open_ours(path, flags);
	open2_fn next;

	if (fd != NOT_OURS)
		return fd;
	next = NEXT(open2_fn, "__open_2");
	return next ? next(path, flags) : (int)syscall(SYS_openat, AT_FDCWD, path, flags);
}

EXPORT int __open64_2(const char *path, int flags);
EXPORT int __open64_2(const char *path, int flags)
{
	int fd = open_ours(path, flags);
	open2_fn next;

	if (fd != NOT_OURS)
		return fd;
	next = NEXT(open2_fn, "__open64_2");
	return next ? next(path, flags) : (int)syscall(SYS_openat, AT_FDCWD, path, flags);
}

EXPORT int __openat_2(int dirfd, const char *path, int flags);
EXPORT int __openat_2(int dirfd, const char *path, int flags)
{
	int fd = open_ours(path, flags);
	openat2_fn next;

	if (fd != NOT_OURS)
		return fd;
	next = NEXT(openat2_fn, "__openat_2");
	return next ? next(dirfd, path, flags) : (int)syscall(SYS_openat, dirfd, path, flags);
}

EXPORT int __openat64_2(int dirfd, const char *path, int flags);
EXPORT int __openat64_2(int dirfd, const char *path, int flags)
{
	int fd = open_ours(path, flags);
	openat2_fn next;

	if (fd != NOT_OURS)
		return fd;
	next = NEXT(openat2_fn, "__openat64_2");
	return next ? next(dirfd, path, flags) : (int)syscall(SYS_openat, dirfd, path, flags);
}

EXPORT ssize_t readlink(const char *path, char *buf, size_t sz)
{
	ssize_t n = procfs_readlink(path, buf, sz);
	readlink_fn next;

	if (n != NOT_OURS)
		return n;
	next = NEXT(readlink_fn, "readlink");
	return next ? next(path, buf, sz) : syscall(SYS_readlinkat, AT_FDCWD, path, buf, sz);
}

EXPORT ssize_t readlinkat(int dirfd, const char *path, char *buf, size_t sz)
{
	ssize_t n = procfs_readlink(path, buf, sz);
	readlinkat_fn next;

	if (n != NOT_OURS)
		return n;
	next = NEXT(readlinkat_fn, "readlinkat");
	return next ? next(dirfd, path, buf, sz) : syscall(SYS_readlinkat, dirfd, path, buf, sz);
}

/* debug/readlink_chk.c: the buffer-size check first, then readlink. */
EXPORT ssize_t __readlink_chk(const char *path, char *buf, size_t sz, size_t buflen);
EXPORT ssize_t __readlink_chk(const char *path, char *buf, size_t sz, size_t buflen)
{
	if (sz > buflen)
		abort(); /* what __chk_fail() ends in */
	return readlink(path, buf, sz);
}

EXPORT ssize_t __readlinkat_chk(int dirfd, const char *path, char *buf, size_t sz, size_t buflen);
EXPORT ssize_t __readlinkat_chk(int dirfd, const char *path, char *buf, size_t sz, size_t buflen)
{
	if (sz > buflen)
		abort();
	return readlinkat(dirfd, path, buf, sz);
}

/* glibc's setmntent() opens its file internally (not through fopen), so it is interposed itself. */
EXPORT FILE *setmntent(const char *path, const char *mode)
{
	setmntent_fn next = NEXT(setmntent_fn, "setmntent");
	int fd = NOT_OURS, where = 0;
	FILE *f;

	if (proc_classify(path, &where) == PROC_MOUNTS && mode && mode[0] == 'r' && !strchr(mode, '+'))
		fd = procfs_open(path, O_RDONLY | O_CLOEXEC);
	if (fd == NOT_OURS) {
		if (!next) {
			errno = ENOSYS;
			return NULL;
		}
		return next(path, mode);
	}
	if (fd < 0) {
		errno = -fd;
		return NULL;
	}
	f = fdopen(fd, "re");
	if (!f) {
		close(fd);
		return NULL;
	}
	/* As glibc's setmntent(): the stream is only ever read by one thread. */
	__fsetlocking(f, FSETLOCKING_BYCALLER);
	return f;
}
