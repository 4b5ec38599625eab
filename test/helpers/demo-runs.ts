import { copyFileSync, cpSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { defaultTinySizes, writeTinyCheckpoint } from "../../src/models/tiny-checkpoint.ts";
import { openWeights } from "../../src/weights/index.ts";
import { llavaConfig } from "./llava-config.ts";
import { writeTorchZip, type TorchTensorToWrite } from "../../src/weights/torch-zip-writer.ts";

/**
 * Stand-ins for the two training runs training/pack-demo.ts packs, in the layouts the trainers write (training/README.md),
 * with random float32 weights: `glamm-demo/` (glamm/, clip/, log.jsonl) and `attend-demo/` (llava-demo/ as a torch.save
 * pytorch_model.bin, clip-llava-demo/, sam_demo.pth + sam_demo.json, attend-log.jsonl).
 */
export function writeDemoRuns(dir: string): { glamm: string; attend: string } {
  const glamm = join(dir, "glamm-demo");
  writeTinyCheckpoint(glamm, 5);
  writeFileSync(join(glamm, "log.jsonl"), '{"step": 0, "lm": 9.1}\n{"step": 9, "lm": 4.2}\n');

  const attend = join(dir, "attend-demo");
  const source = writeTinyCheckpoint(join(dir, "attend-source"), 6);
  const weights = openWeights(source.glamm);
  const float32 = (name: string, as = name): TorchTensorToWrite => {
    const values = weights.read(name);
    return { name: as, shape: [...weights.info(name).shape], dtype: "F32", bytes: () => new Uint8Array(values.buffer, values.byteOffset, values.byteLength) };
  };
  const llava = join(attend, "llava-demo");
  mkdirSync(llava, { recursive: true });
  const keys = weights.keys();
  writeTorchZip(join(llava, "pytorch_model.bin"), keys.filter((k) => /^(model\.(embed_tokens|layers|norm|mm_projector)\.|lm_head\.)/.test(k)).map((k) => float32(k)));
  const prefix = "model.grounding_encoder.";
  writeTorchZip(join(attend, "sam_demo.pth"), keys.filter((k) => k.startsWith(prefix)).map((k) => float32(k, k.slice(prefix.length))));
  weights.close();
  for (const file of ["tokenizer.model", "special_tokens_map.json", "tokenizer_config.json", "generation_config.json"]) copyFileSync(join(source.glamm, file), join(llava, file));
  const s = defaultTinySizes;
  const config = llavaConfig({
    hidden: s.hidden,
    intermediate: s.intermediate,
    heads: s.heads,
    layers: s.layers,
    vocab: s.vocab + 7,
    visionWidth: s.clip.width,
    visionTower: "clip-llava-demo",
    dtype: "float32",
  });
  writeFileSync(join(llava, "config.json"), JSON.stringify(config, null, 2));
  cpSync(source.clip, join(attend, "clip-llava-demo"), { recursive: true });
  const sam = { encoder_num_heads: s.sam.heads, encoder_global_attn_indexes: s.sam.globalAttn, window_size: s.sam.window, decoder_num_heads: s.decoder.heads };
  writeFileSync(join(attend, "sam_demo.json"), JSON.stringify(sam, null, 2));
  writeFileSync(join(attend, "attend-log.jsonl"), '{"step": 4, "caption": 2.5}\n');
  return { glamm, attend };
}
