/**
 * SentencePiece BPE segmentation (bpe_model.cc, Model::SampleEncode without dropout): start from single characters
 * (user-defined symbols whole and frozen), repeatedly merge the adjacent pair whose concatenation is the
 * highest-scoring piece, leftmost first on ties, using a priority queue of candidate pairs; stale candidates are
 * skipped when popped. Merged UNUSED pieces are split back into the pair that formed them.
 */

export interface BpeVocabulary {
  /** Id of a NORMAL, USER_DEFINED or UNUSED piece (sentencepiece's `pieces_`), else undefined. */
  mergeablePieceId(piece: string): number | undefined;
  score(id: number): number;
  isUnused(id: number): boolean;
  /** sentencepiece's PieceToId: reserved pieces first, then mergeable ones, else the unknown id. */
  pieceToId(piece: string): number;
  /** Length (UTF-16 units) of the longest user-defined symbol starting at `pos`, or 0. */
  userDefinedMatch(text: string, pos: number): number;
}

interface Candidate {
  left: number;
  right: number;
  score: number;
  size: number;
}

/** Binary max-heap ordered by score, then by smaller left index. */
class CandidateQueue {
  private readonly heap: Candidate[] = [];

  get size(): number {
    return this.heap.length;
  }

  private static before(a: Candidate, b: Candidate): boolean {
    return a.score > b.score || (a.score === b.score && a.left < b.left);
  }

  push(item: Candidate): void {
    const heap = this.heap;
    let i = heap.push(item) - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!CandidateQueue.before(heap[i], heap[parent])) break;
      [heap[i], heap[parent]] = [heap[parent], heap[i]];
      i = parent;
    }
  }

  pop(): Candidate {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let best = i;
        if (l < heap.length && CandidateQueue.before(heap[l], heap[best])) best = l;
        if (r < heap.length && CandidateQueue.before(heap[r], heap[best])) best = r;
        if (best === i) break;
        [heap[i], heap[best]] = [heap[best], heap[i]];
        i = best;
      }
    }
    return top;
  }
}

/** Length in UTF-16 units of the code point at `pos` (the input is well-formed). */
function charLength(text: string, pos: number): number {
  const c = text.charCodeAt(pos);
  return c >= 0xd800 && c <= 0xdbff && pos + 1 < text.length ? 2 : 1;
}

/** Segments a normalized string into [piece, id] pairs; ids of unknown pieces are the unknown id. */
export function bpeSegment(normalized: string, vocab: BpeVocabulary): Array<[string, number]> {
  const start: number[] = [];
  const length: number[] = [];
  const frozen: boolean[] = [];
  for (let pos = 0; pos < normalized.length; ) {
    const userDefined = vocab.userDefinedMatch(normalized, pos);
    const len = userDefined > 0 ? userDefined : charLength(normalized, pos);
    start.push(pos);
    length.push(len);
    frozen.push(userDefined > 0);
    pos += len;
  }
  const count = start.length;
  if (count === 0) return [];
  const prev = Array.from({ length: count }, (_, i) => i - 1);
  const next = Array.from({ length: count }, (_, i) => (i + 1 < count ? i + 1 : -1));
  const text = (i: number) => normalized.slice(start[i], start[i] + length[i]);

  const queue = new CandidateQueue();
  const reverseMerges = new Map<string, [string, string]>();
  const maybeAddPair = (left: number, right: number) => {
    if (left === -1 || right === -1 || frozen[left] || frozen[right]) return;
    const piece = normalized.slice(start[left], start[left] + length[left] + length[right]);
    const id = vocab.mergeablePieceId(piece);
    if (id === undefined) return;
    queue.push({ left, right, score: vocab.score(id), size: piece.length });
    if (vocab.isUnused(id)) reverseMerges.set(piece, [text(left), text(right)]);
  };

  for (let i = 1; i < count; i++) maybeAddPair(i - 1, i);

  while (queue.size > 0) {
    const top = queue.pop();
    const { left, right } = top;
    if (length[left] === 0 || length[right] === 0 || length[left] + length[right] !== top.size) continue;
    length[left] += length[right];
    length[right] = 0;
    next[left] = next[right];
    if (next[right] >= 0) prev[next[right]] = left;
    maybeAddPair(prev[left], left);
    maybeAddPair(left, next[left]);
  }

  const output: Array<[string, number]> = [];
  const resegment = (piece: string) => {
    const id = vocab.pieceToId(piece);
    const split = vocab.isUnused(id) ? reverseMerges.get(piece) : undefined;
    if (split === undefined) {
      output.push([piece, id]);
      return;
    }
    resegment(split[0]);
    resegment(split[1]);
  };
  for (let i = 0; i !== -1; i = next[i]) resegment(text(i));
  return output;
}
