/* fsync_fault.c — an LD_PRELOAD library for the integration tests: while the
 * file named by $RAFTKV_FAIL_FSYNC exists, fsync(2) and fdatasync(2) fail
 * with ENOSPC, as a full disk can make them fail. Lets a test reach the
 * server's "fsync failed" path on any filesystem. With $RAFTKV_SLOW_FSYNC_MS
 * set, every fsync first sleeps that long: a slow disk, to widen races
 * between the disk thread and clients. Never linked into raftkv.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

static void maybe_slow_down(void) {
    const char* ms = getenv("RAFTKV_SLOW_FSYNC_MS");
    if (ms != NULL) usleep((useconds_t)atoi(ms) * 1000);
}

static int should_fail(void) {
    const char* trigger = getenv("RAFTKV_FAIL_FSYNC");
    return trigger != NULL && access(trigger, F_OK) == 0;
}

int fdatasync(int fd) {
    static int (*real)(int);
    if (real == NULL) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    maybe_slow_down();
    if (should_fail()) {
        errno = ENOSPC;
        return -1;
    }
    return real(fd);
}

int fsync(int fd) {
    static int (*real)(int);
    if (real == NULL) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    maybe_slow_down();
    if (should_fail()) {
        errno = ENOSPC;
        return -1;
    }
    return real(fd);
}
