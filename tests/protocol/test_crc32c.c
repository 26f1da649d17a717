/* tests/protocol/test_crc32c.c: CRC-32C known answers, accelerated vs portable. */
#include "protocol/crc32c.h"

#include "tests/check.h"

static void test_known_answers(void)
{
    CHECK_EQ_INT(sp_crc32c(0, "123456789", 9), 0xe3069283u);
    CHECK_EQ_INT(sp_crc32c(0, "", 0), 0);
    uint8_t zeros[32] = {0};
    CHECK_EQ_INT(sp_crc32c(0, zeros, sizeof(zeros)), 0x8a9136aau); /* RFC 3720 B.4 */
    uint8_t ones[32];
    memset(ones, 0xff, sizeof(ones));
    CHECK_EQ_INT(sp_crc32c(0, ones, sizeof(ones)), 0x62a8ab43u);
    uint8_t inc[32];
    for (int i = 0; i < 32; i++) {
        inc[i] = (uint8_t)i;
    }
    CHECK_EQ_INT(sp_crc32c(0, inc, sizeof(inc)), 0x46dd794eu);
}

static void test_against_portable(void)
{
    enum { N = 64 * 1024 + 77 };
    static uint8_t buf[N];
    uint32_t x = 12345;
    for (size_t i = 0; i < N; i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (uint8_t)(x >> 16);
    }
    for (size_t off = 0; off < 9; off++) {
        for (size_t len = 0; len + off <= N; len += 1 + len / 2) {
            uint32_t hw = sp_crc32c(0, buf + off, len);
            CHECK_EQ_INT(hw, sp_crc32c_portable(0, buf + off, len));
            uint32_t split =
                sp_crc32c(sp_crc32c(0, buf + off, len / 3), buf + off + len / 3, len - len / 3);
            CHECK_EQ_INT(hw, split);
        }
    }
}

int main(void)
{
    printf("crc32c implementation: %s\n", sp_crc32c_impl_name());
    test_known_answers();
    test_against_portable();
    return CHECK_DONE();
}
