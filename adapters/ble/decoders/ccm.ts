import { createDecipheriv } from 'node:crypto';

/**
 * AES-128-CCM decryption with a 4-byte tag, as BTHome v2 and pvvx's encrypted beacons use it.
 * Returns the plaintext, or undefined when the tag does not verify (wrong key or damaged packet).
 */
export function ccmDecrypt(key: Buffer, nonce: Buffer, ciphertext: Buffer, tag: Buffer, aad?: Buffer): Buffer | undefined {
  try {
    const d = createDecipheriv('aes-128-ccm', key, nonce, { authTagLength: 4 });
    d.setAuthTag(tag);
    if (aad) d.setAAD(aad, { plaintextLength: ciphertext.length });
    const out = d.update(ciphertext);
    d.final();
    return out;
  } catch {
    return undefined;
  }
}
