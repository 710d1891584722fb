/*
 * reflector: the benchmark's baseline, the least work a GWLB appliance can do.
 *
 * It receives GENEVE datagrams on UDP 6081 with recvmmsg and returns each one with
 * sendmmsg on a raw IPPROTO_RAW socket (IP_HDRINCL), as shared/PROTOCOL.md says an
 * appliance must: the GENEVE payload unchanged, outer addresses swapped, the GWLB's
 * UDP source port kept as source port, destination port 6081. No parsing, no flow
 * state, no verdicts: whatever gwlbd does beyond this is what the benchmark prices.
 *
 * Usage: reflector --listen ADDR [--batch N]. Prints "ready" once bound; runs until
 * killed. Exit status 2 on bad usage or setup error.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define GENEVE_PORT 6081
#define MAX_BATCH 256
#define MAX_DATAGRAM 9000

static uint8_t buf[MAX_BATCH][MAX_DATAGRAM];
static uint8_t hdr[MAX_BATCH][28];
static struct sockaddr_in from[MAX_BATCH], to[MAX_BATCH];
static struct iovec rx_iov[MAX_BATCH], tx_iov[MAX_BATCH][2];
static struct mmsghdr rx_msgs[MAX_BATCH], tx_msgs[MAX_BATCH];

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }

int main(int argc, char **argv) {
    static const struct option opts[] = {{"listen", 1, 0, 'l'}, {"batch", 1, 0, 'b'}, {0, 0, 0, 0}};
    struct in_addr listen_addr;
    unsigned batch = 64;
    int c, have_listen = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'l') have_listen = inet_pton(AF_INET, optarg, &listen_addr) == 1;
        else if (c == 'b') batch = (unsigned)strtoul(optarg, NULL, 10);
        else { fprintf(stderr, "usage: reflector --listen ADDR [--batch N]\n"); return 2; }
    }
    if (!have_listen || batch < 1 || batch > MAX_BATCH) {
        fprintf(stderr, "usage: reflector --listen ADDR [--batch N]\n");
        return 2;
    }
    int big = 32 << 20;
    int rx = socket(AF_INET, SOCK_DGRAM, 0), tx = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
    if (rx < 0 || tx < 0) { perror("reflector: socket"); return 2; }
    if (setsockopt(rx, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big) < 0)
        setsockopt(rx, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    if (setsockopt(tx, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big) < 0)
        setsockopt(tx, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(GENEVE_PORT), .sin_addr = listen_addr};
    if (bind(rx, (struct sockaddr *)&a, sizeof a) < 0) { perror("reflector: bind"); return 2; }
    for (unsigned i = 0; i < MAX_BATCH; i++) {
        rx_iov[i] = (struct iovec){buf[i], MAX_DATAGRAM};
        rx_msgs[i].msg_hdr = (struct msghdr){.msg_name = &from[i], .msg_iov = &rx_iov[i], .msg_iovlen = 1};
        tx_iov[i][0] = (struct iovec){hdr[i], sizeof hdr[i]};
        tx_iov[i][1].iov_base = buf[i];
        tx_msgs[i].msg_hdr = (struct msghdr){.msg_name = &to[i], .msg_namelen = sizeof to[i],
                                             .msg_iov = tx_iov[i], .msg_iovlen = 2};
        /* constant parts of the outer IPv4/UDP header; the kernel fills id and checksum */
        hdr[i][0] = 0x45; hdr[i][8] = 64; hdr[i][9] = IPPROTO_UDP;
        memcpy(hdr[i] + 12, &listen_addr, 4);
        put16(hdr[i] + 22, GENEVE_PORT);
    }
    printf("ready\n");
    fflush(stdout);
    for (;;) {
        for (unsigned i = 0; i < batch; i++) rx_msgs[i].msg_hdr.msg_namelen = sizeof from[i];
        int n = recvmmsg(rx, rx_msgs, batch, MSG_WAITFORONE, NULL);
        if (n < 0) {
            if (errno == EINTR) continue;
            perror("reflector: recvmmsg");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            uint16_t len = (uint16_t)rx_msgs[i].msg_len;
            uint8_t *h = hdr[i];
            put16(h + 2, (uint16_t)(28 + len));
            memcpy(h + 16, &from[i].sin_addr, 4);     /* back to the GWLB node that sent it */
            memcpy(h + 20, &from[i].sin_port, 2);     /* the GWLB's source port, kept */
            put16(h + 24, (uint16_t)(8 + len));
            tx_iov[i][1].iov_len = len;
            to[i] = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr = from[i].sin_addr};
        }
        int done = 0;
        while (done < n) {
            int r = sendmmsg(tx, tx_msgs + done, (unsigned)(n - done), 0);
            if (r < 0) {
                if (errno == EINTR) continue;
                done++; /* e.g. ENOBUFS: skip that datagram (counted by the kernel) */
                continue;
            }
            done += r;
        }
    }
}
