/*
 * core/fsutil.h: replacing a small file atomically and durably, with
 * blocking system calls.
 *
 * For the rare control-plane files that are written while the caller may
 * block (meta.properties at startup, metadata log checkpoints): never for
 * the data path, whose file work goes through core/io.h.
 *
 * A replace writes a temporary file beside the target, fsyncs it, renames
 * it over the target and fsyncs the directory, so that after a crash the
 * target holds the old content or the new one, whole, and once the replace
 * returned 0 the new one:
 *
 *     int fd = sp_fs_replace_open(tmp);          -- or -errno
 *     rc = sp_fs_write_all(fd, buf, len);        -- as often as needed
 *     rc = sp_fs_replace_commit(fd, tmp, path, dir, rc);
 *
 * tmp and path must lie in dir. Any thread may call these; they allocate
 * nothing and log nothing (the caller knows what the file is). Each
 * returns 0 (sp_fs_replace_open: an fd) or -errno.
 */
#ifndef SP_CORE_FSUTIL_H
#define SP_CORE_FSUTIL_H

#include <stddef.h>

/* Writes all len bytes of buf at fd's offset, retrying short writes and EINTR. */
int sp_fs_write_all(int fd, const void *buf, size_t len);

/* Makes dir's entries (a rename, a new file) durable. */
int sp_fs_fsync_dir(const char *dir);

/* Creates or truncates tmp for writing (mode 0644, close-on-exec). Returns the fd. */
int sp_fs_replace_open(const char *tmp);

/*
 * Ends a replace begun with sp_fs_replace_open: unless err (what the
 * caller's writes returned) is already negative, fsyncs fd, renames tmp
 * over path and fsyncs dir. fd is always closed (taken); tmp is removed
 * when the replace failed before its rename. Returns 0 or the first error:
 * err itself when it was negative.
 */
int sp_fs_replace_commit(int fd, const char *tmp, const char *path, const char *dir, int err);

/* The whole replace for content already in memory: buf (borrowed) becomes path. */
int sp_fs_replace(const char *tmp, const char *path, const char *dir, const void *buf, size_t len);

#endif
