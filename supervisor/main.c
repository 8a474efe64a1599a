/*
 * main.c - the command-line edge of bpftime-run.
 *
 *   bpftime-run [options] -- CMD [ARGS...]
 *
 * Parses options, opens the session (emul/session.c), launches CMD under the
 * filter (launch.c) and serves it (notify.c) until CMD and its descendants
 * are gone, then exits with CMD's status. This is the only place that turns
 * an error into a sentence for the user and exits (crun's main()).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "emul/emul.h"
#include "supervisor/sup.h"

static void usage(FILE *out)
{
	fputs("Usage: bpftime-run [OPTIONS] -- CMD [ARGS...]\n"
	      "Run CMD so that its bpf(), perf_event_open() and perf ioctl() calls are answered\n"
	      "by bpftime in user space: eBPF tools run unprivileged and unmodified.\n"
	      "\n"
	      "Options:\n"
	      "  -s, --session NAME   use the bpftime session NAME (default: \"default\"); runs\n"
	      "                       in the same session share maps, programs, links and pins\n"
	      "  -v, --verbose        log more (repeat for debug); BPFTIME_LOG=error|warn|info|debug\n"
	      "  -q, --quiet          log errors only\n"
	      "      --log-file PATH  append log lines to PATH instead of stderr\n"
	      "      --no-namespace   do not create a private mount namespace (no /sys/fs/bpf\n"
	      "                       or tracefs files for CMD, and CMD keeps its uid)\n"
	      "  -h, --help           show this help and exit\n"
	      "  -V, --version        show the version and exit\n"
	      "\n"
	      "bpftime-run exits with CMD's exit status (128+N if CMD was killed by signal N).\n"
	      "See bpftime-run(1).\n",
	      out);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "session", required_argument, NULL, 's' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "log-file", required_argument, NULL, 'L' },
		{ "no-namespace", no_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	const char *session = NULL, *log_file = NULL;
	struct sup_launch_opts lo = { .private_ns = true };
	struct emu_session *s = NULL;
	int opt, verbose = 0, quiet = 0, err, lfd, code;
	pid_t child;

	bt_log_init_from_env();
	while ((opt = getopt_long(argc, argv, "+s:vqhV", longopts, NULL)) != -1) {
		switch (opt) {
		case 's':
			session = optarg;
			break;
		case 'v':
			verbose++;
			break;
		case 'q':
			quiet = 1;
			break;
		case 'L':
			log_file = optarg;
			break;
		case 'N':
			lo.private_ns = false;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("bpftime-run %s\n", PACKAGE_VERSION);
			return 0;
		default:
			fputs("Try 'bpftime-run --help' for more information.\n", stderr);
			return 125;
		}
	}
	if (quiet)
		bt_log_set_level(BT_LOG_ERROR);
	else if (verbose)
		bt_log_set_level(verbose >= 2 ? BT_LOG_DEBUG : BT_LOG_INFO);
	err = sup_log_open(log_file);
	if (err) {
		fprintf(stderr, "bpftime-run: cannot open log file '%s': %s\n", log_file, strerror(-err));
		return 125;
	}
	if (optind >= argc) {
		fputs("bpftime-run: no command given (hint: bpftime-run [OPTIONS] -- CMD [ARGS...], e.g. bpftime-run -- bpftool prog show)\n",
		      stderr);
		return 125;
	}
	lo.argv = &argv[optind];

	err = emu_session_open(session, &s);
	if (err) {
		log_error("cannot open session '%s': %s (hint: session names are letters, digits, '-', '_' and '.'; state lives in $XDG_RUNTIME_DIR or /dev/shm)\n",
			  session ? session : "default", strerror(-err));
		return 125;
	}
	if (lo.private_ns) {
		lo.bpffs_dir = emu_session_bpffs_dir(s);
		lo.tracefs_dir = emu_session_tracefs_dir(s);
	}
	err = sup_launch(&lo, &child, &lfd);
	if (err) {
		emu_session_close(s);
		return err == -ENOENT || err == -EACCES ? 127 : 125;
	}
	code = sup_notify_loop(s, lfd, child);
	close(lfd);
	emu_session_close(s);
	return code;
}
