/*
 * MQTT load generator for `npm run bench`, on libmosquitto, in its own process so that every
 * server in a scenario is driven by the same client code and none shares a CPU-bound event loop
 * with it. bench/loadgen.ts builds it into .cache/bench/ when `cc` and <mosquitto.h> are present:
 *   cc -O2 -o .cache/bench/loadgen bench/loadgen/loadgen.c -lmosquitto -lpthread
 * bench/loadgen/loadgen-mqttjs.mjs is the same program on MQTT.js, used when it cannot be built.
 *
 * Modes (one JSON line on stdout at the end; errors on stderr, exit code 1):
 *   pubsub  N publishers, each with `window` messages in flight (QoS 1: until PUBACK; QoS 0: until
 *           written), -> one subscriber (on -H/-P if given: a bridge's cloud). Ends when the
 *           subscriber has every message, or (QoS 0) nothing arrived for 2 s.
 *   rate    open loop: `rate` msg/s for `secs` s spread over N publishers, whatever the server's
 *           speed; publish->PUBACK and publish->subscriber latency percentiles (us).
 *   idle    `conns` clients connect and each subscribes to devices/<id>/cmd at QoS 1 (a device
 *           waiting for commands), prints "ready <n>" and holds them until stdin closes.
 * -Q: seconds without progress after which pubsub/rate stop waiting and report the loss.
 * Payload: 8 bytes of CLOCK_MONOTONIC send time (ns), the publisher's index and the message's
 * sequence number (4 bytes each), then 'a' up to `size`. The subscriber counts each message once:
 * a QoS 1 resend after a reconnect shows as "duplicates", not as a message.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <mosquitto.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define MAX_PUB 64

static const char *host = "127.0.0.1", *sub_host = NULL, *prefix = "bench";
static int port = 1883, sub_port = 0, npub = 4, window_ = 64, qos = 1, size = 100, subscriber = 1;
static long count = 100000, rate = 1000, conns = 1000;
static double secs = 5, timeout_s = 120, quiet_s = -1;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what, int rc) {
  fprintf(stderr, "loadgen: %s: %s\n", what, rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
  exit(1);
}

/* ---- shared state ---- */
struct pub {
  struct mosquitto *m;
  int idx, connected;
  long sent, acked, quota;
  pthread_mutex_t lock;
  uint64_t *sent_at; /* rate mode: send time by mid */
  char *payload;      /* its own: publishers run on different loop threads */
};
static struct pub pubs[MAX_PUB];
static pthread_mutex_t glock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gcond = PTHREAD_COND_INITIALIZER;
static volatile int sub_ready = 0, sub_connected = 0;
static volatile long received = 0, acked_total = 0, duplicates = 0;
static uint8_t *seen[MAX_PUB]; /* one bit per message, by publisher and sequence number */
static long seen_cap = 0;
static uint64_t t_first_recv = 0, t_last_recv = 0, t_start = 0;
static uint32_t *lat_ack, *lat_e2e; /* rate mode, microseconds */
static long n_lat_ack = 0, n_lat_e2e = 0, lat_cap = 0;

static void signal_all(void) {
  pthread_mutex_lock(&glock);
  pthread_cond_broadcast(&gcond);
  pthread_mutex_unlock(&glock);
}

static void publish_one(struct pub *p) {
  uint64_t t = now_ns();
  char topic[128];
  int mid = 0;
  uint32_t idx = (uint32_t)p->idx, seq = (uint32_t)p->sent;
  memcpy(p->payload, &t, 8); /* under p->lock */
  memcpy(p->payload + 8, &idx, 4);
  memcpy(p->payload + 12, &seq, 4);
  snprintf(topic, sizeof topic, "%s/%d", prefix, p->idx);
  int rc = mosquitto_publish(p->m, &mid, topic, size, p->payload, qos, false);
  if (rc != MOSQ_ERR_SUCCESS) die("publish", rc);
  if (p->sent_at) p->sent_at[mid & 0xffff] = t;
  p->sent++;
}

static void on_pub_connect(struct mosquitto *m, void *ud, int rc) {
  (void)m;
  if (rc) {
    fprintf(stderr, "loadgen: publisher refused: %s\n", mosquitto_connack_string(rc));
    exit(1);
  }
  ((struct pub *)ud)->connected = 1;
  signal_all();
}

/* QoS 1: on PUBACK; QoS 0: once written. In pubsub mode each completion sends the next message. */
static void on_publish(struct mosquitto *m, void *ud, int mid) {
  (void)m;
  struct pub *p = ud;
  uint64_t t = now_ns();
  pthread_mutex_lock(&p->lock);
  p->acked++;
  if (p->sent_at && n_lat_ack < lat_cap) {
    pthread_mutex_lock(&glock);
    lat_ack[n_lat_ack++] = (uint32_t)((t - p->sent_at[mid & 0xffff]) / 1000);
    pthread_mutex_unlock(&glock);
  }
  if (!p->sent_at && p->sent < p->quota) publish_one(p);
  pthread_mutex_unlock(&p->lock);
  __atomic_add_fetch(&acked_total, 1, __ATOMIC_RELAXED);
}

static void on_sub_connect(struct mosquitto *m, void *ud, int rc) {
  (void)ud;
  if (rc) {
    fprintf(stderr, "loadgen: subscriber refused: %s\n", mosquitto_connack_string(rc));
    exit(1);
  }
  char filter[128];
  snprintf(filter, sizeof filter, "%s/#", prefix);
  mosquitto_subscribe(m, NULL, filter, qos);
}

static void on_subscribe(struct mosquitto *m, void *ud, int mid, int n, const int *granted) {
  (void)m, (void)ud, (void)mid;
  if (n < 1 || granted[0] > 2) {
    fprintf(stderr, "loadgen: subscription refused\n");
    exit(1);
  }
  sub_ready = 1;
  signal_all();
}

static void on_message(struct mosquitto *m, void *ud, const struct mosquitto_message *msg) {
  (void)m, (void)ud;
  uint64_t t = now_ns(), sent;
  uint32_t idx, seq;
  if (msg->payloadlen < 16) return;
  memcpy(&sent, msg->payload, 8);
  memcpy(&idx, (char *)msg->payload + 8, 4);
  memcpy(&seq, (char *)msg->payload + 12, 4);
  pthread_mutex_lock(&glock);
  if (idx < MAX_PUB && seen[idx] && seq < seen_cap) {
    if (seen[idx][seq >> 3] & (1 << (seq & 7))) {
      duplicates++;
      pthread_mutex_unlock(&glock);
      return;
    }
    seen[idx][seq >> 3] |= 1 << (seq & 7);
  }
  if (!t_first_recv) t_first_recv = t;
  t_last_recv = t;
  received++;
  if (lat_e2e && n_lat_e2e < lat_cap) lat_e2e[n_lat_e2e++] = (uint32_t)((t - sent) / 1000);
  pthread_mutex_unlock(&glock);
}

static struct mosquitto *client(const char *id, void *ud, const char *h, int p) {
  struct mosquitto *m = mosquitto_new(id, true, ud);
  if (!m) die("mosquitto_new", MOSQ_ERR_NOMEM);
  /* The generator keeps its own window: no client-side cap on messages in flight. */
  mosquitto_max_inflight_messages_set(m, 0);
  int rc = mosquitto_connect(m, h, p, 60);
  if (rc) die("connect", rc);
  return m;
}

static void wait_for(int (*cond)(void), double limit_s, const char *what) {
  uint64_t deadline = now_ns() + (uint64_t)(limit_s * 1e9);
  pthread_mutex_lock(&glock);
  while (!cond()) {
    if (now_ns() > deadline) {
      fprintf(stderr, "loadgen: timed out waiting for %s\n", what);
      exit(1);
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 20 * 1000000;
    if (ts.tv_nsec >= 1000000000) ts.tv_sec++, ts.tv_nsec -= 1000000000;
    pthread_cond_timedwait(&gcond, &glock, &ts);
  }
  pthread_mutex_unlock(&glock);
}

static int all_ready(void) {
  if (subscriber && !sub_ready) return 0;
  for (int i = 0; i < npub; i++)
    if (!pubs[i].connected) return 0;
  return 1;
}

static void start_clients(int with_lat, long per_publisher) {
  char id[64];
  seen_cap = per_publisher + 1;
  for (int i = 0; i < npub; i++) seen[i] = calloc(seen_cap / 8 + 1, 1);
  if (subscriber) {
    snprintf(id, sizeof id, "lg-%d-sub", getpid());
    struct mosquitto *s = client(id, NULL, sub_host ? sub_host : host, sub_port ? sub_port : port);
    mosquitto_connect_callback_set(s, on_sub_connect);
    mosquitto_subscribe_callback_set(s, on_subscribe);
    mosquitto_message_callback_set(s, on_message);
    mosquitto_loop_start(s);
  }
  for (int i = 0; i < npub; i++) {
    struct pub *p = &pubs[i];
    p->idx = i;
    pthread_mutex_init(&p->lock, NULL);
    p->payload = malloc(size);
    memset(p->payload, 'a', size);
    if (with_lat) p->sent_at = calloc(65536, sizeof(uint64_t));
    snprintf(id, sizeof id, "lg-%d-pub%d", getpid(), i);
    p->m = client(id, p, host, port);
    mosquitto_connect_callback_set(p->m, on_pub_connect);
    mosquitto_publish_callback_set(p->m, on_publish);
    mosquitto_loop_start(p->m);
  }
  wait_for(all_ready, 30, "connections");
}

static long total_sent(void) {
  long n = 0;
  for (int i = 0; i < npub; i++) n += pubs[i].sent;
  return n;
}

/* Waits until the subscriber has `expected` messages, or (QoS 0 / timeout) nothing arrives for quiet_s. */
static void drain(long expected, double quiet_s, uint64_t deadline) {
  long last = -1;
  uint64_t last_change = now_ns();
  for (;;) {
    long r = received, a = acked_total;
    if ((!subscriber || r >= expected) && a >= expected) return;
    if (r + a != last) last = r + a, last_change = now_ns();
    if (now_ns() - last_change > (uint64_t)(quiet_s * 1e9) || now_ns() > deadline) return;
    usleep(2000);
  }
}

/* The generator's own CPU time (user + system, all threads), printed so its cost is on record. */
static double cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

static uint32_t pct(uint32_t *xs, long n, double p) {
  if (!n) return 0;
  long i = (long)(n * p);
  return xs[i >= n ? n - 1 : i];
}

static void mode_pubsub(void) {
  long per = count / npub;
  start_clients(0, per);
  count = per * npub;
  t_start = now_ns();
  for (int i = 0; i < npub; i++) {
    struct pub *p = &pubs[i];
    p->quota = per;
    pthread_mutex_lock(&p->lock);
    for (int k = 0; k < window_ && p->sent < p->quota; k++) publish_one(p);
    pthread_mutex_unlock(&p->lock);
  }
  drain(count, quiet_s >= 0 ? quiet_s : qos ? 30 : 2, t_start + (uint64_t)(timeout_s * 1e9));
  uint64_t t_end = subscriber ? t_last_recv : now_ns();
  double s = (double)((t_end > t_start ? t_end : now_ns()) - t_start) / 1e9;
  printf("{\"mode\":\"pubsub\",\"qos\":%d,\"publishers\":%d,\"window\":%d,\"sent\":%ld,\"acked\":%ld,\"received\":%ld,\"secs\":%.4f,\"recv_per_sec\":%.0f,\"lost\":%ld,\"duplicates\":%ld,\"cpu_s\":%.3f}\n",
         qos, npub, window_, total_sent(), acked_total, received, s, subscriber ? received / s : acked_total / s, subscriber ? count - received : count - acked_total, duplicates, cpu_s());
}

static void mode_rate(void) {
  lat_cap = (long)(rate * secs) + 16;
  lat_ack = calloc(lat_cap, sizeof(uint32_t));
  lat_e2e = calloc(lat_cap, sizeof(uint32_t));
  long total = (long)(rate * secs), sent = 0;
  start_clients(1, total / npub + 1);
  t_start = now_ns();
  struct timespec next;
  clock_gettime(CLOCK_MONOTONIC, &next);
  while (sent < total) {
    long due = (long)((double)(now_ns() - t_start) / 1e9 * (double)rate);
    if (due > total) due = total;
    for (; sent < due; sent++) {
      struct pub *p = &pubs[sent % npub];
      pthread_mutex_lock(&p->lock);
      publish_one(p);
      pthread_mutex_unlock(&p->lock);
    }
    next.tv_nsec += 250000; /* a 0.25 ms tick: at 1,000 msg/s nearly every message is on time */
    if (next.tv_nsec >= 1000000000) next.tv_sec++, next.tv_nsec -= 1000000000;
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
  }
  drain(total, quiet_s >= 0 ? quiet_s : 10, now_ns() + (uint64_t)(timeout_s * 1e9));
  pthread_mutex_lock(&glock);
  qsort(lat_ack, n_lat_ack, sizeof(uint32_t), cmp_u32);
  qsort(lat_e2e, n_lat_e2e, sizeof(uint32_t), cmp_u32);
  printf("{\"mode\":\"rate\",\"qos\":%d,\"rate\":%ld,\"secs\":%.1f,\"sent\":%ld,\"acked\":%ld,\"received\":%ld,"
         "\"puback_p50_us\":%u,\"puback_p99_us\":%u,\"puback_max_us\":%u,\"e2e_p50_us\":%u,\"e2e_p99_us\":%u,\"e2e_max_us\":%u,\"lost\":%ld,\"duplicates\":%ld,\"cpu_s\":%.3f}\n",
         qos, rate, secs, sent, acked_total, received, pct(lat_ack, n_lat_ack, .5), pct(lat_ack, n_lat_ack, .99), pct(lat_ack, n_lat_ack, 1),
         pct(lat_e2e, n_lat_e2e, .5), pct(lat_e2e, n_lat_e2e, .99), pct(lat_e2e, n_lat_e2e, 1), subscriber ? total - received : total - acked_total, duplicates, cpu_s());
  pthread_mutex_unlock(&glock);
}

/* ---- idle: one thread, libmosquitto's external-loop functions over poll() ---- */
static long idle_subscribed = 0;

static void on_idle_connect(struct mosquitto *m, void *ud, int rc) {
  if (rc) {
    fprintf(stderr, "loadgen: idle client refused: %s\n", mosquitto_connack_string(rc));
    exit(1);
  }
  char topic[64];
  snprintf(topic, sizeof topic, "devices/lg-%ld/cmd", (long)(intptr_t)ud);
  mosquitto_subscribe(m, NULL, topic, 1);
}

static void on_idle_subscribe(struct mosquitto *m, void *ud, int mid, int n, const int *g) {
  (void)m, (void)ud, (void)mid, (void)n, (void)g;
  idle_subscribed++;
}

static void service(struct mosquitto **ms, long n, struct pollfd *fds, int timeout_ms, int *stdin_closed) {
  for (long i = 0; i < n; i++) {
    fds[i].fd = mosquitto_socket(ms[i]);
    fds[i].events = POLLIN | (mosquitto_want_write(ms[i]) ? POLLOUT : 0);
    fds[i].revents = 0;
  }
  fds[n].fd = 0, fds[n].events = POLLIN, fds[n].revents = 0;
  if (poll(fds, n + 1, timeout_ms) < 0 && errno != EINTR) die("poll", MOSQ_ERR_ERRNO);
  for (long i = 0; i < n; i++) {
    if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) {
      int rc = mosquitto_loop_read(ms[i], 1);
      if (rc) die("idle connection lost", rc);
    }
    if (fds[i].revents & POLLOUT) mosquitto_loop_write(ms[i], 1);
    mosquitto_loop_misc(ms[i]);
  }
  if (fds[n].revents) {
    char buf[64];
    if (read(0, buf, sizeof buf) <= 0) *stdin_closed = 1;
  }
}

static void mode_idle(void) {
  struct mosquitto **ms = calloc(conns, sizeof *ms);
  struct pollfd *fds = calloc(conns + 1, sizeof *fds);
  int closed = 0;
  char id[64];
  long n = 0;
  uint64_t deadline = now_ns() + (uint64_t)(timeout_s * 1e9);
  while (n < conns) {
    /* Batches of 100, each answered before the next: no listen backlog overflow, no SYN retries. */
    long batch_end = n + 100 < conns ? n + 100 : conns;
    for (; n < batch_end; n++) {
      snprintf(id, sizeof id, "lg-%ld", n);
      ms[n] = mosquitto_new(id, true, (void *)(intptr_t)n);
      if (!ms[n]) die("mosquitto_new", MOSQ_ERR_NOMEM);
      mosquitto_connect_callback_set(ms[n], on_idle_connect);
      mosquitto_subscribe_callback_set(ms[n], on_idle_subscribe);
      int rc = mosquitto_connect(ms[n], host, port, 60);
      if (rc) die("idle connect", rc);
    }
    while (idle_subscribed < n) {
      if (now_ns() > deadline) {
        fprintf(stderr, "loadgen: %ld of %ld idle clients subscribed before the timeout\n", idle_subscribed, n);
        exit(1);
      }
      service(ms, n, fds, 100, &closed);
    }
  }
  printf("ready %ld\n", n);
  fflush(stdout);
  while (!closed) service(ms, n, fds, 1000, &closed);
  for (long i = 0; i < n; i++) mosquitto_disconnect(ms[i]);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: loadgen pubsub|rate|idle [-h host] [-p port] [-H sub_host] [-P sub_port] [-n publishers] [-c count] [-w window] [-q qos] [-s size] [-r rate] [-d secs] [-C conns] [-S 0|1] [-t prefix] [-T timeout] [-Q quiet_secs]\n");
    return 2;
  }
  const char *mode = argv[1];
  int o;
  optind = 2;
  while ((o = getopt(argc, argv, "h:p:H:P:n:c:w:q:s:r:d:C:S:t:T:Q:")) != -1) {
    switch (o) {
      case 'h': host = optarg; break;
      case 'p': port = atoi(optarg); break;
      case 'H': sub_host = optarg; break;
      case 'P': sub_port = atoi(optarg); break;
      case 'n': npub = atoi(optarg); break;
      case 'c': count = atol(optarg); break;
      case 'w': window_ = atoi(optarg); break;
      case 'q': qos = atoi(optarg); break;
      case 's': size = atoi(optarg); break;
      case 'r': rate = atol(optarg); break;
      case 'd': secs = atof(optarg); break;
      case 'C': conns = atol(optarg); break;
      case 'S': subscriber = atoi(optarg); break;
      case 't': prefix = optarg; break;
      case 'T': timeout_s = atof(optarg); break;
      case 'Q': quiet_s = atof(optarg); break;
      default: return 2;
    }
  }
  if (npub < 1 || npub > MAX_PUB || size < 16 || window_ < 1) {
    fprintf(stderr, "loadgen: need 1..%d publishers, size >= 16, window >= 1\n", MAX_PUB);
    return 2;
  }
  /* Idle mode holds one socket per connection: raise the soft limit to the hard one. */
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  mosquitto_lib_init();
  if (!strcmp(mode, "pubsub")) mode_pubsub();
  else if (!strcmp(mode, "rate")) mode_rate();
  else if (!strcmp(mode, "idle")) mode_idle();
  else {
    fprintf(stderr, "loadgen: unknown mode %s\n", mode);
    return 2;
  }
  fflush(stdout);
  _exit(0); /* no orderly teardown of the loop threads: the numbers are out */
}
