/**
 * The client's types, rendered from the services' OpenAPI documents (the same objects they serve at
 * /openapi.json): every component schema becomes a TypeScript type, and each service's operation ids
 * a union the client must cover. `make client-types` writes client/src/generated/api-types.ts; the
 * check client-types.test.ts renders again and fails when the committed file differs (the contract
 * changed and the client was not regenerated). Only the JSON Schema the documents use is supported;
 * anything else fails loudly rather than becoming `unknown`.
 */
import { isDeepStrictEqual } from 'node:util';
import type { OpenApiDocument } from '@wallet/platform';

type Schema = Record<string, unknown>;

const HEADER = `/**
 * GENERATED from the services' OpenAPI documents by platform/tools/client-types (make client-types).
 * Do not edit: platform/tools/checks/client-types.test.ts fails when this file and the documents differ.
 */
`;

function refName(ref: string): string {
  const match = /^#\/components\/schemas\/([A-Za-z0-9]+)$/.exec(ref);
  if (!match?.[1]) throw new Error(`unsupported $ref ${ref}`);
  return match[1];
}

function literal(value: unknown): string {
  return JSON.stringify(value);
}

function doc(schema: Schema, indent: string): string {
  return typeof schema.description === 'string' ? `${indent}/** ${schema.description.replace(/\*\//g, '*\\/')} */\n` : '';
}

function objectType(schema: Schema, indent: string): string {
  const properties = (schema.properties ?? {}) as Record<string, Schema>;
  const required = new Set((schema.required ?? []) as string[]);
  const inner = `${indent}  `;
  const lines = Object.entries(properties).map(
    ([name, property]) => `${doc(property, inner)}${inner}${name}${required.has(name) ? '' : '?'}: ${tsType(property, inner)};`,
  );
  const extra = schema.additionalProperties;
  if (typeof extra === 'object' && extra !== null) lines.push(`${inner}[key: string]: ${tsType(extra as Schema, inner)};`);
  return lines.length === 0 ? 'Record<string, never>' : `{\n${lines.join('\n')}\n${indent}}`;
}

/** The TypeScript type of one schema (indent: where its lines start, for nested objects). */
export function tsType(schema: Schema, indent = ''): string {
  if (typeof schema.$ref === 'string') return refName(schema.$ref);
  if ('const' in schema) return literal(schema.const);
  if (Array.isArray(schema.enum)) return schema.enum.map(literal).join(' | ');
  if (Array.isArray(schema.oneOf)) return (schema.oneOf as Schema[]).map((s) => tsType(s, indent)).join(' | ');
  if (Array.isArray(schema.allOf)) return (schema.allOf as Schema[]).map((s) => tsType(s, indent)).join(' & ');
  switch (schema.type) {
    case 'string':
      return 'string';
    case 'integer':
    case 'number':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'null':
      return 'null';
    case 'array':
      return `Array<${tsType((schema.items ?? {}) as Schema, indent)}>`;
    case 'object':
      return objectType(schema, indent);
    default:
      throw new Error(`unsupported schema ${JSON.stringify(schema).slice(0, 200)}`);
  }
}

const propertiesOf = (schema: Schema) => (schema.properties ?? {}) as Record<string, Schema>;
const requiredOf = (schema: Schema) => new Set((schema.required ?? []) as string[]);

/** An object declared as an interface: properties, no index signature, no oneOf or allOf. */
function isPlainObject(schema: Schema): boolean {
  const extra = schema.additionalProperties;
  return schema.type === 'object' && !schema.oneOf && !schema.allOf && !(typeof extra === 'object' && extra !== null);
}

/** Whether `schema` is `base` and more: each of base's properties defined alike and alike required, and others besides. */
function isExtensionOf(schema: Schema, base: Schema): boolean {
  const [properties, baseProperties] = [propertiesOf(schema), propertiesOf(base)];
  const names = Object.keys(baseProperties);
  if (!isPlainObject(schema) || !isPlainObject(base) || names.length === 0 || names.length >= Object.keys(properties).length) return false;
  const [required, baseRequired] = [requiredOf(schema), requiredOf(base)];
  return names.every((n) => n in properties && isDeepStrictEqual(properties[n], baseProperties[n]) && required.has(n) === baseRequired.has(n));
}

interface Base {
  name: string;
  schema: Schema;
}

/** The schema of the document that `schema` extends (the one with most properties), to declare it `extends` that one. */
function baseOf(name: string, schema: Schema, schemas: Record<string, Schema>): Base | undefined {
  let best: Base | undefined;
  for (const [candidate, base] of Object.entries(schemas)) {
    const larger = best === undefined || Object.keys(propertiesOf(base)).length > Object.keys(propertiesOf(best.schema)).length;
    if (candidate !== name && larger && isExtensionOf(schema, base)) best = { name: candidate, schema: base };
  }
  return best;
}

function declaration(name: string, schema: Schema, base: Base | undefined): string {
  if (base !== undefined) {
    // Only what the base lacks: the inherited properties keep the base's definitions and comments.
    const own = Object.entries(propertiesOf(schema)).filter(([property]) => !(property in propertiesOf(base.schema)));
    return `${doc(schema, '')}export interface ${name} extends ${base.name} ${objectType({ ...schema, properties: Object.fromEntries(own) }, '')}\n`;
  }
  const body = schema.type === 'object' ? objectType(schema, '') : undefined;
  // An object with no properties is a type alias (an interface cannot extend Record<string, never>).
  const isInterface = body !== undefined && body.startsWith('{') && !schema.oneOf && !schema.allOf;
  return isInterface ? `${doc(schema, '')}export interface ${name} ${objectType(schema, '')}\n` : `${doc(schema, '')}export type ${name} = ${tsType(schema)};\n`;
}

function operationIds(document: OpenApiDocument): string[] {
  const paths = document.paths as Record<string, Record<string, { operationId?: string }>>;
  return Object.values(paths).flatMap((item) => Object.values(item).map((operation) => operation.operationId ?? '')).filter((id) => id !== '').sort();
}

/** The generated module for the given documents (by service name, e.g. 'user-service'). */
export function renderClientTypes(documents: Record<string, OpenApiDocument>): string {
  const rendered = new Map<string, string>();
  const sections: string[] = [HEADER];
  for (const [service, document] of Object.entries(documents)) {
    const schemas = (document.components?.schemas ?? {}) as Record<string, Schema>;
    for (const [name, schema] of Object.entries(schemas)) {
      const text = declaration(name, schema, baseOf(name, schema, schemas));
      const seen = rendered.get(name);
      if (seen === text) continue; // shared by both documents (Problem)
      if (seen !== undefined) throw new Error(`${service}: schema ${name} differs from another document's schema of that name`);
      rendered.set(name, text);
      sections.push(text);
    }
    const typeName = service.replace(/(^|-)([a-z])/g, (_, _dash: string, c: string) => c.toUpperCase());
    sections.push(`/** Every operationId of ${service}'s document: the client maps each to a method. */\nexport type ${typeName}OperationId = ${operationIds(document).map(literal).join(' | ')};\n`);
  }
  return sections.join('\n');
}
