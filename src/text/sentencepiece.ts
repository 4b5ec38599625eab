import { readFileSync } from "node:fs";
import { inputError, modelError } from "../cli/errors.ts";
import { bpeSegment, type BpeVocabulary } from "./bpe.ts";
import { ModelType, parseModelProto, PieceType, type ModelProto } from "./sentencepiece-proto.ts";
import { decodeBytesLikeSentencepiece } from "./utf8.ts";

const SPACE_SYMBOL = "\u2581";
const BYTE_PIECE = /^<0x([0-9A-F]{2})>$/;

const bytePiece = (byte: number) => `<0x${byte.toString(16).toUpperCase().padStart(2, "0")}>`;

// Lone surrogates cannot be UTF-8 encoded; sentencepiece would see U+FFFD for malformed input.
const wellFormed = (text: string) =>
  text.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, "\uFFFD");

/**
 * A SentencePiece BPE model with the behaviour of sentencepiece's SentencePieceProcessor: normalizer (dummy prefix,
 * whitespace escaping and removal, user-defined symbols kept whole), BPE segmentation, byte fallback or merged
 * unknown runs, and decoding with byte pieces reassembled into UTF-8.
 */
export class SentencePieceProcessor implements BpeVocabulary {
  private readonly mergeable = new Map<string, number>();
  private readonly reserved = new Map<string, number>();
  private readonly userDefinedByFirstChar = new Map<string, string[]>();
  readonly unkId: number;

  private constructor(private readonly model: ModelProto, source: string) {
    const { pieces, trainerSpec, normalizerSpec } = model;
    if (trainerSpec.modelType !== ModelType.bpe) {
      throw modelError(`${source}: only BPE sentencepiece models are supported (model_type ${trainerSpec.modelType})`);
    }
    if (normalizerSpec.precompiledCharsmap.length > 0 || model.hasDenormalizer) {
      throw modelError(
        `${source}: precompiled normalization rules ('${normalizerSpec.name}') are not supported; LLaMA/Vicuna models use 'identity'`,
      );
    }
    let unkId = -1;
    const bytesFound = new Set<number>();
    pieces.forEach(({ piece, type }, id) => {
      if (!piece) throw modelError(`${source}: piece ${id} is empty`);
      const mergeable = type === PieceType.normal || type === PieceType.userDefined || type === PieceType.unused;
      const map = mergeable ? this.mergeable : this.reserved;
      if (map.has(piece)) throw modelError(`${source}: piece ${JSON.stringify(piece)} is defined twice`);
      map.set(piece, id);
      if (type === PieceType.userDefined) {
        const list = this.userDefinedByFirstChar.get(piece[0]) ?? [];
        list.push(piece);
        list.sort((a, b) => b.length - a.length);
        this.userDefinedByFirstChar.set(piece[0], list);
      }
      if (type === PieceType.unknown) {
        if (unkId >= 0) throw modelError(`${source}: more than one unknown piece`);
        unkId = id;
      }
      if (type === PieceType.byte) {
        const match = BYTE_PIECE.exec(piece);
        if (!trainerSpec.byteFallback || !match) throw modelError(`${source}: unexpected byte piece ${piece}`);
        bytesFound.add(parseInt(match[1], 16));
      }
    });
    if (unkId < 0) throw modelError(`${source}: the model has no unknown piece`);
    if (trainerSpec.byteFallback && bytesFound.size !== 256) {
      throw modelError(`${source}: byte_fallback is set but there are not 256 byte pieces`);
    }
    this.unkId = unkId;
  }

  static fromBytes(bytes: Uint8Array, source = "tokenizer.model"): SentencePieceProcessor {
    return new SentencePieceProcessor(parseModelProto(bytes, source), source);
  }

  static fromFile(path: string): SentencePieceProcessor {
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(path);
    } catch (error) {
      throw modelError(`cannot read sentencepiece model ${path}: ${(error as Error).message}`);
    }
    return SentencePieceProcessor.fromBytes(bytes, path);
  }

  get size(): number {
    return this.model.pieces.length;
  }

  idToPiece(id: number): string {
    const piece = this.model.pieces[id];
    if (!Number.isInteger(id) || piece === undefined) {
      throw inputError(`token id ${id} is outside the sentencepiece vocabulary (0..${this.size - 1})`);
    }
    return piece.piece;
  }

  pieceToId(piece: string): number {
    return this.reserved.get(piece) ?? this.mergeable.get(piece) ?? this.unkId;
  }

  mergeablePieceId(piece: string): number | undefined {
    return this.mergeable.get(piece);
  }

  score(id: number): number {
    return this.model.pieces[id].score;
  }

  private type(id: number): PieceType {
    return this.model.pieces[id].type;
  }

  isUnused(id: number): boolean {
    return this.type(id) === PieceType.unused;
  }

  isControl(id: number): boolean {
    return this.type(id) === PieceType.control;
  }

  isUnknown(id: number): boolean {
    return this.type(id) === PieceType.unknown;
  }

  isByte(id: number): boolean {
    return this.type(id) === PieceType.byte;
  }

  /** Id of the trainer's bos/eos/pad piece when it is a control piece, else -1 (as sentencepiece's bos_id()). */
  controlId(which: "bos" | "eos" | "pad"): number {
    const spec = this.model.trainerSpec;
    const id = this.pieceToId({ bos: spec.bosPiece, eos: spec.eosPiece, pad: spec.padPiece }[which]);
    return this.isControl(id) ? id : -1;
  }

  userDefinedMatch(text: string, pos: number): number {
    const candidates = this.userDefinedByFirstChar.get(text[pos]);
    return candidates?.find((symbol) => text.startsWith(symbol, pos))?.length ?? 0;
  }

  /** normalizer.cc Normalize for models without a precompiled character map. */
  normalize(input: string): string {
    const text = wellFormed(input);
    if (text.length === 0) return "";
    const spec = this.model.normalizerSpec;
    const removeExtra = spec.removeExtraWhitespaces;
    const space = spec.escapeWhitespaces ? SPACE_SYMBOL : " ";
    const prefixLength = (pos: number) => this.userDefinedMatch(text, pos) || (text.codePointAt(pos)! > 0xffff ? 2 : 1);

    let pos = 0;
    if (removeExtra) while (pos < text.length && text[pos] === " ") pos += 1;
    if (pos === text.length) return "";

    const suffix = this.model.trainerSpec.treatWhitespaceAsSuffix;
    let out = !suffix && spec.addDummyPrefix ? space : "";
    let isPrevSpace = removeExtra;
    while (pos < text.length) {
      const length = prefixLength(pos);
      let chunk = text.slice(pos, pos + length);
      if (isPrevSpace) chunk = chunk.replace(/^ +/, "");
      if (chunk.length > 0) {
        out += spec.escapeWhitespaces ? chunk.replaceAll(" ", SPACE_SYMBOL) : chunk;
        isPrevSpace = chunk.endsWith(" ");
      }
      pos += length;
      if (!removeExtra) isPrevSpace = false;
    }
    if (removeExtra) while (out.endsWith(space)) out = out.slice(0, -space.length);
    if (suffix && spec.addDummyPrefix) out += space;
    return out;
  }

  /** Pieces and ids of `text` (SentencePieceProcessor::Encode). */
  encodeWithPieces(text: string): { pieces: string[]; ids: number[] } {
    const pieces: string[] = [];
    const ids: number[] = [];
    const byteFallback = this.model.trainerSpec.byteFallback;
    let prevUnknown = false;
    for (const [piece, id] of bpeSegment(this.normalize(text), this)) {
      const unknown = this.isUnknown(id);
      if (unknown && byteFallback) {
        for (const byte of new TextEncoder().encode(piece)) {
          pieces.push(bytePiece(byte));
          ids.push(this.pieceToId(bytePiece(byte)));
        }
      } else if (unknown && prevUnknown) {
        pieces[pieces.length - 1] += piece;
      } else {
        pieces.push(piece);
        ids.push(id);
      }
      prevUnknown = unknown;
    }
    return { pieces, ids };
  }

  encode(text: string): number[] {
    return this.encodeWithPieces(text).ids;
  }

  decode(ids: readonly number[]): string {
    return this.decodePieces(ids.map((id) => this.idToPiece(id)));
  }

  /** SentencePieceProcessor::Decode: control pieces vanish, the first piece loses its dummy-prefix space. */
  decodePieces(pieces: readonly string[]): string {
    const spec = this.model.normalizerSpec;
    const ids = pieces.map((piece) => this.pieceToId(piece));
    let text = "";
    let byteStart = 0;
    let expectBosSpace = true;
    let bosSpaceSeen = false;
    const flushBytes = (end: number) => {
      if (end <= byteStart) return;
      const bytes = Uint8Array.from(pieces.slice(byteStart, end), (p) => parseInt(BYTE_PIECE.exec(p)![1], 16));
      text += decodeBytesLikeSentencepiece(bytes);
    };
    pieces.forEach((original, i) => {
      const id = ids[i];
      if (this.isByte(id)) return;
      flushBytes(i);
      if (bosSpaceSeen || text.length > 0) expectBosSpace = false;
      byteStart = i + 1;
      bosSpaceSeen = false;
      if (this.isControl(id)) return;
      if (this.isUnknown(id)) {
        text += this.idToPiece(id) === original ? this.model.trainerSpec.unkSurface : original;
        return;
      }
      let piece = original;
      if (expectBosSpace && (spec.addDummyPrefix || spec.removeExtraWhitespaces) && piece.startsWith(SPACE_SYMBOL)) {
        piece = piece.slice(SPACE_SYMBOL.length);
        bosSpaceSeen = !spec.removeExtraWhitespaces;
      }
      text += piece.replaceAll(SPACE_SYMBOL, " ");
    });
    flushBytes(pieces.length);
    return text;
  }
}
