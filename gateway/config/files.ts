import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';

// Every file a config names (`*_file` options: TLS certificates, keys, CAs, and whatever an
// adapter adds), loaded the way the gateway will load it, so `fieldgate check`, `doctor` and
// `start` can say "broker.listeners.tls.cert_file /etc/x.crt: not a PEM certificate" instead of
// OpenSSL's "error:0480006C:PEM routines::no start line" with no option or path.
// (${file:} secrets are read, and their failures named, while the config is loaded.)

export interface FileFinding {
  /** The option, e.g. broker.listeners.tls.cert_file. */
  path: string;
  file: string;
  status: 'ok' | 'warn' | 'error';
  message: string;
  hint?: string;
}

interface FileRef {
  path: string;
  key: string;
  file: string;
}

/** Objects holding `*_file` strings, skipping anything switched off (`enabled: false`). */
function fileGroups(node: unknown, path: string, out: FileRef[][]): void {
  if (!node || typeof node !== 'object') return;
  if (Array.isArray(node)) {
    node.forEach((v, i) => fileGroups(v, `${path}[${i}]`, out));
    return;
  }
  const o = node as Record<string, unknown>;
  if (o.enabled === false) return;
  const group: FileRef[] = [];
  for (const [k, v] of Object.entries(o)) {
    const p = path ? `${path}.${k}` : k;
    if (k.endsWith('_file') && typeof v === 'string' && v) group.push({ path: p, key: k, file: v });
    else fileGroups(v, p, out);
  }
  if (group.length) out.push(group);
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
const DAY = 86_400_000;

function certificates(text: Buffer): X509Certificate[] {
  const pems = text.toString('latin1').match(PEM_CERT);
  if (pems) return pems.map((p) => new X509Certificate(p));
  return [new X509Certificate(text)]; // DER
}

function validity(ref: FileRef, cert: X509Certificate, now: number, what: string): FileFinding | undefined {
  const from = Date.parse(cert.validFrom);
  const to = Date.parse(cert.validTo);
  const subject = cert.subject.replace(/\n/g, ', ');
  if (to < now) return { ...ref, status: 'error', message: `${what} (${subject}) expired on ${new Date(to).toISOString().slice(0, 10)}`, hint: 'renew it (TLS peers refuse an expired certificate)' };
  if (from > now) return { ...ref, status: 'error', message: `${what} (${subject}) is not valid before ${new Date(from).toISOString()}`, hint: 'check the clock (timedatectl; a Pi has no RTC) or the certificate' };
  if (to - now < 30 * DAY) return { ...ref, status: 'warn', message: `${what} (${subject}) expires on ${new Date(to).toISOString().slice(0, 10)}, in ${Math.ceil((to - now) / DAY)} days`, hint: 'renew it soon' };
  return undefined;
}

function checkGroup(group: FileRef[], now: number): FileFinding[] {
  const out: FileFinding[] = [];
  const loaded = new Map<string, Buffer>();
  for (const ref of group) {
    try {
      loaded.set(ref.key, readFileSync(ref.file));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? String(err);
      out.push({ ...ref, status: 'error', message: `cannot read ${ref.file} (${code})`, hint: code === 'ENOENT' ? 'check the path' : 'check that the fieldgate user may read it' });
    }
  }
  let cert: X509Certificate | undefined;
  let key: KeyObject | undefined;
  for (const ref of group) {
    const data = loaded.get(ref.key);
    if (!data) continue;
    const at = `${ref.file}`;
    try {
      if (ref.key === 'cert_file') {
        cert = certificates(data)[0];
        const bad = cert && validity(ref, cert, now, 'the certificate');
        out.push(bad ?? { ...ref, status: 'ok', message: `certificate ${cert?.subject.replace(/\n/g, ', ')}, valid until ${cert ? new Date(Date.parse(cert.validTo)).toISOString().slice(0, 10) : '?'}` });
      } else if (ref.key === 'key_file') {
        key = createPrivateKey(data);
        out.push({ ...ref, status: 'ok', message: `${key.asymmetricKeyType ?? ''} private key`.trim() });
      } else if (ref.key === 'ca_file') {
        const cas = certificates(data);
        const bad = cas.map((c, i) => validity(ref, c, now, `CA certificate ${i + 1} of ${cas.length}`)).find((f) => f?.status === 'error');
        out.push(bad ?? { ...ref, status: 'ok', message: `${cas.length} CA certificate${cas.length === 1 ? '' : 's'}` });
      } else {
        out.push({ ...ref, status: 'ok', message: `readable (${data.length} bytes)` });
      }
    } catch (err) {
      const what = ref.key === 'key_file' ? 'a private key (PEM or DER; an encrypted key is not supported)' : 'a certificate (PEM or DER)';
      out.push({ ...ref, status: 'error', message: `${at} is not ${what}: ${(err as Error).message}`, hint: `point ${ref.path} at the right file` });
    }
  }
  if (cert && key) {
    const certRef = group.find((r) => r.key === 'cert_file')!;
    const keyRef = group.find((r) => r.key === 'key_file')!;
    if (!cert.checkPrivateKey(key)) {
      out.push({ ...keyRef, status: 'error', message: `${keyRef.file} is not the private key of ${certRef.file} (${certRef.path})`, hint: 'use the key the certificate was issued for' });
    }
  }
  return out;
}

/** Loads and checks every `*_file` the (validated) config names; one finding per file, plus mismatches. */
export function checkConfigFiles(config: unknown, now = Date.now()): FileFinding[] {
  const groups: FileRef[][] = [];
  fileGroups(config, '', groups);
  return groups.flatMap((g) => checkGroup(g, now));
}
