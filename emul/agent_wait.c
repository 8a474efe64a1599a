/*
 * agent_wait.c - the supervisor's half of the agent protocol
 * (hooks/agent_proto.h): wake the agents after a registry change, and wait
 * until they have applied an attach change before answering the tool.
 *
 * Why wait: with the kernel, perf_event_open + PERF_EVENT_IOC_ENABLE (or
 * LINK_CREATE) returns with the breakpoint installed in every process that
 * maps the file, and tools rely on that. bpftrace calls its own
 * BEGIN_trigger() right after attaching the BEGIN uprobe; a test harness
 * attaches and then starts the workload. So the reply to a perf event change
 * waits until every live agent has acknowledged the new generation, bounded
 * by AGENT_ACK_TIMEOUT_MS so a stopped or wedged process (SIGSTOP, a debugger)
 * delays a tool but never hangs it. Dead processes are skipped (and their
 * entry freed); the agent inside the calling tool itself acknowledges from
 * its own watcher thread, which is not blocked by the trapped call.
 *
 * DIVERGES: a process that exec'd a statically linked program keeps its
 * entry until it exits, and attach changes then take the full timeout.
 */
#define _GNU_SOURCE
#include "emul/emul_int.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "hooks/agent_proto.h"

static struct agent_proto *proto_map(struct emu_session *s)
{
	static struct agent_proto *pr;
	static const struct emu_session *pr_sess;
	char path[4096];
	struct stat st;
	void *p;
	int fd;

	if (pr && pr_sess == s)
		return pr;
	/* Agents create the file; none yet means no agent to wait for. */
	snprintf(path, sizeof(path), "%s/%s", s->dir, AGENT_PROTO_FILE_NAME);
	fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0 || (size_t)st.st_size < AGENT_PROTO_FILE_SZ) {
		close(fd);
		return NULL;
	}
	p = mmap(NULL, AGENT_PROTO_FILE_SZ, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return NULL;
	pr = p;
	pr_sess = s;
	return pr;
}

void emu_agents_wake(struct emu_session *s)
{
	/* Agents sleep in FUTEX_WAIT on the generation word (hooks/agent.c watcher_main()). */
	syscall(SYS_futex, &s->reg->generation, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void emu_agents_wait(struct emu_session *s)
{
	uint32_t gen = __atomic_load_n(&s->reg->generation, __ATOMIC_ACQUIRE);
	struct agent_proto *pr = proto_map(s);
	uint64_t deadline = now_ms() + AGENT_ACK_TIMEOUT_MS;
	struct timespec nap = { 0, 50 * 1000 };

	if (!pr || pr->hdr.magic != AGENT_PROTO_MAGIC)
		return;
	emu_agents_wake(s);
	for (int i = 0; i < AGENT_PROC_MAX; i++) {
		struct agent_proc *e = &pr->proc[i];
		int32_t pid;

		for (;;) {
			pid = __atomic_load_n(&e->pid, __ATOMIC_ACQUIRE);
			if (pid <= 0)
				break;
			/* Pairs with the store-release in proc_ack() (hooks/agent.c). */
			if ((int32_t)(__atomic_load_n(&e->ack_gen, __ATOMIC_ACQUIRE) - gen) >= 0)
				break;
			if (kill(pid, 0) < 0 && errno == ESRCH) {
				__atomic_compare_exchange_n(&e->pid, &pid, 0, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
				break;
			}
			if (now_ms() >= deadline) {
				log_info("agent of pid %d did not apply registry generation %u within %d ms\n", (int)pid,
					 gen, AGENT_ACK_TIMEOUT_MS);
				return;
			}
			nanosleep(&nap, NULL);
		}
	}
}
