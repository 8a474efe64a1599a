/*
 * check_supervisor.c - the "supervisor" suite: target memory access and the
 * filter, on real child processes.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdio.h>
#include <sys/stat.h>

#include "emul/emul.h"
#include "supervisor/sup.h"

START_TEST(test_tmem_read_write_self)
{
	char src[16] = "hello, target", dst[16] = { 0 };

	ck_assert_int_eq(sup_tmem_read(getpid(), (uint64_t)(uintptr_t)src, dst, sizeof(src)), 0);
	ck_assert_str_eq(dst, "hello, target");
	ck_assert_int_eq(sup_tmem_write(getpid(), (uint64_t)(uintptr_t)dst, "bye", 4), 0);
	ck_assert_str_eq(dst, "bye");
}
END_TEST

START_TEST(test_tmem_bad_pointer_efault)
{
	char buf[8];
	void *p = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ck_assert_ptr_ne(p, MAP_FAILED);
	ck_assert_int_eq(sup_tmem_read(getpid(), 0, buf, sizeof(buf)), -EFAULT);
	ck_assert_int_eq(sup_tmem_read(getpid(), (uint64_t)(uintptr_t)p, buf, sizeof(buf)), -EFAULT);
	ck_assert_int_eq(sup_tmem_write(getpid(), (uint64_t)(uintptr_t)p, buf, sizeof(buf)), -EFAULT);
	/* A page boundary inside the range: partial copies count as failure. */
	ck_assert_int_eq(sup_tmem_read(getpid(), (uint64_t)(uintptr_t)p - 4, buf, sizeof(buf)), -EFAULT);
	munmap(p, 4096);
}
END_TEST

START_TEST(test_tmem_dead_pid_enoent)
{
	char buf[8];
	pid_t pid = fork();

	if (pid == 0)
		_exit(0);
	waitpid(pid, NULL, 0);
	ck_assert_int_eq(sup_tmem_read(pid, (uint64_t)(uintptr_t)buf, buf, sizeof(buf)), -ENOENT);
}
END_TEST

/* In a child: install the filter, then check what traps. With nobody reading the listener, a
 * trapped call would block; so the child closes the listener first, after which trapped calls
 * fail with ENOSYS (seccomp_unotify(2)) while untrapped ones run normally. */
START_TEST(test_filter_traps_only_perf_ioctls)
{
	pid_t pid = fork();
	int status;

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int lfd, p[2];

		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
			_exit(10);
		lfd = sup_filter_install();
		if (lfd < 0)
			_exit(11);
		close(lfd);
		if (pipe(p) < 0)
			_exit(12);
		/* bpf() traps: ENOSYS once the listener is gone. */
		errno = 0;
		if (syscall(SYS_bpf, 0, NULL, 0) != -1 || errno != ENOSYS)
			_exit(13);
		/* A perf ioctl traps too, even on a pipe. */
		errno = 0;
		if (ioctl(p[0], PERF_EVENT_IOC_ENABLE, 0) != -1 || errno != ENOSYS)
			_exit(14);
		/* An unrelated ioctl reaches the kernel: FIONREAD on a pipe works. */
		{
			int n = -1;

			if (ioctl(p[0], FIONREAD, &n) != 0 || n != 0)
				_exit(15);
		}
		/* write() is untouched. */
		if (write(p[1], "x", 1) != 1)
			_exit(16);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
}
END_TEST

/* ---- launch + notify loop ---- */

static int run_cmd(char *const argv[], bool private_ns)
{
	struct sup_launch_opts o = { .argv = argv, .private_ns = private_ns };
	struct emu_session *s;
	char name[64];
	int lfd, code, err;
	pid_t pid;

	snprintf(name, sizeof(name), "check-sup-%d", (int)getpid());
	ck_assert_int_eq(emu_session_open(name, &s), 0);
	if (private_ns) {
		o.bpffs_dir = emu_session_bpffs_dir(s);
		o.tracefs_dir = emu_session_tracefs_dir(s);
	}
	err = sup_launch(&o, &pid, &lfd);
	if (err) {
		emu_session_close(s);
		return err;
	}
	code = sup_notify_loop(s, lfd, pid);
	close(lfd);
	emu_session_close(s);
	return code;
}

START_TEST(test_launch_exit_status_passed_through)
{
	char *const argv[] = { "sh", "-c", "exit 7", NULL };

	ck_assert_int_eq(run_cmd(argv, false), 7);
}
END_TEST

START_TEST(test_launch_killed_by_signal_128_plus)
{
	char *const argv[] = { "sh", "-c", "kill -TERM $$", NULL };

	ck_assert_int_eq(run_cmd(argv, false), 128 + SIGTERM);
}
END_TEST

START_TEST(test_launch_missing_command_enoent)
{
	char *const argv[] = { "/nonexistent/bpftime-no-such-command", NULL };

	ck_assert_int_eq(run_cmd(argv, false), -ENOENT);
}
END_TEST

START_TEST(test_launch_waits_for_descendants)
{
	char path[128], cmd[256];
	char *argv[] = { "sh", "-c", cmd, NULL };
	struct stat st;

	/* The grandchild outlives sh; bpftime-run returns only after it, with sh's status. */
	snprintf(path, sizeof(path), "/tmp/bpftime-check-sup-%d", (int)getpid());
	unlink(path);
	snprintf(cmd, sizeof(cmd), "(sleep 0.3; echo done > %s) & exit 3", path);
	ck_assert_int_eq(run_cmd(argv, false), 3);
	ck_assert_int_eq(stat(path, &st), 0);
	unlink(path);
}
END_TEST

START_TEST(test_launch_answers_bpf_in_private_namespace)
{
	/* Inside: the pin directory is a "bpffs" and bpf() works; as root no user namespace is needed. */
	char *const argv[] = { "sh", "-c", "stat -f -c %T /sys/fs/bpf | grep -q bpf_fs && exit 5", NULL };

	ck_assert_int_eq(run_cmd(argv, true), 5);
}
END_TEST

/* The fd lookup reads the caller's fd table anew every time: a cached pidfd never means a cached file. */
START_TEST(test_tproc_follows_fd_table)
{
	struct stat null_st, zero_st, st;
	int to_child[2], to_parent[2], fd;
	char c;
	pid_t pid;

	ck_assert_int_eq(stat("/dev/null", &null_st), 0);
	ck_assert_int_eq(stat("/dev/zero", &zero_st), 0);
	ck_assert_int_eq(pipe(to_child), 0);
	ck_assert_int_eq(pipe(to_parent), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(open("/dev/null", O_RDONLY), 100);
		(void)!write(to_parent[1], "1", 1);
		(void)!read(to_child[0], &c, 1);
		/* Close and reuse the same number for another file. */
		close(100);
		dup2(open("/dev/zero", O_RDONLY), 100);
		(void)!write(to_parent[1], "2", 1);
		(void)!read(to_child[0], &c, 1);
		_exit(0);
	}
	ck_assert_int_eq(read(to_parent[0], &c, 1), 1);
	fd = sup_tproc_getfd(pid, 100);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert(st.st_rdev == null_st.st_rdev);
	close(fd);
	ck_assert_int_eq(sup_tproc_getfd(pid, 101), -EBADF);
	ck_assert_int_eq(write(to_child[1], "x", 1), 1);
	ck_assert_int_eq(read(to_parent[0], &c, 1), 1);
	fd = sup_tproc_getfd(pid, 100);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert(st.st_rdev == zero_st.st_rdev);
	close(fd);
	ck_assert_int_eq(write(to_child[1], "x", 1), 1);
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
	/* Gone (and reaped): the cached pidfd says ESRCH, a fresh one cannot be opened. */
	ck_assert_int_eq(sup_tproc_getfd(pid, 100), -ENOENT);
	sup_tproc_reset();
}
END_TEST

static Suite *supervisor_suite(void)
{
	Suite *s = suite_create("supervisor");
	TCase *tm = tcase_create("tmem"), *tf = tcase_create("filter"), *tl = tcase_create("launch");

	tcase_add_test(tm, test_tmem_read_write_self);
	tcase_add_test(tm, test_tmem_bad_pointer_efault);
	tcase_add_test(tm, test_tmem_dead_pid_enoent);
	tcase_add_test(tm, test_tproc_follows_fd_table);
	tcase_add_test(tf, test_filter_traps_only_perf_ioctls);
	tcase_add_test(tl, test_launch_exit_status_passed_through);
	tcase_add_test(tl, test_launch_killed_by_signal_128_plus);
	tcase_add_test(tl, test_launch_missing_command_enoent);
	tcase_add_test(tl, test_launch_waits_for_descendants);
	tcase_add_test(tl, test_launch_answers_bpf_in_private_namespace);
	suite_add_tcase(s, tl);
	suite_add_tcase(s, tm);
	suite_add_tcase(s, tf);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(supervisor_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
