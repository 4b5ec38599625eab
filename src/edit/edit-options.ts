import { inputError, usageError } from "../cli/errors.ts";
import type { EditSettings } from "./sdxl-inpaint.ts";

/** The official demo's call: 20 steps, guidance 8.0, strength 0.99, generator seeded with 0. */
export const EDIT_DEFAULTS = { steps: "20", guidance: "8", strength: "0.99", seed: "0" } as const;

export interface EditOptionText {
  prompt: string | undefined;
  negativePrompt?: string;
  steps: string;
  guidance: string;
  strength: string;
}

const number = (flag: string, text: string, valid: (v: number) => boolean, what: string): number => {
  const value = Number(text);
  if (text.trim() === "" || !Number.isFinite(value) || !valid(value)) throw usageError(`${flag} must be ${what}, got "${text}"`);
  return value;
};

/** --prompt, --negative-prompt, --steps, --guidance, --strength checked as the pipeline needs them. */
export function parseEditSettings(text: EditOptionText): EditSettings {
  if (text.prompt === undefined) throw usageError("--prompt is required: what to paint in the masked region");
  if (text.prompt.trim() === "") throw inputError("--prompt is empty: say what to paint in the masked region");
  return {
    prompt: text.prompt,
    negativePrompt: text.negativePrompt,
    steps: number("--steps", text.steps, (v) => Number.isInteger(v) && v >= 1 && v <= 1000, "a whole number from 1 to 1000"),
    guidance: number("--guidance", text.guidance, (v) => v >= 0, "a number >= 0"),
    strength: number("--strength", text.strength, (v) => v > 0 && v <= 1, "a number in (0, 1]"),
  };
}

/** --seed: torch.Generator("cpu").manual_seed takes any 64-bit seed; its MT19937 uses the low 32 bits, so glamm takes those. */
export function parseSeed(text: string): number {
  return number("--seed", text, (v) => Number.isInteger(v) && v >= 0 && v <= 0xffffffff, "a whole number from 0 to 4294967295");
}
