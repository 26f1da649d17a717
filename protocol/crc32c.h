/*
 * protocol/crc32c.h: CRC-32C (Castagnoli), the checksum of Kafka record
 * batches (magic v2) and of Spindle's own on-disk structures.
 *
 * The implementation is picked once, on first use: the SSE4.2 crc32
 * instruction on x86-64, the ARMv8 CRC32C instructions on arm64, and a
 * portable slicing-by-8 table otherwise. All give identical results. Any
 * thread may call it; nothing is allocated after the first call.
 *
 * The checksum is the standard one: sp_crc32c(0, "123456789", 9) is
 * 0xe3069283. Pass 0 to start and the previous result to continue, so a
 * buffer may be checksummed in pieces:
 *
 *   crc = sp_crc32c(0, a, a_len);
 *   crc = sp_crc32c(crc, b, b_len);   same as one call over a then b
 */
#ifndef SP_PROTOCOL_CRC32C_H
#define SP_PROTOCOL_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continues the checksum `crc` (0 to start) over len bytes of buf (borrowed). */
uint32_t sp_crc32c(uint32_t crc, const void *buf, size_t len);

/* The portable implementation, exported so tests can compare it with the
 * accelerated one. */
uint32_t sp_crc32c_portable(uint32_t crc, const void *buf, size_t len);

/* Names the implementation in use: "sse4.2", "armv8-crc" or "portable". */
const char *sp_crc32c_impl_name(void);

#endif /* SP_PROTOCOL_CRC32C_H */
