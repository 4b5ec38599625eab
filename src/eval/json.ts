import { existsSync, readFileSync } from "node:fs";
import { inputError } from "../cli/errors.ts";

/** Reads a JSON file; a missing or malformed file is an input error naming it. */
export function readJsonFile(path: string, what: string): unknown {
  if (!existsSync(path)) throw inputError(`${what} not found: ${path}`);
  try {
    return JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw inputError(`${what} is not valid JSON: ${path} (${(error as Error).message})`);
  }
}

export const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

export function arrayField(object: unknown, field: string, where: string): unknown[] {
  const value = isObject(object) ? object[field] : undefined;
  if (!Array.isArray(value)) throw inputError(`${where}: expected "${field}" to be a list`);
  return value;
}

export function imageIdField(object: Record<string, unknown>, field: string, where: string): string | number {
  const value = object[field];
  if (typeof value !== "string" && typeof value !== "number") throw inputError(`${where}: "${field}" must be a string or a number`);
  return value;
}

export function stringList(value: unknown, where: string): string[] {
  if (!Array.isArray(value) || !value.every((s) => typeof s === "string")) throw inputError(`${where}: expected a list of strings`);
  return value;
}
