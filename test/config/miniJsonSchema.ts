/**
 * A small JSON Schema (2020-12) validator covering exactly the keywords the
 * generated config schema uses, so the test can check documents against it
 * without a validator dependency. An unknown keyword throws: a schema
 * feature this validator ignored would make agreement tests pass vacuously.
 */
type Schema = Record<string, unknown> | boolean;

const ANNOTATIONS = new Set(["$schema", "$id", "title", "description", "default", "examples"]);
const HANDLED = new Set([
  "type",
  "properties",
  "additionalProperties",
  "propertyNames",
  "required",
  "items",
  "anyOf",
  "enum",
  "const",
  "pattern",
  "minimum",
  "maximum",
  "exclusiveMinimum",
  "exclusiveMaximum",
  "minLength",
]);

function typeOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  return typeof v;
}

function hasType(v: unknown, t: string): boolean {
  if (t === "integer") return typeof v === "number" && Number.isInteger(v);
  if (t === "number") return typeof v === "number";
  return typeOf(v) === t;
}

/** Returns the JSON pointers of failures; [] means valid. */
export function validate(schema: Schema, value: unknown, at = ""): string[] {
  if (schema === true) return [];
  if (schema === false) return [`${at}: not allowed`];
  for (const k of Object.keys(schema))
    if (!HANDLED.has(k) && !ANNOTATIONS.has(k)) throw new Error(`miniJsonSchema: unsupported keyword ${k} at ${at}`);
  const errs: string[] = [];
  const s = schema;
  if (s.type !== undefined) {
    const types = Array.isArray(s.type) ? (s.type as string[]) : [s.type as string];
    if (!types.some((t) => hasType(value, t))) return [`${at}: expected ${types.join("|")}, got ${typeOf(value)}`];
  }
  if (s.enum !== undefined && !(s.enum as unknown[]).includes(value)) errs.push(`${at}: not in enum`);
  if ("const" in s && s.const !== value) errs.push(`${at}: not const`);
  if (typeof value === "string") {
    if (typeof s.pattern === "string" && !new RegExp(s.pattern, "u").test(value))
      errs.push(`${at}: does not match ${s.pattern}`);
    if (typeof s.minLength === "number" && [...value].length < s.minLength)
      errs.push(`${at}: shorter than ${s.minLength}`);
  }
  if (typeof value === "number") {
    if (typeof s.minimum === "number" && value < s.minimum) errs.push(`${at}: < ${s.minimum}`);
    if (typeof s.maximum === "number" && value > s.maximum) errs.push(`${at}: > ${s.maximum}`);
    if (typeof s.exclusiveMinimum === "number" && value <= s.exclusiveMinimum)
      errs.push(`${at}: <= ${s.exclusiveMinimum}`);
    if (typeof s.exclusiveMaximum === "number" && value >= s.exclusiveMaximum)
      errs.push(`${at}: >= ${s.exclusiveMaximum}`);
  }
  if (s.anyOf !== undefined) {
    const branches = s.anyOf as Schema[];
    if (!branches.some((b) => validate(b, value, at).length === 0)) errs.push(`${at}: matches no anyOf branch`);
  }
  if (Array.isArray(value) && s.items !== undefined)
    value.forEach((v, i) => errs.push(...validate(s.items as Schema, v, `${at}/${i}`)));
  if (typeOf(value) === "object") {
    const obj = value as Record<string, unknown>;
    const props = (s.properties ?? {}) as Record<string, Schema>;
    for (const r of (s.required ?? []) as string[]) if (!(r in obj)) errs.push(`${at}: missing ${r}`);
    for (const [k, v] of Object.entries(obj)) {
      if (s.propertyNames !== undefined) errs.push(...validate(s.propertyNames as Schema, k, `${at}/${k}(name)`));
      if (k in props) errs.push(...validate(props[k] as Schema, v, `${at}/${k}`));
      else if (s.additionalProperties !== undefined)
        errs.push(...validate(s.additionalProperties as Schema, v, `${at}/${k}`));
    }
  }
  return errs;
}
