/*
 * net/frame.h: cutting a TCP byte stream into Kafka request frames.
 *
 * A Kafka frame is a 4-byte big-endian size followed by that many bytes.
 * Received bytes arrive in chunks (provided buffers) of any length, so a
 * frame can start in one chunk and end several chunks later, and its size
 * prefix itself can be split. The framer is a resumable parser: it keeps
 * its state between calls and each call walks only the bytes it is given.
 *
 *   chunk 1            chunk 2              chunk 3
 *   [sz|frame A | sz ][z|frame B ...      ][... B | sz|frame C]
 *    \ in place /      \---- assembled into one buffer ----/ \ in place
 *
 * A frame that lies wholly inside one chunk is returned in place, as a
 * borrowed slice of that chunk (no copy; the caller keeps the chunk alive
 * while the frame is in use). A frame that spans chunks is copied into one
 * contiguous buffer obtained from the caller's allocator, sized exactly from
 * the prefix; the allocator may refuse (memory budget), in which case the
 * framer reports SP_FRAME_STALLED having consumed at most the size prefix, and the caller
 * retries later (backpressure: it stops reading that socket meanwhile).
 *
 * Sizes outside [1, max_bytes] are malformed: SP_FRAME_ERROR, after which
 * the connection must be closed.
 *
 * Single-threaded: a framer belongs to one connection on one shard.
 */
#ifndef SP_NET_FRAME_H
#define SP_NET_FRAME_H

#include <stdint.h>

#include "core/sp.h"

#define SP_FRAME_PREFIX_BYTES 4

enum sp_frame_result {
    SP_FRAME_NEED_MORE = 0, /* every input byte consumed, no frame complete */
    SP_FRAME_IN_PLACE,      /* *frame borrows the input chunk */
    SP_FRAME_ASSEMBLED,     /* *frame is an allocated buffer, now owned by the caller */
    SP_FRAME_STALLED,       /* the allocator refused; retry with the same input later */
    SP_FRAME_ERROR,         /* size prefix out of range; close the connection */
};

/* Returns a buffer of `size` bytes or NULL to refuse. */
typedef void *(*sp_frame_alloc_fn)(void *ctx, uint32_t size);

struct sp_framer {
    uint32_t max_bytes;
    uint32_t prefix_have; /* bytes of the size prefix seen so far */
    uint8_t prefix[SP_FRAME_PREFIX_BYTES];
    uint32_t size;    /* the current frame's size, once the prefix is complete */
    uint8_t *body;    /* assembly buffer when the frame spans chunks */
    uint32_t filled;  /* bytes of body filled */
    int32_t bad_size; /* the rejected size, for the log line */
};

void sp_framer_init(struct sp_framer *f, uint32_t max_bytes);

/*
 * Consumes bytes from *pos (advancing it, never past end) until one frame
 * completes or the input runs out. On SP_FRAME_IN_PLACE and
 * SP_FRAME_ASSEMBLED, *frame is the frame body (without the prefix).
 */
enum sp_frame_result sp_framer_feed(struct sp_framer *f, const uint8_t **pos, const uint8_t *end,
                                    struct sp_slice *frame, sp_frame_alloc_fn alloc,
                                    void *alloc_ctx);

/*
 * Receiving in place: while a frame is being assembled, its missing bytes
 * may be read straight into the assembly buffer instead of being fed
 * through sp_framer_feed(). sp_framer_tail() gives the unfilled rest of the
 * buffer (borrowed: it lives until the frame is returned or released) and
 * returns false when no frame is being assembled. sp_framer_advance()
 * accounts for n bytes written there (1 <= n <= *len of the tail); it
 * returns SP_FRAME_ASSEMBLED with *frame, as sp_framer_feed() does, once
 * the frame is complete, else SP_FRAME_NEED_MORE.
 */
bool sp_framer_tail(const struct sp_framer *f, uint8_t **ptr, uint32_t *len);
enum sp_frame_result sp_framer_advance(struct sp_framer *f, uint32_t n, struct sp_slice *frame);

/*
 * Hands back an unfinished assembly buffer (the connection is closing), or
 * NULL when there is none. The caller frees it as it frees frames.
 */
void *sp_framer_release(struct sp_framer *f);

/* Whether the framer is between frames (no partial prefix or body). */
bool sp_framer_idle(const struct sp_framer *f);

/* Whether the framer holds a partly filled assembly buffer. */
bool sp_framer_assembling(const struct sp_framer *f);

#endif /* SP_NET_FRAME_H */
