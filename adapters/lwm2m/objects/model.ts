// The object model: which resources an object has and their data types, so values read from a
// device are published with the right JSON type and written with the right TLV encoding.
import type { ResourceType } from '../codec/values.ts';

export interface ResourceDef {
  id: number;
  name: string;
  type: ResourceType;
  /** R, W, RW, E or '' (OMA's Operations). */
  operations: string;
  multiple: boolean;
}

export interface ObjectDef {
  id: number;
  name: string;
  multiple: boolean;
  /** Where the definition came from: "builtin" or the XML file. */
  source: string;
  resources: Map<number, ResourceDef>;
}

export class ObjectModel {
  private readonly objects = new Map<number, ObjectDef>();

  add(def: ObjectDef): void {
    this.objects.set(def.id, def);
  }

  object(id: number): ObjectDef | undefined {
    return this.objects.get(id);
  }

  resource(objectId: number, resourceId: number): ResourceDef | undefined {
    return this.objects.get(objectId)?.resources.get(resourceId);
  }

  /** The data type of /O/I/R[/RI], undefined when the object or resource is unknown. */
  typeOf(path: readonly number[]): ResourceType | undefined {
    const [o, , r] = path;
    return o === undefined || r === undefined ? undefined : this.resource(o, r)?.type;
  }

  has(objectId: number): boolean {
    return this.objects.has(objectId);
  }

  get size(): number {
    return this.objects.size;
  }

  ids(): number[] {
    return [...this.objects.keys()].sort((a, b) => a - b);
  }
}

/** Compact rows: [id, name, type code, operations, multiple?]. Type codes keep the data tables short. */
export type Row = readonly [number, string, TypeCode, string, 1?];
export type TypeCode = 'S' | 'I' | 'U' | 'F' | 'B' | 'O' | 'T' | 'L' | 'C' | '-';

export const TYPE_CODES: Record<TypeCode, ResourceType> = { S: 'String', I: 'Integer', U: 'Unsigned Integer', F: 'Float', B: 'Boolean', O: 'Opaque', T: 'Time', L: 'Objlnk', C: 'Corelnk', '-': 'none' };

export function objectFromRows(id: number, name: string, multiple: boolean, rows: readonly Row[], source = 'builtin'): ObjectDef {
  const resources = new Map<number, ResourceDef>();
  for (const [rid, rname, t, ops, multi] of rows) resources.set(rid, { id: rid, name: rname, type: TYPE_CODES[t], operations: ops, multiple: multi === 1 });
  return { id, name, multiple, source, resources };
}
