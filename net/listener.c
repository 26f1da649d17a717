/* net/listener.c: parsing listener addresses and binding their sockets. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/config.h"
#include "net/listener.h"

static const char *const security_names[] = {
    [SP_SECURITY_PLAINTEXT] = "PLAINTEXT",
    [SP_SECURITY_SSL] = "SSL",
    [SP_SECURITY_SASL_PLAINTEXT] = "SASL_PLAINTEXT",
    [SP_SECURITY_SASL_SSL] = "SASL_SSL",
};

const char *sp_security_protocol_name(enum sp_security_protocol p)
{
    return (unsigned)p < SP_ARRAY_LEN(security_names) ? security_names[p] : "?";
}

struct parse_ctx {
    struct sp_listener_set *out;
    char *err;
    size_t errlen;
};

static int parse_fail(struct parse_ctx *c, const char *item, size_t len, const char *why)
{
    snprintf(c->err, c->errlen, "listener '%.*s': %s", (int)SP_MIN(len, 300u), item, why);
    return -EINVAL;
}

static int parse_one(void *ctx, const char *item, size_t len)
{
    struct parse_ctx *c = ctx;
    struct sp_listener_set *set = c->out;

    if (set->count == SP_LISTENERS_MAX) {
        return parse_fail(c, item, len, "too many listeners");
    }
    const char *sep = NULL;
    for (size_t i = 0; i + 2 < len; i++) {
        if (item[i] == ':' && item[i + 1] == '/' && item[i + 2] == '/') {
            sep = item + i;
            break;
        }
    }
    if (sep == NULL || sep == item) {
        return parse_fail(c, item, len, "expected NAME://host:port");
    }
    struct sp_listener_addr a = {0};
    size_t nlen = (size_t)(sep - item);
    if (nlen >= sizeof(a.name)) {
        return parse_fail(c, item, len, "name too long");
    }
    memcpy(a.name, item, nlen);

    const char *hp = sep + 3;
    const char *end = item + len;
    const char *host = hp;
    size_t hlen;
    const char *colon;
    if (hp < end && *hp == '[') {
        const char *rb = memchr(hp, ']', (size_t)(end - hp));
        if (rb == NULL || rb + 1 >= end || rb[1] != ':') {
            return parse_fail(c, item, len, "bad bracketed IPv6 address");
        }
        host = hp + 1;
        hlen = (size_t)(rb - host);
        colon = rb + 1;
    } else {
        colon = NULL;
        for (const char *p = end; p > hp; p--) {
            if (p[-1] == ':') {
                colon = p - 1;
                break;
            }
        }
        if (colon == NULL) {
            return parse_fail(c, item, len, "missing :port");
        }
        hlen = (size_t)(colon - hp);
    }
    if (hlen >= sizeof(a.host)) {
        return parse_fail(c, item, len, "host too long");
    }
    memcpy(a.host, host, hlen);

    char portbuf[8];
    size_t plen = (size_t)(end - (colon + 1));
    if (plen == 0 || plen >= sizeof(portbuf)) {
        return parse_fail(c, item, len, "bad port");
    }
    memcpy(portbuf, colon + 1, plen);
    portbuf[plen] = '\0';
    char *pend;
    long port = strtol(portbuf, &pend, 10);
    if (*pend != '\0' || port < 0 || port > 65535) {
        return parse_fail(c, item, len, "port must be 0..65535");
    }
    a.port = (uint16_t)port;

    /* Kafka's default map: the listener name is the security protocol. */
    bool known = false;
    for (size_t i = 0; i < SP_ARRAY_LEN(security_names); i++) {
        if (strcasecmp(a.name, security_names[i]) == 0) {
            a.security = (enum sp_security_protocol)i;
            known = true;
        }
    }
    if (!known) {
        return parse_fail(c, item, len, "unknown listener name (PLAINTEXT is supported)");
    }
    if (a.security != SP_SECURITY_PLAINTEXT) {
        return parse_fail(c, item, len,
                          "security protocol not available in this build (use PLAINTEXT)");
    }
    for (int i = 0; i < set->count; i++) {
        if (strcasecmp(set->addr[i].name, a.name) == 0) {
            return parse_fail(c, item, len, "duplicate listener name");
        }
    }
    set->addr[set->count++] = a;
    return 0;
}

int sp_listener_parse_list(const char *list, struct sp_listener_set *out, char *err, size_t errlen)
{
    struct parse_ctx c = {out, err, errlen};
    memset(out, 0, sizeof(*out));
    int rc = sp_config_list_each(list, parse_one, &c);
    if (rc == 0 && out->count == 0) {
        snprintf(err, errlen, "no listener given");
        return -EINVAL;
    }
    return rc;
}

int sp_listener_bind(struct sp_listener_addr *addr, int backlog)
{
    struct addrinfo hints = {0};
    struct addrinfo *res = NULL;
    char port[8];

    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(port, sizeof(port), "%u", (unsigned)addr->port);
    int gai = getaddrinfo(addr->host[0] ? addr->host : NULL, port, &hints, &res);
    if (gai != 0) {
        return gai == EAI_SYSTEM ? -errno : -EADDRNOTAVAIL;
    }
    int fd = -1;
    int rc = -EADDRNOTAVAIL;
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            rc = -errno;
            continue;
        }
        int one = 1;
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
            setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
            bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, backlog) < 0) {
            rc = -errno;
            close(fd);
            fd = -1;
            continue;
        }
        break;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        return rc;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET) {
            addr->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            addr->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        }
    }
    return fd;
}

void sp_listener_format(const struct sp_listener_addr *addr, char *buf, size_t len)
{
    bool v6 = strchr(addr->host, ':') != NULL;
    snprintf(buf, len, "%s://%s%s%s:%u", addr->name, v6 ? "[" : "", addr->host, v6 ? "]" : "",
             (unsigned)addr->port);
}
