import protobuf from "protobufjs";
import { modelError } from "../cli/errors.ts";

/**
 * The subset of sentencepiece's src/sentencepiece_model.proto (proto2, package sentencepiece) that encoding and
 * decoding need. Field numbers are the official ones; defaults are applied in `parseModelProto`, so that presence
 * stays visible.
 */
const SENTENCEPIECE_PROTO_SUBSET = `
syntax = "proto2";
package sentencepiece;

message TrainerSpec {
  optional int32 model_type = 3;
  optional bool treat_whitespace_as_suffix = 24;
  optional bool byte_fallback = 35;
  optional string unk_surface = 44;
  optional string unk_piece = 45;
  optional string bos_piece = 46;
  optional string eos_piece = 47;
  optional string pad_piece = 48;
}

message NormalizerSpec {
  optional string name = 1;
  optional bytes precompiled_charsmap = 2;
  optional bool add_dummy_prefix = 3;
  optional bool remove_extra_whitespaces = 4;
  optional bool escape_whitespaces = 5;
}

message ModelProto {
  message SentencePiece {
    optional string piece = 1;
    optional float score = 2;
    optional int32 type = 3;
  }
  repeated SentencePiece pieces = 1;
  optional TrainerSpec trainer_spec = 2;
  optional NormalizerSpec normalizer_spec = 3;
  optional NormalizerSpec denormalizer_spec = 5;
}
`;

/** ModelProto.SentencePiece.Type. */
export const PieceType = { normal: 1, unknown: 2, control: 3, userDefined: 4, unused: 5, byte: 6 } as const;
export type PieceType = (typeof PieceType)[keyof typeof PieceType];

/** TrainerSpec.ModelType. */
export const ModelType = { unigram: 1, bpe: 2, word: 3, char: 4 } as const;

export interface Piece {
  piece: string;
  score: number;
  type: PieceType;
}

export interface TrainerSpec {
  modelType: number;
  treatWhitespaceAsSuffix: boolean;
  byteFallback: boolean;
  unkSurface: string;
  unkPiece: string;
  bosPiece: string;
  eosPiece: string;
  padPiece: string;
}

export interface NormalizerSpec {
  name: string;
  precompiledCharsmap: Uint8Array;
  addDummyPrefix: boolean;
  removeExtraWhitespaces: boolean;
  escapeWhitespaces: boolean;
}

export interface ModelProto {
  pieces: Piece[];
  trainerSpec: TrainerSpec;
  normalizerSpec: NormalizerSpec;
  hasDenormalizer: boolean;
}

const modelProtoType = protobuf.parse(SENTENCEPIECE_PROTO_SUBSET, { keepCase: true }).root.lookupType(
  "sentencepiece.ModelProto",
);

type Raw = Record<string, unknown>;

const or = <T>(value: unknown, fallback: T): T => (value === undefined || value === null ? fallback : (value as T));
// An empty string means "unset" for the special piece names (model_interface.cc RETURN_PIECE).
const pieceName = (value: unknown, fallback: string): string => (typeof value === "string" && value ? value : fallback);

/** Decodes a serialized sentencepiece ModelProto (the bytes of a `tokenizer.model`), applying proto defaults. */
export function parseModelProto(bytes: Uint8Array, source: string): ModelProto {
  let raw: Raw;
  try {
    raw = modelProtoType.toObject(modelProtoType.decode(bytes), { defaults: false }) as Raw;
  } catch (error) {
    throw modelError(`${source}: not a sentencepiece model (${(error as Error).message})`);
  }
  const trainer = or<Raw>(raw.trainer_spec, {});
  const normalizer = or<Raw>(raw.normalizer_spec, {});
  const denormalizer = or<Raw>(raw.denormalizer_spec, {});
  const pieces = or<Raw[]>(raw.pieces, []).map((p) => ({
    piece: or(p.piece, ""),
    score: or(p.score, 0),
    type: or<PieceType>(p.type, PieceType.normal),
  }));
  return {
    pieces,
    trainerSpec: {
      modelType: or(trainer.model_type, ModelType.unigram),
      treatWhitespaceAsSuffix: or(trainer.treat_whitespace_as_suffix, false),
      byteFallback: or(trainer.byte_fallback, false),
      unkSurface: or(trainer.unk_surface, " \u2047 "),
      unkPiece: pieceName(trainer.unk_piece, "<unk>"),
      bosPiece: pieceName(trainer.bos_piece, "<s>"),
      eosPiece: pieceName(trainer.eos_piece, "</s>"),
      padPiece: pieceName(trainer.pad_piece, "<pad>"),
    },
    normalizerSpec: {
      name: or(normalizer.name, ""),
      precompiledCharsmap: new Uint8Array(or<Uint8Array>(normalizer.precompiled_charsmap, new Uint8Array())),
      addDummyPrefix: or(normalizer.add_dummy_prefix, true),
      removeExtraWhitespaces: or(normalizer.remove_extra_whitespaces, true),
      escapeWhitespaces: or(normalizer.escape_whitespaces, true),
    },
    hasDenormalizer: or<Uint8Array>(denormalizer.precompiled_charsmap, new Uint8Array()).length > 0,
  };
}

/** Serializes a BPE model with byte fallback and an identity normalizer (for project-generated test checkpoints). */
export function encodeBpeModelProto(pieces: readonly Piece[]): Uint8Array {
  const message = modelProtoType.fromObject({
    pieces,
    trainer_spec: { model_type: ModelType.bpe, byte_fallback: true },
    normalizer_spec: { name: "identity", add_dummy_prefix: true, remove_extra_whitespaces: false, escape_whitespaces: true },
  });
  return modelProtoType.encode(message).finish();
}
