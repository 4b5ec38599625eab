import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { clipCheckpointShapes, defaultTinySizes, glammCheckpointShapes, writeTinyCheckpoint, type TinySizes } from "../src/models/tiny-checkpoint.ts";
import { LlamaTokenizer } from "../src/text/tokenizer.ts";
import { openWeights } from "../src/weights/index.ts";

const oracle = join(import.meta.dir, "../../shared/oracle/tiny-a");
const haveOracle = existsSync(join(oracle, "refs/index.json"));
if (!haveOracle) console.warn("skipping oracle comparisons: ../shared/oracle/tiny-a is absent");

/** The default sizes are tiny-a's (its README and config); the shapes themselves come from the official code's checkpoint. */
const tinyA: TinySizes = defaultTinySizes;

const work = mkdtempSync(join(tmpdir(), "glamm-tiny-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("tiny checkpoint generator", () => {
  test.skipIf(!haveOracle)("writes exactly the keys and shapes the official code saves for the same sizes", () => {
    const index = JSON.parse(readFileSync(join(oracle, "refs/index.json"), "utf8"));
    const official = Object.entries(index.state_dict as Record<string, number[]>).filter(([k]) => !k.endsWith("rotary_emb.inv_freq"));
    expect(new Map(glammCheckpointShapes(tinyA))).toEqual(new Map(official));
    const clip = openWeights(join(oracle, "clip-vit-tiny-336"));
    const vision = clip.keys().filter((k) => k.startsWith("vision_model.") && !k.endsWith("position_ids"));
    expect(new Map(clipCheckpointShapes(tinyA))).toEqual(new Map(vision.map((k) => [k, [...clip.info(k).shape]])));
    clip.close();
  });

  test("writes a checkpoint the weights readers and the tokenizer load", () => {
    const { glamm, clip } = writeTinyCheckpoint(work, 7);
    const weights = openWeights(glamm);
    expect(weights.keys().length).toBe(glammCheckpointShapes(defaultTinySizes).length);
    const embed = weights.read("model.embed_tokens.weight", "float32") as Float32Array;
    expect(embed.length).toBe((512 + 7) * 64);
    expect(embed.some((v) => v !== 0)).toBe(true);
    weights.close();
    expect(openWeights(clip).keys().length).toBe(clipCheckpointShapes(defaultTinySizes).length);
    const config = JSON.parse(readFileSync(join(glamm, "config.json"), "utf8"));
    expect(existsSync(join(work, config.mm_vision_tower, "preprocessor_config.json"))).toBe(true);

    const tokenizer = LlamaTokenizer.fromDirectory(glamm);
    expect(tokenizer.specialTokenId("[SEG]")).toBe(516);
    const ids = tokenizer.encode("A man holds a red kite [SEG] ü");
    expect(ids[0]).toBe(1);
    expect(ids).toContain(516);
    // [SEG] is an added token, not a special one (GLaMM adds it with add_tokens), so decoding keeps it.
    expect(tokenizer.decode(ids, { skipSpecialTokens: true })).toBe("A man holds a red kite [SEG] ü");
  });

  test("the same seed writes the same bytes", () => {
    const a = writeTinyCheckpoint(join(work, "a"), 3);
    const b = writeTinyCheckpoint(join(work, "b"), 3);
    expect(readFileSync(join(a.glamm, "model.safetensors")).equals(readFileSync(join(b.glamm, "model.safetensors")))).toBe(true);
  });
});
