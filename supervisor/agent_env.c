/*
 * agent_env.c - put the in-process agent into CMD's environment.
 *
 * Runs in the child just before execvp() (launch.c). Every process bpftime-run
 * starts, and every descendant (the environment is inherited and survives
 * exec), gets
 *   LD_PRELOAD=<libbpftime-agent.so>[:<the user's LD_PRELOAD>]
 *   BPFTIME_SESSION_DIR=<session directory>   (how the agent finds the registry)
 * The agent is looked up as: $BPFTIME_AGENT; <dir of bpftime-run>/.libs/ (a
 * build tree, where libtool keeps the shared object); the installed
 * pkglibdir. The dynamic loader is what honours LD_PRELOAD, so a statically
 * linked CMD cannot get the agent: we say so once, naming the limitation.
 */
#define _GNU_SOURCE
#include "config.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/utils.h"
#include "hooks/agent_proto.h"
#include "supervisor/sup.h"

#define AGENT_SO_NAME "libbpftime-agent.so"

static bool readable(const char *p)
{
	return access(p, R_OK) == 0;
}

static int agent_path(char *out, size_t out_sz)
{
	const char *env = getenv(AGENT_ENV_SO);
	char exe[PATH_MAX];
	ssize_t n;

	if (env && *env) {
		snprintf(out, out_sz, "%s", env);
		return readable(out) ? 0 : -ENOENT;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		char *slash;

		exe[n] = 0;
		slash = strrchr(exe, '/');
		if (slash) {
			*slash = 0;
			if ((size_t)snprintf(out, out_sz, "%s/.libs/%s", exe, AGENT_SO_NAME) < out_sz && readable(out))
				return 0;
			if ((size_t)snprintf(out, out_sz, "%s/%s", exe, AGENT_SO_NAME) < out_sz && readable(out))
				return 0;
		}
	}
	snprintf(out, out_sz, "%s/%s", BPFTIME_PKGLIBDIR, AGENT_SO_NAME);
	return readable(out) ? 0 : -ENOENT;
}

/* The file execvp() would run for @cmd, or NULL. */
static char *which(const char *cmd)
{
	const char *path = getenv("PATH");
	char *dup, *dir, *save = NULL, *r = NULL;

	if (strchr(cmd, '/'))
		return strdup(cmd);
	dup = strdup(path ? path : "/usr/local/bin:/usr/bin:/bin");
	if (!dup)
		return NULL;
	for (dir = strtok_r(dup, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		if (asprintf(&r, "%s/%s", *dir ? dir : ".", cmd) < 0) {
			r = NULL;
			break;
		}
		if (access(r, X_OK) == 0)
			break;
		zfree(&r);
	}
	free(dup);
	return r;
}

/* true when @path is an ELF executable without PT_INTERP (static, or static-pie). */
static bool is_static_elf(const char *path)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	Elf64_Ehdr eh;
	Elf64_Phdr ph;

	if (fd < 0 || pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh))
		return false;
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_phentsize != sizeof(ph))
		return false;
	for (unsigned int i = 0; i < eh.e_phnum; i++) {
		if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + i * sizeof(ph))) != (ssize_t)sizeof(ph))
			return false;
		if (ph.p_type == PT_INTERP)
			return false;
	}
	return eh.e_type == ET_EXEC || eh.e_type == ET_DYN;
}

void sup_agent_env_setup(const char *session_dir, const char *cmd)
{
	char so[PATH_MAX], *file;
	const char *old = getenv("LD_PRELOAD");

	if (!session_dir)
		return;
	if (agent_path(so, sizeof(so))) {
		log_warn("the bpftime agent (%s) was not found next to bpftime-run nor in %s: uprobes and syscall tracepoints will not fire in traced processes (set %s to its path)\n",
			 AGENT_SO_NAME, BPFTIME_PKGLIBDIR, AGENT_ENV_SO);
		return;
	}
	if (old && *old) {
		char *both;

		if (strstr(old, so)) {
			both = strdup(old);
		} else if (asprintf(&both, "%s:%s", so, old) < 0) {
			both = NULL;
		}
		if (both) {
			setenv("LD_PRELOAD", both, 1);
			free(both);
		}
	} else {
		setenv("LD_PRELOAD", so, 1);
	}
	setenv(AGENT_ENV_SESSION, session_dir, 1);
	/* bpftime-run is our parent until exec: its map server (agent_server.c). */
	if (asprintf(&file, "%s/agent-%d.sock", session_dir, (int)getppid()) >= 0) {
		setenv(AGENT_ENV_SOCK, file, 1);
		free(file);
	}
	file = which(cmd);
	if (file && is_static_elf(file))
		log_warn("'%s' is statically linked: the bpftime agent cannot be preloaded into it, so uprobes and syscall tracepoints will not fire in this program (its bpf() and perf calls are still served); dynamically linked children it starts are traced\n",
			 file);
	free(file);
}
