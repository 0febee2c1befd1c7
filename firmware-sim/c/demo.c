/*
 * A device that uses fgtcp over POSIX sockets: the glue a firmware author replaces with their
 * modem or lwIP calls. Run by firmware-sim/c/c-client.test.ts against a real gateway:
 *
 *   demo HOST PORT CLIENTID VERSION [WAIT_SECONDS]
 *
 * It connects, publishes "hello from c v<N>" (v2: QoS 1 and waits for the ACK) and, when
 * WAIT_SECONDS is given, waits that long for one downlink and publishes "echo:<downlink>" the same
 * way; then it disconnects. Each step prints one line. No downlink within the wait is not an error
 * (exit 0): only a failed connect or publish is.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fgtcp.h"

static int io_send(void *ctx, const uint8_t *buf, size_t len) {
  int fd = *(int *)ctx;
  while (len > 0) {
    ssize_t n = send(fd, buf, len, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    buf += n;
    len -= (size_t)n;
  }
  return 0;
}

static int io_recv(void *ctx, uint8_t *buf, size_t len, uint32_t timeout_ms) {
  struct pollfd p;
  ssize_t n;
  p.fd = *(int *)ctx;
  p.events = POLLIN;
  p.revents = 0;
  if (poll(&p, 1, (int)timeout_ms) == 0) return 0;
  n = recv(p.fd, buf, len, 0);
  return n > 0 ? (int)n : -1;
}

static uint32_t io_now(void *ctx) {
  struct timespec ts;
  (void)ctx;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint32_t)(ts.tv_sec * 1000u + (uint32_t)(ts.tv_nsec / 1000000));
}

static char last_downlink[FGTCP_MAX_PAYLOAD + 1];
static int got_downlink = 0;

static void on_message(void *user, const uint8_t *data, size_t len, int qos, int dup) {
  (void)user;
  memcpy(last_downlink, data, len);
  last_downlink[len] = '\0';
  got_downlink = 1;
  printf("downlink qos=%d dup=%d %s\n", qos, dup, last_downlink);
  fflush(stdout);
}

static fgtcp_client client; /* static: a microcontroller would not put 1 KB on its stack */

static int publish(int version, const char *text) {
  if (version == FGTCP_V1) return fgtcp_send(&client, (const uint8_t *)text, strlen(text));
  if (fgtcp_publish(&client, (const uint8_t *)text, strlen(text)) < 0) return -1;
  return fgtcp_wait_ack(&client, 5000);
}

int main(int argc, char **argv) {
  int fd, version, rc, one = 1;
  struct sockaddr_in addr;
  fgtcp_io io;
  char msg[FGTCP_MAX_PAYLOAD];
  uint32_t start, wait_ms;

  if (argc != 5 && argc != 6) {
    fprintf(stderr, "usage: %s HOST PORT CLIENTID VERSION [WAIT_SECONDS]\n", argv[0]);
    return 2;
  }
  version = atoi(argv[4]);
  wait_ms = argc == 6 ? (uint32_t)atoi(argv[5]) * 1000u : 0;
  fd = socket(AF_INET, SOCK_STREAM, 0);
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)atoi(argv[2]));
  if (fd < 0 || inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1 || connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
    perror("connect");
    return 1;
  }
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

  io.send = io_send;
  io.recv = io_recv;
  io.now_ms = io_now;
  io.ctx = &fd;
  fgtcp_init(&client, &io, on_message, NULL);

  rc = fgtcp_connect(&client, version, 30, argv[3], NULL, NULL, 0, 5000);
  printf("connack %d\n", rc);
  if (rc != 0) return 1;

  snprintf(msg, sizeof msg, "hello from c v%d", version);
  rc = publish(version, msg);
  printf("published %d\n", rc);
  fflush(stdout);
  if (rc != 0) return 1;

  start = io_now(NULL);
  while (!got_downlink && io_now(NULL) - start < wait_ms) {
    if (fgtcp_poll(&client, 100) < 0) return 1;
  }
  if (got_downlink) {
    snprintf(msg, sizeof msg, "echo:%.200s", last_downlink);
    rc = publish(version, msg);
    printf("echoed %d\n", rc);
  } else if (wait_ms > 0) {
    printf("no downlink within %u s\n", (unsigned)(wait_ms / 1000u));
  }
  fgtcp_disconnect(&client);
  close(fd);
  return rc == 0 ? 0 : 1;
}
