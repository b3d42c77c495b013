/*
 * faultfs: an LD_PRELOAD fault layer for quarry's crash and disk-full tests.
 *
 * It acts only on files whose path starts with QUARRY_FAULT_PREFIX (an
 * absolute data directory), and does what QUARRY_FAULT says:
 *
 *   enospc               a full disk: a write that needs new blocks (past a
 *                        file's end) fails with ENOSPC; overwriting, opening,
 *                        reading and renaming still work
 *   fsync-eio            fsync and fdatasync fail with EIO
 *   crash:OP:N[:torn]    at the Nth OP (fsync or rename) on such a file, the
 *                        writes not yet made durable are lost, then the
 *                        process is killed with SIGKILL: every file written
 *                        since its last fsync is cut back to its synced size
 *                        ("torn": to halfway between its synced and current
 *                        size, a write cut in the middle). Data that was
 *                        synced survives, as the page cache would on power
 *                        loss. Overwrites in place are not undone (SQLite's
 *                        WAL and quarry's snapshots append or write afresh).
 *
 *   count                counts fsyncs and renames on such files and prints
 *                        "faultfs: N fsync M rename" to stderr at exit (a
 *                        test spreads its crash points over that range)
 *
 * QUARRY_FAULT_ARMED=FILE: crash points count only once FILE exists.
 *
 * Build: cc -shared -fPIC -O2 -o libfaultfs.so faultfs.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>
#include <pthread.h>

#define MAX_FD 65536
#define MAX_FILES 4096

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static const char *prefix;
static size_t prefix_len;
static enum { NONE, ENOSPC_MODE, FSYNC_EIO, CRASH, COUNT } mode = NONE;
static long counted[2]; /* fsyncs, renames (count mode) */
static int crash_on_rename; /* else on fsync */
static long crash_at;
static int torn;
static long op_count;
static char *fd_path[MAX_FD];

struct tracked { char *path; off_t synced; };
static struct tracked files[MAX_FILES];
static int nfiles;

static void init(void) {
    static int done;
    if (done) return;
    done = 1;
    prefix = getenv("QUARRY_FAULT_PREFIX");
    prefix_len = prefix ? strlen(prefix) : 0;
    const char *m = getenv("QUARRY_FAULT");
    if (!prefix || !m) return;
    if (!strcmp(m, "enospc")) mode = ENOSPC_MODE;
    else if (!strcmp(m, "fsync-eio")) mode = FSYNC_EIO;
    else if (!strcmp(m, "count")) mode = COUNT;
    else if (!strncmp(m, "crash:", 6)) {
        mode = CRASH;
        crash_on_rename = !strncmp(m + 6, "rename:", 7);
        const char *n = strchr(m + 6, ':');
        crash_at = n ? atol(n + 1) : 1;
        torn = strstr(m, ":torn") != NULL;
    }
}

static int under(const char *path) {
    return prefix && path && !strncmp(path, prefix, prefix_len);
}

static struct tracked *find(const char *path) {
    for (int i = 0; i < nfiles; i++)
        if (files[i].path && !strcmp(files[i].path, path)) return &files[i];
    return NULL;
}

static void track(int fd, const char *path, int flags) {
    if (fd < 0 || fd >= MAX_FD || !under(path)) return;
    pthread_mutex_lock(&lock);
    free(fd_path[fd]);
    fd_path[fd] = strdup(path);
    if ((flags & (O_WRONLY | O_RDWR)) && !find(path) && nfiles < MAX_FILES) {
        struct stat st;
        /* What was there before this process opened it counts as synced. */
        off_t size = (flags & O_TRUNC) ? 0 : (stat(path, &st) == 0 ? st.st_size : 0);
        files[nfiles].path = strdup(path);
        files[nfiles].synced = size;
        nfiles++;
    }
    pthread_mutex_unlock(&lock);
}

static int fd_under(int fd) {
    return fd >= 0 && fd < MAX_FD && fd_path[fd] != NULL;
}

/* The crash: unsynced data is lost (or torn), then SIGKILL. */
static void crash(void) {
    for (int i = 0; i < nfiles; i++) {
        struct stat st;
        if (!files[i].path || stat(files[i].path, &st) != 0) continue;
        if (st.st_size > files[i].synced) {
            off_t keep = files[i].synced;
            if (torn) keep += (st.st_size - files[i].synced) / 2;
            if (truncate(files[i].path, keep) != 0) { /* best effort */ }
        }
    }
    fprintf(stderr, "faultfs: simulated crash at %s #%ld\n",
            crash_on_rename ? "rename" : "fsync", op_count);
    kill(getpid(), SIGKILL);
}

/* With QUARRY_FAULT_ARMED naming a file, operations count only once it
 * exists (a test creates it right before the write it aims at). */
static int armed(void) {
    const char *f = getenv("QUARRY_FAULT_ARMED");
    return !f || access(f, F_OK) == 0;
}

__attribute__((destructor)) static void report_counts(void) {
    if (mode == COUNT)
        fprintf(stderr, "faultfs: %ld fsync %ld rename\n", counted[0], counted[1]);
}

static void count_op(int is_rename) {
    if (mode == COUNT && armed()) {
        pthread_mutex_lock(&lock);
        counted[is_rename ? 1 : 0]++;
        pthread_mutex_unlock(&lock);
        return;
    }
    if (mode != CRASH || is_rename != crash_on_rename || !armed()) return;
    pthread_mutex_lock(&lock);
    long n = ++op_count;
    if (n == crash_at) crash();
    pthread_mutex_unlock(&lock);
}

#define REAL(ret, name, ...) \
    static ret (*real_##name)(__VA_ARGS__); \
    if (!real_##name) real_##name = dlsym(RTLD_NEXT, #name)

static int do_open(const char *name, int dirfd, const char *path, int flags, mode_t m) {
    init();
    int fd;
    if (!strcmp(name, "open")) { REAL(int, open, const char *, int, ...); fd = real_open(path, flags, m); }
    else if (!strcmp(name, "open64")) { REAL(int, open64, const char *, int, ...); fd = real_open64(path, flags, m); }
    else if (!strcmp(name, "openat")) { REAL(int, openat, int, const char *, int, ...); fd = real_openat(dirfd, path, flags, m); }
    else { REAL(int, openat64, int, const char *, int, ...); fd = real_openat64(dirfd, path, flags, m); }
    if (fd >= 0 && mode != NONE) {
        if (path[0] == '/') track(fd, path, flags);
        else {
            char buf[4096];
            char link[64];
            snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
            ssize_t n = readlink(link, buf, sizeof buf - 1);
            if (n > 0) { buf[n] = 0; track(fd, buf, flags); }
        }
    }
    return fd;
}

static mode_t mode_arg(int flags, va_list ap) {
    return (flags & (O_CREAT | O_TMPFILE)) ? va_arg(ap, mode_t) : 0;
}

int open(const char *p, int f, ...) { va_list ap; va_start(ap, f); mode_t m = mode_arg(f, ap); va_end(ap); return do_open("open", AT_FDCWD, p, f, m); }
int open64(const char *p, int f, ...) { va_list ap; va_start(ap, f); mode_t m = mode_arg(f, ap); va_end(ap); return do_open("open64", AT_FDCWD, p, f, m); }
int openat(int d, const char *p, int f, ...) { va_list ap; va_start(ap, f); mode_t m = mode_arg(f, ap); va_end(ap); return do_open("openat", d, p, f, m); }
int openat64(int d, const char *p, int f, ...) { va_list ap; va_start(ap, f); mode_t m = mode_arg(f, ap); va_end(ap); return do_open("openat64", d, p, f, m); }

int close(int fd) {
    REAL(int, close, int);
    if (fd >= 0 && fd < MAX_FD && fd_path[fd]) {
        pthread_mutex_lock(&lock);
        free(fd_path[fd]);
        fd_path[fd] = NULL;
        pthread_mutex_unlock(&lock);
    }
    return real_close(fd);
}

/* On a full disk, writes that need new blocks fail; overwriting what a
 * file already holds does not. SQLite's -shm wal-index (32 KiB, memory
 * mapped) is left alone, as a file system's blocks reserved for root
 * would let it through. */
static int needs_space(int fd, off_t offset, size_t n) {
    const char *p = fd_path[fd];
    size_t len = strlen(p);
    if (len > 4 && !strcmp(p + len - 4, "-shm")) return 0;
    struct stat st;
    if (fstat(fd, &st) != 0) return 1;
    if (offset < 0) offset = lseek(fd, 0, SEEK_CUR);
    return offset < 0 || offset + (off_t)n > st.st_size;
}

#define NO_SPACE_AT(fd, off, n) do { init(); if (mode == ENOSPC_MODE && fd_under(fd) && needs_space(fd, off, n)) { errno = ENOSPC; return -1; } } while (0)
#define NO_SPACE(fd) NO_SPACE_AT(fd, -1, 1)

ssize_t write(int fd, const void *b, size_t n) { NO_SPACE_AT(fd, -1, n); REAL(ssize_t, write, int, const void *, size_t); return real_write(fd, b, n); }
ssize_t pwrite(int fd, const void *b, size_t n, off_t o) { NO_SPACE_AT(fd, o, n); REAL(ssize_t, pwrite, int, const void *, size_t, off_t); return real_pwrite(fd, b, n, o); }
ssize_t pwrite64(int fd, const void *b, size_t n, off_t o) { NO_SPACE_AT(fd, o, n); REAL(ssize_t, pwrite64, int, const void *, size_t, off_t); return real_pwrite64(fd, b, n, o); }
ssize_t writev(int fd, const struct iovec *v, int n) { NO_SPACE(fd); REAL(ssize_t, writev, int, const struct iovec *, int); return real_writev(fd, v, n); }
ssize_t pwritev(int fd, const struct iovec *v, int n, off_t o) { NO_SPACE(fd); REAL(ssize_t, pwritev, int, const struct iovec *, int, off_t); return real_pwritev(fd, v, n, o); }
int fallocate(int fd, int m, off_t o, off_t l) { NO_SPACE(fd); REAL(int, fallocate, int, int, off_t, off_t); return real_fallocate(fd, m, o, l); }
int posix_fallocate(int fd, off_t o, off_t l) { init(); if (mode == ENOSPC_MODE && fd_under(fd)) return ENOSPC; REAL(int, posix_fallocate, int, off_t, off_t); return real_posix_fallocate(fd, o, l); }

static int do_sync(int fd, int data) {
    init();
    if (fd_under(fd)) {
        if (mode == FSYNC_EIO) { errno = EIO; return -1; }
        count_op(0);
    }
    int r;
    if (data) { REAL(int, fdatasync, int); r = real_fdatasync(fd); }
    else { REAL(int, fsync, int); r = real_fsync(fd); }
    if (r == 0 && fd_under(fd) && mode == CRASH) {
        pthread_mutex_lock(&lock);
        struct tracked *t = find(fd_path[fd]);
        struct stat st;
        if (t && fstat(fd, &st) == 0) t->synced = st.st_size;
        pthread_mutex_unlock(&lock);
    }
    return r;
}

int fsync(int fd) { return do_sync(fd, 0); }
int fdatasync(int fd) { return do_sync(fd, 1); }

static void renamed(const char *from, const char *to) {
    if (mode != CRASH) return;
    pthread_mutex_lock(&lock);
    struct tracked *old = find(to);
    if (old) { free(old->path); old->path = NULL; }
    struct tracked *t = find(from);
    if (t) { free(t->path); t->path = strdup(to); }
    pthread_mutex_unlock(&lock);
}

int rename(const char *from, const char *to) {
    init();
    REAL(int, rename, const char *, const char *);
    if (under(to)) count_op(1);
    int r = real_rename(from, to);
    if (r == 0 && under(to)) renamed(from, to);
    return r;
}

int renameat(int fd1, const char *from, int fd2, const char *to) {
    init();
    REAL(int, renameat, int, const char *, int, const char *);
    if (under(to)) count_op(1);
    int r = real_renameat(fd1, from, fd2, to);
    if (r == 0 && under(to)) renamed(from, to);
    return r;
}

int renameat2(int fd1, const char *from, int fd2, const char *to, unsigned int flags) {
    init();
    REAL(int, renameat2, int, const char *, int, const char *, unsigned int);
    if (under(to)) count_op(1);
    int r = real_renameat2(fd1, from, fd2, to, flags);
    if (r == 0 && under(to)) renamed(from, to);
    return r;
}
