/*
 * core/fsutil.c: the blocking atomic file replace of core/fsutil.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "core/fsutil.h"

int sp_fs_write_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t r = write(fd, p, len);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            return -errno;
        }
        if (r == 0) {
            return -EIO; /* no progress on a regular file: treat as a full disk */
        }
        p += r;
        len -= (size_t)r;
    }
    return 0;
}

int sp_fs_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    int rc = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

int sp_fs_replace_open(const char *tmp)
{
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    return fd < 0 ? -errno : fd;
}

int sp_fs_replace_commit(int fd, const char *tmp, const char *path, const char *dir, int err)
{
    int rc = err < 0 ? err : 0;
    if (rc == 0 && fsync(fd) < 0) {
        rc = -errno;
    }
    if (close(fd) < 0 && rc == 0) {
        rc = -errno;
    }
    if (rc == 0 && rename(tmp, path) < 0) {
        rc = -errno;
    }
    if (rc < 0) {
        unlink(tmp);
        return rc;
    }
    return sp_fs_fsync_dir(dir);
}

int sp_fs_replace(const char *tmp, const char *path, const char *dir, const void *buf, size_t len)
{
    int fd = sp_fs_replace_open(tmp);
    if (fd < 0) {
        return fd;
    }
    return sp_fs_replace_commit(fd, tmp, path, dir, sp_fs_write_all(fd, buf, len));
}
