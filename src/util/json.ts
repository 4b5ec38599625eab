import { readFileSync } from "node:fs";
import { modelError } from "../cli/errors.ts";

export type JsonObject = Record<string, unknown>;

/** Reads a JSON object from a checkpoint or store file; anything else is a model error naming the file. */
export function readJsonObject(path: string): JsonObject {
  try {
    const value: unknown = JSON.parse(readFileSync(path, "utf8"));
    if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error("not a JSON object");
    return value as JsonObject;
  } catch (error) {
    throw modelError(`cannot read ${path}: ${(error as Error).message.split("\n")[0]}`);
  }
}
