// OMA's object definition files (DDF, the XML in the OMA LwM2M registry and in EMQX's xml_dir):
// a small reader for just the elements the gateway needs (object id, name, instances, resource
// id/name/type/operations/instances). Pure: text in, definitions out.
import { RESOURCE_TYPES, type ResourceType } from '../codec/values.ts';
import type { ObjectDef, ResourceDef } from './model.ts';

export class DdfError extends Error {
  constructor(source: string, message: string) {
    super(`${source}: ${message}`);
    this.name = 'DdfError';
  }
}

const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function unescape(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#\d+|\w+);/g, (m, e: string) => {
    if (e.startsWith('#x')) return String.fromCodePoint(parseInt(e.slice(2), 16));
    if (e.startsWith('#')) return String.fromCodePoint(Number(e.slice(1)));
    return ENTITIES[e] ?? m;
  });
}

/** Comments, processing instructions and CDATA wrappers removed (CDATA text kept, escaped). */
function clean(xml: string): string {
  return xml
    .replace(/<!--[\s\S]*?-->/g, '')
    .replace(/<\?[\s\S]*?\?>/g, '')
    .replace(/<!DOCTYPE[^>]*>/gi, '')
    .replace(/<!\[CDATA\[([\s\S]*?)\]\]>/g, (_m, t: string) => t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;'));
}

/** Text of the first <tag> directly in `xml` (before any nested block named `stopAt`). */
function text(xml: string, tag: string): string | undefined {
  const m = new RegExp(`<${tag}(?:\\s[^>]*)?>([\\s\\S]*?)</${tag}\\s*>|<${tag}(?:\\s[^>]*)?/>`).exec(xml);
  return m ? unescape(m[1] ?? '').trim() : undefined;
}

function multiple(v: string | undefined): boolean {
  return (v ?? '').toLowerCase() === 'multiple';
}

function resourceType(raw: string | undefined, source: string, where: string): ResourceType {
  if (raw === undefined || raw === '') return 'none';
  const t = raw.trim();
  const found = RESOURCE_TYPES.find((k) => k.toLowerCase() === t.toLowerCase());
  if (!found) throw new DdfError(source, `${where} has unknown Type "${t}" (expected one of ${RESOURCE_TYPES.filter((k) => k !== 'none').join(', ')})`);
  return found;
}

/** Parses every <Object> in a DDF document. Throws DdfError naming the file and element. */
export function parseDdf(xml: string, source: string): ObjectDef[] {
  const doc = clean(xml);
  const objects: ObjectDef[] = [];
  for (const m of doc.matchAll(/<Object(?:\s[^>]*)?>([\s\S]*?)<\/Object\s*>/g)) {
    const body = m[1]!;
    const split = body.search(/<Resources(?:\s[^>]*)?>/);
    const head = split >= 0 ? body.slice(0, split) : body;
    const idText = text(head, 'ObjectID');
    if (!idText || !/^\d+$/.test(idText) || Number(idText) > 65535) throw new DdfError(source, `object ${objects.length + 1} has no valid <ObjectID> (got ${JSON.stringify(idText ?? null)})`);
    const id = Number(idText);
    const resources = new Map<number, ResourceDef>();
    const resBody = split >= 0 ? body.slice(split) : '';
    for (const im of resBody.matchAll(/<Item\s+[^>]*?ID\s*=\s*["'](\d+)["'][^>]*>([\s\S]*?)<\/Item\s*>/g)) {
      const rid = Number(im[1]);
      const item = im[2]!;
      const where = `object ${id} resource ${rid}`;
      if (rid > 65535) throw new DdfError(source, `${where}: ID out of range`);
      resources.set(rid, {
        id: rid,
        name: text(item, 'Name') ?? `Resource ${rid}`,
        type: resourceType(text(item, 'Type'), source, where),
        operations: (text(item, 'Operations') ?? '').toUpperCase(),
        multiple: multiple(text(item, 'MultipleInstances')),
      });
    }
    objects.push({ id, name: text(head, 'Name') ?? `Object ${id}`, multiple: multiple(text(head, 'MultipleInstances')), source, resources });
  }
  if (objects.length === 0) throw new DdfError(source, 'no <Object> element found (is this an OMA LwM2M object definition?)');
  return objects;
}
