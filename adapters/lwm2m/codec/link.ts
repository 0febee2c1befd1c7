// CoRE Link Format (RFC 6690, content format 40): register/update payloads and discover answers.
import { CodecError } from './values.ts';

export interface Link {
  uri: string;
  attrs: Record<string, string | true>;
  /** The link as it was sent, trimmed (EMQX publishes discover results this way). */
  raw: string;
}

/** Splits on commas outside quotes and angle brackets, then parses `<uri>;k=v;k="v";flag`. */
export function parseLinks(text: string): Link[] {
  const parts: string[] = [];
  let cur = '';
  let quoted = false;
  let inUri = false;
  for (const ch of text) {
    if (ch === '"' && !inUri) quoted = !quoted;
    else if (ch === '<' && !quoted) inUri = true;
    else if (ch === '>' && !quoted) inUri = false;
    if (ch === ',' && !quoted && !inUri) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (quoted) throw new CodecError('link-format: unterminated quoted string');
  parts.push(cur);
  return parts.map((p) => p.trim()).filter((p) => p !== '').map(parseLink);
}

function parseLink(raw: string): Link {
  const m = /^<([^>]*)>(.*)$/s.exec(raw);
  if (!m) throw new CodecError(`link-format: "${raw.slice(0, 60)}" does not start with <uri>`);
  const attrs: Record<string, string | true> = {};
  for (const a of splitParams(m[2]!)) {
    const eq = a.indexOf('=');
    if (eq < 0) attrs[a.trim()] = true;
    else {
      const v = a.slice(eq + 1).trim();
      attrs[a.slice(0, eq).trim()] = v.startsWith('"') && v.endsWith('"') && v.length >= 2 ? v.slice(1, -1) : v;
    }
  }
  return { uri: m[1]!, attrs, raw };
}

function splitParams(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (const ch of s) {
    if (ch === '"') quoted = !quoted;
    if (ch === ';' && !quoted) {
      if (cur.trim()) out.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (cur.trim()) out.push(cur);
  return out;
}

/** `/3/0/1` -> [3, 0, 1]; undefined when a segment is not a 16-bit number. */
export function numericPath(path: string): number[] | undefined {
  const segs = path.split('/').filter((s) => s !== '');
  const nums = segs.map((s) => (/^\d{1,5}$/.test(s) ? Number(s) : NaN));
  return nums.every((n) => n <= 0xffff) ? nums : undefined;
}
