// Server URLs may carry credentials (mqtt://user:pass@host, a ThingsBoard token as the user name,
// wss://host/mqtt?token=...). Every place that shows a URL to a person (log lines, health, doctor)
// shows this form instead; only the MQTT client ever sees the original.

const USERINFO = /^([a-z][a-z0-9+.-]*:\/\/)[^@/?#]*@/i;

/** The URL with user info and query replaced: `mqtt://[redacted]@host:1883`, `wss://host/mqtt?[redacted]`. */
export function redactUrl(url: string): string {
  let out = url.replace(USERINFO, '$1[redacted]@');
  const q = out.indexOf('?');
  if (q >= 0) out = `${out.slice(0, q)}?[redacted]`;
  return out;
}

/**
 * Every secret that appears in `urls` (user info, query) or is given in `extra`, longest first,
 * so a free-text message (an error from a library) can be scrubbed with `scrub`.
 */
export function secretsOf(urls: readonly string[], extra: readonly (string | undefined)[] = []): string[] {
  const found = new Set<string>();
  for (const u of urls) {
    const m = /^[a-z][a-z0-9+.-]*:\/\/([^@/?#]*)@/i.exec(u);
    if (m?.[1]) {
      found.add(m[1]);
      for (const part of m[1].split(':')) if (part) found.add(part);
      for (const part of m[1].split(':')) if (part) found.add(safeDecode(part));
    }
    const q = u.indexOf('?');
    if (q >= 0) {
      found.add(u.slice(q + 1));
      for (const kv of u.slice(q + 1).split('&')) {
        const v = kv.slice(kv.indexOf('=') + 1);
        if (v) found.add(v).add(safeDecode(v));
      }
    }
  }
  for (const e of extra) if (e) found.add(e);
  return [...found].filter((s) => s.length >= 3).sort((a, b) => b.length - a.length);
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** `text` with every secret replaced by `[redacted]`. */
export function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (out.includes(s)) out = out.split(s).join('[redacted]');
  return out;
}
