/*
 * fglora: builds fieldgate LoRa node frames (docs/lora-frame.md) in portable C99 for node firmware.
 * No dynamic allocation, no dependencies beyond <stdint.h>/<stddef.h>/<string.h>. AES-128 and
 * AES-CMAC (RFC 4493) are included; replace fglora_aes128_encrypt() with your MCU's AES peripheral
 * if it has one.
 */
#ifndef FGLORA_H
#define FGLORA_H

#include <stddef.h>
#include <stdint.h>

#define FGLORA_VERSION 1
#define FGLORA_HEADER_LEN 10
#define FGLORA_MIC_LEN 4
#define FGLORA_MAX_PAYLOAD (255 - FGLORA_HEADER_LEN - FGLORA_MIC_LEN)

/* Encrypts one 16-byte block with a 16-byte key (FIPS-197). */
void fglora_aes128_encrypt(const uint8_t key[16], const uint8_t in[16], uint8_t out[16]);

/* Full 16-byte AES-CMAC tag of msg (RFC 4493). */
void fglora_cmac(const uint8_t key[16], const uint8_t *msg, size_t len, uint8_t tag[16]);

/*
 * Writes a frame into out (room for FGLORA_HEADER_LEN + len + FGLORA_MIC_LEN bytes) and returns its
 * length, or 0 if len exceeds FGLORA_MAX_PAYLOAD. `counter` must grow with every frame the node
 * sends (keep it in non-volatile memory): the gateway drops a counter it has already seen.
 */
size_t fglora_encode(const uint8_t key[16], uint32_t node_id, uint32_t counter, uint8_t port,
                     const uint8_t *payload, size_t len, uint8_t *out);

#endif
