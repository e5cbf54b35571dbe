/**
 * The client's types, rendered from the services' OpenAPI documents (the same objects they serve at
 * /openapi.json): every component schema becomes a TypeScript type, and each service's operation ids
 * a union the client must cover. `make client-types` writes client/src/generated/api-types.ts; the
 * check client-types.test.ts renders again and fails when the committed file differs (the contract
 * changed and the client was not regenerated). Only the JSON Schema the documents use is supported;
 * anything else fails loudly rather than becoming `unknown`.
 */
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

function declaration(name: string, schema: Schema): string {
  const body = schema.type === 'object' ? objectType(schema, '') : undefined;
  // An object with no properties is a type alias (an interface cannot extend Record<string, never>).
  const isPlainObject = body !== undefined && body.startsWith('{') && !schema.oneOf && !schema.allOf;
  return isPlainObject ? `${doc(schema, '')}export interface ${name} ${objectType(schema, '')}\n` : `${doc(schema, '')}export type ${name} = ${tsType(schema)};\n`;
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
      const text = declaration(name, schema);
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
