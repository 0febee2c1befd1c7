// The object model the adapter uses: built-in OMA core and IPSO objects, then every *.xml file in
// `xml_dir` (a vendor definition replaces a built-in one with the same object id).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CORE_OBJECTS } from './oma-core.ts';
import { IPSO_OBJECTS, IPSO_RESOURCES } from './ipso.ts';
import { ObjectModel, objectFromRows, type Row } from './model.ts';
import { parseDdf } from './ddf.ts';

export { ObjectModel } from './model.ts';
export type { ObjectDef, ResourceDef } from './model.ts';

export function builtinModel(): ObjectModel {
  const model = new ObjectModel();
  for (const o of CORE_OBJECTS) model.add(objectFromRows(o.id, o.name, o.multiple, o.rows));
  const ipso = new Map<number, Row>(IPSO_RESOURCES.map((r) => [r[0], r]));
  for (const [id, name, ids] of IPSO_OBJECTS) {
    const rows = ids.map((rid) => {
      const row = ipso.get(rid);
      if (!row) throw new Error(`IPSO object ${id} lists resource ${rid}, which has no definition`);
      return row;
    });
    model.add(objectFromRows(id, name, true, rows));
  }
  return model;
}

/** Built-ins plus the XML files in `xmlDir`. A file that cannot be read or parsed is an error naming it. */
export function loadModel(xmlDir?: string): { model: ObjectModel; files: string[] } {
  const model = builtinModel();
  if (!xmlDir) return { model, files: [] };
  let names: string[];
  try {
    names = readdirSync(xmlDir).filter((n) => n.toLowerCase().endsWith('.xml')).sort();
  } catch (err) {
    throw new Error(`adapters.lwm2m.xml_dir: cannot read ${xmlDir}: ${(err as Error).message}`);
  }
  for (const n of names) {
    const file = join(xmlDir, n);
    for (const def of parseDdf(readFileSync(file, 'utf8'), file)) model.add(def);
  }
  return { model, files: names };
}
