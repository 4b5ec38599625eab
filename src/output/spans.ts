/** Splits an answer into plain runs and phrase runs, for colouring phrases in the terminal and the gallery. */
import { colorSlots } from "./palette.ts";

interface PhraseSpan {
  phrase: string;
  start: number;
  end: number;
}

export interface TextRun {
  text: string;
  /** Colour slot of a phrase run; null for plain text. */
  slot: number | null;
  /** Indices of the segments (masks) the phrase run grounds. */
  segments: number[];
}

export function textRuns(text: string, segments: readonly PhraseSpan[]): TextRun[] {
  const slots = colorSlots(segments);
  const phrases = new Map<string, { start: number; end: number; slot: number; segments: number[] }>();
  segments.forEach((segment, i) => {
    if (segment.end <= segment.start || segment.end > text.length) return;
    const key = `${segment.start}:${segment.end}`;
    const phrase = phrases.get(key) ?? { start: segment.start, end: segment.end, slot: slots[i], segments: [] };
    phrase.segments.push(i);
    phrases.set(key, phrase);
  });
  const runs: TextRun[] = [];
  let at = 0;
  for (const phrase of [...phrases.values()].sort((a, b) => a.start - b.start)) {
    if (phrase.start < at) continue;
    if (phrase.start > at) runs.push({ text: text.slice(at, phrase.start), slot: null, segments: [] });
    runs.push({ text: text.slice(phrase.start, phrase.end), slot: phrase.slot, segments: phrase.segments });
    at = phrase.end;
  }
  if (at < text.length) runs.push({ text: text.slice(at), slot: null, segments: [] });
  return runs;
}
