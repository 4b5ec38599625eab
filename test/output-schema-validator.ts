/**
 * A small JSON Schema (2020-12) checker for the keywords src/output/schema.json uses: type, const, enum, required,
 * properties, additionalProperties, items, minItems, maxItems, minimum, pattern, $ref to #/$defs. Returns error paths.
 */
type Schema = Record<string, any>;

const typeOf = (value: unknown): string =>
  value === null ? "null" : Array.isArray(value) ? "array" : Number.isInteger(value) ? "integer" : typeof value;

export function validate(root: Schema, value: unknown, schema: Schema = root, path = "$"): string[] {
  if (schema.$ref) return validate(root, value, root.$defs[schema.$ref.replace("#/$defs/", "")], path);
  const errors: string[] = [];
  const actual = typeOf(value);
  if (schema.type && !(schema.type === actual || (schema.type === "number" && actual === "integer"))) return [`${path}: expected ${schema.type}, got ${actual}`];
  if ("const" in schema && value !== schema.const) errors.push(`${path}: expected ${JSON.stringify(schema.const)}`);
  if (schema.enum && !schema.enum.includes(value)) errors.push(`${path}: not one of ${schema.enum.join(", ")}`);
  if (typeof value === "number" && schema.minimum !== undefined && value < schema.minimum) errors.push(`${path}: below ${schema.minimum}`);
  if (typeof value === "string" && schema.pattern && !new RegExp(schema.pattern).test(value)) errors.push(`${path}: does not match ${schema.pattern}`);
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) errors.push(`${path}: fewer than ${schema.minItems} items`);
    if (schema.maxItems !== undefined && value.length > schema.maxItems) errors.push(`${path}: more than ${schema.maxItems} items`);
    if (schema.items) value.forEach((item, i) => errors.push(...validate(root, item, schema.items, `${path}[${i}]`)));
  }
  if (actual === "object") {
    const object = value as Record<string, unknown>;
    for (const key of schema.required ?? []) if (!(key in object)) errors.push(`${path}: missing ${key}`);
    for (const [key, item] of Object.entries(object)) {
      const sub = schema.properties?.[key] ?? schema.additionalProperties;
      if (sub === false) errors.push(`${path}: unexpected ${key}`);
      else if (sub && sub !== true) errors.push(...validate(root, item, sub, `${path}.${key}`));
    }
  }
  return errors;
}
