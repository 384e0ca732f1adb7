/*
 * netdelay: one-way latency for the simulated cluster (this kernel has no netem). Packets that an
 * iptables rule sends to NFQUEUE number QUEUE are held DELAY_US microseconds each, in arrival order,
 * then accepted. Run it in a host's namespace, with the rule on that host's INPUT chain (the receiver's:
 * on the sender's OUTPUT, TCP Small Queues throttles the flow; see ../shared/TESTBED.md):
 *   iptables -A INPUT -s 10.0.0.0/24 -j NFQUEUE --queue-num 0 --queue-bypass
 *   netdelay 0 50
 * Prints "ready" once it holds the queue. Build: cc -O2 -o netdelay netdelay.c -lnetfilter_queue -lnfnetlink
 * (Debian: libnetfilter-queue-dev). Used by bench/sections/scaling.mjs.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#define HELD 65536

static uint32_t ids[HELD];
static long long due[HELD];
static int head = 0, tail = 0;
static long long delay_ns;

static long long now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int take(struct nfq_q_handle *q, struct nfgenmsg *m, struct nfq_data *d, void *data) {
  (void)m;
  (void)data;
  uint32_t id = ntohl(nfq_get_msg_packet_hdr(d)->packet_id);
  /* full: this one goes at once rather than being lost */
  if ((tail + 1) % HELD == head) return nfq_set_verdict(q, id, NF_ACCEPT, 0, NULL);
  ids[tail] = id;
  due[tail] = now_ns() + delay_ns;
  tail = (tail + 1) % HELD;
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: netdelay QUEUE DELAY_US\n");
    return 2;
  }
  int queue = atoi(argv[1]);
  delay_ns = atoll(argv[2]) * 1000LL;
  struct nfq_handle *h = nfq_open();
  if (!h) {
    perror("netdelay: nfq_open");
    return 1;
  }
  struct nfq_q_handle *q = nfq_create_queue(h, queue, &take, NULL);
  if (!q) {
    perror("netdelay: nfq_create_queue");
    return 1;
  }
  nfq_set_mode(q, NFQNL_COPY_META, 0);
  nfq_set_queue_maxlen(q, HELD - 1);
  nfnl_rcvbufsiz(nfq_nfnlh(h), 16 << 20);
  int fd = nfq_fd(h);
  static char buf[1 << 16];
  printf("ready\n");
  fflush(stdout);
  for (;;) {
    long long t = now_ns();
    while (head != tail && due[head] <= t) {
      nfq_set_verdict(q, ids[head], NF_ACCEPT, 0, NULL);
      head = (head + 1) % HELD;
    }
    long long wait = head == tail ? 1000000000LL : due[head] - t;
    struct timespec ts = {wait / 1000000000LL, wait % 1000000000LL};
    struct pollfd p = {fd, POLLIN, 0};
    if (ppoll(&p, 1, &ts, NULL) <= 0) continue;
    int n;
    while ((n = recv(fd, buf, sizeof buf, MSG_DONTWAIT)) > 0) nfq_handle_packet(h, buf, n);
  }
}
