/** A LLaVA-1.5 config.json (LlavaLlamaForCausalLM, mlp2x_gelu projector, patch features of layer -2) for test checkpoints. */
export interface LlavaConfigSizes {
  hidden: number;
  intermediate: number;
  heads: number;
  layers: number;
  vocab: number;
  visionWidth: number;
  visionTower: string;
  dtype: "float32" | "float16";
}

export const llavaConfig = (s: LlavaConfigSizes) => ({
  architectures: ["LlavaLlamaForCausalLM"],
  model_type: "llava",
  bos_token_id: 1,
  eos_token_id: 2,
  pad_token_id: 0,
  hidden_act: "silu",
  hidden_size: s.hidden,
  intermediate_size: s.intermediate,
  num_attention_heads: s.heads,
  num_key_value_heads: s.heads,
  num_hidden_layers: s.layers,
  max_position_embeddings: 2048,
  rms_norm_eps: 1e-6,
  rope_theta: 10000,
  vocab_size: s.vocab,
  image_aspect_ratio: "pad",
  mm_hidden_size: s.visionWidth,
  mm_projector_type: "mlp2x_gelu",
  mm_use_im_patch_token: false,
  mm_use_im_start_end: false,
  mm_vision_select_feature: "patch",
  mm_vision_select_layer: -2,
  mm_vision_tower: s.visionTower,
  torch_dtype: s.dtype,
});
