import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { recordedNoise, seededNoise } from "../src/edit/noise-source.ts";
import { TorchCpuGenerator } from "../src/edit/torch-generator.ts";
import { editConfig, editConfigs, skipWithoutEditOracle } from "./edit-oracle.ts";


describe("torch.Generator('cpu') normal draws", () => {
  test("scalar path (< 16 elements) gives torch's published seed-0 values", () => {
    // torch.manual_seed(0); Normal(0, 1).rsample((8,)) — docstring of torch.distributions' DistributionWithMapper.
    const published = [1.541, -0.2934, -2.1788, 0.5684, -1.0845, -1.3986, 0.4033, 0.838];
    const ours = new TorchCpuGenerator(0).randn(8);
    published.forEach((v, i) => expect(Math.abs(ours[i] - v)).toBeLessThanOrEqual(5e-5));
  });

  test("an odd-sized draw consumes the stream like torch's tail recomputation", () => {
    const a = new TorchCpuGenerator(7);
    const b = new TorchCpuGenerator(7);
    const tail = a.randn(20);
    const blocks = b.randn(32);
    // The first block of 16 is the same; the last 16 of a 20-element draw are re-drawn from uniforms 21..36.
    expect(Array.from(tail.subarray(0, 4))).toEqual(Array.from(blocks.subarray(0, 4)));
    expect(Array.from(tail.subarray(4))).not.toEqual(Array.from(blocks.subarray(4, 20)));
  });

  test("rejects seeds torch would not take as 32-bit", () => {
    expect(() => new TorchCpuGenerator(-1)).toThrow(/seed/);
    expect(() => new TorchCpuGenerator(1.5)).toThrow(/seed/);
  });
});

describe("torch.Generator('cpu').manual_seed(0) against the edit oracle's draws", () => {
  skipWithoutEditOracle();
  for (const name of editConfigs) {
    test(`${name}: every recorded draw, in the oracle's order`, () => {
      const config = editConfig(name);
      const unet = JSON.parse(readFileSync(join(config.modelDir, "unet/config.json"), "utf8"));
      const vae = JSON.parse(readFileSync(join(config.modelDir, "vae/config.json"), "utf8"));
      const noise = config.ref("noise");
      const perDraw = vae.latent_channels * unet.sample_size * unet.sample_size;
      expect(noise.shape.slice(1).reduce((a, b) => a * b, 1)).toBe(perDraw);
      const generator = new TorchCpuGenerator(0);
      const ref = noise.data as Float32Array;
      let worst = 0;
      for (let k = 0; k < noise.shape[0]; k++) {
        const draw = generator.randn(perDraw);
        for (let i = 0; i < perDraw; i++) worst = Math.max(worst, Math.abs(draw[i] - ref[k * perDraw + i]));
      }
      console.log(`${name}: ${noise.shape[0]} draws of ${perDraw}, max |Δ| ${worst.toExponential(2)}`);
      expect(worst).toBeLessThanOrEqual(1e-5);
    });
  }
});

describe("recorded noise (--noise) against the seeded source", () => {
  skipWithoutEditOracle();
  for (const name of editConfigs) {
    test(`${name}: noise.npy consumed in order equals manual_seed(0), then runs out with a clear error`, () => {
      const config = editConfig(name);
      const path = join(config.refs(), "noise.npy");
      const shape = config.ref("noise").shape;
      const perDraw = shape.slice(1).reduce((a, b) => a * b, 1);
      const recorded = recordedNoise(path);
      const seeded = seededNoise(0);
      for (let k = 0; k < shape[0]; k++) {
        const a = recorded.next(perDraw);
        const b = seeded.next(perDraw);
        expect(a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0)).toBeLessThanOrEqual(1e-5);
      }
      expect(() => recorded.next(perDraw)).toThrow(/all \d+ draws used/);
      expect(() => recordedNoise(path).next(perDraw + 1)).toThrow(/needs/);
      expect(() => recordedNoise(join(config.refs(), "tokens_1.npy"))).toThrow(/float32/);
    });
  }
});
