import { inputError } from "../cli/errors.ts";
import { IMAGE_TOKEN_INDEX } from "../text/tokenizer.ts";

/**
 * The <bbox> id GLaMM's official loader puts in config.bbox_token_idx when the caller passes none (GLaMMForCausalLM
 * defaults to 32002; eval/region_captioning/infer.py passes none). It is <bbox> in the real GLaMM vocabulary; in a
 * checkpoint whose <bbox> has another id the official code (and the oracle) leave the <bbox> embeddings unreplaced.
 */
export const GLAMM_DEFAULT_BBOX_TOKEN_ID = 32002;

/** Row-major float32 rows of one width. */
export interface FeatureRows {
  data: Float32Array;
  rows: number;
}

export interface EmbeddingTable {
  /** [vocab, hidden] row-major. */
  data: Float32Array;
  hidden: number;
}

export interface SpliceInput {
  /** Prompt ids with at most one IMAGE_TOKEN_INDEX placeholder. */
  ids: readonly number[];
  table: EmbeddingTable;
  /** Projected CLIP patches that replace the placeholder (576 rows for GLaMM). */
  image?: FeatureRows;
  /** Region-encoder rows that replace the <bbox> token embeddings, in order. */
  regions?: FeatureRows;
  bboxTokenId?: number;
}

export interface SplicedSequence {
  /** inputs_embeds [length, hidden]. */
  embeds: Float32Array;
  /** Ids over the expanded sequence; image rows hold IMAGE_TOKEN_INDEX. */
  expandedIds: number[];
}

/**
 * GLaMM's prepare_inputs_labels_for_multimodal for one prompt and one image: token embeddings, the image rows in
 * place of the placeholder (the <im_start>/<im_end> around it stay ordinary tokens), then the embedding of every
 * <bbox> in the expanded sequence replaced by the next region row. As there, extra region rows are dropped, and a
 * prompt without the placeholder is embedded as text only (regions unused).
 */
export function spliceEmbeddings({ ids, table, image, regions, bboxTokenId }: SpliceInput): SplicedSequence {
  const { hidden } = table;
  const vocab = table.data.length / hidden;
  const placeholders = ids.filter((id) => id === IMAGE_TOKEN_INDEX).length;
  if (placeholders > 1) throw inputError(`the prompt holds ${placeholders} image placeholders; one image is supported`);
  const withImage = placeholders === 1;
  if (withImage && !image) throw inputError("the prompt has an image placeholder but no image features were given");
  if (image && image.data.length !== image.rows * hidden) throw inputError(`image features hold ${image.data.length} values, not ${image.rows}×${hidden}`);

  const expandedIds = withImage && image ? ids.flatMap((id) => (id === IMAGE_TOKEN_INDEX ? new Array<number>(image.rows).fill(IMAGE_TOKEN_INDEX) : [id])) : [...ids];
  const embeds = new Float32Array(expandedIds.length * hidden);
  let imageRow = 0;
  expandedIds.forEach((id, position) => {
    if (id === IMAGE_TOKEN_INDEX) {
      embeds.set(image!.data.subarray(imageRow * hidden, ++imageRow * hidden), position * hidden);
      return;
    }
    if (!Number.isInteger(id) || id < 0 || id >= vocab) throw inputError(`token id ${id} is outside the embedding table (0..${vocab - 1})`);
    embeds.set(table.data.subarray(id * hidden, (id + 1) * hidden), position * hidden);
  });

  if (withImage && regions && regions.rows > 0) {
    if (bboxTokenId === undefined) throw inputError("region features were given without the <bbox> token id");
    if (regions.data.length !== regions.rows * hidden) throw inputError(`region features hold ${regions.data.length} values, not ${regions.rows}×${hidden}`);
    const bboxPositions = expandedIds.flatMap((id, position) => (id === bboxTokenId ? [position] : []));
    if (bboxPositions.length > regions.rows) throw inputError(`the prompt has ${bboxPositions.length} <bbox> tokens but only ${regions.rows} boxes were given`);
    bboxPositions.forEach((position, row) => embeds.set(regions.data.subarray(row * hidden, (row + 1) * hidden), position * hidden));
  }
  return { embeds, expandedIds };
}

/** The embedding rows of `ids` (tokens generated after the prompt). */
export function embedTokens(table: EmbeddingTable, ids: readonly number[]): Float32Array {
  return spliceEmbeddings({ ids, table }).embeds;
}
