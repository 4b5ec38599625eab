/** LLaVA v1 conversation template (model/llava/conversation.py conv_llava_v1, SeparatorStyle.TWO) as GLaMM uses it. */
export const LLAVA_V1_SYSTEM =
  "A chat between a curious human and an artificial intelligence assistant. The assistant gives helpful, detailed, and polite answers to the human's questions.";

export const IMAGE_INTRO = "The <im_start><image><im_end> provides an overview of the picture.\n";

/** The GCG instruction of eval/gcg/infer.py; its five spaces come from a backslash line continuation there. */
export const GCG_INSTRUCTION =
  "Could you please give me a detailed description of the image? Please respond with interleaved     segmentation masks for the corresponding parts of the answer.";

export const CAPTION_INSTRUCTION = "Could you please give me a detailed description of the image?";

export const REGION_CAPTION_INSTRUCTION = "Can you provide me with a detailed description of the region in the picture marked by <bbox>?";

/** Referring segmentation (SEG_QUESTIONS[0]; the dataset strips and lower-cases the expression). */
export const referringSegmentationInstruction = (expression: string): string => `Can you segment the ${expression.trim().toLowerCase()} in this image?`;

/** Several boxes: "... these areas region1 <bbox>,region2 <bbox>,?" (one <bbox> per box, in box order). */
export const multiRegionCaptionInstruction = (boxes: number): string =>
  `Could you please give me a detailed description of these areas ${Array.from({ length: boxes }, (_, i) => `region${i + 1} <bbox>,`).join("")}?`;

/**
 * The full prompt of app.py / eval: system, " USER: " + image intro + instruction, " ASSISTANT:"; with an answer
 * (teacher forcing) " ASSISTANT: " + answer + "</s>". HTML-escaped angle brackets in the instruction are unescaped.
 */
export function buildPrompt(instruction: string, answer?: string): string {
  const user = IMAGE_INTRO + instruction.replaceAll("&lt;", "<").replaceAll("&gt;", ">");
  const assistant = answer === undefined ? "ASSISTANT:" : `ASSISTANT: ${answer}</s>`;
  return `${LLAVA_V1_SYSTEM} USER: ${user} ${assistant}`;
}
