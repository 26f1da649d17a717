/*
 * tests/unit/test_net_iov.c: resuming short vectored sends (net/iov.h).
 *
 * io_uring on a blocking TCP socket waits for room and reports whole
 * sends, so the broker's tests rarely see a short one; here a "kernel"
 * writes a random prefix of the iovecs each time, and what it wrote in all
 * must be every byte, in order, once.
 */
#include <stdlib.h>
#include <string.h>

#include "net/iov.h"
#include "tests/check.h"

#define ROUNDS   2000
#define IOV_MAX_ 64

static unsigned rng = 77;

static unsigned rnd(unsigned n)
{
    rng = rng * 1103515245u + 12345u;
    return (rng >> 8) % n;
}

/* Copies up to n bytes from the iovecs, as a short send would. Returns how many. */
static size_t fake_send(const struct iovec *iov, int cnt, size_t n, uint8_t *out)
{
    size_t done = 0;
    for (int i = 0; i < cnt && done < n; i++) {
        size_t take = SP_MIN(iov[i].iov_len, n - done);
        memcpy(out + done, iov[i].iov_base, take);
        done += take;
    }
    return done;
}

int main(void)
{
    static uint8_t src[IOV_MAX_ * 300], dst[IOV_MAX_ * 300];
    for (size_t i = 0; i < sizeof(src); i++) {
        src[i] = (uint8_t)(i * 13 + (i >> 8));
    }
    for (int round = 0; round < ROUNDS; round++) {
        struct iovec iov[IOV_MAX_];
        int cnt = 1 + (int)rnd(IOV_MAX_);
        size_t total = 0;
        for (int i = 0; i < cnt; i++) {
            size_t len = rnd(4) == 0 ? 0 : 1 + rnd(300); /* empty pieces too */
            iov[i].iov_base = src + total;
            iov[i].iov_len = len;
            total += len;
        }
        int first = 0;
        size_t sent = 0, left = total;
        int sends = 0;
        while (left > 0) {
            size_t n = rnd(3) == 0 ? left : 1 + rnd((unsigned)left);
            size_t wrote = fake_send(&iov[first], cnt - first, n, dst + sent);
            CHECK_EQ_INT(wrote, n);
            sent += wrote;
            size_t now = sp_iov_advance(iov, &first, cnt, wrote);
            CHECK_EQ_INT(now, left - wrote);
            left = now;
            CHECK(first <= cnt);
            CHECK(first == cnt || left > 0);
            sends++;
            REQUIRE(sends <= (int)total + 1);
        }
        CHECK_EQ_INT(sent, total);
        CHECK(memcmp(src, dst, total) == 0);
    }
    /* The example of net/iov.h. */
    uint8_t a[100], b[50], c[80];
    struct iovec v[3] = {{a, sizeof(a)}, {b, sizeof(b)}, {c, sizeof(c)}};
    int first = 0;
    CHECK_EQ_INT(sp_iov_advance(v, &first, 3, 120), 110);
    CHECK_EQ_INT(first, 1);
    CHECK(v[1].iov_base == b + 20 && v[1].iov_len == 30);
    CHECK_EQ_INT(sp_iov_advance(v, &first, 3, 110), 0);
    CHECK_EQ_INT(first, 3);
    return CHECK_DONE();
}
