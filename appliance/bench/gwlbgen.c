/*
 * gwlbgen: the benchmark's load generator. It plays an AWS Gateway Load Balancer.
 *
 * From its own network namespace it sends GENEVE/UDP to port 6081 of the subject,
 * with the three GWLB options of class 0x0108 (type 1 endpoint id, 8 bytes; type 2
 * attachment id, 8 bytes; type 3 flow cookie, 4 bytes: a 40-byte GENEVE header, see
 * shared/PROTOCOL.md and RFC 8926 section 3). Every flow has its own inner 5-tuple,
 * cookie and outer UDP source port (with more flows than free ports, flows share
 * outer ports, as they do behind a real GWLB, and the payload names the flow). Packets leave on a raw IPPROTO_RAW socket (which
 * implies IP_HDRINCL) so the generator chooses the outer source port, batched with
 * sendmmsg. Replies arrive on a UDP socket bound to 6081 (so the destination port and
 * address are checked by the kernel's socket lookup) and every one is checked: outer
 * source address is the subject, outer source port is the flow's port, the GENEVE
 * header is byte-identical to what was sent for that flow, the inner headers and the
 * whole inner payload (flow, sequence number, timestamp, run id, fill pattern) are
 * intact, and the sequence number was sent and not seen before. A reply carrying
 * another run's id (a backlog the subject still held from an earlier run) is counted
 * as stale, apart from both verified and bad replies.
 *
 * Latency is the kernel's receive timestamp of a reply (SO_TIMESTAMPNS, taken when the
 * reply reaches the generator's namespace) minus the send time written in its payload
 * just before sendmmsg (both CLOCK_REALTIME), so the generator's own scheduling delays
 * before it reads a reply do not count.
 *
 * Modes:  --rate 0     send as fast as possible for --duration seconds
 *         --rate R     send R packets/s, paced, for --duration seconds
 *         --probe S    send a packet every 20 ms until one verified reply (readiness)
 * After sending, replies are collected until every packet is accounted for, or no
 * reply came for --quiet seconds, or --drain seconds passed.
 * Output: one JSON object on stdout. Exit status 0, or 2 on bad usage / setup error.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define GENEVE_PORT 6081
#define OUTER_IP 20
#define OUTER_UDP 8
#define GENEVE_LEN 40
#define INNER_HDRS 28
#define HDRS (OUTER_IP + OUTER_UDP + GENEVE_LEN + INNER_HDRS)
#define MAX_INNER 1400
#define MIN_INNER 68 /* 28 bytes of headers + 40 bytes of payload fields */
#define MAX_FLOWS (1u << 24)
#define CACHED_FLOWS 65536u /* up to this many flows keep prebuilt headers; more are built per packet */
#define MAX_BATCH 256
#define MAGIC 0x4757424eu /* "GWBN" */
/* latency histogram: 100 ns buckets up to 10 ms, then 10 us buckets up to 10 s */
#define LAT_FINE_NS 100u
#define LAT_FINE 100000u
#define LAT_COARSE_NS 10000u
#define LAT_BUCKETS (LAT_FINE + 999000u)

enum bad_kind {
    BAD_LENGTH, BAD_SRC_ADDR, BAD_SRC_PORT, BAD_GENEVE, BAD_INNER_HEADER,
    BAD_PAYLOAD, BAD_FLOW_MISMATCH, BAD_UNKNOWN_SEQ, BAD_DUPLICATE, BAD_KINDS
};
static const char *bad_names[BAD_KINDS] = {
    "length", "src_addr", "src_port", "geneve", "inner_header",
    "payload", "flow_mismatch", "unknown_seq", "duplicate",
};

struct flow {
    uint8_t tmpl[HDRS]; /* outer IPv4 + UDP + GENEVE + inner IPv4 + UDP, as sent */
};

/* Inner payload layout after the inner UDP header. */
struct payload_head {
    uint32_t magic;
    uint32_t flow;
    uint64_t seq;
    uint64_t sent_ns; /* CLOCK_REALTIME, like the kernel's receive timestamps */
    uint64_t run;   /* this run's id: replies from an earlier run are stale */
    uint64_t check; /* seq ^ sent_ns ^ flow ^ run: a cheap cross-check of the four */
} __attribute__((packed));

static struct {
    struct in_addr src, dst;
    unsigned flows, inner_size, batch, base_port;
    double duration, rate, drain, quiet, probe;
} cfg = {.flows = 64, .inner_size = 100, .batch = 64, .base_port = 40000,
         .duration = 5.0, .rate = 0.0, .drain = 3.0, .quiet = 0.25, .probe = 0.0};

static struct flow *flows; /* NULL when cfg.flows > CACHED_FLOWS */
static unsigned nports;     /* outer source ports in use: min(flows, 65536 - base_port) */
static uint64_t sent, received, verified, verified_in_window, send_errors, lost, stale;
static uint64_t run_id, last_rx_ns;
static uint64_t bad[BAD_KINDS];
static uint8_t *seen; /* one bit per sequence number */
static size_t seen_bytes;
static uint32_t *lat_hist;
static uint64_t lat_overflow, lat_samples, lat_max_ns;
static uint64_t window_end_ns;

static uint64_t wall_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint16_t ip_checksum(const uint8_t *p, size_t n) {
    uint32_t sum = 0;
    for (size_t i = 0; i + 1 < n; i += 2) sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)(v >> 16)); put16(p + 2, (uint16_t)v); }

static void build_flow(unsigned i, struct flow *f) {
    uint8_t *p = f->tmpl;
    unsigned inner = cfg.inner_size, geneve_payload = GENEVE_LEN + inner;
    memset(p, 0, HDRS);
    /* outer IPv4: id 0 lets the kernel fill it; the kernel always fills the checksum */
    p[0] = 0x45; put16(p + 2, (uint16_t)(OUTER_IP + OUTER_UDP + geneve_payload));
    p[8] = 64; p[9] = IPPROTO_UDP;
    memcpy(p + 12, &cfg.src, 4); memcpy(p + 16, &cfg.dst, 4);
    p += OUTER_IP;
    /* outer UDP: the flow's own source port; checksum 0 is allowed over IPv4 */
    put16(p, (uint16_t)(cfg.base_port + i % nports)); put16(p + 2, GENEVE_PORT);
    put16(p + 4, (uint16_t)(OUTER_UDP + geneve_payload));
    p += OUTER_UDP;
    /* GENEVE base header: version 0, OptLen 8 words, protocol 0x0800, VNI 0 */
    p[0] = 8; put16(p + 2, 0x0800);
    p += 8;
    /* option class 0x0108 type 1: GWLB endpoint id, 8 bytes (length 2 words) */
    put16(p, 0x0108); p[2] = 1; p[3] = 2;
    put32(p + 4, 0x0b1e0b1e); put32(p + 8, 0x00c0ffee);
    p += 12;
    /* type 2: attachment id, 8 bytes (0: unused) */
    put16(p, 0x0108); p[2] = 2; p[3] = 2;
    p += 12;
    /* type 3: flow cookie, 4 bytes, distinct per flow */
    put16(p, 0x0108); p[2] = 3; p[3] = 1;
    put32(p + 4, 0x9e3779b9u * (i + 1));
    p += 8;
    /* inner IPv4/UDP: client 198.18.128.0/17 (flow i: host i % 32768, port 10000 + i / 32768)
     * -> 198.19.0.10:5001 */
    p[0] = 0x45; put16(p + 2, (uint16_t)inner); put16(p + 6, 0x4000);
    p[8] = 64; p[9] = IPPROTO_UDP;
    p[12] = 198; p[13] = 18; p[14] = (uint8_t)(128 + (i % 32768) / 256); p[15] = (uint8_t)(i % 256);
    p[16] = 198; p[17] = 19; p[18] = 0; p[19] = 10;
    put16(p + 10, ip_checksum(p, 20));
    put16(p + 20, (uint16_t)(10000 + i / 32768)); put16(p + 22, 5001);
    put16(p + 24, (uint16_t)(inner - 20));
}

/* Headers of flow i: prebuilt, or built into scratch (HDRS bytes) for large flow counts. */
static const uint8_t *flow_headers(unsigned i, uint8_t *scratch) {
    if (flows) return flows[i].tmpl;
    build_flow(i, (struct flow *)scratch);
    return scratch;
}

static uint8_t fill_byte(uint64_t seq, unsigned k) { return (uint8_t)(seq * 31u + k * 7u + 1u); }

static void fill_packet(uint8_t *buf, unsigned flow, uint64_t seq, uint64_t ts) {
    const uint8_t *hdrs = flow_headers(flow, buf);
    if (hdrs != buf) memcpy(buf, hdrs, HDRS);
    uint8_t *pl = buf + HDRS;
    struct payload_head h = {MAGIC, flow, seq, ts, run_id, seq ^ ts ^ flow ^ run_id};
    memcpy(pl, &h, sizeof h);
    unsigned rest = cfg.inner_size - INNER_HDRS - (unsigned)sizeof h;
    for (unsigned k = 0; k < rest; k++) pl[sizeof h + k] = fill_byte(seq, k);
}

static void seen_reserve(uint64_t seq) {
    size_t need = (size_t)(seq / 8 + 1);
    if (need <= seen_bytes) return;
    size_t n = seen_bytes ? seen_bytes : 1 << 16;
    while (n < need) n *= 2;
    uint8_t *p = realloc(seen, n);
    if (!p) { perror("gwlbgen: realloc"); exit(2); }
    memset(p + seen_bytes, 0, n - seen_bytes);
    seen = p; seen_bytes = n;
}

static void record_latency(uint64_t ns) {
    uint64_t b = ns / LAT_FINE_NS;
    if (b >= LAT_FINE) b = LAT_FINE + (ns - (uint64_t)LAT_FINE * LAT_FINE_NS) / LAT_COARSE_NS;
    if (b < LAT_BUCKETS) lat_hist[b]++; else lat_overflow++;
    if (ns > lat_max_ns) lat_max_ns = ns;
    lat_samples++;
}

/* t: monotonic time the reply was read; rx_wall: when it arrived (kernel timestamp) */
static void check_reply(const uint8_t *d, size_t n, const struct sockaddr_in *from, uint64_t t,
                        uint64_t rx_wall) {
    received++;
    if (n != GENEVE_LEN + cfg.inner_size) { bad[BAD_LENGTH]++; return; }
    if (from->sin_addr.s_addr != cfg.dst.s_addr) { bad[BAD_SRC_ADDR]++; return; }
    unsigned port = ntohs(from->sin_port);
    if (port < cfg.base_port || port >= cfg.base_port + nports) { bad[BAD_SRC_PORT]++; return; }
    unsigned flow = port - cfg.base_port;
    struct payload_head h;
    const uint8_t *pl = d + GENEVE_LEN + INNER_HDRS;
    memcpy(&h, pl, sizeof h);
    if (cfg.flows > nports) { /* ports are shared: the payload names the flow, the port must fit */
        if (h.flow >= cfg.flows || h.flow % nports != flow) { bad[BAD_FLOW_MISMATCH]++; return; }
        flow = h.flow;
    }
    uint8_t scratch[HDRS];
    const uint8_t *tmpl = flow_headers(flow, scratch) + OUTER_IP + OUTER_UDP;
    if (memcmp(d, tmpl, GENEVE_LEN) != 0) { bad[BAD_GENEVE]++; return; }
    if (memcmp(d + GENEVE_LEN, tmpl + GENEVE_LEN, INNER_HDRS) != 0) { bad[BAD_INNER_HEADER]++; return; }
    if (h.magic != MAGIC || h.check != (h.seq ^ h.sent_ns ^ h.flow ^ h.run)) {
        bad[BAD_PAYLOAD]++; return;
    }
    if (h.run != run_id) { stale++; return; }
    unsigned rest = cfg.inner_size - INNER_HDRS - (unsigned)sizeof h;
    for (unsigned k = 0; k < rest; k++)
        if (pl[sizeof h + k] != fill_byte(h.seq, k)) { bad[BAD_PAYLOAD]++; return; }
    if (h.flow != flow) { bad[BAD_FLOW_MISMATCH]++; return; }
    if (h.seq >= sent || h.seq % cfg.flows != flow) { bad[BAD_UNKNOWN_SEQ]++; return; }
    uint8_t bit = (uint8_t)(1u << (h.seq % 8));
    if (seen[h.seq / 8] & bit) { bad[BAD_DUPLICATE]++; return; }
    seen[h.seq / 8] |= bit;
    verified++;
    if (t <= window_end_ns) verified_in_window++;
    record_latency(rx_wall > h.sent_ns ? rx_wall - h.sent_ns : 0);
}

static int tx_fd, rx_fd;
static uint8_t (*tx_buf)[HDRS + MAX_INNER];
static struct mmsghdr tx_msgs[MAX_BATCH], rx_msgs[MAX_BATCH];
static struct iovec tx_iov[MAX_BATCH], rx_iov[MAX_BATCH];
static uint8_t rx_buf[MAX_BATCH][2048];
static struct sockaddr_in rx_from[MAX_BATCH], dst_addr;
static uint8_t rx_ctrl[MAX_BATCH][CMSG_SPACE(sizeof(struct timespec))];

static void send_batch(unsigned n) {
    uint64_t t = wall_ns(); /* written into each payload, compared with kernel rx stamps */
    for (unsigned i = 0; i < n; i++) {
        uint64_t seq = sent + i;
        fill_packet(tx_buf[i], (unsigned)(seq % cfg.flows), seq, t);
        tx_iov[i].iov_len = OUTER_IP + OUTER_UDP + GENEVE_LEN + cfg.inner_size;
    }
    seen_reserve(sent + n);
    unsigned done = 0;
    while (done < n) {
        int r = sendmmsg(tx_fd, tx_msgs + done, n - done, 0);
        if (r < 0) {
            if (errno == EINTR) continue;
            /* refused (e.g. ENOBUFS): counted; the unsent sequence numbers are reused
             * by the next batch, so sequence numbers stay dense */
            send_errors++;
            break;
        }
        done += (unsigned)r;
    }
    sent += done;
}

/* The kernel's receive timestamp of a message, or the time now if it has none. */
static uint64_t rx_time(struct msghdr *m) {
    for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
            struct timespec ts;
            memcpy(&ts, CMSG_DATA(c), sizeof ts);
            return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
        }
    }
    return wall_ns();
}

static unsigned drain_rx(void) {
    unsigned total = 0;
    for (;;) {
        for (unsigned i = 0; i < cfg.batch; i++) {
            rx_msgs[i].msg_hdr.msg_namelen = sizeof rx_from[i];
            rx_msgs[i].msg_hdr.msg_controllen = sizeof rx_ctrl[i];
        }
        int r = recvmmsg(rx_fd, rx_msgs, cfg.batch, MSG_DONTWAIT, NULL);
        if (r <= 0) break;
        uint64_t t = now_ns();
        last_rx_ns = t;
        for (int i = 0; i < r; i++)
            check_reply(rx_buf[i], rx_msgs[i].msg_len, &rx_from[i], t, rx_time(&rx_msgs[i].msg_hdr));
        total += (unsigned)r;
        if ((unsigned)r < cfg.batch) break;
    }
    return total;
}

static void wait_rx(uint64_t until) {
    uint64_t t = now_ns();
    if (until <= t) return;
    uint64_t d = until - t;
    struct timespec ts = {(time_t)(d / 1000000000ull), (long)(d % 1000000000ull)};
    struct pollfd p = {rx_fd, POLLIN, 0};
    ppoll(&p, 1, &ts, NULL);
}

/* UDP RcvbufErrors of this network namespace, from /proc/net/snmp (-1 if unreadable). */
static long long udp_rcvbuf_errors(void) {
    FILE *f = fopen("/proc/net/snmp", "r");
    if (!f) return -1;
    char head[1024], vals[1024];
    long long result = -1;
    while (fgets(head, sizeof head, f)) {
        if (strncmp(head, "Udp:", 4) != 0 || !fgets(vals, sizeof vals, f)) continue;
        char *hs, *vs, *h = strtok_r(head, " \n", &hs), *v = strtok_r(vals, " \n", &vs);
        while (h && v) {
            if (strcmp(h, "RcvbufErrors") == 0) { result = atoll(v); break; }
            h = strtok_r(NULL, " \n", &hs); v = strtok_r(NULL, " \n", &vs);
        }
        break;
    }
    fclose(f);
    return result;
}

static double percentile_us(double q) {
    if (!lat_samples) return 0.0;
    uint64_t rank = (uint64_t)(q * (double)lat_samples);
    if (rank >= lat_samples) rank = lat_samples - 1;
    uint64_t acc = 0;
    for (uint32_t b = 0; b < LAT_BUCKETS; b++) {
        acc += lat_hist[b];
        if (acc > rank) {
            if (b < LAT_FINE) return ((double)b + 0.5) * LAT_FINE_NS / 1000.0;
            return ((double)LAT_FINE * LAT_FINE_NS + ((double)(b - LAT_FINE) + 0.5) * LAT_COARSE_NS) / 1000.0;
        }
    }
    return (double)lat_max_ns / 1000.0;
}

static void usage(void) {
    fprintf(stderr,
            "usage: gwlbgen --src ADDR --dst ADDR [--flows N] [--inner-size BYTES] [--batch N]\n"
            "               [--base-port P] [--duration S] [--rate PPS (0 = max)] [--drain S]\n"
            "               [--quiet S] [--probe TIMEOUT_S]\n");
    exit(2);
}

static void parse_args(int argc, char **argv) {
    static const struct option opts[] = {
        {"src", 1, 0, 's'}, {"dst", 1, 0, 'd'}, {"flows", 1, 0, 'f'},
        {"inner-size", 1, 0, 'i'}, {"batch", 1, 0, 'b'}, {"base-port", 1, 0, 'p'},
        {"duration", 1, 0, 't'}, {"rate", 1, 0, 'r'}, {"drain", 1, 0, 'w'},
        {"probe", 1, 0, 'P'}, {"quiet", 1, 0, 'q'}, {0, 0, 0, 0}};
    int c, have_src = 0, have_dst = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 's': have_src = inet_pton(AF_INET, optarg, &cfg.src) == 1; break;
        case 'd': have_dst = inet_pton(AF_INET, optarg, &cfg.dst) == 1; break;
        case 'f': cfg.flows = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'i': cfg.inner_size = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'b': cfg.batch = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'p': cfg.base_port = (unsigned)strtoul(optarg, NULL, 10); break;
        case 't': cfg.duration = strtod(optarg, NULL); break;
        case 'r': cfg.rate = strtod(optarg, NULL); break;
        case 'w': cfg.drain = strtod(optarg, NULL); break;
        case 'P': cfg.probe = strtod(optarg, NULL); break;
        case 'q': cfg.quiet = strtod(optarg, NULL); break;
        default: usage();
        }
    }
    if (!have_src || !have_dst || cfg.flows < 1 || cfg.flows > MAX_FLOWS ||
        cfg.inner_size < MIN_INNER || cfg.inner_size > MAX_INNER || cfg.batch < 1 ||
        cfg.batch > MAX_BATCH || cfg.base_port < 1024 || cfg.base_port > 65535 ||
        cfg.duration < 0 || cfg.rate < 0 || cfg.drain < 0 || cfg.quiet <= 0 || cfg.probe < 0)
        usage();
}

static void setup_sockets(void) {
    int big = 64 << 20;
    tx_fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
    rx_fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (tx_fd < 0 || rx_fd < 0) { perror("gwlbgen: socket"); exit(2); }
    if (setsockopt(rx_fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big) < 0)
        setsockopt(rx_fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    int on = 1;
    if (setsockopt(rx_fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on) < 0) {
        perror("gwlbgen: SO_TIMESTAMPNS");
        exit(2);
    }
    if (setsockopt(tx_fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big) < 0)
        setsockopt(tx_fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(GENEVE_PORT), .sin_addr = cfg.src};
    if (bind(rx_fd, (struct sockaddr *)&a, sizeof a) < 0) { perror("gwlbgen: bind 6081"); exit(2); }
    dst_addr = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr = cfg.dst};
    tx_buf = calloc(MAX_BATCH, sizeof *tx_buf);
    if (!tx_buf) { perror("gwlbgen: calloc"); exit(2); }
    for (unsigned i = 0; i < MAX_BATCH; i++) {
        tx_iov[i].iov_base = tx_buf[i];
        tx_msgs[i].msg_hdr = (struct msghdr){.msg_name = &dst_addr, .msg_namelen = sizeof dst_addr,
                                             .msg_iov = &tx_iov[i], .msg_iovlen = 1};
        rx_iov[i] = (struct iovec){rx_buf[i], sizeof rx_buf[i]};
        rx_msgs[i].msg_hdr = (struct msghdr){.msg_name = &rx_from[i], .msg_namelen = sizeof rx_from[i],
                                             .msg_iov = &rx_iov[i], .msg_iovlen = 1,
                                             .msg_control = rx_ctrl[i],
                                             .msg_controllen = sizeof rx_ctrl[i]};
    }
}

static int run_probe(void) {
    uint64_t start = now_ns(), end = start + (uint64_t)(cfg.probe * 1e9);
    while (now_ns() < end && verified == 0) {
        send_batch(1);
        wait_rx(now_ns() + 20000000ull);
        drain_rx();
    }
    printf("{\"mode\":\"probe\",\"ready\":%s,\"sent\":%llu,\"verified\":%llu}\n",
           verified ? "true" : "false", (unsigned long long)sent, (unsigned long long)verified);
    return verified ? 0 : 1;
}

int main(int argc, char **argv) {
    parse_args(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0); /* wake within ~1 us when pacing */
    nports = cfg.flows < 65536 - cfg.base_port ? cfg.flows : 65536 - cfg.base_port;
    lat_hist = calloc(LAT_BUCKETS, sizeof *lat_hist);
    if (!lat_hist) { perror("gwlbgen: calloc"); return 2; }
    if (cfg.flows <= CACHED_FLOWS) {
        flows = calloc(cfg.flows, sizeof *flows);
        if (!flows) { perror("gwlbgen: calloc"); return 2; }
        for (unsigned i = 0; i < cfg.flows; i++) build_flow(i, &flows[i]);
    }
    run_id = now_ns() ^ ((uint64_t)getpid() << 40) ^ 0x5bd1e9955bd1e995ull;
    setup_sockets();
    if (cfg.probe > 0) return run_probe();

    long long rcvbuf_before = udp_rcvbuf_errors();
    uint64_t start = now_ns(), dur = (uint64_t)(cfg.duration * 1e9), t;
    window_end_ns = start + dur;
    while ((t = now_ns()) < window_end_ns) {
        if (cfg.rate <= 0) {
            send_batch(cfg.batch);
            drain_rx();
            continue;
        }
        uint64_t due = (uint64_t)((double)(t - start) * cfg.rate / 1e9) + 1;
        if (due > sent) send_batch((unsigned)(due - sent < cfg.batch ? due - sent : cfg.batch));
        drain_rx();
        uint64_t next = start + (uint64_t)((double)sent * 1e9 / cfg.rate);
        if (next > window_end_ns) next = window_end_ns;
        wait_rx(next);
    }
    uint64_t send_end = now_ns();
    uint64_t drain_end = send_end + (uint64_t)(cfg.drain * 1e9), quiet = (uint64_t)(cfg.quiet * 1e9);
    if (last_rx_ns < send_end) last_rx_ns = send_end;
    while ((t = now_ns()) < drain_end && t < last_rx_ns + quiet) {
        uint64_t accounted = verified;
        for (int k = 0; k < BAD_KINDS; k++) accounted += bad[k];
        if (accounted >= sent) break;
        wait_rx(last_rx_ns + quiet < drain_end ? last_rx_ns + quiet : drain_end);
        drain_rx();
    }
    double drained = (double)(now_ns() - send_end) / 1e9;
    long long rcvbuf_after = udp_rcvbuf_errors();
    lost = sent > verified ? sent - verified : 0;
    double secs = (double)(send_end - start) / 1e9;
    uint64_t bad_total = 0;
    for (int k = 0; k < BAD_KINDS; k++) bad_total += bad[k];

    printf("{\"mode\":\"%s\",\"flows\":%u,\"inner_size\":%u,\"batch\":%u,\"rate_pps\":%.0f,"
           "\"duration_s\":%.6f,\"sent\":%llu,\"offered_pps\":%.1f,\"send_errors\":%llu,"
           "\"received\":%llu,\"verified\":%llu,\"verified_in_window\":%llu,\"stale\":%llu,"
           "\"delivered_pps\":%.1f,\"lost\":%llu,\"bad_total\":%llu,\"bad\":{",
           cfg.rate > 0 ? "rate" : "max", cfg.flows, cfg.inner_size, cfg.batch, cfg.rate, secs,
           (unsigned long long)sent, secs > 0 ? (double)sent / secs : 0.0,
           (unsigned long long)send_errors, (unsigned long long)received,
           (unsigned long long)verified, (unsigned long long)verified_in_window,
           (unsigned long long)stale,
           secs > 0 ? (double)verified_in_window / secs : 0.0, (unsigned long long)lost,
           (unsigned long long)bad_total);
    for (int k = 0; k < BAD_KINDS; k++)
        printf("%s\"%s\":%llu", k ? "," : "", bad_names[k], (unsigned long long)bad[k]);
    printf("},\"latency_us\":{\"samples\":%llu,\"p50\":%.1f,\"p99\":%.1f,\"p999\":%.1f,\"max\":%.1f},"
           "\"drain_s\":%.3f,\"generator_rcvbuf_errors\":%lld}\n",
           (unsigned long long)lat_samples, percentile_us(0.50), percentile_us(0.99),
           percentile_us(0.999), (double)lat_max_ns / 1000.0, drained,
           rcvbuf_before >= 0 && rcvbuf_after >= 0 ? rcvbuf_after - rcvbuf_before : -1);
    return 0;
}
