/*
 * agent_server.c - hand map memfds to the agents of the processes we run.
 *
 * A map is a memfd owned by the bpftime-run that created it (maps/,
 * emul/map_cmds.c); the agent inside a traced process must map it too. The
 * agent cannot open /proc/<owner>/fd/N itself: bpftime-run puts its workload
 * in a user namespace, and the ptrace access check behind /proc/<pid>/fd
 * (cap_ptrace_access_check() in security/commoncap.c) refuses a caller from
 * a child user namespace. bpftime-run runs in the user's own namespace, so
 * it can, for any map of the session (same uid).
 *
 * So each bpftime-run listens on <session>/agent-<pid>.sock (SOCK_SEQPACKET)
 * on a thread of its own, which never touches the supervisor's state: a
 * request is one u32 map id; the answer is one int32 (0 or -errno) with the
 * memfd's new open file description attached (SCM_RIGHTS) on success. The
 * thread only reads the registry (shared memory made for concurrent readers)
 * and /proc, so the notify loop never waits for it and vice versa: an agent
 * asking for a map while the main thread waits for that agent's
 * acknowledgement (emul/agent_wait.c) is answered at once.
 *
 * The agent counts the description in the slot's fd_cnt, as the owner counts
 * those it hands out, so the close event when the traced process exits
 * balances (emul/lifetime.c).
 */
#define _GNU_SOURCE
#include "supervisor/sup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "common/utils.h"
#include "emul/emul.h"
#include "emul/registry_layout.h"
#include "hooks/agent_proto.h"

static char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static int listen_fd = -1;
static const struct emu_reg_hdr *reg; /* the session registry, mapped read-only */

static const struct emu_reg_slot *map_slot(uint32_t id)
{
	const struct emu_reg_slot *slots = (const void *)((const char *)reg + EMU_REG_HDR_SZ);

	for (uint32_t i = 0; i < EMU_REG_SLOT_CNT; i++)
		/* Pairs with the store-release in emu_reg_publish(). */
		if (__atomic_load_n(&slots[i].state, __ATOMIC_ACQUIRE) == EMU_REG_LIVE &&
		    slots[i].kind == EMU_REG_MAP && slots[i].id == id)
			return &slots[i];
	return NULL;
}

/* A new description of map @id's memfd, found in its owner's fd table by device and inode. */
static int map_fd_open(uint32_t id)
{
	const struct emu_reg_slot *slot = map_slot(id);
	char dir[64], path[384];
	struct dirent *de;
	struct stat st;
	DIR *d;
	int fd = -ENOENT;

	if (!slot)
		return -ENOENT;
	snprintf(dir, sizeof(dir), "/proc/%u/fd", slot->owner_pid);
	d = opendir(dir);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (stat(path, &st) < 0 || (uint64_t)st.st_dev != slot->dev || (uint64_t)st.st_ino != slot->ino)
			continue;
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			fd = -errno;
		break;
	}
	closedir(d);
	return fd;
}

static void serve(int c)
{
	uint32_t id;
	ssize_t n;

	while ((n = recv(c, &id, sizeof(id), 0)) == (ssize_t)sizeof(id)) {
		char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
		int32_t err;
		int fd = map_fd_open(id);
		struct iovec iov = { .iov_base = &err, .iov_len = sizeof(err) };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

		err = fd < 0 ? fd : 0;
		if (fd >= 0) {
			struct cmsghdr *cm;

			msg.msg_control = cbuf;
			msg.msg_controllen = sizeof(cbuf);
			cm = CMSG_FIRSTHDR(&msg);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(cm), &fd, sizeof(int));
		}
		n = sendmsg(c, &msg, MSG_NOSIGNAL);
		if (fd >= 0)
			close(fd);
		if (n < 0)
			break;
	}
}

static void *server_main(void *arg)
{
	(void)arg;
	for (;;) {
		int c = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);

		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			log_warn("agent socket: accept: %s\n", strerror(errno));
			return NULL;
		}
		serve(c);
		close(c);
	}
	return NULL;
}

int sup_agent_server_start(const char *session_dir)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char path[4096];
	sigset_t all, old;
	pthread_t th;
	void *p;
	int err, fd;

	snprintf(path, sizeof(path), "%s/registry", session_dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	p = mmap(NULL, EMU_REG_FILE_SZ, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return -errno;
	reg = p;
	if ((size_t)snprintf(sock_path, sizeof(sock_path), "%s/agent-%d.sock", session_dir, (int)getpid()) >=
	    sizeof(sock_path)) {
		log_warn("session directory path too long for a unix socket: agents cannot use maps\n");
		return -ENAMETOOLONG;
	}
	listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (listen_fd < 0)
		return -errno;
	memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
	unlink(sock_path);
	if (bind(listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(listen_fd, 64) < 0) {
		err = -errno;
		log_warn("agent socket %s: %s: agents cannot use maps\n", sock_path, strerror(-err));
		zclose(&listen_fd);
		return err;
	}
	/* The notify loop forwards signals; this thread must never take them. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&th, NULL, server_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		log_warn("agent socket thread: %s: agents cannot use maps\n", strerror(err));
		unlink(sock_path);
		zclose(&listen_fd);
		return -err;
	}
	pthread_detach(th);
	return 0;
}

void sup_agent_server_stop(void)
{
	if (listen_fd >= 0)
		unlink(sock_path);
}
