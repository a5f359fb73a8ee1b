/* vfs: a thin SQLite VFS over the platform's default one that times each
 * fsync (xSync) for the metrics; every other call goes straight through.
 * Registered once as the default VFS, before the first connection opens
 * (see store_vfs_init). */
#include <pthread.h>
#include <sqlite3.h>
#include <string.h>

#include "store/store.h"
#include "util/metrics.h"
#include "util/timeutil.h"

typedef struct {
    sqlite3_file base; /* our methods */
    sqlite3_file *real; /* the platform file, allocated right after this struct */
} tfile_t;

static sqlite3_vfs shim, *under;

#define REAL(f) (((tfile_t *)(f))->real)

static int t_close(sqlite3_file *f) {
    int rc = REAL(f)->pMethods ? REAL(f)->pMethods->xClose(REAL(f)) : SQLITE_OK;
    return rc;
}
static int t_read(sqlite3_file *f, void *p, int n, sqlite3_int64 o) { return REAL(f)->pMethods->xRead(REAL(f), p, n, o); }
static int t_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 o) {
    return REAL(f)->pMethods->xWrite(REAL(f), p, n, o);
}
static int t_truncate(sqlite3_file *f, sqlite3_int64 n) { return REAL(f)->pMethods->xTruncate(REAL(f), n); }
static int t_sync(sqlite3_file *f, int flags) {
    uint64_t t0 = time_mono_us();
    int rc = REAL(f)->pMethods->xSync(REAL(f), flags);
    metrics_observe0(MET_FSYNC_DURATION, (double)(time_mono_us() - t0) / 1e6);
    return rc;
}
static int t_size(sqlite3_file *f, sqlite3_int64 *n) { return REAL(f)->pMethods->xFileSize(REAL(f), n); }
static int t_lock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xLock(REAL(f), l); }
static int t_unlock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xUnlock(REAL(f), l); }
static int t_reserved(sqlite3_file *f, int *out) { return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out); }
static int t_fcntl(sqlite3_file *f, int op, void *arg) { return REAL(f)->pMethods->xFileControl(REAL(f), op, arg); }
static int t_sector(sqlite3_file *f) { return REAL(f)->pMethods->xSectorSize(REAL(f)); }
static int t_devchar(sqlite3_file *f) { return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f)); }
static int t_shmmap(sqlite3_file *f, int i, int sz, int ext, void volatile **pp) {
    return REAL(f)->pMethods->xShmMap(REAL(f), i, sz, ext, pp);
}
static int t_shmlock(sqlite3_file *f, int off, int n, int flags) {
    return REAL(f)->pMethods->xShmLock(REAL(f), off, n, flags);
}
static void t_shmbarrier(sqlite3_file *f) { REAL(f)->pMethods->xShmBarrier(REAL(f)); }
static int t_shmunmap(sqlite3_file *f, int del) { return REAL(f)->pMethods->xShmUnmap(REAL(f), del); }
static int t_fetch(sqlite3_file *f, sqlite3_int64 o, int n, void **pp) {
    return REAL(f)->pMethods->xFetch(REAL(f), o, n, pp);
}
static int t_unfetch(sqlite3_file *f, sqlite3_int64 o, void *p) { return REAL(f)->pMethods->xUnfetch(REAL(f), o, p); }

/* Version 3 methods; calls the platform file lacks are never made, because
 * the methods offered match its version (see t_open). */
static const sqlite3_io_methods methods3 = {3,         t_close,    t_read,    t_write,   t_truncate, t_sync,
                                            t_size,    t_lock,     t_unlock,  t_reserved, t_fcntl,   t_sector,
                                            t_devchar, t_shmmap,   t_shmlock, t_shmbarrier, t_shmunmap, t_fetch,
                                            t_unfetch};
static const sqlite3_io_methods methods2 = {2,         t_close,    t_read,    t_write,   t_truncate, t_sync,
                                            t_size,    t_lock,     t_unlock,  t_reserved, t_fcntl,   t_sector,
                                            t_devchar, t_shmmap,   t_shmlock, t_shmbarrier, t_shmunmap, NULL,
                                            NULL};
static const sqlite3_io_methods methods1 = {1,      t_close, t_read,     t_write, t_truncate, t_sync, t_size, t_lock,
                                            t_unlock, t_reserved, t_fcntl, t_sector, t_devchar, NULL, NULL, NULL,
                                            NULL,   NULL,    NULL};

static int t_open(sqlite3_vfs *v, const char *name, sqlite3_file *f, int flags, int *out) {
    (void)v;
    tfile_t *t = (tfile_t *)f;
    t->real = (sqlite3_file *)(t + 1);
    memset(t->real, 0, (size_t)under->szOsFile);
    int rc = under->xOpen(under, name, t->real, flags, out);
    const sqlite3_io_methods *m = t->real->pMethods;
    if (!m) {
        f->pMethods = NULL; /* a failed open: SQLite will not call xClose */
        return rc;
    }
    f->pMethods = m->iVersion >= 3 ? &methods3 : m->iVersion == 2 ? &methods2 : &methods1;
    return rc;
}

static int t_delete(sqlite3_vfs *v, const char *n, int sync) { (void)v; return under->xDelete(under, n, sync); }
static int t_access(sqlite3_vfs *v, const char *n, int fl, int *out) { (void)v; return under->xAccess(under, n, fl, out); }
static int t_full(sqlite3_vfs *v, const char *n, int sz, char *out) { (void)v; return under->xFullPathname(under, n, sz, out); }
static void *t_dlopen(sqlite3_vfs *v, const char *n) { (void)v; return under->xDlOpen(under, n); }
static void t_dlerror(sqlite3_vfs *v, int n, char *m) { (void)v; under->xDlError(under, n, m); }
static void (*t_dlsym(sqlite3_vfs *v, void *h, const char *s))(void) { (void)v; return under->xDlSym(under, h, s); }
static void t_dlclose(sqlite3_vfs *v, void *h) { (void)v; under->xDlClose(under, h); }
static int t_random(sqlite3_vfs *v, int n, char *out) { (void)v; return under->xRandomness(under, n, out); }
static int t_sleep(sqlite3_vfs *v, int us) { (void)v; return under->xSleep(under, us); }
static int t_time(sqlite3_vfs *v, double *out) { (void)v; return under->xCurrentTime(under, out); }
static int t_lasterr(sqlite3_vfs *v, int n, char *m) { (void)v; return under->xGetLastError ? under->xGetLastError(under, n, m) : 0; }
static int t_time64(sqlite3_vfs *v, sqlite3_int64 *out) { (void)v; return under->xCurrentTimeInt64(under, out); }
static int t_setsys(sqlite3_vfs *v, const char *n, sqlite3_syscall_ptr p) { (void)v; return under->xSetSystemCall(under, n, p); }
static sqlite3_syscall_ptr t_getsys(sqlite3_vfs *v, const char *n) { (void)v; return under->xGetSystemCall(under, n); }
static const char *t_nextsys(sqlite3_vfs *v, const char *n) { (void)v; return under->xNextSystemCall(under, n); }

static void install(void) {
    under = sqlite3_vfs_find(NULL);
    if (!under || under->iVersion < 3) return; /* nothing to wrap: SQLite's own stays the default */
    shim = (sqlite3_vfs){3,          (int)sizeof(tfile_t) + under->szOsFile, under->mxPathname, NULL, "atrium-timed",
                         NULL,       t_open,    t_delete,  t_access,  t_full,    t_dlopen,   t_dlerror,  t_dlsym,
                         t_dlclose,  t_random,  t_sleep,   t_time,    t_lasterr, t_time64,   t_setsys,   t_getsys,
                         t_nextsys};
    sqlite3_vfs_register(&shim, 1);
}

void store_vfs_init(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, install);
}
