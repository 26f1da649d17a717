/*
 * cluster/metalog.c: the metadata log, __cluster_metadata-0, in KRaft's
 * on-disk format.
 *
 * A metadata record is the value of a v2 record with a null key:
 *
 *   uvarint frame version (1) | uvarint record type (apiKey) |
 *   uvarint record version    | the record, generated codec
 *
 * Control batches (attribute bit 5) hold records keyed by
 * int16 version (0) | int16 type, the value a data schema at version 0:
 * LeaderChange (2) in the log, SnapshotHeader (3) and SnapshotFooter (4)
 * at the two ends of a snapshot. A batch's partitionLeaderEpoch is the
 * epoch it was written in; the LeaderChange batch opens each epoch.
 *
 * A snapshot <end offset>-<epoch>.checkpoint holds batches whose offsets
 * count from 0 within the file:
 *
 *   [control: SnapshotHeader] [data: the state] ... [control: SnapshotFooter]
 *
 * It covers every log offset below <end offset>. It is written only while
 * no append is in flight, so that the state handed over by the controller
 * is exactly the log up to its end, and only from a deferred task on the
 * shard (the file I/O blocks, briefly), never from inside a completion.
 */
#include "cluster/metalog.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cluster/meta_props.h"
#include "core/config.h"
#include "core/fsutil.h"
#include "core/io.h"
#include "core/log.h"
#include "core/rx.h"
#include "protocol/batch.h"
#include "protocol/compress.h"
#include "storage/log.h"

#define FRAME_VERSION        1
#define CTRL_KEY_BYTES       4
#define CTRL_LEADER_CHANGE   2
#define CTRL_SNAPSHOT_HEADER 3
#define CTRL_SNAPSHOT_FOOTER 4

#define SNAP_SUFFIX      ".checkpoint"
#define SNAP_PART_SUFFIX ".checkpoint.part"
#define SNAP_NAME_LEN    (20 + 1 + 10 + sizeof(SNAP_SUFFIX) - 1)
#define SNAP_FILES_MAX   256            /* snapshots looked at in one directory */
#define SNAP_BYTES_MAX   (1ull << 30)   /* a bigger snapshot file is refused */
#define SNAP_BATCH_BYTES (1u << 20)     /* a snapshot batch is cut near this size */
#define READ_BYTES       (1u << 20)     /* one read of the log during a load */
#define DECODE_BYTES_MAX (256ull << 20) /* arena for one batch's decoded records */
#define SEGMENT_BYTES    (16ll << 20)   /* small segments, so snapshots free space */
#define PATH_BYTES       4096

static_assert(SNAP_NAME_LEN == 42, "a snapshot name is 20 + 1 + 10 digits and the suffix");

/* ---- The metadata record types ------------------------------------------ */

#define RECORD_TYPES_MAX 128

static const struct kproto_message *record_types[RECORD_TYPES_MAX];
static pthread_once_t record_types_once = PTHREAD_ONCE_INIT;

static void record_types_fill(void)
{
    for (size_t i = 0; i < kproto_messages_count; i++) {
        const struct kproto_message *m = &kproto_messages[i];
        if (m->kind == KPROTO_KIND_METADATA && m->api_key >= 0 && m->api_key < RECORD_TYPES_MAX) {
            record_types[m->api_key] = m;
        }
    }
}

/* The generated message of a metadata record type, or NULL. */
static const struct kproto_message *record_type(int type)
{
    pthread_once(&record_types_once, record_types_fill);
    return type >= 0 && type < RECORD_TYPES_MAX ? record_types[type] : NULL;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- Building batches ---------------------------------------------------- */

/*
 * The records of one batch being built: their values back to back in
 * `vals`, where each ends in `ends`, then sp_batch_build into `out`.
 */
struct batcher {
    struct sp_wr vals;
    uint32_t ends[SP_METALOG_BATCH_RECORDS];
    struct sp_record_in recs[SP_METALOG_BATCH_RECORDS];
    uint32_t n;
    bool control;
    uint8_t key[CTRL_KEY_BYTES];
    uint8_t *out;
    size_t out_cap;
};

static struct batcher *batcher_new(void)
{
    struct batcher *b = calloc(1, sizeof(*b));
    if (b != NULL) {
        sp_wr_init(&b->vals, NULL, 4096);
    }
    return b;
}

static void batcher_free(struct batcher *b)
{
    if (b != NULL) {
        sp_wr_free(&b->vals);
        free(b->out);
        free(b);
    }
}

static void batcher_reset(struct batcher *b)
{
    b->vals.len = 0;
    b->vals.err = 0;
    b->n = 0;
    b->control = false;
}

/* Adds one metadata record (framed). 0, -EINVAL (unknown type or version), or -ENOMEM. */
static int batcher_add(struct batcher *b, const struct sp_metalog_record *r)
{
    SP_ASSERT(!b->control && b->n < SP_METALOG_BATCH_RECORDS);
    const struct kproto_message *m = record_type(r->type);
    if (m == NULL || r->version < m->min_version || r->version > m->max_version || r->msg == NULL) {
        return -EINVAL;
    }
    size_t mark = b->vals.len;
    sp_wr_uvarint(&b->vals, FRAME_VERSION);
    sp_wr_uvarint(&b->vals, (uint32_t)r->type);
    sp_wr_uvarint(&b->vals, (uint32_t)r->version);
    int rc = m->encode(&b->vals, r->version, r->msg);
    if (rc == 0) {
        rc = b->vals.err;
    }
    if (rc < 0 || b->vals.len > UINT32_MAX) {
        b->vals.len = mark; /* the batch stays as it was */
        b->vals.err = 0;
        return rc < 0 ? rc : -E2BIG;
    }
    b->ends[b->n++] = (uint32_t)b->vals.len;
    return 0;
}

/* Makes the batch a single control record of `type`; its value is what vals holds. */
static void batcher_control(struct batcher *b, int16_t type)
{
    SP_ASSERT(b->n == 0 && b->vals.err == 0);
    b->control = true;
    sp_store_be16(b->key, 0);
    sp_store_be16(b->key + 2, (uint16_t)type);
    b->ends[b->n++] = (uint32_t)b->vals.len;
}

/* Builds the batch; its bytes are b->out. Returns the size or -errno. */
static int batcher_build(struct batcher *b, int32_t epoch, int64_t base_offset, int64_t ts)
{
    SP_ASSERT(b->n > 0);
    uint32_t start = 0;
    for (uint32_t i = 0; i < b->n; i++) {
        b->recs[i] = (struct sp_record_in){
            .key = b->control ? sp_slice_make(b->key, sizeof(b->key)) : sp_slice_make(NULL, 0),
            .value = sp_slice_make(b->vals.buf + start, b->ends[i] - start),
            .timestamp = ts,
        };
        start = b->ends[i];
    }
    size_t bound = sp_batch_build_bound(b->recs, b->n);
    if (bound > b->out_cap) {
        uint8_t *p = realloc(b->out, bound);
        if (p == NULL) {
            return -ENOMEM;
        }
        b->out = p;
        b->out_cap = bound;
    }
    struct sp_batch_params p = {
        .base_offset = base_offset,
        .partition_leader_epoch = epoch,
        .attributes = b->control ? SP_BATCH_ATTR_CONTROL : 0,
        .producer_id = SP_NO_PRODUCER_ID,
        .producer_epoch = SP_NO_PRODUCER_EPOCH,
        .base_sequence = SP_NO_SEQUENCE,
    };
    return sp_batch_build(b->out, b->out_cap, &p, b->recs, b->n);
}

/* ---- Decoding ------------------------------------------------------------ */

struct loader {
    sp_metalog_record_fn fn;
    void *ctx;
    int64_t from;    /* log records below are covered by the snapshot */
    int32_t epoch;   /* the largest epoch seen */
    int64_t applied; /* records handed to fn */
    struct sp_arena arena;
    const char *what; /* the file or log being read, for messages */
};

/* Decodes one framed metadata record into the arena and hands it over. */
static int load_record(struct loader *ld, int64_t offset, struct sp_slice v)
{
    struct sp_rd rd;
    sp_rd_init(&rd, v.ptr, v.len);
    uint32_t frame = 0, type = 0, version = 0;
    sp_rd_uvarint(&rd, &frame);
    sp_rd_uvarint(&rd, &type);
    sp_rd_uvarint(&rd, &version);
    const struct kproto_message *m = rd.err == 0 ? record_type((int)type) : NULL;
    if (v.ptr == NULL || frame != FRAME_VERSION || m == NULL || version > INT16_MAX ||
        (int16_t)version < m->min_version || (int16_t)version > m->max_version) {
        sp_log_error("%s: offset %" PRId64 ": not a metadata record (frame %u, type %u, v%u)",
                     ld->what, offset, frame, type, version);
        return -EBADMSG;
    }
    void *msg = sp_arena_alloc(&ld->arena, m->size);
    if (msg == NULL) {
        return -ENOMEM;
    }
    m->init(msg);
    int rc = m->decode(&rd, &ld->arena, (int16_t)version, msg);
    if (rc == 0 && sp_rd_left(&rd) != 0) {
        rc = -EBADMSG;
    }
    if (rc < 0) {
        sp_log_error("%s: offset %" PRId64 ": %s v%u does not decode (%d)", ld->what, offset,
                     m->name, version, rc);
        return rc;
    }
    struct sp_metalog_record r = {.type = (int16_t)type, .version = (int16_t)version, .msg = msg};
    ld->applied++;
    return ld->fn(ld->ctx, offset, &r);
}

/* A control record's type, or -1 when its key is not one. */
static int control_type(const struct sp_record *rec)
{
    if (rec->key.ptr == NULL || rec->key.len < CTRL_KEY_BYTES) {
        return -1;
    }
    return (int16_t)sp_load_be16(rec->key.ptr + 2);
}

/*
 * Replays one validated batch. `shown` is the offset fn sees for every
 * record when >= 0 (snapshot records), else each record's own offset.
 */
static int load_batch(struct loader *ld, const uint8_t *buf, const struct sp_batch_header *h,
                      int64_t shown)
{
    if (h->partition_leader_epoch > ld->epoch) {
        ld->epoch = h->partition_leader_epoch;
    }
    struct sp_slice recs;
    sp_arena_reset(&ld->arena);
    int rc = sp_batch_records_decompress(buf, h, &ld->arena, DECODE_BYTES_MAX / 2, &recs);
    if (rc < 0) {
        sp_log_error("%s: batch at %" PRId64 " does not decompress (%d)", ld->what, h->base_offset,
                     rc);
        return rc;
    }
    struct sp_record_iter it;
    struct sp_record rec;
    sp_record_iter_init(&it, h, recs);
    while ((rc = sp_record_iter_next(&it, &rec)) == 1) {
        if (sp_batch_is_control(h)) {
            continue; /* the epoch came from the batch; nothing else matters here */
        }
        if (shown < 0 && rec.offset < ld->from) {
            continue;
        }
        rc = load_record(ld, shown >= 0 ? shown : rec.offset, rec.value);
        if (rc != 0) {
            return rc;
        }
    }
    if (rc < 0) {
        sp_log_error("%s: batch at %" PRId64 " has malformed records", ld->what, h->base_offset);
    }
    return rc;
}

/* The control type of the first record of a control batch, or -1. */
static int batch_control_type(const uint8_t *buf, const struct sp_batch_header *h)
{
    if (!sp_batch_is_control(h) || sp_batch_codec(h) != SP_CODEC_NONE) {
        return -1;
    }
    struct sp_record_iter it;
    struct sp_record rec;
    sp_record_iter_init(&it, h, sp_batch_records(buf, h));
    return sp_record_iter_next(&it, &rec) == 1 ? control_type(&rec) : -1;
}

/* ---- Snapshot files ------------------------------------------------------ */

struct snap_id {
    int64_t end;
    int32_t epoch;
};

/* Parses "<20 digits>-<10 digits>.checkpoint". */
static bool snap_name_parse(const char *name, struct snap_id *id)
{
    if (strlen(name) != SNAP_NAME_LEN || name[20] != '-' || strcmp(name + 31, SNAP_SUFFIX) != 0) {
        return false;
    }
    int64_t end = 0, epoch = 0;
    for (int i = 0; i < 31; i++) {
        if (i == 20) {
            continue;
        }
        if (name[i] < '0' || name[i] > '9') {
            return false;
        }
        int d = name[i] - '0';
        if (i < 20) {
            if (end > (INT64_MAX - d) / 10) {
                return false;
            }
            end = end * 10 + d;
        } else {
            epoch = epoch * 10 + d;
        }
    }
    if (epoch > INT32_MAX) {
        return false;
    }
    id->end = end;
    id->epoch = (int32_t)epoch;
    return true;
}

static void snap_name(char *buf, size_t len, const struct snap_id *id)
{
    snprintf(buf, len, "%020" PRId64 "-%010" PRId32 SNAP_SUFFIX, id->end, id->epoch);
}

static int id_newest_first(const void *a, const void *b)
{
    const struct snap_id *x = a, *y = b;
    if (x->end != y->end) {
        return x->end < y->end ? 1 : -1;
    }
    return x->epoch < y->epoch ? 1 : (x->epoch > y->epoch ? -1 : 0);
}

/*
 * The snapshots in dir, newest first, into ids (at most SNAP_FILES_MAX).
 * With remove_parts, leftover temporary files of an interrupted snapshot
 * are deleted. Returns the count; 0 when dir does not exist.
 */
static int snap_list(const char *dir, struct snap_id *ids, bool remove_parts)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        return errno == ENOENT ? 0 : -errno;
    }
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        size_t part_len = sizeof(SNAP_PART_SUFFIX) - 1;
        if (remove_parts && len > part_len &&
            strcmp(e->d_name + len - part_len, SNAP_PART_SUFFIX) == 0) {
            if (unlinkat(dirfd(d), e->d_name, 0) == 0) {
                sp_log_info("%s: removed the unfinished snapshot %s", dir, e->d_name);
            }
            continue;
        }
        if (n < SNAP_FILES_MAX && snap_name_parse(e->d_name, &ids[n])) {
            n++;
        }
    }
    closedir(d);
    qsort(ids, (size_t)n, sizeof(ids[0]), id_newest_first);
    return n;
}

/* Reads a whole file into memory (owned by the caller). */
static int file_read(const char *path, uint8_t **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    struct stat sb;
    int rc = 0;
    uint8_t *buf = NULL;
    if (fstat(fd, &sb) < 0) {
        rc = -errno;
    } else if ((uint64_t)sb.st_size > SNAP_BYTES_MAX) {
        rc = -EFBIG;
    } else if ((buf = malloc((size_t)sb.st_size + 1)) == NULL) {
        rc = -ENOMEM;
    }
    size_t at = 0;
    while (rc == 0 && at < (size_t)sb.st_size) {
        ssize_t r = read(fd, buf + at, (size_t)sb.st_size - at);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            rc = r < 0 ? -errno : -EIO;
            break;
        }
        at += (size_t)r;
    }
    close(fd);
    if (rc < 0) {
        free(buf);
        return rc;
    }
    *out = buf;
    *len = at;
    return 0;
}

/*
 * Checks a snapshot file: whole valid batches, a SnapshotHeader first and
 * a SnapshotFooter last. 0 or -EBADMSG.
 */
static int snap_validate(const uint8_t *buf, size_t len)
{
    size_t at = 0;
    int last_type = -1;
    bool first = true;
    while (at < len) {
        struct sp_batch_header h;
        size_t size = sp_batch_size(buf + at, len - at);
        if (size == 0 || size > len - at || sp_batch_validate(buf + at, size, &h) < 0) {
            return -EBADMSG;
        }
        last_type = batch_control_type(buf + at, &h);
        if (first && last_type != CTRL_SNAPSHOT_HEADER) {
            return -EBADMSG;
        }
        first = false;
        at += size;
    }
    return last_type == CTRL_SNAPSHOT_FOOTER ? 0 : -EBADMSG;
}

/*
 * Loads the snapshot dir/<id>. 0; 1 when it is not a valid snapshot
 * (nothing was handed to fn); or -errno / fn's result.
 */
static int snap_load(struct loader *ld, const char *dir, const struct snap_id *id)
{
    char name[64], path[PATH_BYTES + 64];
    snap_name(name, sizeof(name), id);
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = file_read(path, &buf, &len);
    if (rc < 0) {
        sp_log_warn("%s: cannot read (%s); trying an older snapshot", path, strerror(-rc));
        return 1;
    }
    if (snap_validate(buf, len) < 0) {
        sp_log_warn("%s: not a whole snapshot; trying an older one", path);
        free(buf);
        return 1;
    }
    ld->what = path;
    for (size_t at = 0; at < len && rc == 0;) {
        struct sp_batch_header h;
        size_t size = sp_batch_size(buf + at, len - at);
        rc = sp_batch_validate(buf + at, size, &h);
        if (rc == 0) {
            rc = load_batch(ld, buf + at, &h, id->end - 1);
        }
        at += size;
    }
    free(buf);
    ld->what = NULL;
    if (id->epoch > ld->epoch) {
        ld->epoch = id->epoch;
    }
    return rc;
}

/* ---- Loading ------------------------------------------------------------- */

static int dir_paths(const char *log_dir, char *dir, size_t len)
{
    int n = snprintf(dir, len, "%s/%s", log_dir, SP_METALOG_DIR);
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int mkdir_if_absent(const char *path)
{
    return mkdir(path, 0755) == 0 || errno == EEXIST ? 0 : -errno;
}

static void plog_options(struct sp_plog_options *o)
{
    sp_plog_options_init(o, NULL);
    o->segment_bytes = SEGMENT_BYTES;
    o->segment_ms = -1;
    o->retention_ms = -1; /* only a snapshot moves the start of this log */
    o->retention_bytes = -1;
}

/* Runs io until *flag is set (blocking calls on a ring: start-up, close). */
static void io_wait(struct sp_io *io, const bool *flag)
{
    while (!*flag) {
        (void)sp_io_turn(io); /* a failing poll is retried: the ops still complete */
    }
}

struct sync_read {
    struct sp_plog_read r;
    bool done;
    int res;
};

static void sync_read_done(struct sp_plog_read *r, int res)
{
    struct sync_read *s = sp_container_of(r, struct sync_read, r);
    s->res = res;
    s->done = true;
}

/* Replays the log from ld->from to its end. */
static int log_replay(struct loader *ld, struct sp_io *io, struct sp_plog *log)
{
    int64_t offset = ld->from;
    int64_t end = sp_plog_end_offset(log);
    while (offset < end) {
        struct sync_read s;
        memset(&s, 0, sizeof(s));
        s.r.done = sync_read_done;
        s.r.offset = offset;
        s.r.max_bytes = READ_BYTES;
        s.r.isolation = SP_PLOG_READ_WRITTEN;
        int rc = sp_plog_read(log, &s.r);
        if (rc == 1) {
            io_wait(io, &s.done);
            rc = s.res;
        }
        if (rc < 0) {
            sp_log_error("%s: read at %" PRId64 " failed (%s)", ld->what, offset, strerror(-rc));
            return rc;
        }
        if (s.r.len == 0 || s.r.next_offset <= offset) {
            sp_plog_read_release(&s.r);
            break;
        }
        for (size_t at = 0; at < s.r.len && rc == 0;) {
            struct sp_batch_header h;
            size_t size = sp_batch_size(s.r.data + at, s.r.len - at);
            if (size == 0 || size > s.r.len - at ||
                sp_batch_validate(s.r.data + at, size, &h) < 0) {
                sp_log_error("%s: bad batch after offset %" PRId64, ld->what, offset);
                rc = -EBADMSG;
                break;
            }
            rc = load_batch(ld, s.r.data + at, &h, -1);
            at += size;
        }
        offset = s.r.next_offset;
        sp_plog_read_release(&s.r);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

/* The newest loadable snapshot into ld (ld->from set to its end). */
static int load_snapshots(struct loader *ld, const char *dir)
{
    struct snap_id *ids = calloc(SNAP_FILES_MAX, sizeof(*ids));
    if (ids == NULL) {
        return -ENOMEM;
    }
    int n = snap_list(dir, ids, true);
    int rc = n < 0 ? n : 0;
    for (int i = 0; i < n; i++) {
        rc = snap_load(ld, dir, &ids[i]);
        if (rc == 0) {
            ld->from = ids[i].end;
            sp_log_info("%s: loaded the snapshot at offset %" PRId64 ", epoch %" PRId32 " (%" PRId64
                        " records)",
                        dir, ids[i].end, ids[i].epoch, ld->applied);
        }
        if (rc != 1) {
            break;
        }
        rc = 0;
    }
    free(ids);
    return rc;
}

static int load_log(struct loader *ld, const char *dir, const struct sp_config *cfg,
                    int64_t *end_offset)
{
    struct sp_io_params ip = {0};
    if (cfg != NULL &&
        sp_io_parse_kernel_cap(sp_config_str(cfg, SP_CFG_IO_URING_FEATURES), &ip.kernel_cap) < 0) {
        sp_log_error("io_uring.features: '%s' is not auto or a kernel version such as 6.1",
                     sp_config_str(cfg, SP_CFG_IO_URING_FEATURES));
        return -EINVAL;
    }
    struct sp_io *io;
    int rc = sp_io_create_uring(&io, &ip);
    if (rc < 0) {
        sp_log_error("%s: no io_uring to read the metadata log (%s)", dir, strerror(-rc));
        return rc;
    }
    struct sp_storage_params sp;
    sp_storage_params_init(&sp, cfg);
    sp.io = io;
    sp.cache_bytes_max = 8u << 20;
    sp.write_buffer_bytes_max = SP_MAX(sp.write_buffer_bytes_max / 16, 4u << 20);
    struct sp_storage *st;
    rc = sp_storage_create(&st, &sp);
    if (rc < 0) {
        sp_io_destroy(io);
        return rc;
    }
    struct sp_plog_open_params op = {.dir = dir};
    plog_options(&op.opts);
    struct sp_plog *log;
    rc = sp_plog_open(st, &op, &log);
    if (rc < 0) {
        sp_log_error("%s: cannot open the metadata log (%s)", dir, strerror(-rc));
    } else {
        int64_t start = sp_plog_start_offset(log), end = sp_plog_end_offset(log);
        if (start > ld->from || end < ld->from) {
            sp_log_error("%s: the log holds offsets %" PRId64 "..%" PRId64
                         " but the snapshot ends at %" PRId64 "; records are missing",
                         dir, start, end, ld->from);
            rc = -EIO;
        } else {
            ld->what = dir;
            rc = log_replay(ld, io, log);
            *end_offset = end;
        }
        int crc = sp_plog_close(log);
        if (rc == 0 && crc < 0) {
            rc = crc;
        }
    }
    sp_storage_destroy(st);
    sp_io_destroy(io);
    return rc;
}

int sp_metalog_load(const char *log_dir, const struct sp_config *cfg, sp_metalog_record_fn fn,
                    void *ctx, int64_t *end_offset, int32_t *epoch)
{
    char dir[PATH_BYTES];
    int rc = dir_paths(log_dir, dir, sizeof(dir));
    if (rc == 0) {
        rc = mkdir_if_absent(log_dir);
    }
    if (rc == 0) {
        rc = mkdir_if_absent(dir);
    }
    if (rc < 0) {
        sp_log_error("%s: cannot create the metadata log directory (%s)", dir, strerror(-rc));
        return rc;
    }
    struct loader ld = {.fn = fn, .ctx = ctx, .epoch = 0};
    sp_arena_init(&ld.arena, NULL, 0, DECODE_BYTES_MAX);
    int64_t end = 0;
    rc = load_snapshots(&ld, dir);
    if (rc == 0) {
        rc = load_log(&ld, dir, cfg, &end);
    }
    sp_arena_destroy(&ld.arena);
    if (rc != 0) {
        return rc;
    }
    sp_log_info("%s: metadata loaded: %" PRId64 " records, log end %" PRId64 ", epoch %" PRId32,
                dir, ld.applied, end, ld.epoch);
    *end_offset = end;
    *epoch = ld.epoch;
    return 0;
}

/* ---- Appending ------------------------------------------------------------ */

struct snap_task;

struct sp_metalog {
    struct sp_plog *log;
    struct sp_io *io;
    char dir[PATH_BYTES];
    int32_t node_id;
    int32_t epoch;
    int err;                 /* first append error: the log is offline */
    uint32_t inflight;       /* appends not yet done */
    int64_t snap_end;        /* end offset of the newest snapshot */
    uint64_t since_snapshot; /* records made durable since it */
    uint64_t threshold;
    int64_t last_ts; /* timestamp of the last batch appended */
    sp_metalog_state_fn state_fn;
    void *state_ctx;
    struct snap_task *task; /* a snapshot deferred to the next tick, or NULL */
    struct snap_writer *sw; /* the snapshot being written, during state_fn */
    struct batcher *b;
};

/* What sp_metalog_append keeps in a->priv. */
struct ml_append {
    struct sp_plog_append pa;
    struct sp_metalog *ml;
    uint32_t records;
};
static_assert(sizeof(struct ml_append) <= sizeof(((struct sp_metalog_append *)0)->priv),
              "sp_metalog_append.priv holds struct ml_append");

static void snapshot_check(struct sp_metalog *ml);

static void append_done(struct sp_plog_append *pa, int res)
{
    struct ml_append *p = sp_container_of(pa, struct ml_append, pa);
    struct sp_metalog_append *a =
        (struct sp_metalog_append *)(void *)((char *)p - offsetof(struct sp_metalog_append, priv));
    struct sp_metalog *ml = p->ml;
    SP_ASSERT(ml->inflight > 0);
    ml->inflight--;
    if (res == 0) {
        ml->since_snapshot += p->records;
    } else if (ml->err == 0) {
        ml->err = res;
        sp_log_error("%s: metadata append failed (%s); the metadata log is offline", ml->dir,
                     strerror(-res));
    }
    a->done(a, res);
    snapshot_check(ml);
}

/* Appends the batch in ml->b (built) with durable acks. */
static int append_built(struct sp_metalog *ml, struct sp_metalog_append *a, int size,
                        uint32_t records)
{
    struct ml_append *p = (struct ml_append *)(void *)a->priv;
    memset(p, 0, sizeof(*p));
    p->pa.done = append_done;
    p->pa.ack = SP_PLOG_ACK_DURABLE;
    p->ml = ml;
    p->records = records;
    int rc = sp_plog_append(ml->log, &p->pa, ml->b->out, (size_t)size);
    if (rc < 0) {
        return rc;
    }
    a->base_offset = p->pa.base_offset;
    ml->inflight++;
    return 0;
}

int sp_metalog_append(struct sp_metalog *ml, struct sp_metalog_append *a,
                      const struct sp_metalog_record *r, size_t n)
{
    SP_ASSERT(a->done != NULL);
    if (n == 0 || n > SP_METALOG_BATCH_RECORDS) {
        return -EINVAL;
    }
    if (ml->err) {
        return -EIO;
    }
    batcher_reset(ml->b);
    for (size_t i = 0; i < n; i++) {
        int rc = batcher_add(ml->b, &r[i]);
        if (rc < 0) {
            return rc;
        }
    }
    int64_t ts = wall_ms();
    int size = batcher_build(ml->b, ml->epoch, 0, ts);
    if (size < 0) {
        return size;
    }
    int rc = append_built(ml, a, size, (uint32_t)n);
    if (rc == 0) {
        ml->last_ts = ts;
    }
    return rc;
}

/* ---- Opening: a new epoch ------------------------------------------------- */

struct sync_append {
    struct sp_metalog_append a;
    bool done;
    int res;
};

static void sync_append_done(struct sp_metalog_append *a, int res)
{
    struct sync_append *s = sp_container_of(a, struct sync_append, a);
    s->res = res;
    s->done = true;
}

/* Writes the LeaderChange that opens ml->epoch, this node the only voter, and waits for it. */
static int leader_change_write(struct sp_metalog *ml)
{
    struct kproto_leader_change_message_voter me = {.VoterId = ml->node_id};
    struct kproto_leader_change_message lc;
    kproto_leader_change_message_init(&lc);
    lc.Version = 0;
    lc.LeaderId = ml->node_id;
    lc.Voters = &me;
    lc.Voters_count = 1;
    lc.GrantingVoters = &me;
    lc.GrantingVoters_count = 1;
    batcher_reset(ml->b);
    int rc = kproto_leader_change_message_encode(&ml->b->vals, 0, &lc);
    if (rc < 0) {
        return rc;
    }
    batcher_control(ml->b, CTRL_LEADER_CHANGE);
    int64_t ts = wall_ms();
    int size = batcher_build(ml->b, ml->epoch, 0, ts);
    if (size < 0) {
        return size;
    }
    struct sync_append s = {.a = {.done = sync_append_done}};
    rc = append_built(ml, &s.a, size, 0);
    if (rc < 0) {
        return rc;
    }
    io_wait(ml->io, &s.done);
    ml->last_ts = ts;
    return s.res;
}

/* The newest snapshot's id ({0, 0} when there is none). */
static int snap_newest(const char *dir, bool remove_parts, struct snap_id *out)
{
    struct snap_id *ids = calloc(SNAP_FILES_MAX, sizeof(*ids));
    if (ids == NULL) {
        return -ENOMEM;
    }
    int n = snap_list(dir, ids, remove_parts);
    *out = (struct snap_id){0, 0};
    if (n > 0) {
        *out = ids[0];
    }
    free(ids);
    return n < 0 ? n : 0;
}

int sp_metalog_open(struct sp_storage *st, const char *log_dir, struct sp_metalog **out)
{
    if (sp_rx_shard_id() < 0) {
        return -EINVAL; /* the blocking parts run this shard's ring */
    }
    struct sp_metalog *ml = calloc(1, sizeof(*ml));
    if (ml == NULL) {
        return -ENOMEM;
    }
    ml->io = sp_rx_io();
    ml->threshold = SP_METALOG_SNAPSHOT_RECORDS;
    ml->node_id = 1;
    ml->b = batcher_new();
    int rc = ml->b ? dir_paths(log_dir, ml->dir, sizeof(ml->dir)) : -ENOMEM;
    struct sp_meta_props props;
    char err[256];
    if (rc == 0 && sp_meta_props_read(log_dir, &props, err, sizeof(err)) == 0) {
        ml->node_id = props.node_id;
    }
    struct snap_id snap = {0, 0};
    if (rc == 0) {
        rc = mkdir_if_absent(log_dir);
    }
    if (rc == 0) {
        rc = mkdir_if_absent(ml->dir);
    }
    if (rc == 0) {
        rc = snap_newest(ml->dir, false, &snap);
    }
    if (rc == 0) {
        struct sp_plog_open_params op = {.dir = ml->dir};
        plog_options(&op.opts);
        rc = sp_plog_open(st, &op, &ml->log);
    }
    if (rc < 0) {
        sp_log_error("%s: cannot open the metadata log (%s)", ml->dir, strerror(-rc));
        batcher_free(ml->b);
        free(ml);
        return rc;
    }
    int64_t end = sp_plog_end_offset(ml->log), end_off;
    int32_t epoch = 0;
    if (sp_plog_epoch_end_offset(ml->log, INT32_MAX, &epoch, &end_off) < 0 || epoch < 0) {
        epoch = 0;
    }
    ml->snap_end = snap.end;
    ml->since_snapshot = end > snap.end ? (uint64_t)(end - snap.end) : 0;
    ml->epoch = SP_MAX(epoch, snap.epoch) + 1;
    sp_plog_set_leader_epoch(ml->log, ml->epoch);
    rc = leader_change_write(ml);
    if (rc < 0) {
        sp_log_error("%s: cannot write the LeaderChange of epoch %" PRId32 " (%s)", ml->dir,
                     ml->epoch, strerror(-rc));
        sp_metalog_close(ml);
        return rc;
    }
    sp_log_info("%s: metadata log open at offset %" PRId64 ", epoch %" PRId32, ml->dir,
                sp_plog_end_offset(ml->log), ml->epoch);
    *out = ml;
    return 0;
}

/* ---- Snapshots ------------------------------------------------------------- */

struct snap_task {
    struct sp_task t;
    struct sp_metalog *ml; /* NULL once the metalog closed first */
};

struct snap_writer {
    int fd;
    int err;
    int64_t next_offset; /* offsets inside the snapshot file count from 0 */
    int64_t records;
    struct batcher *b;
    struct sp_metalog *ml;
};

/* Writes the batch in w->b to the file. */
static void snap_write_batch(struct snap_writer *w)
{
    if (w->err == 0 && w->b->n > 0) {
        int size = batcher_build(w->b, w->ml->epoch, w->next_offset, w->ml->last_ts);
        w->err = size < 0 ? size : sp_fs_write_all(w->fd, w->b->out, (size_t)size);
        w->next_offset += w->b->n;
    }
    batcher_reset(w->b);
}

static void snapshot_emit(struct sp_metalog *ml, const struct sp_metalog_record *r)
{
    struct snap_writer *w = ml->sw;
    SP_ASSERT(w != NULL); /* emit is only valid inside the state callback */
    if (w->err) {
        return;
    }
    int rc = batcher_add(w->b, r);
    if (rc < 0) {
        w->err = rc;
        return;
    }
    w->records++;
    if (w->b->n == SP_METALOG_BATCH_RECORDS || w->b->vals.len >= SNAP_BATCH_BYTES) {
        snap_write_batch(w);
    }
}

/* The header or the footer, a control batch of its own. */
static void snap_write_control(struct snap_writer *w, int16_t type)
{
    if (w->err) {
        return;
    }
    batcher_reset(w->b);
    int rc;
    if (type == CTRL_SNAPSHOT_HEADER) {
        struct kproto_snapshot_header_record h;
        kproto_snapshot_header_record_init(&h);
        h.Version = 0;
        h.LastContainedLogTimestamp = w->ml->last_ts;
        rc = kproto_snapshot_header_record_encode(&w->b->vals, 0, &h);
    } else {
        struct kproto_snapshot_footer_record f;
        kproto_snapshot_footer_record_init(&f);
        f.Version = 0;
        rc = kproto_snapshot_footer_record_encode(&w->b->vals, 0, &f);
    }
    if (rc < 0) {
        w->err = rc;
        return;
    }
    batcher_control(w->b, type);
    snap_write_batch(w);
}

/* Writes the whole state to <id>.checkpoint: a temporary file, fsync, rename, fsync the dir. */
static int snap_write(struct sp_metalog *ml, const struct snap_id *id, int64_t *records)
{
    char name[64], path[PATH_BYTES + 64], tmp[PATH_BYTES + 72];
    snap_name(name, sizeof(name), id);
    snprintf(path, sizeof(path), "%s/%s", ml->dir, name);
    snprintf(tmp, sizeof(tmp), "%s.part", path);
    struct snap_writer w = {.ml = ml, .b = batcher_new()};
    if (w.b == NULL) {
        return -ENOMEM;
    }
    w.fd = sp_fs_replace_open(tmp);
    if (w.fd < 0) {
        batcher_free(w.b);
        return w.fd;
    }
    snap_write_control(&w, CTRL_SNAPSHOT_HEADER);
    ml->sw = &w;
    ml->state_fn(ml->state_ctx, ml, snapshot_emit);
    ml->sw = NULL;
    snap_write_batch(&w);
    snap_write_control(&w, CTRL_SNAPSHOT_FOOTER);
    w.err = sp_fs_replace_commit(w.fd, tmp, path, ml->dir, w.err);
    batcher_free(w.b);
    *records = w.records;
    return w.err;
}

/* Removes the snapshots older than `keep`. */
static void snap_remove_older(struct sp_metalog *ml, const struct snap_id *keep)
{
    struct snap_id *ids = calloc(SNAP_FILES_MAX, sizeof(*ids));
    if (ids == NULL) {
        return;
    }
    int n = snap_list(ml->dir, ids, false);
    for (int i = 0; i < n; i++) {
        if (ids[i].end < keep->end || (ids[i].end == keep->end && ids[i].epoch < keep->epoch)) {
            char name[64], path[PATH_BYTES + 64];
            snap_name(name, sizeof(name), &ids[i]);
            snprintf(path, sizeof(path), "%s/%s", ml->dir, name);
            if (unlink(path) < 0) {
                sp_log_warn("%s: cannot remove an old snapshot (%s)", path, strerror(errno));
            }
        }
    }
    free(ids);
}

static void snapshot_take(struct sp_metalog *ml)
{
    struct snap_id id = {sp_plog_end_offset(ml->log), ml->epoch};
    ml->since_snapshot = 0; /* a failure retries after as many records again */
    if (id.end <= ml->snap_end) {
        return;
    }
    int64_t records = 0;
    int rc = snap_write(ml, &id, &records);
    if (rc < 0) {
        sp_log_warn("%s: metadata snapshot at %" PRId64 " failed (%s)", ml->dir, id.end,
                    strerror(-rc));
        return;
    }
    ml->snap_end = id.end;
    rc = sp_plog_delete_records(ml->log, id.end);
    if (rc < 0) {
        sp_log_warn("%s: the log start stays below the snapshot at %" PRId64 " (%s)", ml->dir,
                    id.end, strerror(-rc));
    }
    snap_remove_older(ml, &id);
    sp_log_info("%s: metadata snapshot at offset %" PRId64 ", epoch %" PRId32 ", %" PRId64
                " records",
                ml->dir, id.end, id.epoch, records);
}

static void snapshot_task_run(struct sp_task *t)
{
    struct snap_task *task = sp_container_of(t, struct snap_task, t);
    struct sp_metalog *ml = task->ml;
    free(task);
    if (ml == NULL) {
        return;
    }
    ml->task = NULL;
    if (ml->inflight > 0 || ml->err || ml->state_fn == NULL) {
        return; /* the last append in flight checks again when it completes */
    }
    snapshot_take(ml);
}

/* Defers a snapshot to the next tick when one is due and no append is in flight. */
static void snapshot_check(struct sp_metalog *ml)
{
    if (ml->state_fn == NULL || ml->task != NULL || ml->err || ml->inflight > 0 ||
        ml->since_snapshot < ml->threshold) {
        return;
    }
    struct snap_task *task = calloc(1, sizeof(*task));
    if (task == NULL) {
        return; /* the next completion tries again */
    }
    task->t.fn = snapshot_task_run;
    task->ml = ml;
    ml->task = task;
    sp_rx_defer(&task->t);
}

void sp_metalog_set_snapshot_source(struct sp_metalog *ml, sp_metalog_state_fn fn, void *ctx)
{
    ml->state_fn = fn;
    ml->state_ctx = ctx;
    snapshot_check(ml);
}

void sp_metalog_set_snapshot_threshold(struct sp_metalog *ml, uint64_t records)
{
    ml->threshold = records > 0 ? records : 1;
    snapshot_check(ml);
}

int64_t sp_metalog_end_offset(const struct sp_metalog *ml)
{
    return sp_plog_end_offset(ml->log);
}

int32_t sp_metalog_epoch(const struct sp_metalog *ml)
{
    return ml->epoch;
}

int64_t sp_metalog_snapshot_offset(const struct sp_metalog *ml)
{
    return ml->snap_end;
}

void sp_metalog_close(struct sp_metalog *ml)
{
    while (ml->inflight > 0) {
        (void)sp_io_turn(ml->io);
    }
    if (ml->task != NULL) {
        ml->task->ml = NULL; /* it frees itself when it runs */
    }
    int rc = sp_plog_close(ml->log);
    if (rc < 0) {
        sp_log_warn("%s: metadata log close: %s", ml->dir, strerror(-rc));
    }
    batcher_free(ml->b);
    free(ml);
}
