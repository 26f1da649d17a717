/* cluster/meta_props.c: reading and writing meta.properties. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "cluster/meta_props.h"
#include "core/config.h"
#include "core/fsutil.h"

#define META_FILE    "meta.properties"
#define META_VERSION 1
#define PATH_MAX_    4096

int sp_meta_new_cluster_id(char out[SP_CLUSTER_ID_LEN + 1])
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint8_t u[18] = {0}; /* 16 random bytes, padded to a multiple of 3 */
    size_t got = 0;
    while (got < 16) {
        ssize_t n = getrandom(u + got, 16 - got, 0);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        got += (size_t)n;
    }
    /* Version 4, variant 1, as a random UUID. */
    u[6] = (uint8_t)((u[6] & 0x0f) | 0x40);
    u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);
    size_t o = 0;
    for (size_t i = 0; i < 18 && o < SP_CLUSTER_ID_LEN; i += 3) {
        uint32_t v = ((uint32_t)u[i] << 16) | ((uint32_t)u[i + 1] << 8) | u[i + 2];
        for (int k = 3; k >= 0 && o < SP_CLUSTER_ID_LEN; k--) {
            out[o++] = b64[(v >> (6 * k)) & 63];
        }
    }
    out[SP_CLUSTER_ID_LEN] = '\0';
    return 0;
}

static int meta_path(char *buf, size_t len, const char *dir, const char *name)
{
    int n = snprintf(buf, len, "%s/%s", dir, name);
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int sp_meta_props_read(const char *dir, struct sp_meta_props *out, char *err, size_t errlen)
{
    char path[PATH_MAX_];
    if (meta_path(path, sizeof(path), dir, META_FILE) < 0) {
        snprintf(err, errlen, "%s: path too long", dir);
        return -EINVAL;
    }
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        return -e;
    }
    char line[256];
    bool have_node = false, have_cluster = false;
    int rc = 0;
    memset(out, 0, sizeof(*out));
    while (rc == 0 && fgets(line, sizeof(line), f) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        char *eq = strchr(line, '=');
        if (line[0] == '#' || eq == NULL) {
            continue;
        }
        *eq = '\0';
        const char *v = eq + 1;
        if (strcmp(line, "node.id") == 0) {
            char *end;
            long n = strtol(v, &end, 10);
            if (*v == '\0' || *end != '\0' || n < 0 || n > INT32_MAX) {
                snprintf(err, errlen, "%s: bad node.id '%s'", path, v);
                rc = -EINVAL;
            }
            out->node_id = (int32_t)n;
            have_node = true;
        } else if (strcmp(line, "cluster.id") == 0) {
            if (strlen(v) != SP_CLUSTER_ID_LEN) {
                snprintf(err, errlen, "%s: bad cluster.id '%s'", path, v);
                rc = -EINVAL;
            } else {
                memcpy(out->cluster_id, v, SP_CLUSTER_ID_LEN + 1);
                have_cluster = true;
            }
        } else if (strcmp(line, "version") == 0 && strcmp(v, "1") != 0) {
            snprintf(err, errlen, "%s: unsupported version %s", path, v);
            rc = -EINVAL;
        }
    }
    fclose(f);
    if (rc == 0 && (!have_node || !have_cluster)) {
        snprintf(err, errlen, "%s: node.id or cluster.id missing", path);
        rc = -EINVAL;
    }
    return rc;
}

int sp_meta_props_write(const char *dir, const struct sp_meta_props *props)
{
    char path[PATH_MAX_], tmp[PATH_MAX_];
    if (meta_path(path, sizeof(path), dir, META_FILE) < 0 ||
        meta_path(tmp, sizeof(tmp), dir, META_FILE ".tmp") < 0) {
        return -ENAMETOOLONG;
    }
    char text[256];
    int n = snprintf(text, sizeof(text),
                     "#\n# Written by Spindle at first start: this directory belongs to\n"
                     "# one cluster and one node. Do not edit.\n#\n"
                     "version=%d\nnode.id=%d\ncluster.id=%s\n",
                     META_VERSION, props->node_id, props->cluster_id);
    return sp_fs_replace(tmp, path, dir, text, (size_t)n);
}

struct ensure_ctx {
    int32_t node_id;
    struct sp_meta_props *out;
    bool have_cluster;
    int missing;
    char (*missing_dirs)[PATH_MAX_];
    char *err;
    size_t errlen;
};

#define META_DIRS_MAX 64

static int ensure_read(void *vctx, const char *item, size_t len)
{
    struct ensure_ctx *c = vctx;
    char dir[PATH_MAX_];
    if (len >= sizeof(dir) || c->missing == META_DIRS_MAX) {
        snprintf(c->err, c->errlen, "log.dirs: too many or too long entries");
        return -EINVAL;
    }
    memcpy(dir, item, len);
    dir[len] = '\0';
    struct sp_meta_props p;
    char why[512];
    int rc = sp_meta_props_read(dir, &p, why, sizeof(why));
    if (rc == -ENOENT) {
        memcpy(c->missing_dirs[c->missing++], dir, len + 1);
        return 0;
    }
    if (rc < 0) {
        snprintf(c->err, c->errlen, "%s", why);
        return rc;
    }
    if (p.node_id != c->node_id) {
        snprintf(c->err, c->errlen,
                 "%s/" META_FILE " says node.id=%d but the configuration says node.id=%d", dir,
                 p.node_id, c->node_id);
        return -EINVAL;
    }
    if (c->have_cluster && strcmp(p.cluster_id, c->out->cluster_id) != 0) {
        snprintf(c->err, c->errlen, "%s belongs to cluster %s, another log dir to cluster %s", dir,
                 p.cluster_id, c->out->cluster_id);
        return -EINVAL;
    }
    *c->out = p;
    c->have_cluster = true;
    return 0;
}

int sp_meta_props_ensure(const char *log_dirs, int32_t node_id, struct sp_meta_props *out,
                         char *err, size_t errlen)
{
    char(*missing)[PATH_MAX_] = calloc(META_DIRS_MAX, PATH_MAX_);
    if (missing == NULL) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    struct ensure_ctx c = {node_id, out, false, 0, missing, err, errlen};
    memset(out, 0, sizeof(*out));
    out->node_id = node_id;
    int rc = sp_config_list_each(log_dirs, ensure_read, &c);
    if (rc == 0 && !c.have_cluster) {
        rc = sp_meta_new_cluster_id(out->cluster_id);
        if (rc < 0) {
            snprintf(err, errlen, "cannot make a cluster id: %s", strerror(-rc));
        }
    }
    for (int i = 0; rc == 0 && i < c.missing; i++) {
        rc = sp_meta_props_write(missing[i], out);
        if (rc < 0) {
            snprintf(err, errlen, "%s/" META_FILE ": %s", missing[i], strerror(-rc));
        }
    }
    free(missing);
    return rc;
}
