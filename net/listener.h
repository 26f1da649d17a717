/*
 * net/listener.h: Kafka-style listener addresses and their sockets.
 *
 * A listener is NAME://host:port, as in Kafka's `listeners` setting: the name
 * selects the security protocol (PLAINTEXT for now), host may be empty
 * (all addresses), a name, an IPv4 address or a bracketed IPv6 address, and
 * port 0 asks the kernel for a free port, which sp_listener_bind() reports
 * back in `port`. Sockets are bound with SO_REUSEPORT so that each shard can
 * bind its own socket to the same address.
 *
 * Called on the main thread at start-up (parsing, the first bind) and on
 * each shard (its own bind to the port the first bind chose).
 */
#ifndef SP_NET_LISTENER_H
#define SP_NET_LISTENER_H

#include <stdint.h>

#include "core/sp.h"

#define SP_LISTENER_NAME_MAX 64
#define SP_LISTENER_HOST_MAX 256
#define SP_LISTENERS_MAX     16

enum sp_security_protocol {
    SP_SECURITY_PLAINTEXT,
    SP_SECURITY_SSL,
    SP_SECURITY_SASL_PLAINTEXT,
    SP_SECURITY_SASL_SSL,
};

struct sp_listener_addr {
    char name[SP_LISTENER_NAME_MAX];
    char host[SP_LISTENER_HOST_MAX]; /* as written, without brackets; "" = any */
    uint16_t port;                   /* 0 until bound when configured as 0 */
    enum sp_security_protocol security;
};

struct sp_listener_set {
    struct sp_listener_addr addr[SP_LISTENERS_MAX];
    int count;
};

/*
 * Parses a `listeners`-style list into *out. Returns 0, or -EINVAL with a
 * reason naming the bad entry in err. Names must be unique.
 */
int sp_listener_parse_list(const char *list, struct sp_listener_set *out, char *err, size_t errlen);

/*
 * Creates, binds and listens on a socket for addr (SO_REUSEPORT, nonblocking,
 * close-on-exec). When addr->port is 0 it is set to the port chosen.
 * Returns the fd or -errno.
 */
int sp_listener_bind(struct sp_listener_addr *addr, int backlog);

/* Writes NAME://host:port into buf. */
void sp_listener_format(const struct sp_listener_addr *addr, char *buf, size_t len);

const char *sp_security_protocol_name(enum sp_security_protocol p);

#endif /* SP_NET_LISTENER_H */
