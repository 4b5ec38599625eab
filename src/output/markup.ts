/**
 * GLaMM answers mark grounded phrases as `A <p> red square </p> [SEG] is next to ...`: every [SEG] token yields one
 * mask, in order. Two readings of that markup live here:
 *
 * - `officialGcgCaption` mirrors the post-processing of the official GCG inference (groundingLMM eval/gcg/infer.py)
 *   exactly, so `--format glamm-eval` files score the same as the official ones: newlines removed, "  " -> " ",
 *   the part after the last "ASSISTANT: ", every `<...>` tag removed, "[SEG]" removed, whitespace runs collapsed,
 *   `'` stripped from both ends; phrases are the stripped `<p>(.*?)</p>` matches of the uncleaned text.
 *
 * - `parseAnswer` produces the human-readable text with character spans. Differences from the official caption, all on
 *   purpose: only GLaMM's own tokens are removed (a literal "x < y > z" in a chat answer survives); newlines are kept
 *   (at most one blank line); the space that markup removal leaves before punctuation is dropped
 *   ("circle </p> [SEG] ." gives "circle." where the official caption has "circle ."); quotes are not stripped.
 *   It also says which [SEG] belongs to which phrase: a [SEG] separated from a `</p>` only by whitespace or other
 *   markup belongs to that phrase; any other [SEG] has no phrase (e.g. "Sure, it is [SEG].").
 *   Malformed markup is recovered: a [SEG] inside an unclosed <p> closes the phrase there; an unclosed <p> followed by
 *   another <p> or the end is dropped, as is a stray </p>; each recovery is listed in `problems`.
 */
import type { Segment } from "./result.ts";

/** Python's str.isspace() set, which str.split() and str.strip() use (JS \s differs in a few code points). */
const PY_SPACE = "\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const PY_SPACE_RUN = new RegExp(`[${PY_SPACE}]+`, "g");
const PY_SPACE_EDGES = new RegExp(`^[${PY_SPACE}]+|[${PY_SPACE}]+$`, "g");
const pyStrip = (s: string) => s.replace(PY_SPACE_EDGES, "");

export interface OfficialCaption {
  caption: string;
  phrases: string[];
}

/** The official GCG inference's caption and phrase list for a decoded answer (Python's `.` is `[^\n]`). */
export function officialGcgCaption(decoded: string): OfficialCaption {
  const text = decoded.replaceAll("\n", "").replaceAll("  ", " ").split("ASSISTANT: ").at(-1)!;
  const phrases = [...text.matchAll(/<p>([^\n]*?)<\/p>/g)].map((m) => pyStrip(m[1]));
  const words = text.replace(/<[^\n]*?>/g, "").replaceAll("[SEG]", "").split(PY_SPACE_RUN).filter((w) => w !== "");
  const caption = pyStrip(words.join(" ").replace(/^'+|'+$/g, ""));
  return { caption, phrases };
}

export interface Phrase {
  text: string;
  /** Span in the clean text. */
  start: number;
  end: number;
}

export interface SegToken {
  /** Index into `phrases`, or null for a [SEG] outside any phrase. */
  phrase: number | null;
  /** Where the [SEG] stood in the clean text. */
  offset: number;
}

export interface ParsedAnswer {
  text: string;
  phrases: Phrase[];
  /** One entry per [SEG], in order: the i-th mask belongs to segs[i]. */
  segs: SegToken[];
  problems: string[];
}

/** GLaMM's control tokens besides <p>, </p> and [SEG]; the answer may carry them when decoded without skipping specials. */
const MARKUP = /(<p>|<\/p>|\[SEG\]|<\/s>|<s>|<unk>|<pad>|<im_start>|<im_end>|<image>|<bbox>|<point>)/;
const PUNCTUATION = /[.,;:!?)\]}]/;
const SPACE = new RegExp(`[${PY_SPACE}]`);

export function parseAnswer(answer: string): ParsedAnswer {
  const phrases: Phrase[] = [];
  const segs: SegToken[] = [];
  const problems: string[] = [];
  let out = "";
  // Whitespace and markup seen since the last character written; resolved when the next character arrives.
  let gap = { space: false, newlines: 0, markup: false };
  let open: { start: number | null } | null = null;
  let lastClosed: number | null = null;

  const closePhrase = () => {
    const start = open!.start ?? out.length;
    phrases.push({ text: out.slice(start, out.length), start, end: out.length });
    open = null;
    lastClosed = phrases.length - 1;
  };
  const writeChar = (char: string) => {
    if (out.length > 0) {
      if (gap.newlines > 0) out += "\n".repeat(Math.min(gap.newlines, 2));
      else if (gap.space && !(gap.markup && PUNCTUATION.test(char))) out += " ";
    }
    gap = { space: false, newlines: 0, markup: false };
    if (open && open.start === null) open.start = out.length;
    lastClosed = null;
    out += char;
  };

  answer.split(MARKUP).forEach((piece, i) => {
    if (i % 2 === 0) {
      for (const char of piece) {
        if (!SPACE.test(char)) writeChar(char);
        else {
          gap.space = true;
          if (char === "\n") gap.newlines++;
        }
      }
      return;
    }
    gap.markup = true;
    if (piece === "<p>") {
      if (open) problems.push(`unclosed <p> before offset ${out.length} dropped`);
      open = { start: null };
      lastClosed = null;
    } else if (piece === "</p>") {
      if (open) closePhrase();
      else problems.push(`stray </p> at offset ${out.length} ignored`);
    } else if (piece === "[SEG]") {
      if (open) {
        problems.push(`[SEG] inside an unclosed <p>: phrase closed at offset ${out.length}`);
        closePhrase();
      }
      segs.push(lastClosed === null ? { phrase: null, offset: out.length } : { phrase: lastClosed, offset: phrases[lastClosed].end });
    }
    // other control tokens only separate words
  });
  if (open) problems.push("unclosed <p> at the end dropped");
  return { text: out, phrases, segs, problems };
}

/**
 * Pairs masks with the answer's [SEG]s. The model makes one mask per generated [SEG], so the counts normally agree;
 * if there are more masks, the last ones are kept (as the official demo does), if fewer, the first [SEG]s get them.
 */
export function groundAnswer(parsed: ParsedAnswer, masks: readonly Uint8Array[]): { segments: Segment[]; problems: string[] } {
  const problems = [...parsed.problems];
  const n = Math.min(masks.length, parsed.segs.length);
  if (masks.length !== parsed.segs.length) {
    problems.push(`${masks.length} masks for ${parsed.segs.length} [SEG] tokens: ${n} kept`);
  }
  const kept = masks.slice(masks.length - n);
  const segments = kept.map((mask, i): Segment => {
    const seg = parsed.segs[i];
    if (seg.phrase === null) return { phrase: "", start: seg.offset, end: seg.offset, mask };
    const { text, start, end } = parsed.phrases[seg.phrase];
    return { phrase: text, start, end, mask };
  });
  return { segments, problems };
}
