import { inputError, usageError } from "./errors.ts";

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

/** `ground --text`: at least one `<p>phrase</p>`, none empty, nested or left open. */
export function checkGroundText(text: string): string {
  let open = false;
  let phrases = 0;
  let start = 0;
  for (const match of text.matchAll(/<\/?p>/g)) {
    if (match[0] === "<p>") {
      if (open) throw inputError(`--text has a <p> inside another <p> (at character ${match.index}); phrases cannot nest`);
      open = true;
      start = match.index + 3;
    } else {
      if (!open) throw inputError(`--text has a </p> without its <p> (at character ${match.index})`);
      if (!text.slice(start, match.index).trim()) throw inputError(`--text has an empty <p></p> (at character ${start - 3})`);
      open = false;
      phrases++;
    }
  }
  if (open) throw inputError(`--text leaves a <p> open (at character ${start - 3}); close it with </p>`);
  if (phrases === 0) throw inputError(`--text marks no phrase to ground; mark each with <p>...</p>, e.g. "A <p>man</p> holds a <p>kite</p>."`);
  return text;
}

/** Referring expressions: none may be empty. */
export function checkExpressions(expressions: string[]): string[] {
  const empty = expressions.findIndex((e) => !e.trim());
  if (empty >= 0) throw inputError(`expression ${empty + 1} is empty; say what to segment, e.g. "the dog on the left"`);
  return expressions;
}
