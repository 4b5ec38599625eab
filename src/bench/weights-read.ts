import { usageError } from "../cli/errors.ts";
import { dtypeBytes } from "../weights/dtype.ts";
import { openWeights } from "../weights/index.ts";
import { elementCount } from "../weights/tensor.ts";
import type { Benchmark } from "./runner.ts";

/** Reads every tensor of a checkpoint as float32; the rate is stored megabytes (10^6 bytes) per second. */
export const weightsReadBenchmark: Benchmark = {
  name: "weights-read",
  description: "read a checkpoint's tensors as float32 (param path=FILE|DIR, required)",
  requiredParams: ["path"],
  async prepare({ params }) {
    if (!params.path) throw usageError("weights-read needs --param path=CHECKPOINT (a .bin, .safetensors, index or folder)");
    const probe = openWeights(params.path);
    const storedBytes = probe.keys().reduce((sum, name) => {
      const { dtype, shape } = probe.info(name);
      return sum + elementCount(shape) * dtypeBytes[dtype];
    }, 0);
    probe.close();
    return {
      run: async () => {
        const weights = openWeights(params.path);
        try {
          for (const name of weights.keys()) weights.read(name, "float32");
        } finally {
          weights.close();
        }
      },
      unit: { name: "MB", perRun: storedBytes / 1e6 },
    };
  },
};
