import { expect } from "bun:test";
import { GlammError } from "../../src/cli/errors.ts";

/** Awaits a promise that must reject with a one-line GlammError matching pattern; returns the error. */
export async function expectGlammError(promise: Promise<unknown>, pattern: RegExp, exitCode?: number): Promise<GlammError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(GlammError);
  expect((error as GlammError).message).toMatch(pattern);
  expect((error as GlammError).message).not.toContain("\n");
  if (exitCode !== undefined) expect((error as GlammError).exitCode as number).toBe(exitCode);
  return error as GlammError;
}

/** glamm's own stderr lines (errors and notices) other than the end-of-run line naming the output folder. */
export const glammLines = (stderr: string): string[] => stderr.split("\n").filter((l) => l.startsWith("glamm:") && !l.startsWith("glamm: outputs in "));

/** The model commands' progress lines on a pipe (loading, first-use conversion). */
export const isProgressLine = (line: string): boolean => /^(loading|hashing |converting |converted |writing the token embedding table)/.test(line);
