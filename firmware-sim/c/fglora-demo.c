/*
 * fglora-demo: prints the CMAC of the RFC 4493 vectors, then one frame per line as hex:
 *   fglora-demo <key-hex32> <node-id-hex> <first-counter> <port> <payload-hex> <count>
 * On a node, the same fglora_encode() call fills the buffer handed to the radio driver.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fglora.h"

static int unhex(const char *s, uint8_t *out, size_t max) {
  size_t n = strlen(s), i;
  if (n % 2 || n / 2 > max) return -1;
  for (i = 0; i < n / 2; i++) {
    unsigned v;
    if (sscanf(s + 2 * i, "%2x", &v) != 1) return -1;
    out[i] = (uint8_t)v;
  }
  return (int)(n / 2);
}

static void print_hex(const uint8_t *b, size_t n) {
  size_t i;
  for (i = 0; i < n; i++) printf("%02x", b[i]);
  printf("\n");
}

int main(int argc, char **argv) {
  uint8_t key[16], payload[FGLORA_MAX_PAYLOAD], frame[255], tag[16], msg[64];
  int plen, i, count;
  unsigned long node, counter, port;
  if (argc != 7 || unhex(argv[1], key, 16) != 16 || (plen = unhex(argv[5], payload, sizeof payload)) < 0) {
    fprintf(stderr, "usage: fglora-demo <key-hex32> <node-id-hex> <first-counter> <port> <payload-hex> <count>\n");
    return 2;
  }
  node = strtoul(argv[2], NULL, 16);
  counter = strtoul(argv[3], NULL, 10);
  port = strtoul(argv[4], NULL, 10);
  count = atoi(argv[6]);
  /* RFC 4493 key and 64-byte message; tags of the 0, 16, 40 and 64 byte prefixes. */
  unhex("2b7e151628aed2a6abf7158809cf4f3c", tag, 16);
  unhex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710", msg, 64);
  {
    static const size_t lens[4] = {0, 16, 40, 64};
    uint8_t rfc_key[16], out[16];
    memcpy(rfc_key, tag, 16);
    for (i = 0; i < 4; i++) {
      fglora_cmac(rfc_key, msg, lens[i], out);
      printf("cmac%u ", (unsigned)lens[i]);
      print_hex(out, 16);
    }
  }
  for (i = 0; i < count; i++) {
    size_t n = fglora_encode(key, (uint32_t)node, (uint32_t)(counter + (unsigned long)i), (uint8_t)port, payload, (size_t)plen, frame);
    printf("frame ");
    print_hex(frame, n);
  }
  return 0;
}
