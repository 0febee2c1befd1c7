/*
 * fgtcp: a small device-side client for fieldgate's TCP protocol (docs/tcp-protocol.md).
 *   v1 = the EMQX private TCP protocol, byte for byte; v2 = fieldgate's acknowledged extension.
 *
 * Written for microcontrollers: C99, no dynamic allocation, no libc beyond memcpy/strlen, and no
 * sockets of its own. You supply three functions (send, recv with a timeout, a millisecond clock)
 * for whatever carries the bytes: lwIP, a cellular modem's AT socket, a UART bridge.
 *
 * RAM: one fgtcp_client is about 3 x FGTCP_MAX_PAYLOAD bytes (receive buffer, transmit buffer and
 * the one unacknowledged v2 message). Set FGTCP_MAX_PAYLOAD before including this header to size it.
 */
#ifndef FGTCP_H
#define FGTCP_H

#include <stddef.h>
#include <stdint.h>

#ifndef FGTCP_MAX_PAYLOAD
#define FGTCP_MAX_PAYLOAD 256
#endif

#define FGTCP_V1 1
#define FGTCP_V2 2

/* Return codes (negative) of the API; CONNACK codes are returned as they are (0..15). */
#define FGTCP_OK 0
#define FGTCP_ERR_IO (-1)        /* send/recv failed or the gateway closed the connection */
#define FGTCP_ERR_TIMEOUT (-2)   /* nothing arrived in time */
#define FGTCP_ERR_PROTOCOL (-3)  /* the gateway sent something this client cannot parse */
#define FGTCP_ERR_TOO_LARGE (-4) /* payload over FGTCP_MAX_PAYLOAD */
#define FGTCP_ERR_BUSY (-5)      /* v2: the previous QoS 1 message is not acknowledged yet */
#define FGTCP_ERR_STATE (-6)     /* not connected, or a v2 call on a v1 connection */

/* v2 ACK codes */
#define FGTCP_ACK_ACCEPTED 0
#define FGTCP_ACK_NOT_AUTHORIZED 1
#define FGTCP_ACK_REJECTED 2
#define FGTCP_ACK_RETRY_LATER 3

typedef struct {
  /* Write all `len` bytes. Return 0 on success, negative on failure. */
  int (*send)(void *ctx, const uint8_t *buf, size_t len);
  /* Read up to `len` bytes, waiting at most `timeout_ms`. Return the count (> 0), 0 on timeout,
   * negative when the connection is closed or failed. */
  int (*recv)(void *ctx, uint8_t *buf, size_t len, uint32_t timeout_ms);
  /* A monotonic millisecond clock (wrap-around is fine). */
  uint32_t (*now_ms)(void *ctx);
  void *ctx;
} fgtcp_io;

/* A downlink. `qos` is 1 only on v2; the client has already sent its ACK when this is called.
 * `dup` = 1 means the gateway is resending: you may have seen this message before. */
typedef void (*fgtcp_message_cb)(void *user, const uint8_t *data, size_t len, int qos, int dup);

typedef struct {
  fgtcp_io io;
  fgtcp_message_cb on_message;
  void *user;
  uint32_t retry_ms; /* v2: resend an unacknowledged uplink after this long (default 5000) */

  uint8_t version;
  uint8_t connected;
  uint8_t session_present;
  int16_t connack; /* last CONNACK code, -1 while waiting */

  /* Streaming frame parser state: frames may arrive split or several per read. */
  uint8_t rx_stage; /* 0 header, 1 length high, 2 length low, 3 payload, 4 skipping */
  uint8_t rx_header;
  uint16_t rx_len;
  uint16_t rx_fill;
  uint8_t rx_buf[FGTCP_MAX_PAYLOAD + 2]; /* + 2 for the v2 message id */

  /* v2: one QoS 1 uplink in flight (stop-and-wait keeps RAM fixed and order obvious). */
  uint8_t out_busy;
  uint8_t out_code;
  uint16_t out_id;
  uint16_t out_len;
  uint32_t out_sent_ms;
  uint16_t next_id;
  uint8_t out_buf[FGTCP_MAX_PAYLOAD];

  uint8_t tx_buf[FGTCP_MAX_PAYLOAD + 5];
} fgtcp_client;

void fgtcp_init(fgtcp_client *c, const fgtcp_io *io, fgtcp_message_cb on_message, void *user);

/* Sends CONNECT and waits for CONNACK. Returns the CONNACK code (0 = connected, 1 = auth failed,
 * 2 = bad version, 3 = bad client id) or a negative FGTCP_ERR_*. `username`/`password` may be NULL.
 * v2: `resume` = 1 asks for the stored session (see c->session_present); an unacknowledged QoS 1
 * message from before is resent (DUP) right after CONNACK. */
int fgtcp_connect(fgtcp_client *c, int version, uint8_t keepalive_s, const char *clientid, const char *username,
                  const char *password, int resume, uint32_t timeout_ms);

/* QoS 0 uplink (v1 and v2). */
int fgtcp_send(fgtcp_client *c, const uint8_t *data, size_t len);

/* v2 QoS 1 uplink: queues `data` (copied) and sends it. Then call fgtcp_wait_ack(). */
int fgtcp_publish(fgtcp_client *c, const uint8_t *data, size_t len);

/* v2: polls until the in-flight message is acknowledged; returns its FGTCP_ACK_* code. The message
 * is kept (and resent) across fgtcp_connect() calls until an ACK arrives. */
int fgtcp_wait_ack(fgtcp_client *c, uint32_t timeout_ms);

/* Reads what arrived within `timeout_ms` and handles it (downlinks, ACKs, PONG, retries).
 * Returns FGTCP_OK (also on timeout) or a negative error. Call it regularly. */
int fgtcp_poll(fgtcp_client *c, uint32_t timeout_ms);

int fgtcp_ping(fgtcp_client *c);
int fgtcp_disconnect(fgtcp_client *c);

#endif /* FGTCP_H */
