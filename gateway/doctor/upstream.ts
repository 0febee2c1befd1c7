import { readFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { redactUrl } from '../bridge/redact.ts';
import type { Check, DoctorContext, Finding } from './types.ts';

// Reads the bridge's `bridge.upstreams` section defensively: it belongs to the bridge, so doctor
// only relies on the fields every upstream has (name, servers, tls).
interface UpstreamView {
  name?: string;
  servers?: string[];
  tls?: { ca_file?: string; cert_file?: string; key_file?: string; servername?: string; alpn?: string[]; insecure_skip_verify?: boolean };
}

const DEFAULT_PORT: Record<string, number> = { 'mqtt:': 1883, 'mqtts:': 8883, 'ws:': 80, 'wss:': 443 };

const CERT_FIX: Record<string, string> = {
  CERT_NOT_YET_VALID: 'the certificate is not valid yet: the clock is wrong (see the clock line)',
  CERT_HAS_EXPIRED: 'the server certificate expired, or the clock is wrong (see the clock line)',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'the server uses a self-signed certificate: set tls.ca_file to it',
  SELF_SIGNED_CERT_IN_CHAIN: 'the chain ends in a private CA: set tls.ca_file to that CA certificate',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'the issuing CA is unknown: set tls.ca_file to the CA certificate (AWS IoT: AmazonRootCA1.pem)',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'the issuing CA is unknown: set tls.ca_file, or install ca-certificates',
  ERR_TLS_CERT_ALTNAME_INVALID: 'the certificate does not name this host: connect by the name it was issued for, or set tls.servername',
};

function attempt(url: URL, tls: UpstreamView['tls'], timeoutMs: number): Promise<{ ok: true; detail: string } | { ok: false; code: string; message: string }> {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = Number(url.port) || DEFAULT_PORT[url.protocol] || 1883;
  const secure = url.protocol === 'mqtts:' || url.protocol === 'wss:';
  return new Promise((resolve) => {
    let sock: ReturnType<typeof netConnect> | TLSSocket;
    const done = (r: Parameters<typeof resolve>[0]) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => done({ ok: false, code: 'ETIMEDOUT', message: `no answer within ${timeoutMs} ms` }), timeoutMs);
    const onError = (err: NodeJS.ErrnoException) => done({ ok: false, code: err.code ?? 'ERROR', message: err.message });
    if (!secure) {
      sock = netConnect({ host, port }, () => done({ ok: true, detail: 'TCP connect (no TLS: plain-text upstream)' }));
      sock.once('error', onError);
      return;
    }
    let ca: Buffer | undefined, cert: Buffer | undefined, key: Buffer | undefined;
    try {
      ca = tls?.ca_file ? readFileSync(tls.ca_file) : undefined;
      cert = tls?.cert_file ? readFileSync(tls.cert_file) : undefined;
      key = tls?.key_file ? readFileSync(tls.key_file) : undefined;
    } catch (err) {
      clearTimeout(timer);
      resolve({ ok: false, code: 'EFILE', message: (err as Error).message });
      return;
    }
    const t = tlsConnect({ host, port, servername: tls?.servername ?? (/^[\d.:]+$/.test(host) ? undefined : host), ca, cert, key, ALPNProtocols: tls?.alpn, rejectUnauthorized: tls?.insecure_skip_verify !== true }, () => {
      const peer = t.getPeerCertificate();
      const cn = peer?.subject?.CN ? `CN=${peer.subject.CN}` : 'certificate';
      done({ ok: true, detail: tls?.insecure_skip_verify ? `TLS up, but verification is OFF (tls.insecure_skip_verify)` : `TLS verified (${cn}, valid until ${peer?.valid_to ?? '?'})` });
    });
    sock = t;
    t.once('error', onError);
  });
}

async function server(name: string, raw: string, tls: UpstreamView['tls'], timeoutMs: number): Promise<Finding> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { check: 'upstream', status: 'warn', message: `${name}: cannot parse server URL ${redactUrl(raw)}`, fix: 'write it like mqtts://broker.example.com:8883' };
  }
  const r = await attempt(url, tls, timeoutMs);
  const at = `${name} ${redactUrl(raw)}`;
  if (r.ok) return { check: 'upstream', status: tls?.insecure_skip_verify ? 'warn' : 'ok', message: `${at} reachable: ${r.detail}`, ...(tls?.insecure_skip_verify ? { fix: 'set tls.ca_file and remove insecure_skip_verify' } : {}) };
  // The bridge stores and forwards: an unreachable cloud delays delivery but never stops the gateway.
  const base = { check: 'upstream', status: 'warn' as const, message: `${at}: ${r.code} ${r.message}` };
  if (CERT_FIX[r.code]) return { ...base, message: `${at}: TLS certificate not accepted (${r.code})`, fix: CERT_FIX[r.code] };
  switch (r.code) {
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return { ...base, message: `${at}: cannot resolve ${url.hostname} (${r.code})`, fix: 'check DNS (resolvectl status, /etc/resolv.conf) and the host name' };
    case 'ECONNREFUSED':
      return { ...base, fix: `nothing listens on ${url.hostname}:${url.port || DEFAULT_PORT[url.protocol]}: check the port, or the broker` };
    case 'ECONNRESET':
      return { ...base, fix: `the server closed the connection${url.protocol === 'mqtts:' || url.protocol === 'wss:' ? ' during the TLS handshake: is it a TLS port (MQTT over TLS is usually 8883), and does it want a client certificate (tls.cert_file, tls.key_file)?' : ': check the port and the broker logs'}` };
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return { ...base, fix: 'check the network route and any firewall between here and the broker (outbound TCP to that port)' };
    case 'EFILE':
      return { ...base, message: `${at}: cannot read a TLS file: ${r.message}`, fix: 'check bridge.upstreams[].tls paths and that the fieldgate user may read them' };
    default:
      return { ...base, fix: 'check the URL, the credentials files and the network' };
  }
}

export const upstream: Check = async (ctx: DoctorContext) => {
  if (!ctx.config) return [];
  const ups = ((ctx.config as { bridge?: { upstreams?: UpstreamView[] } }).bridge?.upstreams ?? []) as UpstreamView[];
  if (ups.length === 0) return [{ check: 'upstream', status: 'ok', message: 'no bridge upstreams configured (bridge off)' }];
  const jobs = ups.flatMap((u, i) => (u.servers ?? []).map((s) => server(u.name ?? `bridge.upstreams[${i}]`, s, u.tls, ctx.timeoutMs)));
  return Promise.all(jobs);
};
