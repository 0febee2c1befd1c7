import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { accessSync, constants, readdirSync, readFileSync, statSync } from 'node:fs';

// Every file a config names (`*_file` options: TLS certificates, keys, CAs, and whatever an
// adapter adds), loaded the way the gateway will load it, so `fieldgate check`, `doctor` and
// `start` can say "broker.listeners.tls.cert_file /etc/x.crt: not a PEM certificate" instead of
// OpenSSL's "error:0480006C:PEM routines::no start line" with no option or path.
// Adapter options naming a file or directory without the `_file` suffix (a decoder script, a
// directory of object definitions) are checked for existence and readability too (SCRIPT_OPTIONS).
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
    // counters_file is a file the gateway writes (the modem's frame counters), not an input.
    if (k.endsWith('_file') && k !== 'counters_file' && typeof v === 'string' && v) group.push({ path: p, key: k, file: v });
    else fileGroups(v, p, out);
  }
  if (group.length) out.push(group);
}

/** Options that name a file or directory but do not end in `_file`, by the shape of their path. */
const SCRIPT_OPTIONS: { match: RegExp; kind: 'file' | 'directory'; what: string }[] = [
  { match: /(^|\.)xml_dir$/, kind: 'directory', what: 'directory of object definitions' },
  { match: /\.user_decoders\[\d+\]\.file$/, kind: 'file', what: 'decoder script' },
  { match: /(^|\.)decoder\.script$/, kind: 'file', what: 'decoder script' },
];

/** Strings at SCRIPT_OPTIONS paths, skipping anything switched off (`enabled: false`). */
function scriptRefs(node: unknown, path: string, out: (FileRef & { kind: 'file' | 'directory'; what: string })[]): void {
  if (!node || typeof node !== 'object') return;
  if (Array.isArray(node)) {
    node.forEach((v, i) => scriptRefs(v, `${path}[${i}]`, out));
    return;
  }
  const o = node as Record<string, unknown>;
  if (o.enabled === false) return;
  for (const [k, v] of Object.entries(o)) {
    const p = path ? `${path}.${k}` : k;
    const opt = typeof v === 'string' && v ? SCRIPT_OPTIONS.find((s) => s.match.test(p)) : undefined;
    if (opt && typeof v === 'string') out.push({ path: p, key: k, file: v, kind: opt.kind, what: opt.what });
    else scriptRefs(v, p, out);
  }
}

function checkScriptRef(ref: FileRef & { kind: 'file' | 'directory'; what: string }): FileFinding {
  const { kind, what, ...at } = ref;
  try {
    const st = statSync(ref.file);
    if (kind === 'directory' && !st.isDirectory()) return { ...at, status: 'error', message: `${ref.file} is not a directory`, hint: `point ${ref.path} at the ${what}` };
    if (kind === 'file' && !st.isFile()) return { ...at, status: 'error', message: `${ref.file} is not a file`, hint: `point ${ref.path} at the ${what}` };
    if (kind === 'directory') {
      const n = readdirSync(ref.file).length;
      return { ...at, status: 'ok', message: `${what}, ${n} entr${n === 1 ? 'y' : 'ies'}` };
    }
    accessSync(ref.file, constants.R_OK);
    return { ...at, status: 'ok', message: `${what}, readable (${st.size} bytes)` };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    return { ...at, status: 'error', message: `cannot read ${ref.file} (${code})`, hint: code === 'ENOENT' ? `check the path of the ${what}` : 'check that the fieldgate user may read it' };
  }
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
const DAY = 86_400_000;

function certificates(text: Buffer): X509Certificate[] {
  const pems = text.toString('latin1').match(PEM_CERT);
  if (pems) return pems.map((p) => new X509Certificate(p));
  return [new X509Certificate(text)]; // DER
}

const inDays = (n: number): string => `in ${n} day${n === 1 ? '' : 's'}`;

function validity(ref: FileRef, cert: X509Certificate, now: number, what: string): FileFinding | undefined {
  const from = Date.parse(cert.validFrom);
  const to = Date.parse(cert.validTo);
  const subject = cert.subject.replace(/\n/g, ', ');
  if (to < now) return { ...ref, status: 'error', message: `${what} (${subject}) expired on ${new Date(to).toISOString().slice(0, 10)}`, hint: 'renew it (TLS peers refuse an expired certificate)' };
  if (from > now) return { ...ref, status: 'error', message: `${what} (${subject}) is not valid before ${new Date(from).toISOString()}`, hint: 'check the clock (timedatectl; a Pi has no RTC) or the certificate' };
  if (to - now < 30 * DAY) return { ...ref, status: 'warn', message: `${what} (${subject}) expires on ${new Date(to).toISOString().slice(0, 10)}, ${inDays(Math.ceil((to - now) / DAY))}`, hint: 'renew it soon' };
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

/**
 * Loads and checks every `*_file` the (validated) config names, and every decoder script and
 * definitions directory (SCRIPT_OPTIONS); one finding per file, plus mismatches.
 */
export function checkConfigFiles(config: unknown, now = Date.now()): FileFinding[] {
  const groups: FileRef[][] = [];
  fileGroups(config, '', groups);
  const scripts: Parameters<typeof checkScriptRef>[0][] = [];
  scriptRefs(config, '', scripts);
  return [...groups.flatMap((g) => checkGroup(g, now)), ...scripts.map(checkScriptRef)];
}
