/*
 * utils.h - scope-bound cleanup and ownership hand-over, after crun's and
 * bubblewrap's utils.h: a local marked _cleanup_free_ or _cleanup_close_ is
 * released when it leaves scope unless steal_ptr()/steal_fd() took it.
 */
#ifndef COMMON_UTILS_H
#define COMMON_UTILS_H

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

static inline void cleanup_freep(void *p)
{
	free(*(void **)p);
}

static inline void cleanup_closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;

		close(*fd);
		errno = saved;
	}
}

#define _cleanup_free_ __attribute__((cleanup(cleanup_freep)))
#define _cleanup_close_ __attribute__((cleanup(cleanup_closep)))

static inline void *steal_ptr_impl(void **pp)
{
	void *p = *pp;

	*pp = NULL;
	return p;
}
#define steal_ptr(pp) steal_ptr_impl((void **)(pp))

static inline int steal_fd(int *fd)
{
	int v = *fd;

	*fd = -1;
	return v;
}

/* Free or close a field and reset it, so a second pass is harmless (libbpf's zfree/zclose). */
#define zfree(pp)                       \
	do {                            \
		free((void *)*(pp));    \
		*(pp) = NULL;           \
	} while (0)
#define zclose(fd)                      \
	do {                            \
		if (*(fd) >= 0)         \
			close(*(fd));   \
		*(fd) = -1;             \
	} while (0)

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define ROUND_UP(x, a) ((((x) + (a) - 1) / (a)) * (a))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

#endif /* COMMON_UTILS_H */
