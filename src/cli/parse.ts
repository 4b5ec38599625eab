import { usageError } from "./errors.ts";

/** `--box x1,y1,x2,y2` in original-image pixels. */
export function parseBox(text: string): [number, number, number, number] {
  const parts = text.split(",").map((p) => Number(p.trim()));
  if (parts.length !== 4 || !parts.every(Number.isFinite)) throw usageError(`--box takes x1,y1,x2,y2 in pixels, got "${text}"`);
  return parts as [number, number, number, number];
}

/** A whole number option at least `min`. */
export function parseCount(name: string, text: string, min = 0): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) throw usageError(`${name} must be a whole number >= ${min}, got "${text}"`);
  return value;
}

export function parseChoice<T extends string>(name: string, text: string, choices: readonly T[]): T {
  if (!choices.includes(text as T)) throw usageError(`${name} must be one of ${choices.join(", ")}, got "${text}"`);
  return text as T;
}
