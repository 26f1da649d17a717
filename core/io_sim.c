/*
 * core/io_sim.c: the deterministic simulator of core/io.h (see core/io_sim.h
 * for the model). Everything random comes from seeded generators: the fs's
 * for crashes, each sp_io's for latencies and injected faults.
 *
 *   struct sp_sim_fs                      struct sim_io (one per "process")
 *     now_ns, capacity, sector             fds[] -> sim_node
 *     root -> sim_node (dir)               events: min-heap of (due, seq, op)
 *               ents  (current)            faults[kind]
 *               dents (durable)
 *             sim_node (file)
 *               data/size   (current)
 *               ddata/dsize (durable)
 *               pend: unflushed writes and size changes, oldest first
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/io_impl.h"
#include "core/io_sim.h"

#define SIM_FDS_MAX  4096
#define SIM_NAME_MAX 255
#define SIM_PATH_MAX 4096
#define SIM_FD_FIRST 3
#define SIM_START_NS 1000000000ull
#define SIM_FILE_MAX (1ull << 40)

/* ---- Seeded randomness -------------------------------------------------- */

static uint64_t sim_rand(uint64_t *s)
{
    /* splitmix64: tiny, good enough, and the same everywhere. */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t sim_rand_range(uint64_t *s, uint64_t lo, uint64_t hi)
{
    if (hi <= lo) {
        return lo;
    }
    return lo + sim_rand(s) % (hi - lo + 1);
}

static uint64_t hash_mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h * 0x100000001b3ull;
}

static uint64_t hash_bytes(uint64_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h = (h ^ p[i]) * 0x100000001b3ull;
    }
    return h;
}

/* ---- The file system ---------------------------------------------------- */

enum { REC_WRITE, REC_SETSIZE };

struct sim_rec {
    struct sim_rec *next;
    int kind;
    uint64_t off; /* WRITE: offset; SETSIZE: the new size */
    uint64_t len;
    uint8_t *data;
};

struct sim_dirent {
    struct sim_dirent *next;
    struct sim_node *node;
    char name[];
};

struct sim_node {
    struct sim_node *all_next;
    bool is_dir;
    bool mark;
    bool dirty; /* directory: entries changed since the last fsync */
    uint32_t open_count;
    struct sim_node *parent;
    /* file */
    uint8_t *data;
    uint64_t size, cap;
    uint8_t *ddata;
    uint64_t dsize, dcap;
    struct sim_rec *pend_head, *pend_tail;
    /* directory */
    struct sim_dirent *ents;
    struct sim_dirent *dents;
};

struct sim_io;

struct sp_sim_fs {
    uint64_t rng;
    uint64_t now_ns;
    uint64_t capacity;
    uint64_t used;
    uint32_t sector;
    struct sim_node *root;
    struct sim_node *all;
    struct sim_io *ios;
};

struct sim_fd {
    struct sim_node *node;
    int flags;
};

struct sim_event {
    uint64_t due;
    uint64_t seq;
    struct sp_io_op *op;
};

struct sim_fault {
    int err;
    uint32_t next_count;
    uint32_t permille;
};

struct sim_io {
    struct sp_io base;
    struct sp_sim_fs *fs;
    struct sim_io *fs_next;
    uint64_t rng;
    bool dead;
    bool reorder;
    atomic_bool woken;
    uint32_t direct_align;
    uint64_t lat_min, lat_max;
    uint64_t last_due;
    uint64_t seq;
    uint64_t trace;
    uint64_t faults_injected;
    struct sim_fd *fds;
    uint32_t fds_len;
    struct sim_event *ev;
    uint32_t ev_len, ev_cap;
    struct sim_fault faults[SP_SIM_OP_KINDS_];
};

static struct sim_io *to_sim(struct sp_io *io)
{
    return sp_container_of(io, struct sim_io, base);
}

static const struct sim_io *to_sim_c(const struct sp_io *io)
{
    return sp_container_of(io, const struct sim_io, base);
}

static struct sim_node *node_new(struct sp_sim_fs *fs, bool is_dir, struct sim_node *parent)
{
    struct sim_node *n = calloc(1, sizeof(*n));
    if (n == NULL) {
        return NULL;
    }
    n->is_dir = is_dir;
    n->parent = parent != NULL ? parent : n;
    n->all_next = fs->all;
    fs->all = n;
    return n;
}

static void dirents_free(struct sim_dirent *d)
{
    while (d != NULL) {
        struct sim_dirent *next = d->next;
        free(d);
        d = next;
    }
}

static void pend_free(struct sim_node *n)
{
    struct sim_rec *r = n->pend_head;
    while (r != NULL) {
        struct sim_rec *next = r->next;
        free(r->data);
        free(r);
        r = next;
    }
    n->pend_head = n->pend_tail = NULL;
}

static void node_free(struct sim_node *n)
{
    pend_free(n);
    free(n->data);
    free(n->ddata);
    dirents_free(n->ents);
    dirents_free(n->dents);
    free(n);
}

/* Grows a byte buffer to hold `need` bytes, zero-filling. 0 or -ENOMEM. */
static int buf_reserve(uint8_t **data, uint64_t *cap, uint64_t need)
{
    if (need <= *cap) {
        return 0;
    }
    uint64_t ncap = *cap ? *cap : 4096;
    while (ncap < need) {
        ncap *= 2;
    }
    uint8_t *p = realloc(*data, ncap);
    if (p == NULL) {
        return -ENOMEM;
    }
    memset(p + *cap, 0, ncap - *cap);
    *data = p;
    *cap = ncap;
    return 0;
}

/* Sets a size on (data, size, cap): growing reads as zeros. */
static int buf_setsize(uint8_t **data, uint64_t *size, uint64_t *cap, uint64_t nsize)
{
    if (nsize > *size) {
        int rc = buf_reserve(data, cap, nsize);
        if (rc < 0) {
            return rc;
        }
        memset(*data + *size, 0, nsize - *size);
    }
    *size = nsize;
    return 0;
}

static int buf_write(uint8_t **data, uint64_t *size, uint64_t *cap, uint64_t off,
                     const uint8_t *src, uint64_t len)
{
    if (off + len > *size) {
        int rc = buf_setsize(data, size, cap, off + len);
        if (rc < 0) {
            return rc;
        }
    }
    memcpy(*data + off, src, len);
    return 0;
}

static struct sim_dirent *dir_find(struct sim_dirent *list, const char *name)
{
    for (struct sim_dirent *d = list; d != NULL; d = d->next) {
        if (strcmp(d->name, name) == 0) {
            return d;
        }
    }
    return NULL;
}

static int dir_add(struct sim_node *dir, const char *name, struct sim_node *node)
{
    size_t len = strlen(name);
    struct sim_dirent *d = malloc(sizeof(*d) + len + 1);
    if (d == NULL) {
        return -ENOMEM;
    }
    memcpy(d->name, name, len + 1);
    d->node = node;
    d->next = dir->ents;
    dir->ents = d;
    dir->dirty = true;
    if (node->is_dir) {
        node->parent = dir;
    }
    return 0;
}

static void dir_remove(struct sim_node *dir, const char *name)
{
    for (struct sim_dirent **pp = &dir->ents; *pp != NULL; pp = &(*pp)->next) {
        if (strcmp((*pp)->name, name) == 0) {
            struct sim_dirent *d = *pp;
            *pp = d->next;
            free(d);
            dir->dirty = true;
            return;
        }
    }
}

static int dirents_copy(struct sim_dirent *src, struct sim_dirent **out)
{
    struct sim_dirent *head = NULL, **tail = &head;
    for (struct sim_dirent *d = src; d != NULL; d = d->next) {
        size_t len = strlen(d->name);
        struct sim_dirent *c = malloc(sizeof(*c) + len + 1);
        if (c == NULL) {
            dirents_free(head);
            return -ENOMEM;
        }
        memcpy(c->name, d->name, len + 1);
        c->node = d->node;
        c->next = NULL;
        *tail = c;
        tail = &c->next;
    }
    *out = head;
    return 0;
}

static void mark_tree(struct sim_node *n)
{
    if (n->mark) {
        return;
    }
    n->mark = true;
    for (struct sim_dirent *d = n->ents; d != NULL; d = d->next) {
        mark_tree(d->node);
    }
    for (struct sim_dirent *d = n->dents; d != NULL; d = d->next) {
        mark_tree(d->node);
    }
}

/*
 * Frees nodes that no current or durable entry reaches and no fd holds:
 * nothing, not even a crash, can bring them back.
 */
static void fs_sweep(struct sp_sim_fs *fs)
{
    for (struct sim_node *n = fs->all; n != NULL; n = n->all_next) {
        n->mark = false;
    }
    mark_tree(fs->root);
    for (struct sim_node *n = fs->all; n != NULL; n = n->all_next) {
        if (n->open_count > 0) {
            mark_tree(n);
        }
    }
    for (struct sim_node **pp = &fs->all; *pp != NULL;) {
        struct sim_node *n = *pp;
        if (!n->mark) {
            *pp = n->all_next;
            fs->used -= n->is_dir ? 0 : n->size;
            node_free(n);
        } else {
            pp = &n->all_next;
        }
    }
}

struct sp_sim_fs *sp_sim_fs_create(uint64_t seed)
{
    struct sp_sim_fs *fs = calloc(1, sizeof(*fs));
    if (fs == NULL) {
        return NULL;
    }
    fs->rng = seed ^ 0x5eed5eed5eed5eedull;
    fs->now_ns = SIM_START_NS;
    fs->sector = 512;
    fs->root = node_new(fs, true, NULL);
    if (fs->root == NULL) {
        free(fs);
        return NULL;
    }
    return fs;
}

void sp_sim_fs_destroy(struct sp_sim_fs *fs)
{
    if (fs == NULL) {
        return;
    }
    SP_ASSERT(fs->ios == NULL);
    struct sim_node *n = fs->all;
    while (n != NULL) {
        struct sim_node *next = n->all_next;
        node_free(n);
        n = next;
    }
    free(fs);
}

void sp_sim_fs_set_sector_size(struct sp_sim_fs *fs, uint32_t bytes)
{
    SP_ASSERT(bytes > 0 && (bytes & (bytes - 1)) == 0);
    fs->sector = bytes;
}

void sp_sim_fs_set_capacity(struct sp_sim_fs *fs, uint64_t bytes)
{
    fs->capacity = bytes;
}

uint64_t sp_sim_fs_used(const struct sp_sim_fs *fs)
{
    return fs->used;
}

uint64_t sp_sim_fs_now_ns(const struct sp_sim_fs *fs)
{
    return fs->now_ns;
}

static uint64_t digest_node(const struct sim_node *n, uint64_t h)
{
    h = hash_mix(h, n->is_dir);
    if (!n->is_dir) {
        h = hash_mix(h, n->size);
        return hash_bytes(h, n->data, n->size);
    }
    /* Entries hashed order-independently: sum of per-entry hashes. */
    uint64_t sum = 0;
    for (const struct sim_dirent *d = n->ents; d != NULL; d = d->next) {
        uint64_t eh = hash_bytes(0xcbf29ce484222325ull, (const uint8_t *)d->name, strlen(d->name));
        sum += digest_node(d->node, eh);
    }
    return hash_mix(h, sum);
}

uint64_t sp_sim_fs_digest(const struct sp_sim_fs *fs)
{
    return digest_node(fs->root, 0xcbf29ce484222325ull);
}

/* ---- Durability: flush and crash -------------------------------------- */

static int rec_apply_durable(struct sim_node *n, const struct sim_rec *r, uint64_t off,
                             uint64_t len)
{
    if (r->kind == REC_SETSIZE) {
        return buf_setsize(&n->ddata, &n->dsize, &n->dcap, r->off);
    }
    return buf_write(&n->ddata, &n->dsize, &n->dcap, off, r->data + (off - r->off), len);
}

/* fsync of a file: every unflushed change becomes durable. */
static int file_flush(struct sim_node *n)
{
    for (struct sim_rec *r = n->pend_head; r != NULL; r = r->next) {
        int rc = rec_apply_durable(n, r, r->off, r->len);
        if (rc < 0) {
            return rc;
        }
    }
    pend_free(n);
    return 0;
}

enum { CRASH_KEEP_NONE, CRASH_KEEP_ALL, CRASH_KEEP_SOME };

static bool crash_keep(struct sp_sim_fs *fs, int mode)
{
    if (mode == CRASH_KEEP_NONE) {
        return false;
    }
    if (mode == CRASH_KEEP_ALL) {
        return true;
    }
    return (sim_rand(&fs->rng) & 1) != 0;
}

/* Rebuilds a file after a crash: durable content plus a subset of sector units. */
static void file_crash(struct sp_sim_fs *fs, struct sim_node *n, int mode)
{
    uint64_t sector = fs->sector;
    for (struct sim_rec *r = n->pend_head; r != NULL; r = r->next) {
        if (r->kind == REC_SETSIZE) {
            if (crash_keep(fs, mode)) {
                (void)rec_apply_durable(n, r, 0, 0);
            }
            continue;
        }
        uint64_t pos = r->off, end = r->off + r->len;
        while (pos < end) {
            uint64_t unit_end = SP_MIN(end, (pos / sector + 1) * sector);
            if (crash_keep(fs, mode)) {
                (void)rec_apply_durable(n, r, pos, unit_end - pos);
            }
            pos = unit_end;
        }
    }
    pend_free(n);
    n->size = 0;
    if (buf_setsize(&n->data, &n->size, &n->cap, n->dsize) == 0 && n->dsize > 0) {
        memcpy(n->data, n->ddata, n->dsize);
    }
}

static void dir_crash(struct sp_sim_fs *fs, struct sim_node *n, int mode)
{
    if (!n->dirty) {
        return;
    }
    struct sim_dirent *copy = NULL;
    if (crash_keep(fs, mode)) {
        if (dirents_copy(n->ents, &copy) == 0) {
            dirents_free(n->dents);
            n->dents = copy;
        }
    } else if (dirents_copy(n->dents, &copy) == 0) {
        dirents_free(n->ents);
        n->ents = copy;
    }
    n->dirty = false;
}

static void fix_parents(struct sim_node *dir)
{
    for (struct sim_dirent *d = dir->ents; d != NULL; d = d->next) {
        if (d->node->is_dir && d->node->parent != dir) {
            d->node->parent = dir;
            fix_parents(d->node);
        } else if (d->node->is_dir) {
            fix_parents(d->node);
        }
    }
}

static void sim_io_kill(struct sim_io *s);

void sp_sim_fs_crash(struct sp_sim_fs *fs)
{
    for (struct sim_io *s = fs->ios; s != NULL; s = s->fs_next) {
        sim_io_kill(s);
    }
    /* One mode per crash so that runs see the extremes as well as mixtures. */
    uint64_t pick = sim_rand(&fs->rng) % 4;
    int mode = pick == 0 ? CRASH_KEEP_NONE : pick == 1 ? CRASH_KEEP_ALL : CRASH_KEEP_SOME;
    for (struct sim_node *n = fs->all; n != NULL; n = n->all_next) {
        n->open_count = 0;
        if (n->is_dir) {
            dir_crash(fs, n, mode);
        } else {
            file_crash(fs, n, mode);
        }
    }
    fix_parents(fs->root);
    fs_sweep(fs);
    fs->used = 0;
    for (struct sim_node *n = fs->all; n != NULL; n = n->all_next) {
        fs->used += n->is_dir ? 0 : n->size;
    }
}

/* ---- File changes (current view + unflushed record) --------------------- */

static int file_rec(struct sim_node *n, int kind, uint64_t off, const void *src, uint64_t len)
{
    struct sim_rec *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        return -ENOMEM;
    }
    r->kind = kind;
    r->off = off;
    r->len = len;
    if (kind == REC_WRITE && len > 0) {
        r->data = malloc(len);
        if (r->data == NULL) {
            free(r);
            return -ENOMEM;
        }
        memcpy(r->data, src, len);
    }
    if (n->pend_tail != NULL) {
        n->pend_tail->next = r;
    } else {
        n->pend_head = r;
    }
    n->pend_tail = r;
    return 0;
}

static int fs_room(struct sp_sim_fs *fs, struct sim_node *n, uint64_t nsize)
{
    if (nsize > SIM_FILE_MAX) {
        return -EFBIG;
    }
    if (fs->capacity != 0 && nsize > n->size && fs->used + (nsize - n->size) > fs->capacity) {
        return -ENOSPC;
    }
    return 0;
}

static int file_setsize(struct sp_sim_fs *fs, struct sim_node *n, uint64_t nsize)
{
    int rc = fs_room(fs, n, nsize);
    if (rc == 0) {
        rc = file_rec(n, REC_SETSIZE, nsize, NULL, 0);
    }
    if (rc == 0) {
        uint64_t old = n->size;
        rc = buf_setsize(&n->data, &n->size, &n->cap, nsize);
        if (rc == 0) {
            fs->used = fs->used - old + nsize;
        }
    }
    return rc;
}

static int file_write(struct sp_sim_fs *fs, struct sim_node *n, uint64_t off, const void *src,
                      uint64_t len)
{
    uint64_t end = off + len;
    int rc = fs_room(fs, n, end);
    if (rc == 0) {
        rc = file_rec(n, REC_WRITE, off, src, len);
    }
    if (rc == 0) {
        uint64_t old = n->size;
        rc = buf_write(&n->data, &n->size, &n->cap, off, src, len);
        if (rc == 0) {
            fs->used = fs->used - old + n->size;
        }
    }
    return rc;
}

/* ---- Paths -------------------------------------------------------------- */

static int fd_get(struct sim_io *s, int fd, struct sim_fd **out)
{
    if (fd < SIM_FD_FIRST || (uint32_t)(fd - SIM_FD_FIRST) >= s->fds_len ||
        s->fds[fd - SIM_FD_FIRST].node == NULL) {
        return -EBADF;
    }
    *out = &s->fds[fd - SIM_FD_FIRST];
    return 0;
}

static int dir_start(struct sim_io *s, int dirfd, const char *path, struct sim_node **out)
{
    if (path[0] == '/' || dirfd == AT_FDCWD) {
        *out = s->fs->root;
        return 0;
    }
    struct sim_fd *f = NULL;
    int rc = fd_get(s, dirfd, &f);
    if (rc < 0) {
        return rc;
    }
    if (!f->node->is_dir) {
        return -ENOTDIR;
    }
    *out = f->node;
    return 0;
}

/*
 * Resolves path into its parent directory and last component. The last
 * component is "" for "/" or a path ending in "/", or "." / "..".
 */
static int path_resolve(struct sim_io *s, int dirfd, const char *path, struct sim_node **dir_out,
                        char *name_out)
{
    if (path == NULL || path[0] == '\0') {
        return -ENOENT;
    }
    if (strlen(path) >= SIM_PATH_MAX) {
        return -ENAMETOOLONG;
    }
    struct sim_node *dir;
    int rc = dir_start(s, dirfd, path, &dir);
    if (rc < 0) {
        return rc;
    }
    const char *p = path;
    for (;;) {
        while (*p == '/') {
            p++;
        }
        const char *end = strchr(p, '/');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        if (len > SIM_NAME_MAX) {
            return -ENAMETOOLONG;
        }
        const char *rest = p + len;
        while (*rest == '/') {
            rest++;
        }
        if (*rest == '\0') {
            memcpy(name_out, p, len);
            name_out[len] = '\0';
            *dir_out = dir;
            return 0;
        }
        char comp[SIM_NAME_MAX + 1];
        memcpy(comp, p, len);
        comp[len] = '\0';
        if (strcmp(comp, "..") == 0) {
            dir = dir->parent;
        } else if (strcmp(comp, ".") != 0) {
            struct sim_dirent *d = dir_find(dir->ents, comp);
            if (d == NULL) {
                return -ENOENT;
            }
            if (!d->node->is_dir) {
                return -ENOTDIR;
            }
            dir = d->node;
        }
        p = rest;
    }
}

/* The node a resolved (dir, name) names, or NULL. */
static struct sim_node *path_lookup(struct sim_node *dir, const char *name)
{
    if (name[0] == '\0' || strcmp(name, ".") == 0) {
        return dir;
    }
    if (strcmp(name, "..") == 0) {
        return dir->parent;
    }
    struct sim_dirent *d = dir_find(dir->ents, name);
    return d != NULL ? d->node : NULL;
}

static bool name_is_special(const char *name)
{
    return name[0] == '\0' || strcmp(name, ".") == 0 || strcmp(name, "..") == 0;
}

/* ---- Operations, run at completion time --------------------------------- */

static int fd_alloc(struct sim_io *s, struct sim_node *node, int flags)
{
    uint32_t i = 0;
    while (i < s->fds_len && s->fds[i].node != NULL) {
        i++;
    }
    if (i == s->fds_len) {
        if (s->fds_len == SIM_FDS_MAX) {
            return -EMFILE;
        }
        uint32_t n = s->fds_len ? s->fds_len * 2 : 16;
        struct sim_fd *fds = realloc(s->fds, n * sizeof(*fds));
        if (fds == NULL) {
            return -ENOMEM;
        }
        memset(fds + s->fds_len, 0, (n - s->fds_len) * sizeof(*fds));
        s->fds = fds;
        s->fds_len = n;
    }
    s->fds[i].node = node;
    s->fds[i].flags = flags;
    node->open_count++;
    return (int)i + SIM_FD_FIRST;
}

static int sim_openat(struct sim_io *s, int dirfd, const char *path, int flags)
{
    struct sim_node *dir;
    char name[SIM_NAME_MAX + 1];
    int rc = path_resolve(s, dirfd, path, &dir, name);
    if (rc < 0) {
        return rc;
    }
    int acc = flags & O_ACCMODE;
    struct sim_node *n = path_lookup(dir, name);
    if (n == NULL) {
        if (!(flags & O_CREAT)) {
            return -ENOENT;
        }
        if (flags & O_DIRECTORY) {
            return -EINVAL;
        }
        n = node_new(s->fs, false, dir);
        if (n == NULL) {
            return -ENOMEM;
        }
        rc = dir_add(dir, name, n);
        if (rc < 0) {
            return rc; /* the orphan node goes at the next sweep */
        }
    } else {
        if ((flags & O_CREAT) && (flags & O_EXCL)) {
            return -EEXIST;
        }
        if ((flags & O_DIRECTORY) && !n->is_dir) {
            return -ENOTDIR;
        }
        if (n->is_dir && acc != O_RDONLY) {
            return -EISDIR;
        }
        if (!n->is_dir && (flags & O_TRUNC) && acc != O_RDONLY && n->size > 0) {
            rc = file_setsize(s->fs, n, 0);
            if (rc < 0) {
                return rc;
            }
        }
    }
    return fd_alloc(s, n, flags);
}

static int sim_close(struct sim_io *s, int fd)
{
    struct sim_fd *f = NULL;
    int rc = fd_get(s, fd, &f);
    if (rc < 0) {
        return rc;
    }
    f->node->open_count--;
    f->node = NULL;
    return 0;
}

static int sim_mkdirat(struct sim_io *s, int dirfd, const char *path)
{
    struct sim_node *dir;
    char name[SIM_NAME_MAX + 1];
    int rc = path_resolve(s, dirfd, path, &dir, name);
    if (rc < 0) {
        return rc;
    }
    if (name_is_special(name) || path_lookup(dir, name) != NULL) {
        return -EEXIST;
    }
    struct sim_node *n = node_new(s->fs, true, dir);
    if (n == NULL) {
        return -ENOMEM;
    }
    return dir_add(dir, name, n);
}

static bool dir_is_ancestor(struct sim_node *anc, struct sim_node *n)
{
    for (;;) {
        if (n == anc) {
            return true;
        }
        if (n->parent == n) {
            return false;
        }
        n = n->parent;
    }
}

static int sim_renameat(struct sim_io *s, struct sp_io_op *op)
{
    struct sim_node *odir, *ndir;
    char oname[SIM_NAME_MAX + 1], nname[SIM_NAME_MAX + 1];
    int rc = path_resolve(s, op->fd, op->path, &odir, oname);
    if (rc == 0) {
        rc = path_resolve(s, op->fd2, op->path2, &ndir, nname);
    }
    if (rc < 0) {
        return rc;
    }
    if (name_is_special(oname) || name_is_special(nname)) {
        return -EBUSY;
    }
    struct sim_node *src = path_lookup(odir, oname);
    if (src == NULL) {
        return -ENOENT;
    }
    struct sim_node *dst = path_lookup(ndir, nname);
    if (dst == src) {
        return 0;
    }
    if (src->is_dir && dir_is_ancestor(src, ndir)) {
        return -EINVAL;
    }
    if (dst != NULL) {
        if (src->is_dir && !dst->is_dir) {
            return -ENOTDIR;
        }
        if (!src->is_dir && dst->is_dir) {
            return -EISDIR;
        }
        if (dst->is_dir && dst->ents != NULL) {
            return -ENOTEMPTY;
        }
    }
    /* Allocate the new entry first so a failure leaves the tree untouched. */
    size_t len = strlen(nname);
    struct sim_dirent *d = malloc(sizeof(*d) + len + 1);
    if (d == NULL) {
        return -ENOMEM;
    }
    if (dst != NULL) {
        dir_remove(ndir, nname);
    }
    dir_remove(odir, oname);
    memcpy(d->name, nname, len + 1);
    d->node = src;
    d->next = ndir->ents;
    ndir->ents = d;
    ndir->dirty = true;
    if (src->is_dir) {
        src->parent = ndir;
    }
    return 0;
}

static int sim_unlinkat(struct sim_io *s, int dirfd, const char *path, int flags)
{
    struct sim_node *dir;
    char name[SIM_NAME_MAX + 1];
    int rc = path_resolve(s, dirfd, path, &dir, name);
    if (rc < 0) {
        return rc;
    }
    if (name_is_special(name)) {
        return (flags & AT_REMOVEDIR) ? -EBUSY : -EISDIR;
    }
    struct sim_node *n = path_lookup(dir, name);
    if (n == NULL) {
        return -ENOENT;
    }
    if (flags & AT_REMOVEDIR) {
        if (!n->is_dir) {
            return -ENOTDIR;
        }
        if (n->ents != NULL) {
            return -ENOTEMPTY;
        }
    } else if (n->is_dir) {
        return -EISDIR;
    }
    dir_remove(dir, name);
    return 0;
}

static bool direct_misaligned(const struct sim_io *s, const struct sim_fd *f, const void *buf,
                              uint64_t len, uint64_t off)
{
    uint64_t a = s->direct_align;
    if (!(f->flags & O_DIRECT) || a == 0) {
        return false;
    }
    return ((uintptr_t)buf % a) != 0 || (len % a) != 0 || (off % a) != 0;
}

static int sim_rw(struct sim_io *s, struct sp_io_op *op, bool write)
{
    struct sim_fd *f = NULL;
    int rc = fd_get(s, op->fd, &f);
    if (rc < 0) {
        return rc;
    }
    int acc = f->flags & O_ACCMODE;
    if (f->node->is_dir) {
        return -EISDIR;
    }
    if ((write && acc == O_RDONLY) || (!write && acc == O_WRONLY)) {
        return -EBADF;
    }
    if (direct_misaligned(s, f, op->buf, op->len, op->off)) {
        return -EINVAL;
    }
    struct sim_node *n = f->node;
    if (write) {
        uint64_t off = (f->flags & O_APPEND) ? n->size : op->off;
        rc = file_write(s->fs, n, off, op->buf, op->len);
        return rc < 0 ? rc : (int)op->len;
    }
    if (op->off >= n->size) {
        return 0;
    }
    uint64_t len = SP_MIN((uint64_t)op->len, n->size - op->off);
    memcpy(op->buf, n->data + op->off, len);
    return (int)len;
}

static int sim_fsync(struct sim_io *s, int fd)
{
    struct sim_fd *f = NULL;
    int rc = fd_get(s, fd, &f);
    if (rc < 0) {
        return rc;
    }
    struct sim_node *n = f->node;
    if (!n->is_dir) {
        return file_flush(n);
    }
    struct sim_dirent *copy = NULL;
    rc = dirents_copy(n->ents, &copy);
    if (rc < 0) {
        return rc;
    }
    dirents_free(n->dents);
    n->dents = copy;
    n->dirty = false;
    fs_sweep(s->fs);
    return 0;
}

static int sim_fallocate(struct sim_io *s, struct sp_io_op *op)
{
    struct sim_fd *f = NULL;
    int rc = fd_get(s, op->fd, &f);
    if (rc < 0) {
        return rc;
    }
    struct sim_node *n = f->node;
    int mode = (int)op->arg;
    uint64_t off = op->off, len = (uint64_t)(uintptr_t)op->buf;
    if (n->is_dir) {
        return -EISDIR;
    }
    if ((f->flags & O_ACCMODE) == O_RDONLY) {
        return -EBADF;
    }
    if (len == 0) {
        return -EINVAL;
    }
    bool keep_size = (mode & FALLOC_FL_KEEP_SIZE) != 0;
    switch (mode & ~FALLOC_FL_KEEP_SIZE) {
    case 0:
        if (keep_size) {
            return fs_room(s->fs, n, off + len);
        }
        return off + len > n->size ? file_setsize(s->fs, n, off + len) : 0;
    case FALLOC_FL_PUNCH_HOLE:
    case FALLOC_FL_ZERO_RANGE: {
        if ((mode & FALLOC_FL_PUNCH_HOLE) && !keep_size) {
            return -EOPNOTSUPP;
        }
        uint64_t end = keep_size ? SP_MIN(off + len, n->size) : off + len;
        if (end > off) {
            uint8_t *zeros = calloc(1, end - off);
            if (zeros == NULL) {
                return -ENOMEM;
            }
            rc = file_write(s->fs, n, off, zeros, end - off);
            free(zeros);
        }
        return rc;
    }
    default:
        return -EOPNOTSUPP;
    }
}

/* ---- Scheduling --------------------------------------------------------- */

static bool ev_less(const struct sim_event *a, const struct sim_event *b)
{
    return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void ev_swap(struct sim_event *a, struct sim_event *b)
{
    struct sim_event t = *a;
    *a = *b;
    *b = t;
}

static int ev_push(struct sim_io *s, uint64_t due, struct sp_io_op *op)
{
    if (s->ev_len == s->ev_cap) {
        uint32_t n = s->ev_cap ? s->ev_cap * 2 : 64;
        struct sim_event *ev = realloc(s->ev, n * sizeof(*ev));
        if (ev == NULL) {
            return -ENOMEM;
        }
        s->ev = ev;
        s->ev_cap = n;
    }
    uint32_t i = s->ev_len++;
    s->ev[i].due = due;
    s->ev[i].seq = s->seq++;
    s->ev[i].op = op;
    while (i > 0 && ev_less(&s->ev[i], &s->ev[(i - 1) / 2])) {
        ev_swap(&s->ev[i], &s->ev[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    return 0;
}

static void ev_remove_at(struct sim_io *s, uint32_t i)
{
    s->ev[i] = s->ev[--s->ev_len];
    /* Sift up, then down: the moved element may go either way. */
    while (i > 0 && ev_less(&s->ev[i], &s->ev[(i - 1) / 2])) {
        ev_swap(&s->ev[i], &s->ev[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    for (;;) {
        uint32_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < s->ev_len && ev_less(&s->ev[l], &s->ev[m])) {
            m = l;
        }
        if (r < s->ev_len && ev_less(&s->ev[r], &s->ev[m])) {
            m = r;
        }
        if (m == i) {
            break;
        }
        ev_swap(&s->ev[i], &s->ev[m]);
        i = m;
    }
}

static void sim_complete(struct sim_io *s, struct sp_io_op *op, int32_t res)
{
    s->trace = hash_mix(s->trace, op->opcode);
    s->trace = hash_mix(s->trace, (uint64_t)(int64_t)res);
    s->trace = hash_mix(s->trace, s->fs->now_ns);
    if (sp_io_cq_push(&s->base, op, res, 0) < 0) {
        /* The completion queue could not grow: retry this op a little later. */
        op->state = SP_IO_STATE_INFLIGHT;
        (void)ev_push(s, s->fs->now_ns + 1000, op);
    }
}

static bool sim_fault(struct sim_io *s, unsigned kind, int32_t *res)
{
    struct sim_fault *f = &s->faults[kind];
    if (f->err == 0) {
        return false;
    }
    bool fail = false;
    if (f->next_count > 0) {
        f->next_count--;
        fail = true;
    } else if (f->permille > 0) {
        fail = sim_rand(&s->rng) % 1000 < f->permille;
    }
    if (fail) {
        *res = -f->err;
        s->faults_injected++;
    }
    return fail;
}

static bool op_cancellable(const struct sp_io_op *op)
{
    return op->opcode == SP_IO_OP_TIMEOUT || op->opcode == SP_IO_OP_ACCEPT ||
           op->opcode == SP_IO_OP_RECV || op->opcode == SP_IO_OP_CONNECT;
}

static int32_t sim_cancel(struct sim_io *s, struct sp_io_op *target)
{
    for (uint32_t i = 0; i < s->ev_len; i++) {
        if (s->ev[i].op != target) {
            continue;
        }
        if (!op_cancellable(target)) {
            return -EALREADY;
        }
        ev_remove_at(s, i);
        sim_complete(s, target, -ECANCELED);
        return 0;
    }
    return -ENOENT;
}

static int32_t sim_execute(struct sim_io *s, struct sp_io_op *op)
{
    int32_t res;
    if (sim_fault(s, op->opcode, &res)) {
        return res;
    }
    switch ((enum sp_io_opcode)op->opcode) {
    case SP_IO_OP_NOP:
        return 0;
    case SP_IO_OP_READ:
        return sim_rw(s, op, false);
    case SP_IO_OP_WRITE:
        return sim_rw(s, op, true);
    case SP_IO_OP_FSYNC:
        return sim_fsync(s, op->fd);
    case SP_IO_OP_FALLOCATE:
        return sim_fallocate(s, op);
    case SP_IO_OP_OPENAT:
        return sim_openat(s, op->fd, op->path, (int)op->arg);
    case SP_IO_OP_CLOSE:
        return sim_close(s, op->fd);
    case SP_IO_OP_RENAMEAT:
        return sim_renameat(s, op);
    case SP_IO_OP_UNLINKAT:
        return sim_unlinkat(s, op->fd, op->path, (int)op->arg);
    case SP_IO_OP_MKDIRAT:
        return sim_mkdirat(s, op->fd, op->path);
    case SP_IO_OP_TIMEOUT:
        return -ETIME;
    case SP_IO_OP_CANCEL:
        return sim_cancel(s, op->buf);
    default:
        return -EOPNOTSUPP; /* sockets are not simulated */
    }
}

/* Runs every operation due by now. Returns how many completed. */
static int sim_run_due(struct sim_io *s)
{
    int n = 0;
    uint64_t now = s->fs->now_ns;
    while (s->ev_len > 0 && s->ev[0].due <= now) {
        struct sp_io_op *op = s->ev[0].op;
        ev_remove_at(s, 0);
        int32_t res = sim_execute(s, op);
        sim_complete(s, op, res);
        n++;
    }
    return n;
}

static void sim_submit(struct sp_io *io, struct sp_io_op *op)
{
    struct sim_io *s = to_sim(io);
    uint64_t now = s->fs->now_ns;
    if (s->dead) {
        (void)sp_io_cq_push(io, op, -EIO, 0);
        return;
    }
    uint64_t due;
    if (op->opcode == SP_IO_OP_TIMEOUT) {
        due = now + op->off;
    } else {
        due = now + sim_rand_range(&s->rng, s->lat_min, s->lat_max);
        if (!s->reorder) {
            due = SP_MAX(due, s->last_due);
            s->last_due = due;
        }
    }
    if (ev_push(s, due, op) < 0) {
        (void)sp_io_cq_push(io, op, -ENOMEM, 0);
    }
}

static int sim_poll(struct sp_io *io, uint64_t timeout_ns)
{
    struct sim_io *s = to_sim(io);
    if (s->dead) {
        return 0;
    }
    int n = sim_run_due(s);
    bool woken = atomic_exchange(&s->woken, false);
    if (n > 0 || woken || timeout_ns == 0 || sp_io_cq_len(io) > 0) {
        return n;
    }
    uint64_t now = s->fs->now_ns;
    uint64_t deadline = timeout_ns > UINT64_MAX - now ? UINT64_MAX : now + timeout_ns;
    uint64_t next = s->ev_len > 0 ? s->ev[0].due : UINT64_MAX;
    if (next <= deadline) {
        s->fs->now_ns = next;
        return sim_run_due(s);
    }
    if (deadline != UINT64_MAX) {
        s->fs->now_ns = deadline;
    }
    return 0;
}

static uint64_t sim_now_ns(const struct sp_io *io)
{
    return to_sim_c(io)->fs->now_ns;
}

static void sim_wake(struct sp_io *from, struct sp_io *target)
{
    atomic_store(&to_sim(target)->woken, true);
}

static int sim_wake_fd(const struct sp_io *io)
{
    return -1;
}

static void sim_io_kill(struct sim_io *s)
{
    s->dead = true;
    s->ev_len = 0;
    /* The ops in flight are dropped: the process they belonged to is gone. */
    s->base.inflight = 0;
    s->base.cq_head = s->base.cq_tail;
    for (uint32_t i = 0; i < s->fds_len; i++) {
        s->fds[i].node = NULL;
    }
}

/* ---- Buffer rings and synchronous helpers -------------------------------- */

static int sim_bufring_create(struct sp_io *io, struct sp_io_bufring **out, uint16_t count,
                              uint32_t size)
{
    struct sp_io_bufring *br = calloc(1, sizeof(*br));
    if (br == NULL) {
        return -ENOMEM;
    }
    br->bufs = calloc(count, size);
    if (br->bufs == NULL) {
        free(br);
        return -ENOMEM;
    }
    br->io = io;
    br->size = size;
    br->count = count;
    *out = br;
    return 0;
}

static void sim_bufring_destroy(struct sp_io *io, struct sp_io_bufring *br)
{
    free(br->bufs);
    free(br);
}

static void sim_bufring_recycle(struct sp_io_bufring *br, uint16_t id)
{
}

static int sim_sync_check(struct sim_io *s, unsigned kind)
{
    int32_t res = 0;
    if (s->dead) {
        return -EIO;
    }
    if (sim_fault(s, kind, &res)) {
        return res;
    }
    return 0;
}

static int sim_ftruncate_sync(struct sp_io *io, int fd, uint64_t size)
{
    struct sim_io *s = to_sim(io);
    struct sim_fd *f = NULL;
    int rc = sim_sync_check(s, SP_SIM_OP_FTRUNCATE_SYNC);
    if (rc < 0) {
        return rc;
    }
    rc = fd_get(s, fd, &f);
    if (rc < 0) {
        return rc;
    }
    if (f->node->is_dir) {
        return -EISDIR;
    }
    if ((f->flags & O_ACCMODE) == O_RDONLY) {
        return -EINVAL;
    }
    return file_setsize(s->fs, f->node, size);
}

static int sim_fsize_sync(struct sp_io *io, int fd, uint64_t *size)
{
    struct sim_io *s = to_sim(io);
    struct sim_fd *f = NULL;
    int rc = sim_sync_check(s, SP_SIM_OP_FSIZE_SYNC);
    if (rc < 0) {
        return rc;
    }
    rc = fd_get(s, fd, &f);
    if (rc < 0) {
        return rc;
    }
    *size = f->node->is_dir ? 0 : f->node->size;
    return 0;
}

static int sim_listdir_sync(struct sp_io *io, const char *path,
                            int (*cb)(void *ctx, const char *name, bool is_dir), void *ctx)
{
    struct sim_io *s = to_sim(io);
    struct sim_node *dir;
    char name[SIM_NAME_MAX + 1];
    int rc = sim_sync_check(s, SP_SIM_OP_LISTDIR_SYNC);
    if (rc == 0) {
        rc = path_resolve(s, AT_FDCWD, path, &dir, name);
    }
    if (rc < 0) {
        return rc;
    }
    struct sim_node *n = path_lookup(dir, name);
    if (n == NULL) {
        return -ENOENT;
    }
    if (!n->is_dir) {
        return -ENOTDIR;
    }
    /* A snapshot, so the callback may change the directory. */
    struct sim_dirent *copy = NULL;
    rc = dirents_copy(n->ents, &copy);
    if (rc < 0) {
        return rc;
    }
    for (struct sim_dirent *d = copy; d != NULL && rc == 0; d = d->next) {
        rc = cb(ctx, d->name, d->node->is_dir);
    }
    dirents_free(copy);
    return rc;
}

static int sim_mkdir_sync(struct sp_io *io, const char *path, mode_t mode)
{
    struct sim_io *s = to_sim(io);
    int rc = sim_sync_check(s, SP_SIM_OP_MKDIR_SYNC);
    return rc < 0 ? rc : sim_mkdirat(s, AT_FDCWD, path);
}

static int sim_open_sync(struct sp_io *io, const char *path, int flags, mode_t mode)
{
    struct sim_io *s = to_sim(io);
    int rc = sim_sync_check(s, SP_SIM_OP_OPEN_SYNC);
    return rc < 0 ? rc : sim_openat(s, AT_FDCWD, path, flags);
}

static int sim_close_sync(struct sp_io *io, int fd)
{
    struct sim_io *s = to_sim(io);
    int rc = sim_sync_check(s, SP_SIM_OP_CLOSE_SYNC);
    return rc < 0 ? rc : sim_close(s, fd);
}

/* ---- Creation and controls ---------------------------------------------- */

static void sim_destroy(struct sp_io *io)
{
    struct sim_io *s = to_sim(io);
    for (struct sim_io **pp = &s->fs->ios; *pp != NULL; pp = &(*pp)->fs_next) {
        if (*pp == s) {
            *pp = s->fs_next;
            break;
        }
    }
    for (uint32_t i = 0; i < s->fds_len; i++) {
        if (s->fds[i].node != NULL) {
            s->fds[i].node->open_count--;
        }
    }
    free(s->fds);
    free(s->ev);
    sp_io_base_fini(io);
    free(s);
}

static const struct sp_io_vtable sim_vtable = {
    .name = "sim",
    .submit = sim_submit,
    .poll = sim_poll,
    .now_ns = sim_now_ns,
    .destroy = sim_destroy,
    .wake = sim_wake,
    .wake_fd = sim_wake_fd,
    .bufring_create = sim_bufring_create,
    .bufring_destroy = sim_bufring_destroy,
    .bufring_recycle = sim_bufring_recycle,
    .ftruncate_sync = sim_ftruncate_sync,
    .fsize_sync = sim_fsize_sync,
    .listdir_sync = sim_listdir_sync,
    .mkdir_sync = sim_mkdir_sync,
    .open_sync = sim_open_sync,
    .close_sync = sim_close_sync,
};

int sp_io_create_sim(struct sp_io **out, struct sp_sim_fs *fs, uint64_t seed)
{
    *out = NULL;
    struct sim_io *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return -ENOMEM;
    }
    int rc = sp_io_base_init(&s->base, &sim_vtable, 256);
    if (rc < 0) {
        free(s);
        return rc;
    }
    s->base.features = SP_IO_FEAT_SINGLE_ISSUER | SP_IO_FEAT_DEFER_TASKRUN |
                       SP_IO_FEAT_COOP_TASKRUN | SP_IO_FEAT_REGISTERED_FILES | SP_IO_FEAT_BUF_RING |
                       SP_IO_FEAT_ACCEPT_MULTISHOT | SP_IO_FEAT_RECV_MULTISHOT |
                       SP_IO_FEAT_SEND_ZC | SP_IO_FEAT_MSG_RING | SP_IO_FEAT_SENDMSG_ZC;
    s->fs = fs;
    s->rng = seed;
    s->reorder = true;
    s->direct_align = 4096;
    s->lat_min = 1000;
    s->lat_max = 100000;
    s->trace = 0xcbf29ce484222325ull;
    atomic_init(&s->woken, false);
    s->fs_next = fs->ios;
    fs->ios = s;
    *out = &s->base;
    return 0;
}

struct sp_sim_fs *sp_sim_fs_of(struct sp_io *io)
{
    SP_ASSERT(io->vt == &sim_vtable);
    return to_sim(io)->fs;
}

bool sp_sim_dead(const struct sp_io *io)
{
    SP_ASSERT(io->vt == &sim_vtable);
    return to_sim_c(io)->dead;
}

void sp_sim_set_latency(struct sp_io *io, uint64_t min_ns, uint64_t max_ns)
{
    SP_ASSERT(io->vt == &sim_vtable && min_ns <= max_ns);
    to_sim(io)->lat_min = min_ns;
    to_sim(io)->lat_max = max_ns;
}

void sp_sim_set_reorder(struct sp_io *io, bool reorder)
{
    SP_ASSERT(io->vt == &sim_vtable);
    to_sim(io)->reorder = reorder;
}

void sp_sim_set_direct_align(struct sp_io *io, uint32_t align)
{
    SP_ASSERT(io->vt == &sim_vtable);
    to_sim(io)->direct_align = align;
}

void sp_sim_fail_next(struct sp_io *io, unsigned kind, int err, uint32_t count)
{
    SP_ASSERT(io->vt == &sim_vtable && kind < SP_SIM_OP_KINDS_ && err > 0);
    struct sim_fault *f = &to_sim(io)->faults[kind];
    f->err = err;
    f->next_count = count;
}

void sp_sim_fail_rate(struct sp_io *io, unsigned kind, int err, uint32_t permille)
{
    SP_ASSERT(io->vt == &sim_vtable && kind < SP_SIM_OP_KINDS_ && err > 0 && permille <= 1000);
    struct sim_fault *f = &to_sim(io)->faults[kind];
    f->err = err;
    f->permille = permille;
}

void sp_sim_fail_clear(struct sp_io *io)
{
    SP_ASSERT(io->vt == &sim_vtable);
    memset(to_sim(io)->faults, 0, sizeof(to_sim(io)->faults));
}

uint64_t sp_sim_faults_injected(const struct sp_io *io)
{
    SP_ASSERT(io->vt == &sim_vtable);
    return to_sim_c(io)->faults_injected;
}

uint64_t sp_sim_trace_hash(const struct sp_io *io)
{
    SP_ASSERT(io->vt == &sim_vtable);
    return to_sim_c(io)->trace;
}

uint64_t sp_sim_next_event_ns(const struct sp_io *io)
{
    SP_ASSERT(io->vt == &sim_vtable);
    const struct sim_io *s = to_sim_c(io);
    return s->ev_len > 0 ? s->ev[0].due : UINT64_MAX;
}
