/* wskbench: the native reference loops of `wskrecv bench`, compiled on the spot.
 *
 *   wskbench recv FD COUNT BUFSIZE
 *       recvfrom() on the inherited, blocking socket FD until COUNT datagrams have been
 *       read or an empty datagram (the end marker of a live run) arrives.
 *       Prints "RECEIVED ELAPSED_NS" (time from the loop's start to the last read: in a
 *       drain the queue is full before the program starts, so nothing is waited for).
 *   wskbench send HOST PORT COUNT SIZE BATCH
 *       sendmmsg() COUNT datagrams of SIZE bytes, BATCH per call, from a connected socket
 *       to HOST:PORT (IPv4 or IPv6 numeric address). Prints "SENT ELAPSED_NS".
 *       Datagrams of 36 bytes or more carry the wskrecv payload header (stream 0,
 *       sequence 0, 1, 2..., send time, CRC-32 of the body), so a receiver's sequence
 *       analysis does its real work; smaller ones are plain bytes.
 *
 * Exit status 0 on success, 1 on an OS error (reported on stderr), 2 on bad arguments.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long arg_long(const char *s, long min, long max)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < min || v > max) {
        fprintf(stderr, "wskbench: bad number: %s\n", s);
        exit(2);
    }
    return v;
}

static int do_recv(int fd, long count, long bufsize)
{
    char *buf = malloc((size_t)bufsize);
    struct sockaddr_storage from;
    socklen_t fromlen;
    long got = 0;
    if (!buf)
        return 1;
    int64_t t0 = now_ns();
    while (got < count) {
        fromlen = sizeof from;
        ssize_t n = recvfrom(fd, buf, (size_t)bufsize, 0, (struct sockaddr *)&from, &fromlen);
        if (n < 0) {
            if (errno == EINTR || errno == ECONNREFUSED)
                continue;
            perror("wskbench: recvfrom");
            return 1;
        }
        if (n == 0)
            break;  /* end marker */
        got++;
    }
    printf("%ld %lld\n", got, (long long)(now_ns() - t0));
    free(buf);
    return 0;
}

enum { HEADER_LEN = 36 };

static uint32_t crc32_ieee(const unsigned char *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0xEDB88320u : c >> 1;
    }
    return ~c;
}

static void put_be(unsigned char *p, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)(v & 0xFF);
}

static int64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The wskrecv header (see wskrecv/payload.py) in front of a body of 'w' bytes. */
static void build_datagram(unsigned char *d, long size)
{
    memset(d, 'w', (size_t)size);
    if (size < HEADER_LEN)
        return;
    memcpy(d, "WSKR", 4);
    d[4] = 1;
    d[5] = 0;
    put_be(d + 6, HEADER_LEN, 2);
    put_be(d + 8, 0, 4);
    put_be(d + 28, (uint64_t)(size - HEADER_LEN), 4);
    put_be(d + 32, crc32_ieee(d + HEADER_LEN, (size_t)(size - HEADER_LEN)), 4);
}

static int do_send(const char *host, long port, long count, long size, long batch)
{
    struct sockaddr_storage to;
    socklen_t tolen;
    memset(&to, 0, sizeof to);
    struct sockaddr_in *v4 = (struct sockaddr_in *)&to;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&to;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        tolen = sizeof *v4;
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        tolen = sizeof *v6;
    } else {
        fprintf(stderr, "wskbench: not a numeric address: %s\n", host);
        return 2;
    }
    int fd = socket(to.ss_family, SOCK_DGRAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&to, tolen) < 0) {
        perror("wskbench: socket/connect");
        return 1;
    }
    unsigned char *payload = calloc((size_t)batch, (size_t)size + 1);
    struct mmsghdr *msgs = calloc((size_t)batch, sizeof *msgs);
    struct iovec *iov = calloc((size_t)batch, sizeof *iov);
    if (!payload || !msgs || !iov)
        return 1;
    for (long i = 0; i < batch; i++) {
        build_datagram(payload + i * (size + 1), size);
        iov[i].iov_base = payload + i * (size + 1);
        iov[i].iov_len = (size_t)size;
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    long sent = 0;
    int64_t t0 = now_ns();
    while (sent < count) {
        long want = count - sent < batch ? count - sent : batch;
        if (size >= HEADER_LEN) {
            int64_t t = wall_ns();
            for (long i = 0; i < want; i++) {
                unsigned char *d = payload + i * (size + 1);
                put_be(d + 12, (uint64_t)(sent + i), 8);
                put_be(d + 20, (uint64_t)t, 8);
            }
        }
        int n = sendmmsg(fd, msgs, (unsigned int)want, 0);
        if (n < 0) {
            if (errno == EINTR || errno == ENOBUFS || errno == EAGAIN)
                continue;
            if (errno == ECONNREFUSED)  /* an ICMP error from an earlier send: go on */
                continue;
            perror("wskbench: sendmmsg");
            return 1;
        }
        sent += n;
    }
    printf("%ld %lld\n", sent, (long long)(now_ns() - t0));
    close(fd);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "recv") == 0)
        return do_recv((int)arg_long(argv[2], 0, 1 << 20), arg_long(argv[3], 1, 1L << 40),
                       arg_long(argv[4], 1, 1 << 20));
    if (argc == 7 && strcmp(argv[1], "send") == 0)
        return do_send(argv[2], arg_long(argv[3], 1, 65535), arg_long(argv[4], 1, 1L << 40),
                       arg_long(argv[5], 0, 65535), arg_long(argv[6], 1, 1024));
    fprintf(stderr, "usage: wskbench recv FD COUNT BUFSIZE | send HOST PORT COUNT SIZE BATCH\n");
    return 2;
}
