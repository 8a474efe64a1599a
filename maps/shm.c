/*
 * shm.c - one shared file per map: creating it, committing its memory,
 * mapping it, and validating what another process created.
 *
 * The file is a memfd (MFD_CLOEXEC | MFD_ALLOW_SEALING) named
 * "bpf-map:<name>" so /proc/<pid>/maps and fdinfo say what it is. Its
 * size is fixed at creation and then sealed (F_SEAL_SHRINK | F_SEAL_GROW |
 * F_SEAL_SEAL): a client holding the fd (it must, to mmap an array) cannot
 * truncate it under us, which would turn every later access into SIGBUS.
 *
 * Memory is committed at creation with fallocate(), as the kernel's default
 * preallocation does (kernel/bpf/hashtab.c prealloc_init), so a program's
 * update can never fault for lack of memory later; BPF_F_NO_PREALLOC maps
 * skip that and fault pages in on first touch. A shmem fallocate that cannot
 * be satisfied fails with ENOSPC/ENOMEM, which we report as -ENOMEM like the
 * kernel's failed vmalloc.
 *
 * The kernel allocates a map's area so that it may fail (bpf_map_area_alloc()
 * in kernel/bpf/syscall.c: __GFP_NORETRY for kmalloc, __GFP_RETRY_MAYFAIL
 * for vmalloc): what the machine cannot give fails with ENOMEM and never
 * wakes the OOM killer. A memfd has no size limit, so its
 * fallocate would go on until the OOM killer picks a victim (fuzzing found
 * this: any workload could take the machine down with one MAP_CREATE).
 * DIVERGES: so a large preallocated map must fit in half of MemAvailable,
 * else -ENOMEM; the kernel's limit is what vmalloc can find at that moment.
 *
 * Layout: maps/shm_layout.h.
 */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "maps/map_shm.h"

/* Below this, a map is not worth a look at /proc/meminfo. */
#define SHM_CHECK_MIN (64ull << 20)

/* Can @sz bytes be committed without pushing the machine into the OOM killer? */
static bool shm_fits(uint64_t sz)
{
	unsigned long long kb = 0;
	char line[128];
	bool found = false;
	FILE *f;

	if (sz < SHM_CHECK_MIN)
		return true;
	f = fopen("/proc/meminfo", "re");
	if (!f)
		return true; /* no procfs: leave it to fallocate */
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) {
			found = true;
			break;
		}
	fclose(f);
	return !found || sz / 1024 <= kb / 2;
}

int map_shm_create(const char *name, uint64_t file_sz, bool prealloc, int *fd_out, void **base_out)
{
	char memfd_name[64];
	void *base;
	int fd, err;

	/* bpftool tells a map fd from a program fd by "bpf-map" in its
	 * /proc/self/fd link (get_fd_type()); the kernel's reads
	 * "anon_inode:bpf-map", ours "/memfd:bpf-map:<name> (deleted)". */
	snprintf(memfd_name, sizeof(memfd_name), "bpf-map:%s", name);
	fd = memfd_create(memfd_name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)file_sz) < 0) {
		err = -errno;
		goto err_close;
	}
	if (prealloc && !shm_fits(file_sz)) {
		err = -ENOMEM;
		log_warn("map '%s': %llu bytes is more than half of the memory available\n", name,
			 (unsigned long long)file_sz);
		goto err_close;
	}
	if (prealloc) {
		err = fallocate(fd, 0, 0, (off_t)file_sz);
		if (err < 0) {
			err = errno == ENOSPC || errno == EFBIG ? -ENOMEM : -errno;
			log_warn("map '%s': cannot commit %llu bytes: %s\n", name,
				 (unsigned long long)file_sz, strerror(-err));
			goto err_close;
		}
	}
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		err = -errno;
		goto err_close;
	}
	base = mmap(NULL, file_sz, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED) {
		err = -errno;
		goto err_close;
	}
	*fd_out = fd;
	*base_out = base;
	return 0;
err_close:
	close(fd);
	return err;
}

int map_shm_open(int fd, int *fd_out, void **base_out, uint64_t *file_sz_out)
{
	struct map_shm_hdr hdr;
	struct stat st;
	void *base;
	int seals;

	if (fstat(fd, &st) < 0)
		return -errno;
	seals = fcntl(fd, F_GET_SEALS);
	/* Only a sealed memfd of ours is safe to map: nobody can shrink it under us. */
	if (seals < 0 || (seals & (F_SEAL_SHRINK | F_SEAL_GROW)) != (F_SEAL_SHRINK | F_SEAL_GROW))
		return -EINVAL;
	if (!S_ISREG(st.st_mode) || st.st_size < (off_t)MAP_SHM_HDR_SZ ||
	    st.st_size % MAP_PAGE_SZ != 0)
		return -EINVAL;
	if (pread(fd, &hdr, sizeof(hdr), st.st_size - MAP_SHM_HDR_SZ) != (ssize_t)sizeof(hdr))
		return -EINVAL;
	if (hdr.magic != MAP_SHM_MAGIC || hdr.abi_version != MAP_SHM_ABI_VERSION ||
	    hdr.hdr_sz < sizeof(hdr) || hdr.hdr_sz > MAP_SHM_HDR_SZ ||
	    hdr.file_sz != (uint64_t)st.st_size ||
	    hdr.body_sz != (uint64_t)st.st_size - MAP_SHM_HDR_SZ)
		return -EINVAL;
	/*
	 * The mapping keeps the file alive; no fd is kept, so a traced process
	 * that opens thousands of maps does not run into its RLIMIT_NOFILE.
	 */
	base = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED)
		return -errno;
	*fd_out = -1;
	*base_out = base;
	*file_sz_out = (uint64_t)st.st_size;
	return 0;
}

void map_shm_unmap(void *base, uint64_t file_sz)
{
	if (base)
		munmap(base, file_sz);
}
