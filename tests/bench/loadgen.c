/* SPDX-License-Identifier: MIT
 * loadgen.c - hammers the benchmark sink with one produce body over
 * keep-alive connections (one thread each) to show what it sustains.
 *
 *   loadgen --port N --body FILE [--path /bench/topics/t] [--conns C]
 *           [--seconds S]
 *
 * Connects to 127.0.0.1 only.  Every answer must be 200; the offsets
 * entries in the answers are counted as records.  Prints one JSON line:
 * {"requests":..,"records":..,"seconds":..,"requests_per_s":..,
 *  "records_per_s":..,"mib_per_s":..}
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RESP_CAP (8 * 1024 * 1024)

static int port;
static const char *path = "/bench/topics/loadgen";
static char *request;
static size_t request_len;
static double seconds = 3.0;

struct worker {
    pthread_t th;
    uint64_t requests, records;
    const char *error;
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Counts the offsets entries of a produce answer. */
static uint64_t count_offsets(const char *p, size_t n)
{
    uint64_t k = 0;
    const char *end = p + n;
    while ((p = memmem(p, (size_t)(end - p), "\"offset\":", 9)) != NULL) {
        k++;
        p += 9;
    }
    return k;
}

static void *run(void *arg)
{
    struct worker *w = arg;
    char *resp = malloc(RESP_CAP);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {.tv_sec = 10};
    int one = 1;

    if (resp == NULL || fd < 0) {
        w->error = "out of resources";
        goto out;
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        w->error = "connect failed";
        goto out;
    }
    double deadline = now() + seconds;
    while (now() < deadline) {
        size_t off = 0;
        while (off < request_len) {
            ssize_t s = send(fd, request + off, request_len - off, MSG_NOSIGNAL);
            if (s <= 0) {
                w->error = "send failed";
                goto out;
            }
            off += (size_t)s;
        }
        /* read the head, then Content-Length bytes of body */
        size_t got = 0, need = 0, head = 0;
        for (;;) {
            if (got == RESP_CAP) {
                w->error = "answer too large";
                goto out;
            }
            ssize_t r = recv(fd, resp + got, RESP_CAP - got, 0);
            if (r <= 0) {
                w->error = "recv failed";
                goto out;
            }
            got += (size_t)r;
            if (head == 0) {
                char *e = memmem(resp, got, "\r\n\r\n", 4);
                if (e == NULL)
                    continue;
                head = (size_t)(e - resp) + 4;
                if (got < 12 || memcmp(resp + 9, "200", 3) != 0) {
                    w->error = "answer is not 200";
                    goto out;
                }
                char *cl = memmem(resp, head, "Content-Length: ", 16);
                if (cl == NULL) {
                    w->error = "answer without Content-Length";
                    goto out;
                }
                need = head + strtoull(cl + 16, NULL, 10);
            }
            if (got >= need)
                break;
        }
        if (got != need) {
            w->error = "unexpected bytes after the answer";
            goto out;
        }
        w->requests++;
        w->records += count_offsets(resp + head, need - head);
    }
out:
    if (fd >= 0)
        close(fd);
    free(resp);
    return NULL;
}

static void usage(void)
{
    fputs("usage: loadgen --port N --body FILE [--path P] [--conns C] "
          "[--seconds S]\n",
          stderr);
    exit(2);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"port", required_argument, NULL, 'p'},
        {"body", required_argument, NULL, 'b'},
        {"path", required_argument, NULL, 'P'},
        {"conns", required_argument, NULL, 'c'},
        {"seconds", required_argument, NULL, 's'},
        {NULL, 0, NULL, 0}};
    const char *body_file = NULL;
    int conns = 2, o;
    while ((o = getopt_long(argc, argv, "p:b:P:c:s:", opts, NULL)) != -1) {
        switch (o) {
        case 'p': port = atoi(optarg); break;
        case 'b': body_file = optarg; break;
        case 'P': path = optarg; break;
        case 'c': conns = atoi(optarg); break;
        case 's': seconds = atof(optarg); break;
        default: usage();
        }
    }
    if (port <= 0 || port > 65535 || body_file == NULL || conns < 1 ||
        conns > 256 || seconds <= 0 || seconds > 600)
        usage();

    FILE *f = fopen(body_file, "rb");
    if (f == NULL) {
        perror(body_file);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    long blen = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (blen <= 0) {
        fprintf(stderr, "loadgen: empty body file\n");
        return 1;
    }
    /* a trailing newline (one JSON document per line) is not sent */
    char head[512];
    int hn = snprintf(head, sizeof head,
                      "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      "Content-Type: application/vnd.kafka.json.v2+json\r\n"
                      "Content-Length: %%ld\r\n\r\n",
                      path);
    if (hn <= 0 || hn >= (int)sizeof head)
        usage();
    request = malloc((size_t)hn + 32 + (size_t)blen);
    char *body = malloc((size_t)blen);
    if (request == NULL || body == NULL ||
        fread(body, 1, (size_t)blen, f) != (size_t)blen) {
        fprintf(stderr, "loadgen: cannot read %s\n", body_file);
        return 1;
    }
    fclose(f);
    while (blen > 0 && (body[blen - 1] == '\n' || body[blen - 1] == '\r'))
        blen--;
    int n = snprintf(request, (size_t)hn + 32, head, blen);
    memcpy(request + n, body, (size_t)blen);
    request_len = (size_t)n + (size_t)blen;
    free(body);

    struct worker *ws = calloc((size_t)conns, sizeof *ws);
    double t0 = now();
    for (int i = 0; i < conns; i++)
        if (pthread_create(&ws[i].th, NULL, run, &ws[i]) != 0) {
            fprintf(stderr, "loadgen: pthread_create failed\n");
            return 1;
        }
    uint64_t req = 0, rec = 0;
    int bad = 0;
    for (int i = 0; i < conns; i++) {
        pthread_join(ws[i].th, NULL);
        req += ws[i].requests;
        rec += ws[i].records;
        if (ws[i].error != NULL) {
            fprintf(stderr, "loadgen: connection %d: %s\n", i, ws[i].error);
            bad = 1;
        }
    }
    double dt = now() - t0;
    printf("{\"requests\":%llu,\"records\":%llu,\"seconds\":%.3f,"
           "\"requests_per_s\":%.0f,\"records_per_s\":%.0f,\"mib_per_s\":%.1f}\n",
           (unsigned long long)req, (unsigned long long)rec, dt, (double)req / dt,
           (double)rec / dt, (double)req * (double)blen / dt / 1048576.0);
    free(ws);
    free(request);
    return bad;
}
