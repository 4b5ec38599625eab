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

/** One exchange of a conversation; the last turn of a prompt to answer has no assistant text yet. */
export interface Turn {
  user: string;
  assistant?: string;
}

const unescapeHtml = (text: string) => text.replaceAll("&lt;", "<").replaceAll("&gt;", ">");

/**
 * The llava_v1 conversation as app.py / eval build it: system, then per turn "USER: " + message + " " and
 * "ASSISTANT: " + answer + "</s>" (or a bare "ASSISTANT:" to be answered). The image intro opens the first user
 * message; HTML-escaped angle brackets in messages are unescaped.
 */
export function buildConversation(turns: readonly Turn[]): string {
  let prompt = `${LLAVA_V1_SYSTEM} `;
  turns.forEach((turn, i) => {
    prompt += `USER: ${i === 0 ? IMAGE_INTRO : ""}${unescapeHtml(turn.user)} `;
    prompt += turn.assistant === undefined ? "ASSISTANT:" : `ASSISTANT: ${turn.assistant}</s>`;
  });
  return prompt;
}

/** A single-turn prompt; with an answer (teacher forcing) it ends with the answer and "</s>". */
export function buildPrompt(instruction: string, answer?: string): string {
  return buildConversation([{ user: instruction, assistant: answer }]);
}
