import { describe, expect, test } from "bun:test";
import { GlammError } from "../src/cli/errors.ts";
import { spliceEmbeddings } from "../src/pipeline/embeddings.ts";

// Row i of the table is [i, 10 + i]; hidden size 2; <bbox> is id 5.
const table = { data: Float32Array.from({ length: 12 }, (_, k) => (k % 2 === 0 ? k / 2 : 10 + (k - 1) / 2)), hidden: 2 };
const image = { data: Float32Array.from([100, 101, 102, 103, 104, 105]), rows: 3 };
const regions = { data: Float32Array.from([-1, -2, -3, -4]), rows: 2 };
const BBOX = 5;

describe("spliceEmbeddings (prepare_inputs_labels_for_multimodal)", () => {
  test("image rows replace the placeholder between <im_start>/<im_end>, <bbox> rows take the region features in order", () => {
    const { embeds, expandedIds } = spliceEmbeddings({ ids: [1, 3, -200, 4, 5, 2, 5], table, image, regions, bboxTokenId: BBOX });
    expect(expandedIds).toEqual([1, 3, -200, -200, -200, 4, 5, 2, 5]);
    expect(Array.from(embeds)).toEqual([1, 11, 3, 13, 100, 101, 102, 103, 104, 105, 4, 14, -1, -2, 2, 12, -3, -4]);
  });

  test("extra region rows are dropped; a prompt without the placeholder is text only and ignores regions", () => {
    const one = spliceEmbeddings({ ids: [-200, 5], table, image, regions, bboxTokenId: BBOX });
    expect(Array.from(one.embeds)).toEqual([100, 101, 102, 103, 104, 105, -1, -2]);
    const textOnly = spliceEmbeddings({ ids: [1, 5], table, image, regions, bboxTokenId: BBOX });
    expect(Array.from(textOnly.embeds)).toEqual([1, 11, 5, 15]);
  });

  test("a <bbox> id that the prompt does not hold leaves every embedding as the table gives it", () => {
    const { embeds } = spliceEmbeddings({ ids: [-200, 5], table, image, regions, bboxTokenId: 32002 });
    expect(Array.from(embeds.subarray(6))).toEqual([5, 15]);
  });

  test("bad input is a GlammError with the input exit code", () => {
    const cases = [
      { ids: [-200, -200], table, image },
      { ids: [1, -200], table },
      { ids: [1, 6], table },
      { ids: [-200, 5, 5, 5], table, image, regions, bboxTokenId: BBOX },
      { ids: [-200], table, image: { data: new Float32Array(5), rows: 3 } },
    ];
    for (const input of cases) {
      let error: unknown;
      try {
        spliceEmbeddings(input);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(GlammError);
      expect((error as GlammError).exitCode).toBe(2);
    }
  });
});
