// Writes the demo GLaMM's starting point: a random-weight checkpoint in the official layout (glamm/ + clip/) at the
// demo sizes, with a tokenizer that has a piece for every word of the world. Training reads it, updates every tensor
// and writes the same files back, so the trained model goes through glamm's converter like any downloaded checkpoint.
// Usage: bun training/init-checkpoint.ts OUT_DIR [SEED] [--wide]   (--wide: the main stage's LM sizes, demoWideSizes)
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { defaultTinySizes, writeTinyCheckpoint, type TinySizes } from "../src/models/tiny-checkpoint.ts";
import { WORLD_WORDS } from "../src/world/scene.ts";

/**
 * The demo model's sizes: the tiny widths, a 224-pixel CLIP (256 image tokens; its 16x16 grid is exactly what the
 * region encoder's 224 box scale and stride 14 cover) and a 512-pixel SAM (32x32 embeddings), so a training step costs
 * seconds on a CPU core. The vocabulary is LLaMA's 32000 so that <bbox> gets id 32002: the official code (and glamm)
 * put region features at that id whatever the tokenizer says.
 */
export const demoSizes: TinySizes = {
  ...defaultTinySizes,
  vocab: 32000,
  clip: { ...defaultTinySizes.clip, image: 224 },
  sam: { ...defaultTinySizes.sam, image: 512, window: 8 },
};

/**
 * The shipped demo's LM: wider than the vision stages' (head dimension 32 instead of 16) and a third layer, so that it
 * can list the objects of a scene and find the one it names. The vision and SAM stages run at `demoSizes`
 * (they depend on the LM's width only through the projector's output and lm_head), and widen.py carries what they
 * learnt into a checkpoint of these sizes for the main stage.
 */
export const demoWideSizes: TinySizes = { ...demoSizes, hidden: 128, layers: 3, heads: 4, intermediate: 344 };

/** The demo CLIP squashes the whole image to its input size instead of cropping the centre, so no object is cut off. */
function squashWholeImage(clipDir: string): void {
  const path = join(clipDir, "preprocessor_config.json");
  const config = JSON.parse(readFileSync(path, "utf8"));
  const side = demoSizes.clip.image;
  writeFileSync(path, JSON.stringify({ ...config, size: { height: side, width: side }, do_center_crop: false }, null, 2));
}

if (import.meta.main) {
  const wide = process.argv.includes("--wide");
  const [out, seed] = process.argv.slice(2).filter((a) => a !== "--wide");
  if (!out) throw new Error("usage: bun training/init-checkpoint.ts OUT_DIR [SEED] [--wide]");
  const written = writeTinyCheckpoint(out, Number(seed ?? 0), wide ? demoWideSizes : demoSizes, WORLD_WORDS);
  squashWholeImage(written.clip);
  console.log(`wrote ${written.glamm} and ${written.clip}`);
}
