/*
 * bench/sb_json.c: spindle-bench's JSON output (--json on stdout): a small
 * streaming writer and the pieces every mode reports (config, CPUs,
 * histograms, series).
 */
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include "bench/sb_common.h"

static void sep(struct sb_json *j, const char *key)
{
    if (!j->first[j->depth]) {
        fputc(',', j->f);
    }
    j->first[j->depth] = false;
    if (key != NULL) {
        fprintf(j->f, "\"%s\":", key);
    }
}

static void push(struct sb_json *j, char open)
{
    fputc(open, j->f);
    SP_ASSERT(j->depth + 1 < (int)SP_ARRAY_LEN(j->first));
    j->first[++j->depth] = true;
}

void sb_json_begin(struct sb_json *j, FILE *f)
{
    memset(j, 0, sizeof(*j));
    j->f = f;
    j->first[0] = true;
    push(j, '{');
}

void sb_json_end(struct sb_json *j)
{
    SP_ASSERT(j->depth == 1);
    fputs("}\n", j->f);
    j->depth = 0;
    fflush(j->f);
}

void sb_json_obj(struct sb_json *j, const char *key)
{
    sep(j, key);
    push(j, '{');
}

void sb_json_obj_end(struct sb_json *j)
{
    SP_ASSERT(j->depth > 1);
    j->depth--;
    fputc('}', j->f);
}

void sb_json_arr(struct sb_json *j, const char *key)
{
    sep(j, key);
    push(j, '[');
}

void sb_json_arr_end(struct sb_json *j)
{
    SP_ASSERT(j->depth > 1);
    j->depth--;
    fputc(']', j->f);
}

void sb_json_str(struct sb_json *j, const char *key, const char *value)
{
    sep(j, key);
    if (value == NULL) {
        fputs("null", j->f);
        return;
    }
    fputc('"', j->f);
    for (const unsigned char *p = (const unsigned char *)value; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\') {
            fprintf(j->f, "\\%c", *p);
        } else if (*p < 0x20) {
            fprintf(j->f, "\\u%04x", *p);
        } else {
            fputc(*p, j->f);
        }
    }
    fputc('"', j->f);
}

void sb_json_int(struct sb_json *j, const char *key, int64_t value)
{
    sep(j, key);
    fprintf(j->f, "%lld", (long long)value);
}

void sb_json_num(struct sb_json *j, const char *key, double value)
{
    sep(j, key);
    if (!isfinite(value)) {
        fputs("null", j->f);
    } else {
        fprintf(j->f, "%.6g", value);
    }
}

void sb_json_bool(struct sb_json *j, const char *key, bool value)
{
    sep(j, key);
    fputs(value ? "true" : "false", j->f);
}

void sb_json_null(struct sb_json *j, const char *key)
{
    sep(j, key);
    fputs("null", j->f);
}

void sb_json_hist(struct sb_json *j, const char *key, const struct sb_hist *h)
{
    static const struct {
        const char *name;
        double p;
    } ps[] = {
        {"p50_us", 50}, {"p90_us", 90}, {"p99_us", 99}, {"p99_9_us", 99.9}, {"p99_99_us", 99.99}};
    sb_json_obj(j, key);
    sb_json_int(j, "count", (int64_t)h->total);
    sb_json_num(j, "min_us", h->total != 0 ? (double)h->min / 1e3 : 0.0);
    sb_json_num(j, "mean_us", sb_hist_mean(h) / 1e3);
    for (size_t i = 0; i < SP_ARRAY_LEN(ps); i++) {
        sb_json_num(j, ps[i].name, (double)sb_hist_percentile(h, ps[i].p) / 1e3);
    }
    sb_json_num(j, "max_us", (double)h->max / 1e3);
    sb_json_obj_end(j);
}

void sb_json_series(struct sb_json *j, const char *key, const struct sb_series *s)
{
    sb_json_arr(j, key);
    for (size_t i = 0; i < s->count; i++) {
        const struct sb_point *p = &s->points[i];
        double dt = p->interval_s > 0 ? p->interval_s : 1.0;
        sb_json_obj(j, NULL);
        sb_json_num(j, "t", p->t_s);
        sb_json_int(j, "msgs", (int64_t)p->msgs);
        sb_json_int(j, "bytes", (int64_t)p->bytes);
        sb_json_num(j, "msgs_per_s", (double)p->msgs / dt);
        sb_json_num(j, "mb_per_s", (double)p->bytes / dt / 1e6);
        sb_json_num(j, "p50_us", (double)p->p50_ns / 1e3);
        sb_json_num(j, "p99_us", (double)p->p99_ns / 1e3);
        sb_json_num(j, "max_us", (double)p->max_ns / 1e3);
        sb_json_obj_end(j);
    }
    sb_json_arr_end(j);
}

void sb_json_cpus(struct sb_json *j, const char *key)
{
    cpu_set_t set;
    sb_json_arr(j, key);
    if (sched_getaffinity(0, sizeof(set), &set) == 0) {
        for (int c = 0; c < CPU_SETSIZE; c++) {
            if (CPU_ISSET(c, &set)) {
                sb_json_int(j, NULL, c);
            }
        }
    }
    sb_json_arr_end(j);
}

static void json_size(struct sb_json *j, const char *key, const struct sb_size *s)
{
    char buf[64];
    if (s->kind == SB_SIZE_FIXED) {
        snprintf(buf, sizeof(buf), "%u", s->min);
    } else {
        snprintf(buf, sizeof(buf), "uniform:%u:%u", s->min, s->max);
    }
    sb_json_str(j, key, buf);
}

void sb_json_config(struct sb_json *j, const struct sb_opts *o)
{
    sb_json_obj(j, "config");
    sb_json_str(j, "brokers", o->brokers);
    sb_json_str(j, "topic", o->topic);
    json_size(j, "size", &o->size);
    sb_json_int(j, "count", (int64_t)o->count);
    sb_json_num(j, "duration_s", o->duration_s);
    sb_json_num(j, "warmup_s", o->warmup_s);
    sb_json_num(j, "rate", o->rate);
    sb_json_int(j, "partitions", o->partitions);
    sb_json_int(j, "connections", o->connections);
    sb_json_int(j, "inflight", o->inflight);
    sb_json_int(j, "acks", o->acks);
    sb_json_str(j, "compression", o->compression);
    sb_json_int(j, "batch_bytes", o->batch_bytes);
    sb_json_int(j, "linger_ms", o->linger_ms);
    sb_json_int(j, "buffer_bytes", (int64_t)o->buffer_bytes);
    sb_json_bool(j, "keyed", o->keyed);
    sb_json_bool(j, "from_end", o->from_end);
    sb_json_bool(j, "loop", o->loop);
    sb_json_obj_end(j);
}
