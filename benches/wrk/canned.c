/*
 * canned: the client's ceiling for a wrk scenario.
 *
 *   canned PORT RESPONSE_FILE
 *
 * One thread, one edge-triggered epoll loop on 127.0.0.1:PORT. Every request head it reads (each
 * "\r\n\r\n"; request bodies are not supported) is answered with the exact bytes of RESPONSE_FILE,
 * which the bench script captures from sluice for the same URL. It parses nothing and reads no
 * file, so the rate wrk reaches against it is the most that wrk, pinned to its CPU, can take in
 * that scenario. A server close to this rate is limited by the client, not by itself.
 *
 * Partial writes are handled (a connection keeps its unsent count and waits for EPOLLOUT), so
 * responses larger than a socket buffer work too; one larger than OUT_BATCH goes out by sendfile
 * from the page cache, as a static file server sends a large file. Not a server: no timeouts, no limits beyond
 * MAX_CONNS, no HTTP beyond finding the end of each head.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_CONNS 65536
#define READ_BUF 16384
#define OUT_BATCH (256 * 1024)

struct conn {
    uint64_t owed;     /* responses not yet fully written */
    size_t sent;       /* bytes of the first owed response already written */
    int matched;       /* how much of "\r\n\r\n" ended the last read */
};

static const char *response;
static int response_fd; /* large responses go out by sendfile from here, as a file server's would */
static size_t response_len;
static struct conn *conns;
static char *out_batch; /* OUT_BATCH bytes of back-to-back responses, for pipelined answers */
static size_t batch_responses;

static void fail(const char *what) {
    perror(what);
    exit(1);
}

/* Counts "\r\n\r\n" in buf, carrying a partial match across reads in *matched. */
static uint64_t count_heads(const char *buf, ssize_t n, int *matched) {
    static const char end[4] = {'\r', '\n', '\r', '\n'};
    uint64_t heads = 0;
    int m = *matched;
    for (ssize_t i = 0; i < n; i++) {
        if (buf[i] == end[m]) {
            if (++m == 4) {
                heads++;
                m = 0;
            }
        } else {
            m = buf[i] == '\r' ? 1 : 0;
        }
    }
    *matched = m;
    return heads;
}

/* Writes what fd owes until done or the socket is full. Returns -1 when the connection is dead. */
static int flush_owed(int fd) {
    struct conn *c = &conns[fd];
    while (c->owed > 0) {
        const char *p;
        size_t len;
        if (c->sent == 0 && c->owed > 1 && batch_responses > 1) {
            size_t k = c->owed < batch_responses ? c->owed : batch_responses;
            p = out_batch;
            len = k * response_len;
        } else {
            p = response + c->sent;
            len = response_len - c->sent;
        }
        ssize_t w;
        if (batch_responses == 0) {
            off_t off = (off_t)c->sent;
            w = sendfile(fd, response_fd, &off, response_len - c->sent);
        } else {
            w = send(fd, p, len, MSG_NOSIGNAL);
        }
        if (w < 0) {
            if (errno == EAGAIN)
                return 0;
            if (errno == EINTR)
                continue;
            return -1;
        }
        size_t total = c->sent + (size_t)w;
        c->owed -= total / response_len;
        c->sent = total % response_len;
        if ((size_t)w < len)
            return 0;
    }
    return 0;
}

static void drop(int epfd, int fd) {
    epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
    close(fd);
    memset(&conns[fd], 0, sizeof conns[fd]);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: canned PORT RESPONSE_FILE\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN); /* sendfile to a closed peer must fail with EPIPE, not kill us */
    int rf = open(argv[2], O_RDONLY);
    if (rf < 0)
        fail(argv[2]);
    struct stat st;
    if (fstat(rf, &st) < 0 || st.st_size == 0) {
        fprintf(stderr, "canned: %s is empty\n", argv[2]);
        return 1;
    }
    response_len = (size_t)st.st_size;
    response_fd = rf;
    response = mmap(NULL, response_len, PROT_READ, MAP_PRIVATE | MAP_POPULATE, rf, 0);
    if (response == MAP_FAILED)
        fail("mmap");
    batch_responses = OUT_BATCH / response_len;
    if (batch_responses > 1) {
        out_batch = malloc(batch_responses * response_len);
        for (size_t i = 0; i < batch_responses; i++)
            memcpy(out_batch + i * response_len, response, response_len);
    }
    conns = calloc(MAX_CONNS, sizeof *conns);

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0)
        fail("bind");
    if (listen(lfd, 4096) < 0)
        fail("listen");
    int epfd = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
    epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev);
    printf("listening on http://127.0.0.1:%s\n", argv[1]);
    fflush(stdout);

    static char buf[READ_BUF];
    struct epoll_event events[512];
    for (;;) {
        int n = epoll_wait(epfd, events, 512, -1);
        if (n < 0 && errno != EINTR)
            fail("epoll_wait");
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            if (fd == lfd) {
                int cfd;
                while ((cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    if (cfd >= MAX_CONNS) {
                        close(cfd);
                        continue;
                    }
                    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct epoll_event cev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.fd = cfd};
                    epoll_ctl(epfd, EPOLL_CTL_ADD, cfd, &cev);
                }
                continue;
            }
            int dead = 0;
            if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                for (;;) {
                    ssize_t r = recv(fd, buf, sizeof buf, 0);
                    if (r > 0) {
                        conns[fd].owed += count_heads(buf, r, &conns[fd].matched);
                        if ((size_t)r < sizeof buf)
                            break;
                    } else if (r < 0 && errno == EINTR) {
                        continue;
                    } else {
                        dead = r == 0 || errno != EAGAIN;
                        break;
                    }
                }
            }
            if (!dead && flush_owed(fd) < 0)
                dead = 1;
            if (dead)
                drop(epfd, fd);
        }
    }
}
