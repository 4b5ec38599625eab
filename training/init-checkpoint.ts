// Writes the demo GLaMM's starting point: a random-weight checkpoint in the official layout (glamm/ + clip/) at the
// demo sizes, with a tokenizer that has a piece for every word of the world. Training reads it, updates every tensor
// and writes the same files back, so the trained model goes through glamm's converter like any downloaded checkpoint.
// Usage: bun training/init-checkpoint.ts OUT_DIR [SEED]
import { defaultTinySizes, writeTinyCheckpoint, type TinySizes } from "../src/models/tiny-checkpoint.ts";
import { WORLD_WORDS } from "../src/world/scene.ts";

/** The demo model's sizes: the tiny defaults with a vocabulary large enough for the world's words. */
export const demoSizes: TinySizes = { ...defaultTinySizes, vocab: 768 };

if (import.meta.main) {
  const [out, seed] = process.argv.slice(2);
  if (!out) throw new Error("usage: bun training/init-checkpoint.ts OUT_DIR [SEED]");
  const written = writeTinyCheckpoint(out, Number(seed ?? 0), demoSizes, WORLD_WORDS);
  console.log(`wrote ${written.glamm} and ${written.clip}`);
}
