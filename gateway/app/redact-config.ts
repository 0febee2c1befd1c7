// The configuration as an operator may see it through the management plane: secrets replaced.
import { redactUrl } from '../bridge/redact.ts';

/** Keys whose values are secrets: passwords, tokens, pre-shared and session keys. Paths to files (`*_file`) are not. */
const SECRET_KEY = /(^|_)(password|password_hash|passphrase|secret|token|psk|key|appkey|appskey|nwkskey)$/i;
const URL_WITH_SECRETS = /^[a-z][a-z0-9+.-]*:\/\/[^\s]*[@?]/i;

/** A deep copy of `value` with secret values replaced by "[redacted]" and credentials in URLs removed. */
export function redactConfig(value: unknown, key = ''): unknown {
  if (SECRET_KEY.test(key) && value !== undefined && value !== null && value !== '') return '[redacted]';
  if (typeof value === 'string') return URL_WITH_SECRETS.test(value) ? redactUrl(value) : value;
  if (Array.isArray(value)) return value.map((v) => redactConfig(v, key));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = redactConfig(v, k);
    return out;
  }
  return value;
}
