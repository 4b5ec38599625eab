import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { addNoise, eulerSchedule, eulerStep, readEulerConfig, scaleModelInput } from "../src/edit/euler-scheduler.ts";
import type { NpyArray } from "../src/output/npy.ts";
import { numbers } from "./helpers/oracle-compare.ts";
import { expectWithin } from "./helpers/tolerance.ts";
import { editConfig, editConfigs, editRuns, skipWithoutEditOracle } from "./edit-oracle.ts";


const floats = (a: NpyArray) => a.data as Float32Array;

describe("Euler schedule without the oracle", () => {
  const config = {
    numTrainTimesteps: 1000,
    betaStart: 0.00085,
    betaEnd: 0.012,
    betaSchedule: "scaled_linear" as const,
    predictionType: "epsilon" as const,
    timestepSpacing: "leading" as const,
    stepsOffset: 1,
  };

  test("leading spacing and the strength cut (the README's 20 @ 0.99 and 4 @ 0.8)", () => {
    const a = eulerSchedule(config, 20, 0.99);
    expect(a.start).toBe(1);
    expect(a.timesteps.length).toBe(19);
    expect([a.timesteps[0], a.timesteps[18]]).toEqual([901, 1]);
    expect(Array.from(eulerSchedule(config, 4, 0.8).timesteps)).toEqual([501, 251, 1]);
    expect(a.sigmas[20]).toBe(0);
  });

  test("sigmas follow sqrt((1 − ᾱ)/ᾱ) of an independent double-precision schedule", () => {
    const { sigmas, scheduleTimesteps } = eulerSchedule(config, 10, 1);
    let product = 1;
    const table = Array.from({ length: 1000 }, (_, i) => {
      const beta = (Math.sqrt(0.00085) + ((Math.sqrt(0.012) - Math.sqrt(0.00085)) * i) / 999) ** 2;
      product *= 1 - beta;
      return Math.sqrt((1 - product) / product);
    });
    scheduleTimesteps.forEach((t, i) => expect(Math.abs(sigmas[i] - table[t]) / table[t]).toBeLessThan(1e-5));
  });

  test("an Euler step with zero noise prediction leaves the sample unchanged", () => {
    const schedule = eulerSchedule(config, 4, 0.8);
    const sample = Float32Array.from([1, -2, 3]);
    expect(Array.from(eulerStep(config, schedule, schedule.start, sample, new Float32Array(3)))).toEqual([1, -2, 3]);
  });

  test("bad step counts and strengths are refused", () => {
    expect(() => eulerSchedule(config, 0, 0.5)).toThrow(/steps/);
    expect(() => eulerSchedule(config, 20, 0)).toThrow(/strength/);
    expect(() => eulerSchedule(config, 20, 1.5)).toThrow(/strength/);
  });
});

describe("Euler scheduler against the edit oracle", () => {
  skipWithoutEditOracle();
  for (const name of editConfigs) {
    const oracle = editConfig(name);
    const config = readEulerConfig(join(oracle.modelDir, "scheduler/scheduler_config.json"));
    for (const run of editRuns(oracle)) {
      const { num_inference_steps: steps, strength } = oracle.index(run).parameters.pipe_call_kwargs;
      const ref = (file: string) => oracle.ref(file, run);

      test(`${name} ${run}: timesteps, sigmas, init_noise_sigma, add_noise timestep`, () => {
        const schedule = eulerSchedule(config, steps, strength);
        expect(Array.from(schedule.scheduleTimesteps)).toEqual(numbers(ref("schedule_timesteps")));
        expect(Array.from(schedule.timesteps)).toEqual(numbers(ref("timesteps")));
        expectWithin(schedule.sigmas, floats(ref("sigmas")), undefined, "sigmas");
        expectWithin([schedule.initNoiseSigma], floats(ref("init_noise_sigma")), undefined, "init_noise_sigma");
        expect([schedule.timesteps[0]]).toEqual(numbers(ref("add_noise_timestep")));
      });

      test(`${name} ${run}: add_noise, scale_model_input and every saved Euler step`, () => {
        const schedule = eulerSchedule(config, steps, strength);
        const noise = floats(oracle.ref("noise", "main"));
        const latents = floats(ref("latents_init"));
        const draw = noise.subarray(latents.length, 2 * latents.length); // draw 1: the initial noise
        expectWithin(addNoise(floats(oracle.ref("image_latents", "main")), draw, schedule.sigmas[schedule.start]), latents, undefined, "latents_init");

        const saved = oracle.index(run) as unknown as { steps_saved: number[] };
        for (const k of saved.steps_saved) {
          const tag = `step${String(k).padStart(2, "0")}`;
          expect(numbers(ref(`${tag}_timestep`))).toEqual([schedule.timesteps[k]]);
          const input = floats(ref(`${tag}_model_input`));
          const out = floats(ref(`${tag}_latents_out`));
          // The sample going into step k: latents_init, or the previous step's output when that was saved.
          const before = k === 0 ? latents : saved.steps_saved.includes(k - 1) ? floats(ref(`step${String(k - 1).padStart(2, "0")}_latents_out`)) : undefined;
          if (before === undefined) continue;
          const scaled = scaleModelInput(before, schedule.sigmas[schedule.start + k]);
          expectWithin(scaled, input.subarray(0, before.length), undefined, `${tag} model_input latents`);
          const next = eulerStep(config, schedule, schedule.start + k, before, floats(ref(`${tag}_noise_pred_guided`)));
          expectWithin(next, out, undefined, `${tag}_latents_out`);
        }
      });
    }
  }
});
