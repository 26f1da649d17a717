/*
 * tests/core/test_fsutil.c: an atomic replace leaves the old content or the
 * new one, never a temporary file, and reports every failure it meets.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fsutil.h"
#include "tests/check.h"

static char dir[128];
static char path[192];
static char tmp[192];

/* The whole of path, or "" when it cannot be read. */
static const char *content(const char *p)
{
    static char buf[256];
    buf[0] = '\0';
    int fd = open(p, O_RDONLY);
    if (fd < 0) {
        return buf;
    }
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    buf[n > 0 ? n : 0] = '\0';
    close(fd);
    return buf;
}

static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static void test_replace(void)
{
    CHECK_EQ_INT(sp_fs_replace(tmp, path, dir, "first\n", 6), 0);
    CHECK_EQ_STR(content(path), "first\n");
    CHECK(!exists(tmp));
    CHECK_EQ_INT(sp_fs_replace(tmp, path, dir, "second, longer\n", 15), 0);
    CHECK_EQ_STR(content(path), "second, longer\n");
    CHECK(!exists(tmp));
    CHECK_EQ_INT(sp_fs_replace(tmp, path, dir, "", 0), 0);
    CHECK_EQ_STR(content(path), "");
}

/* Written in pieces through the open/commit pair, as a streaming writer does. */
static void test_streamed(void)
{
    int fd = sp_fs_replace_open(tmp);
    REQUIRE(fd >= 0);
    int rc = 0;
    for (int i = 0; i < 3 && rc == 0; i++) {
        rc = sp_fs_write_all(fd, "ab", 2);
    }
    CHECK(exists(tmp));
    CHECK_EQ_INT(sp_fs_replace_commit(fd, tmp, path, dir, rc), 0);
    CHECK_EQ_STR(content(path), "ababab");
    CHECK(!exists(tmp));
}

/* A writer's error ends the replace: the target keeps its old content. */
static void test_writer_error(void)
{
    int fd = sp_fs_replace_open(tmp);
    REQUIRE(fd >= 0);
    CHECK_EQ_INT(sp_fs_write_all(fd, "half", 4), 0);
    CHECK_EQ_INT(sp_fs_replace_commit(fd, tmp, path, dir, -ENOSPC), -ENOSPC);
    CHECK_EQ_STR(content(path), "ababab");
    CHECK(!exists(tmp));
    CHECK(fcntl(fd, F_GETFD) < 0); /* taken: closed even on failure */
}

/* A rename that fails (the target is a non-empty directory) removes tmp. */
static void test_rename_fails(void)
{
    char sub[256], inner[320];
    snprintf(sub, sizeof(sub), "%s/sub", dir);
    snprintf(inner, sizeof(inner), "%s/x", sub);
    REQUIRE(mkdir(sub, 0755) == 0);
    int fd = open(inner, O_WRONLY | O_CREAT, 0644);
    REQUIRE(fd >= 0);
    close(fd);
    int rc = sp_fs_replace(tmp, sub, dir, "z", 1);
    CHECK(rc == -EISDIR || rc == -ENOTEMPTY || rc == -EEXIST);
    CHECK(!exists(tmp));
    CHECK(unlink(inner) == 0 && rmdir(sub) == 0);
}

static void test_missing(void)
{
    char nodir[256], nopath[320];
    snprintf(nodir, sizeof(nodir), "%s/none", dir);
    snprintf(nopath, sizeof(nopath), "%s/f", nodir);
    CHECK_EQ_INT(sp_fs_replace_open(nopath), -ENOENT);
    CHECK_EQ_INT(sp_fs_replace(nopath, nopath, nodir, "x", 1), -ENOENT);
    CHECK_EQ_INT(sp_fs_fsync_dir(nodir), -ENOENT);
    CHECK_EQ_INT(sp_fs_fsync_dir(path), -ENOTDIR);
    CHECK_EQ_INT(sp_fs_fsync_dir(dir), 0);
    CHECK_EQ_INT(sp_fs_write_all(-1, "x", 1), -EBADF);
}

int main(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s/sp-fsutil-XXXXXX", base ? base : "/tmp");
    REQUIRE(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/state", dir);
    snprintf(tmp, sizeof(tmp), "%s/state.tmp", dir);
    test_replace();
    test_streamed();
    test_writer_error();
    test_rename_fails();
    test_missing();
    unlink(path);
    CHECK(rmdir(dir) == 0);
    return CHECK_DONE();
}
