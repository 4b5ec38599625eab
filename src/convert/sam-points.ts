import { buildSamEncoder } from "../models/sam-encoder.ts";
import { buildSamPointDecoder, type PointDecoderSpec } from "../models/sam-prompt-decoder.ts";
import { openSamCheckpoint } from "../models/sam-checkpoint.ts";
import { buildMaskPostprocess } from "../pipeline/masks.ts";
import { ensureCachedGraphs, type CachedGraphs } from "./cache.ts";
import { estimateConvertedBytes, saveGraph } from "./save-graph.ts";

/** What SAM conversion wrote, recorded beside sam-encoder.onnx, point-decoder.onnx and postprocess.onnx. */
export interface SamManifest {
  format: 1;
  fingerprint: string;
  spec: PointDecoderSpec;
  embedDim: number;
}

/** SAM for point prompts (the attend backend, float32) in the shared graph cache: converted on first use. */
export function ensureSamPointGraphs(path: string, say: (m: string) => void): Promise<CachedGraphs<SamManifest>> {
  return ensureCachedGraphs<SamManifest>({
    sources: [path],
    variant: "sam-points-fp32",
    estimatedBytes: () => estimateConvertedBytes([path], "fp32", () => false),
    build: async (tmp, fingerprint) => {
      const { weights, config } = openSamCheckpoint(path);
      try {
        const encoder = buildSamEncoder(weights, config);
        await saveGraph(encoder.graph, tmp, "sam-encoder", say);
        const { graph, spec } = buildSamPointDecoder(weights, config);
        await saveGraph(graph, tmp, "point-decoder", say);
        await saveGraph(buildMaskPostprocess(spec.imageSize, spec.maskSize), tmp, "postprocess", say);
        return { format: 1, fingerprint, spec, embedDim: encoder.spec.outChans };
      } finally {
        weights.close();
      }
    },
    onProgress: say,
  });
}
