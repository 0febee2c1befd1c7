import { z } from 'zod';

// Walks the config schema through zod's documented JSON Schema export rather than zod's internal `_zod.def`,
// so a zod upgrade that reshapes its internals cannot break config error hints or the docs check.

/** The part of JSON Schema that `z.toJSONSchema` emits for our config and that key lookup needs. */
export interface SchemaNode {
  type?: string | string[];
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
  additionalProperties?: boolean | SchemaNode;
  anyOf?: SchemaNode[];
  oneOf?: SchemaNode[];
  allOf?: SchemaNode[];
}

/** The input side of a schema (what a person writes in fieldgate.yaml), as JSON Schema. */
export function schemaNode(schema: z.ZodType): SchemaNode {
  return z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as SchemaNode;
}

/**
 * One step down: the node for `key` (an object key or an array index), 'open' where any key is
 * accepted (a record or an untyped value), undefined where the key is unknown.
 */
export function childNode(node: SchemaNode, key: PropertyKey): SchemaNode | 'open' | undefined {
  for (const branch of [...(node.anyOf ?? []), ...(node.oneOf ?? []), ...(node.allOf ?? [])]) {
    const found = childNode(branch, key);
    if (found) return found;
  }
  if (typeof key === 'number' || /^\d+$/.test(String(key))) {
    if (node.items) return node.items;
  }
  const named = node.properties?.[String(key)];
  if (named) return named;
  if (node.additionalProperties && node.additionalProperties !== true) return node.additionalProperties;
  if (node.additionalProperties === true || (node.type === undefined && !node.properties && !hasBranches(node))) return 'open';
  return undefined;
}

/** The keys an object accepts at `path` (empty where the path is not an object with named keys). */
export function keysAt(root: SchemaNode, path: readonly PropertyKey[]): string[] {
  let node: SchemaNode | 'open' | undefined = root;
  for (const seg of path) {
    if (!node || node === 'open') return [];
    node = childNode(node, seg);
  }
  if (!node || node === 'open') return [];
  return objectKeys(node);
}

function objectKeys(node: SchemaNode): string[] {
  if (node.properties) return Object.keys(node.properties);
  for (const branch of [...(node.anyOf ?? []), ...(node.oneOf ?? []), ...(node.allOf ?? [])]) {
    const keys = objectKeys(branch);
    if (keys.length) return keys;
  }
  return [];
}

function hasBranches(node: SchemaNode): boolean {
  return Boolean(node.anyOf?.length || node.oneOf?.length || node.allOf?.length);
}
