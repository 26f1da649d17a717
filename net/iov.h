/*
 * net/iov.h: resuming a vectored send that wrote only part of its bytes.
 *
 * A sendmsg may report fewer bytes than its iovecs hold. What is left is
 * the same array from the first entry not wholly written, with that entry
 * trimmed at the front:
 *
 *   before  [ A:100 ][ B:50 ][ C:80 ]     written: 120
 *   after            [ B+20:30 ][ C:80 ]   first = 1
 *
 * The iovecs are net's copies; the bytes they point to are untouched.
 * Pure functions, any thread.
 */
#ifndef SP_NET_IOV_H
#define SP_NET_IOV_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/sp.h"

/*
 * Drops the first `written` bytes of iov[*first .. count): *first moves past
 * the entries written whole and the next one is trimmed. Returns the bytes
 * left. `written` must not exceed what the entries hold.
 */
static inline size_t sp_iov_advance(struct iovec *iov, int *first, int count, size_t written)
{
    int i = *first;
    while (i < count && written >= iov[i].iov_len) {
        written -= iov[i].iov_len;
        i++;
    }
    SP_ASSERT(i < count || written == 0);
    if (i < count) {
        iov[i].iov_base = (uint8_t *)iov[i].iov_base + written;
        iov[i].iov_len -= written;
    }
    *first = i;
    size_t left = 0;
    for (int j = i; j < count; j++) {
        left += iov[j].iov_len;
    }
    return left;
}

#endif /* SP_NET_IOV_H */
