// Turns the many ways an upstream connection fails into one line each: the cause, then what to
// check. Operators meet these on a serial console at a remote site; "Error: socket hang up" is
// not enough to fix a certificate.

export type ConnectFailure =
  | 'cert_expired'
  | 'cert_not_yet_valid'
  | 'unknown_ca'
  | 'hostname_mismatch'
  | 'client_cert_rejected'
  | 'tls_version'
  | 'not_tls'
  | 'handshake_failed'
  | 'refused'
  | 'timeout'
  | 'dns'
  | 'unreachable'
  | 'reset'
  | 'bad_credentials'
  | 'not_authorized'
  | 'client_id_rejected'
  | 'protocol_version'
  | 'server_unavailable'
  | 'connack'
  | 'other';

export interface Explained {
  kind: ConnectFailure;
  line: string;
}

const CONNACK_V4: Record<number, [ConnectFailure, string]> = {
  1: ['protocol_version', 'the server does not accept this MQTT protocol version: set protocol_version 4 or 5 to what it speaks'],
  2: ['client_id_rejected', 'the server rejected the client id: check client_id (AWS IoT needs it to match the thing/policy)'],
  3: ['server_unavailable', 'the server is unavailable (CONNACK 3): the broker is up but not serving; retrying'],
  4: ['bad_credentials', 'bad username or password (CONNACK 4): check username/password (or the SAS token for Azure)'],
  5: ['not_authorized', 'not authorized (CONNACK 5): the credentials or certificate are not allowed to connect'],
};

const CONNACK_V5: Record<number, [ConnectFailure, string]> = {
  132: ['protocol_version', 'unsupported protocol version (CONNACK 0x84): set protocol_version 4'],
  133: ['client_id_rejected', 'client identifier not valid (CONNACK 0x85): check client_id'],
  134: ['bad_credentials', 'bad username or password (CONNACK 0x86): check username/password'],
  135: ['not_authorized', 'not authorized (CONNACK 0x87): the credentials or certificate are not allowed to connect'],
  136: ['server_unavailable', 'server unavailable (CONNACK 0x88); retrying'],
  137: ['server_unavailable', 'server busy (CONNACK 0x89); retrying'],
  138: ['not_authorized', 'banned (CONNACK 0x8A): this client is banned by the server'],
};

/** One line for an upstream connect failure. `host` is what the URL named, for the hints. */
export function explainConnectError(err: Error & { code?: string | number; reason?: string; hostname?: string }, url: string): Explained {
  const where = `upstream ${url}`;
  if (typeof err.code === 'number') {
    const known = CONNACK_V4[err.code] ?? CONNACK_V5[err.code];
    if (known) return { kind: known[0], line: `${where}: ${known[1]}` };
    return { kind: 'connack', line: `${where}: connection refused by the server, CONNACK code ${err.code} (${err.message})` };
  }
  const code = String(err.code ?? '');
  const msg = err.message ?? String(err);
  const pick = (kind: ConnectFailure, text: string): Explained => ({ kind, line: `${where}: ${text}` });
  switch (code) {
    case 'CERT_HAS_EXPIRED':
      return pick('cert_expired', `TLS: the server certificate has expired (check the broker's certificate dates, and this device's clock: it reads ${new Date().toISOString()})`);
    case 'CERT_NOT_YET_VALID':
      return pick('cert_not_yet_valid', `TLS: the server certificate is not valid yet: this device's clock (${new Date().toISOString()}) is probably wrong; check NTP/RTC`);
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'CERT_SIGNATURE_FAILURE':
      return pick('unknown_ca', `TLS: the server certificate is not signed by a trusted CA (${code}): set tls.ca_file to the CA that issued the broker's certificate`);
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return pick('hostname_mismatch', `TLS: hostname mismatch: ${err.reason ?? msg}; connect by a name the certificate lists, or set tls.servername`);
    case 'ECONNREFUSED':
      return pick('refused', 'connection refused: nothing listens on that host and port (is the broker running? right port? firewall?)');
    case 'ETIMEDOUT':
    case 'CONNECT_TIMEOUT':
      return pick('timeout', 'connection timed out: no answer from the server (network down, firewall dropping, or wrong host)');
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_FAIL':
      return pick('dns', `DNS lookup failed for ${err.hostname ?? 'the host'} (${code}): check the host name and the device's DNS / network`);
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'ENETDOWN':
      return pick('unreachable', `network unreachable (${code}): no route to the server; check the uplink (modem, Wi-Fi, cable)`);
    case 'ECONNRESET':
    case 'EPIPE':
      return pick('reset', `the server closed the connection during setup (${code}): a TLS port spoken to in plain MQTT, a client certificate it refused, or a proxy`);
  }
  if (code.startsWith('ERR_SSL_')) {
    if (/WRONG_VERSION_NUMBER|HTTP_REQUEST|PACKET_LENGTH_TOO_LONG/.test(code)) {
      return pick('not_tls', `TLS: the server did not answer with TLS (${code}): is this a plain mqtt:// port? use mqtt:// or the broker's TLS port`);
    }
    if (/PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL|NO_PROTOCOLS_AVAILABLE|VERSION_TOO_LOW|VERSION_TOO_HIGH/.test(code)) {
      return pick('tls_version', `TLS version not agreed (${code}): the broker and tls.min_version have no common TLS version`);
    }
    if (/CERTIFICATE_REQUIRED/.test(code)) {
      return pick('client_cert_rejected', `TLS: the server requires a client certificate (${code}): set tls.cert_file and tls.key_file`);
    }
    if (/BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_UNKNOWN|CERTIFICATE_EXPIRED|DECRYPT_ERROR/.test(code)) {
      return pick('client_cert_rejected', `TLS: the server rejected this gateway's client certificate (${code}): check tls.cert_file/key_file and that the broker trusts their CA`);
    }
    return pick('handshake_failed', `TLS handshake failed (${code}): ${msg}; check the port, tls.min_version, tls.alpn and the certificates`);
  }
  if (/certificate|ssl|tls/i.test(msg)) return pick('handshake_failed', `TLS handshake failed: ${msg}`);
  return pick('other', `${msg}${code ? ` (${code})` : ''}`);
}
