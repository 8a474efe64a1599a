/*
 * session.c - one session's shared state on disk, and who cleans it up.
 *
 * A session is a directory owned by the user, mode 0700:
 *   $XDG_RUNTIME_DIR/bpftime/<name>   when XDG_RUNTIME_DIR is ours, else
 *   /dev/shm/bpftime-<uid>-<name>
 * holding
 *   lock      every bpftime-run of the session holds flock(LOCK_SH) on it
 *   init.lock held exclusively while a bpftime-run joins (creation of the
 *             registry and the tracefs tree happens once, under it)
 *   registry  the object registry (registry_layout.h)
 *   obj/      backing files of programs, BTF, links and perf events
 *   bpffs/    pins; bind-mounted on /sys/fs/bpf in the workload's namespace
 *   tracing/  tracefs files clients read; bind-mounted on /sys/kernel/tracing
 * Two bpftime-run of the same user and session name therefore see the same
 * objects, ids and pins, as two processes share one kernel.
 *
 * Lifetime: the state survives any single process. On exit a bpftime-run
 * tries flock(LOCK_EX | LOCK_NB) on "lock"; if it gets it, nobody else is in
 * the session, so it unlinks "lock" first, then the rest. A starter takes
 * LOCK_SH (waiting only for a cleaner at work) and then checks that its
 * lock file is still linked (st_nlink); if a cleaner unlinked it meanwhile,
 * it starts over.
 */
#define _GNU_SOURCE
#include "emul/emul_int.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/utils.h"

static bool name_ok(const char *n)
{
	if (!*n || strlen(n) > 64 || n[0] == '.')
		return false;
	for (; *n; n++)
		if (!((*n >= 'a' && *n <= 'z') || (*n >= 'A' && *n <= 'Z') || (*n >= '0' && *n <= '9') ||
		      *n == '-' || *n == '_' || *n == '.'))
			return false;
	return true;
}

static char *session_dir(const char *name)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	struct stat st;
	char *p = NULL;

	if (xdg && *xdg == '/' && stat(xdg, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid()) {
		if (asprintf(&p, "%s/bpftime", xdg) < 0)
			return NULL;
		if (mkdir(p, 0700) < 0 && errno != EEXIST) {
			free(p);
			p = NULL;
		} else {
			free(p);
			if (asprintf(&p, "%s/bpftime/%s", xdg, name) < 0)
				return NULL;
			return p;
		}
	}
	if (asprintf(&p, "/dev/shm/bpftime-%u-%s", (unsigned)geteuid(), name) < 0)
		return NULL;
	return p;
}

static int mkdir_owned(const char *path)
{
	struct stat st;

	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return -errno;
	if (lstat(path, &st) < 0)
		return -errno;
	/* Refuse a directory someone else planted in a shared place like /dev/shm. */
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid())
		return -EPERM;
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

static int session_join(struct emu_session *s)
{
	_cleanup_close_ int fd = -1, rfd = -1, ifd = -1;
	char path[4096];
	struct stat st;
	bool init;
	int err;

	/*
	 * "init.lock" (exclusive, held only while joining) serialises starters;
	 * "lock" (shared, held for our whole life) tells cleaners we are here.
	 */
	for (int attempt = 0; attempt < 100; attempt++) {
		zclose(&fd);
		zclose(&ifd);
		err = mkdir_owned(s->dir);
		if (err)
			return err;
		snprintf(path, sizeof(path), "%s/init.lock", s->dir);
		ifd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (ifd < 0) {
			if (errno == ENOENT)
				continue; /* a cleaner removed the directory under us */
			return -errno;
		}
		if (flock(ifd, LOCK_EX) < 0)
			return -errno;
		snprintf(path, sizeof(path), "%s/lock", s->dir);
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0) {
			if (errno == ENOENT)
				continue;
			return -errno;
		}
		/* Waits only for a cleaner in progress. */
		if (flock(fd, LOCK_SH) < 0)
			return -errno;
		if (fstat(fd, &st) < 0)
			return -errno;
		if (st.st_nlink == 0)
			continue; /* that cleaner finished: start over in a fresh directory */
		break;
	}
	if (fd < 0)
		return -EAGAIN;

	err = mkdir_owned(s->obj_dir);
	if (!err)
		err = mkdir_owned(s->bpffs_dir);
	if (!err)
		err = emu_life_init(s);
	if (err)
		return err;
	snprintf(path, sizeof(path), "%s/registry", s->dir);
	rfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (rfd < 0)
		return -errno;
	if (fstat(rfd, &st) < 0)
		return -errno;
	init = st.st_size == 0;
	if (init && ftruncate(rfd, EMU_REG_FILE_SZ) < 0)
		return -errno;
	err = emu_reg_map(s, rfd, init);
	if (err)
		return err;
	if (init) {
		err = emu_btf_init_vmlinux(s);
		if (err)
			log_info("no kernel BTF to serve as BTF id 1 (%s)\n", strerror(-err));
	}
	err = emu_tracefs_prepare(s);
	if (err)
		log_warn("cannot prepare the tracefs files (%s): tracepoints will not be found by clients\n",
			 strerror(-err));
	s->lock_fd = steal_fd(&fd);
	return 0;
}

int emu_session_open(const char *name, struct emu_session **out)
{
	struct emu_session *s;
	int err;

	if (!name)
		name = "default";
	if (!name_ok(name))
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->lock_fd = -1;
	s->dir = session_dir(name);
	if (!s->dir || asprintf(&s->bpffs_dir, "%s/bpffs", s->dir) < 0 ||
	    asprintf(&s->tracefs_dir, "%s/tracing", s->dir) < 0 || asprintf(&s->obj_dir, "%s/obj", s->dir) < 0 ||
	    asprintf(&s->fd_dir, "%s/obj/fd", s->dir) < 0) {
		err = -ENOMEM;
		goto err_free;
	}
	s->uprobe_pmu_type = 8;
	{
		FILE *f = fopen("/sys/bus/event_source/devices/uprobe/type", "re");

		if (f) {
			unsigned v;

			if (fscanf(f, "%u", &v) == 1)
				s->uprobe_pmu_type = v;
			fclose(f);
		}
	}
	s->ino_fd = -1;
	err = session_join(s);
	if (err)
		goto err_free;
	{
		struct stat st;
		int mfd;

		if (stat(s->obj_dir, &st) == 0)
			s->obj_devs[0] = st.st_dev;
		/* Maps are memfds (maps/shm.c): they all live on the kernel's internal shmem mount. */
		mfd = memfd_create("bpftime-dev-probe", MFD_CLOEXEC);
		if (mfd >= 0 && fstat(mfd, &st) == 0)
			s->obj_devs[1] = st.st_dev;
		if (mfd >= 0)
			close(mfd);
		s->obj_devs[2] = stat("/sys/kernel/btf/vmlinux", &st) == 0 ? st.st_dev : s->obj_devs[0];
		if (!s->obj_devs[1])
			s->obj_devs[1] = s->obj_devs[0];
	}
	*out = s;
	return 0;
err_free:
	emu_session_close(s);
	return err;
}

void emu_session_close(struct emu_session *s)
{
	if (!s)
		return;
	emu_pins_free(s);
	emu_objs_free(s);
	if (s->reg)
		munmap(s->reg, EMU_REG_FILE_SZ);
	if (s->lock_fd >= 0 && flock(s->lock_fd, LOCK_EX | LOCK_NB) == 0) {
		char path[4096];

		/* Last one out: unlink the lock first so late starters retry. */
		snprintf(path, sizeof(path), "%s/lock", s->dir);
		unlink(path);
		nftw(s->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	}
	zclose(&s->lock_fd);
	zclose(&s->ino_fd);
	free(s->dir);
	free(s->bpffs_dir);
	free(s->tracefs_dir);
	free(s->obj_dir);
	free(s->fd_dir);
	free(s);
}

const char *emu_session_bpffs_dir(const struct emu_session *s)
{
	return s->bpffs_dir;
}

const char *emu_session_tracefs_dir(const struct emu_session *s)
{
	struct stat st;

	return stat(s->tracefs_dir, &st) == 0 ? s->tracefs_dir : NULL;
}
