/* fgtcp: see fgtcp.h and docs/tcp-protocol.md. No malloc anywhere: every byte lives in fgtcp_client. */
#include "fgtcp.h"

#include <string.h>

enum { T_CONNECT = 1, T_CONNACK = 2, T_DATATRANS = 3, T_PING = 4, T_PONG = 5, T_DISCONNECT = 6, T_ACK = 7 };

static uint8_t *put16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)(v & 0xff);
  return p + 2;
}

static uint8_t *put_str(uint8_t *p, const char *s, size_t n) {
  p = put16(p, (uint16_t)n);
  memcpy(p, s, n);
  return p + n;
}

static int send_bytes(fgtcp_client *c, const uint8_t *b, size_t n) {
  return c->io.send(c->io.ctx, b, n) < 0 ? FGTCP_ERR_IO : FGTCP_OK;
}

static int send_frame(fgtcp_client *c, uint8_t header, const uint8_t *id, const uint8_t *data, size_t len) {
  size_t extra = id ? 2 : 0;
  uint8_t *p = c->tx_buf;
  if (len > FGTCP_MAX_PAYLOAD) return FGTCP_ERR_TOO_LARGE;
  *p++ = header;
  p = put16(p, (uint16_t)(len + extra));
  if (id) {
    *p++ = id[0];
    *p++ = id[1];
  }
  if (len) memcpy(p, data, len);
  return send_bytes(c, c->tx_buf, 3 + extra + len);
}

static int send_outbox(fgtcp_client *c, int dup) {
  uint8_t id[2];
  put16(id, c->out_id);
  c->out_sent_ms = c->io.now_ms(c->io.ctx);
  /* 0x34 = DATATRANS, QoS 1 (flag bits 3-2 = 01); bit 1 = DUP */
  return send_frame(c, (uint8_t)(0x34 | (dup ? 0x02 : 0)), id, c->out_buf, c->out_len);
}

void fgtcp_init(fgtcp_client *c, const fgtcp_io *io, fgtcp_message_cb on_message, void *user) {
  memset(c, 0, sizeof *c);
  c->io = *io;
  c->on_message = on_message;
  c->user = user;
  c->retry_ms = 5000;
  c->next_id = 1;
  c->connack = -1;
}

/* One complete frame from the gateway. */
static int handle_frame(fgtcp_client *c) {
  uint8_t type = (uint8_t)(c->rx_header >> 4);
  uint8_t flags = (uint8_t)(c->rx_header & 0x0f);
  const uint8_t *b = c->rx_buf;
  uint16_t n = c->rx_len;
  switch (type) {
    case T_CONNACK:
      c->connack = flags;
      /* v2 CONNACK starts with a flags byte (bit 0 = session present); code 2 is always v1-shaped. */
      c->session_present = (uint8_t)(c->version == FGTCP_V2 && flags != 2 && n >= 1 && (b[0] & 1));
      c->connected = (uint8_t)(flags == 0);
      return FGTCP_OK;
    case T_DATATRANS:
      if (flags & 0x04) { /* v2 QoS 1: ACK first, then hand over (a crash in the callback loses nothing we acked twice) */
        uint8_t ack[5] = {0x70, 0x00, 0x02, 0, 0};
        if (n < 2 || c->version != FGTCP_V2) return FGTCP_ERR_PROTOCOL;
        ack[3] = b[0];
        ack[4] = b[1];
        if (send_bytes(c, ack, sizeof ack) < 0) return FGTCP_ERR_IO;
        if (c->on_message) c->on_message(c->user, b + 2, (size_t)(n - 2), 1, (flags & 0x02) ? 1 : 0);
      } else if (c->on_message) {
        c->on_message(c->user, b, n, 0, 0);
      }
      return FGTCP_OK;
    case T_PONG:
      return FGTCP_OK;
    case T_ACK:
      if (n != 2) return FGTCP_ERR_PROTOCOL;
      if (c->out_busy && (uint16_t)((b[0] << 8) | b[1]) == c->out_id && flags != FGTCP_ACK_RETRY_LATER) {
        c->out_busy = 0;
        c->out_code = flags;
      }
      return FGTCP_OK;
    default:
      return FGTCP_ERR_PROTOCOL;
  }
}

/* Feeds received bytes through the frame state machine. */
static int feed(fgtcp_client *c, const uint8_t *p, int n) {
  int i = 0;
  while (i < n) {
    switch (c->rx_stage) {
      case 0: {
        uint8_t type;
        c->rx_header = p[i++];
        type = (uint8_t)(c->rx_header >> 4);
        if (type == T_PONG) { /* the only 1-byte frame a gateway sends */
          c->rx_len = 0;
          if (handle_frame(c) < 0) return FGTCP_ERR_PROTOCOL;
          break;
        }
        if (type != T_CONNACK && type != T_DATATRANS && type != T_ACK) return FGTCP_ERR_PROTOCOL;
        c->rx_stage = 1;
        break;
      }
      case 1:
        c->rx_len = (uint16_t)(p[i++] << 8);
        c->rx_stage = 2;
        break;
      case 2:
        c->rx_len = (uint16_t)(c->rx_len | p[i++]);
        c->rx_fill = 0;
        /* Too big for our buffer: skip it rather than lose framing (the rest of the stream is fine). */
        c->rx_stage = c->rx_len > sizeof c->rx_buf ? 4 : 3;
        if (c->rx_len == 0) {
          c->rx_stage = 0;
          if (handle_frame(c) < 0) return FGTCP_ERR_PROTOCOL;
        }
        break;
      case 3:
      case 4: {
        int take = c->rx_len - c->rx_fill;
        if (take > n - i) take = n - i;
        if (c->rx_stage == 3) memcpy(c->rx_buf + c->rx_fill, p + i, (size_t)take);
        c->rx_fill = (uint16_t)(c->rx_fill + take);
        i += take;
        if (c->rx_fill == c->rx_len) {
          int skipped = c->rx_stage == 4;
          c->rx_stage = 0;
          if (!skipped) {
            int rc = handle_frame(c);
            if (rc < 0) return rc;
          }
        }
        break;
      }
      default:
        return FGTCP_ERR_PROTOCOL;
    }
  }
  return FGTCP_OK;
}

int fgtcp_poll(fgtcp_client *c, uint32_t timeout_ms) {
  uint8_t chunk[64];
  int n = c->io.recv(c->io.ctx, chunk, sizeof chunk, timeout_ms);
  if (n < 0) {
    c->connected = 0;
    return FGTCP_ERR_IO;
  }
  if (n > 0) {
    int rc = feed(c, chunk, n);
    if (rc < 0) return rc;
  }
  if (c->connected && c->out_busy && (uint32_t)(c->io.now_ms(c->io.ctx) - c->out_sent_ms) >= c->retry_ms) {
    return send_outbox(c, 1);
  }
  return FGTCP_OK;
}

int fgtcp_connect(fgtcp_client *c, int version, uint8_t keepalive_s, const char *clientid, const char *username,
                  const char *password, int resume, uint32_t timeout_ms) {
  size_t id_len = strlen(clientid);
  size_t u_len = username ? strlen(username) : 0;
  size_t p_len = password ? strlen(password) : 0;
  size_t len = (size_t)(version == FGTCP_V2 ? 4 : 3) + id_len + ((username || password) ? 2 + u_len : 0) + (password ? 2 + p_len : 0);
  uint8_t *p = c->tx_buf;
  uint32_t start;
  if (version != FGTCP_V1 && version != FGTCP_V2) return FGTCP_ERR_STATE;
  if (len > FGTCP_MAX_PAYLOAD) return FGTCP_ERR_TOO_LARGE;
  c->version = (uint8_t)version;
  c->connected = 0;
  c->connack = -1;
  c->rx_stage = 0;
  *p++ = (uint8_t)(0x10 | version); /* 0x11 = v1 (EMQX), 0x12 = v2 */
  p = put16(p, (uint16_t)len);
  *p++ = keepalive_s;
  if (version == FGTCP_V2) *p++ = (uint8_t)(resume ? 1 : 0);
  p = put_str(p, clientid, id_len);
  /* Positional fields: a password needs a username before it, even an empty one. */
  if (username || password) p = put_str(p, username ? username : "", u_len);
  if (password) p = put_str(p, password, p_len);
  if (send_bytes(c, c->tx_buf, (size_t)(p - c->tx_buf)) < 0) return FGTCP_ERR_IO;
  start = c->io.now_ms(c->io.ctx);
  while (c->connack < 0) {
    uint32_t spent = c->io.now_ms(c->io.ctx) - start;
    int rc;
    if (spent >= timeout_ms) return FGTCP_ERR_TIMEOUT;
    rc = fgtcp_poll(c, timeout_ms - spent);
    if (rc < 0) return rc;
  }
  if (c->connack == 0 && c->out_busy) {
    int rc = send_outbox(c, 1); /* the gateway de-duplicates by id: resending is always safe */
    if (rc < 0) return rc;
  }
  return c->connack;
}

int fgtcp_send(fgtcp_client *c, const uint8_t *data, size_t len) {
  if (!c->connected) return FGTCP_ERR_STATE;
  return send_frame(c, 0x30, NULL, data, len);
}

int fgtcp_publish(fgtcp_client *c, const uint8_t *data, size_t len) {
  if (!c->connected || c->version != FGTCP_V2) return FGTCP_ERR_STATE;
  if (c->out_busy) return FGTCP_ERR_BUSY;
  if (len > FGTCP_MAX_PAYLOAD) return FGTCP_ERR_TOO_LARGE;
  memcpy(c->out_buf, data, len);
  c->out_len = (uint16_t)len;
  c->out_id = c->next_id;
  c->next_id = (uint16_t)(c->next_id == 0xffff ? 1 : c->next_id + 1);
  c->out_busy = 1;
  return send_outbox(c, 0);
}

int fgtcp_wait_ack(fgtcp_client *c, uint32_t timeout_ms) {
  uint32_t start = c->io.now_ms(c->io.ctx);
  while (c->out_busy) {
    uint32_t spent = c->io.now_ms(c->io.ctx) - start;
    int rc;
    if (spent >= timeout_ms) return FGTCP_ERR_TIMEOUT;
    rc = fgtcp_poll(c, timeout_ms - spent);
    if (rc < 0) return rc;
  }
  return c->out_code;
}

int fgtcp_ping(fgtcp_client *c) {
  static const uint8_t ping = 0x40;
  return send_bytes(c, &ping, 1);
}

int fgtcp_disconnect(fgtcp_client *c) {
  static const uint8_t disconnect = 0x60;
  c->connected = 0;
  return send_bytes(c, &disconnect, 1);
}
