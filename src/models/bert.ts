/**
 * A Hugging Face BertModel encoder as an ONNX graph that outputs the mean of last_hidden_state over all tokens:
 * the sentence embedding of GLaMM's GCG recall (eval/gcg/evaluate.py get_bert_embedding).
 */
import { join } from "node:path";
import { readJsonObject } from "../util/json.ts";
import { modelError } from "../cli/errors.ts";
import { mergeHeads, scaledDotProductAttention, splitHeads } from "../graph/blocks.ts";
import { GraphBuilder } from "../graph/builder.ts";
import type { WeightSource } from "../weights/index.ts";
import { tensorShape, torchLinear } from "./torch-nn.ts";

export interface BertConfig {
  hidden: number;
  numLayers: number;
  numHeads: number;
  intermediate: number;
  layerNormEps: number;
  maxPositions: number;
}

type Json = Record<string, unknown>;

function positiveInteger(json: Json, key: string, source: string): number {
  const value = json[key];
  if (typeof value !== "number" || !Number.isInteger(value) || value <= 0) throw modelError(`${source}: invalid "${key}": ${JSON.stringify(value)}`);
  return value;
}

/** The BertConfig fields the encoder needs; only absolute positions and exact GELU (bert-base-uncased) are supported. */
export function parseBertConfig(json: Json, source: string): BertConfig {
  if (json.model_type !== undefined && json.model_type !== "bert") throw modelError(`${source}: model_type ${JSON.stringify(json.model_type)} is not bert`);
  const act = json.hidden_act ?? "gelu";
  if (act !== "gelu") throw modelError(`${source}: unsupported hidden_act ${JSON.stringify(act)} (only exact "gelu")`);
  const positions = json.position_embedding_type ?? "absolute";
  if (positions !== "absolute") throw modelError(`${source}: unsupported position_embedding_type ${JSON.stringify(positions)}`);
  const eps = json.layer_norm_eps ?? 1e-12;
  if (typeof eps !== "number" || !(eps > 0)) throw modelError(`${source}: invalid "layer_norm_eps": ${JSON.stringify(eps)}`);
  const config: BertConfig = {
    hidden: positiveInteger(json, "hidden_size", source),
    numLayers: positiveInteger(json, "num_hidden_layers", source),
    numHeads: positiveInteger(json, "num_attention_heads", source),
    intermediate: positiveInteger(json, "intermediate_size", source),
    layerNormEps: eps,
    maxPositions: positiveInteger(json, "max_position_embeddings", source),
  };
  if (config.hidden % config.numHeads !== 0) throw modelError(`${source}: hidden_size ${config.hidden} is not divisible by ${config.numHeads} heads`);
  return config;
}

export function loadBertConfig(dir: string): BertConfig {
  const path = join(dir, "config.json");
  return parseBertConfig(readJsonObject(path), path);
}

/**
 * Checkpoint names: AutoModel checkpoints have bare keys, BertForPreTraining ones (the Hub's bert-base-uncased) put
 * them under "bert.", and old ones call LayerNorm parameters gamma/beta (transformers renames them at load).
 */
function bertKeyResolver(weights: WeightSource): (key: string) => string {
  const prefix = weights.has("embeddings.word_embeddings.weight") ? "" : weights.has("bert.embeddings.word_embeddings.weight") ? "bert." : undefined;
  if (prefix === undefined) throw modelError("checkpoint is not a BERT model: no embeddings.word_embeddings.weight (nor bert.embeddings.word_embeddings.weight)");
  return (key) => {
    const name = prefix + key;
    if (weights.has(name)) return name;
    const legacy = name.replace(/LayerNorm\.weight$/, "LayerNorm.gamma").replace(/LayerNorm\.bias$/, "LayerNorm.beta");
    if (weights.has(legacy)) return legacy;
    throw modelError(`BERT checkpoint has no tensor ${name}`);
  };
}

/**
 * Graph `input_ids` int64 [1, S] (S ≤ max_position_embeddings) → `embedding` float32 [1, hidden], the mean over all S
 * positions of the last hidden state, with token_type_ids 0 and no padding (one phrase at a time, as the official code).
 */
export function buildBertEmbeddingGraph(weights: WeightSource, config: BertConfig): GraphBuilder {
  const key = bertKeyResolver(weights);
  const g = new GraphBuilder({ name: "bert_mean_embedding" });
  const tensor = (name: string, rank: number) => {
    const stored = key(name);
    return g.weight(name, tensorShape(weights, stored, rank), () => weights.read(stored));
  };
  const linear = (prefix: string, x: string) => {
    const stored = key(`${prefix}.weight`).slice(0, -".weight".length);
    return torchLinear(g, weights, stored, x);
  };
  const layerNorm = (prefix: string, x: string) => g.layerNorm(x, tensor(`${prefix}.weight`, 1), tensor(`${prefix}.bias`, 1), config.layerNormEps, prefix);

  const [, wordWidth] = tensorShape(weights, key("embeddings.word_embeddings.weight"), 2);
  if (wordWidth !== config.hidden) throw modelError(`BERT checkpoint embeddings are ${wordWidth} wide; config.json says hidden_size ${config.hidden}`);
  const inputIds = g.input("input_ids", "int64", [1, "sequence"]);
  const length = g.squeeze(g.shape(inputIds, 1, 2), [0]);
  const positions = g.range(g.ints([0], []), length, g.ints([1], []));
  const tokenTypeZero = g.slice(tensor("embeddings.token_type_embeddings.weight", 2), [0], [1], [0]);
  const summed = g.add(
    g.add(g.gather(tensor("embeddings.word_embeddings.weight", 2), inputIds), g.gather(tensor("embeddings.position_embeddings.weight", 2), positions)),
    tokenTypeZero,
  );
  let x = layerNorm("embeddings.LayerNorm", summed);

  const headDim = config.hidden / config.numHeads;
  for (let layer = 0; layer < config.numLayers; layer++) {
    const p = `encoder.layer.${layer}`;
    x = g.scope(`layer${layer}`, () => {
      const [q, k, v] = ["query", "key", "value"].map((name) => splitHeads(g, linear(`${p}.attention.self.${name}`, x), config.numHeads, headDim));
      const attended = mergeHeads(g, scaledDotProductAttention(g, q, k, v, headDim));
      const afterAttention = layerNorm(`${p}.attention.output.LayerNorm`, g.add(linear(`${p}.attention.output.dense`, attended), x));
      const intermediate = g.gelu(linear(`${p}.intermediate.dense`, afterAttention));
      return layerNorm(`${p}.output.LayerNorm`, g.add(linear(`${p}.output.dense`, intermediate), afterAttention));
    });
  }
  g.output(g.reduceMean(x, [1], false), "embedding", "float32", [1, config.hidden]);
  return g;
}
