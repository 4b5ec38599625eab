import { AttributeType, type AttributeMessage, type TensorMessage } from "./onnx-proto.ts";

/** An attribute whose ONNX type is stated explicitly (needed for float attributes holding integral values, e.g. alpha = 1). */
export type TypedAttribute =
  | { kind: "float"; value: number }
  | { kind: "floats"; value: number[] }
  | { kind: "int"; value: number }
  | { kind: "ints"; value: number[] }
  | { kind: "tensor"; value: TensorMessage };

/**
 * Node attribute values. Untyped numbers map to INT when integral and FLOAT otherwise (arrays: INTS unless an element
 * is fractional); strings map to STRING. Wrap with `attr.float(1)` etc. when that rule would pick the wrong type.
 * `undefined` attributes are omitted.
 */
export type AttributeValue = number | number[] | string | string[] | TypedAttribute | undefined;
export type Attributes = Record<string, AttributeValue>;

export const attr = {
  float: (value: number): TypedAttribute => ({ kind: "float", value }),
  floats: (value: number[]): TypedAttribute => ({ kind: "floats", value }),
  int: (value: number): TypedAttribute => ({ kind: "int", value }),
  ints: (value: number[]): TypedAttribute => ({ kind: "ints", value }),
};

const utf8 = new TextEncoder();

export function attributeMessage(name: string, value: Exclude<AttributeValue, undefined>): AttributeMessage {
  if (typeof value === "string") return { name, type: AttributeType.STRING, s: utf8.encode(value) };
  if (typeof value === "number") return attributeMessage(name, Number.isInteger(value) ? attr.int(value) : attr.float(value));
  if (Array.isArray(value)) {
    if (value.length > 0 && value.every((v) => typeof v === "string")) return { name, type: AttributeType.STRINGS, strings: (value as string[]).map((v) => utf8.encode(v)) };
    const numbers = value as number[];
    return attributeMessage(name, numbers.every(Number.isInteger) ? attr.ints(numbers) : attr.floats(numbers));
  }
  switch (value.kind) {
    case "float":
      return { name, type: AttributeType.FLOAT, f: value.value };
    case "floats":
      return { name, type: AttributeType.FLOATS, floats: value.value };
    case "int":
      return { name, type: AttributeType.INT, i: checkedInt(name, value.value) };
    case "ints":
      return { name, type: AttributeType.INTS, ints: value.value.map((v) => checkedInt(name, v)) };
    case "tensor":
      return { name, type: AttributeType.TENSOR, t: value.value };
  }
}

function checkedInt(name: string, v: number): number {
  if (!Number.isSafeInteger(v)) throw new TypeError(`attribute ${name}: ${v} is not an integer`);
  return v;
}
