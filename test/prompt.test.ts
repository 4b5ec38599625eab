import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { readNpy } from "../src/output/npy.ts";
import {
  buildPrompt,
  CAPTION_INSTRUCTION,
  GCG_INSTRUCTION,
  multiRegionCaptionInstruction,
  referringSegmentationInstruction,
  REGION_CAPTION_INSTRUCTION,
} from "../src/pipeline/prompt.ts";
import { LlamaTokenizer, tokenizerImageToken } from "../src/text/tokenizer.ts";
import { Oracle, ORACLE_ROOT, oracleConfigs, skipWithoutOracle } from "./llama-oracle.ts";

describe("task prompts", () => {
  test("the GCG instruction is eval/gcg/infer.py's literal with its backslash line continuation applied", () => {
    const source = 'Could you please give me a detailed description of the image? Please respond with interleaved \\\n    segmentation masks for the corresponding parts of the answer.';
    expect(GCG_INSTRUCTION).toBe(source.replace("\\\n", ""));
  });

  test("llava_v1 template: SeparatorStyle.TWO with sep ' ' and sep2 '</s>'", () => {
    const system = "A chat between a curious human and an artificial intelligence assistant. The assistant gives helpful, detailed, and polite answers to the human's questions.";
    const user = "The <im_start><image><im_end> provides an overview of the picture.\nHi &lt;bbox&gt;";
    expect(buildPrompt("Hi &lt;bbox&gt;")).toBe(`${system} USER: ${user.replace("&lt;bbox&gt;", "<bbox>")} ASSISTANT:`);
    expect(buildPrompt("Hi", "Yes [SEG].")).toBe(`${system} USER: The <im_start><image><im_end> provides an overview of the picture.\nHi ASSISTANT: Yes [SEG].</s>`);
  });

  test("referring expressions are stripped and lower-cased as the dataset does", () => {
    expect(referringSegmentationInstruction("  Red Square ")).toBe("Can you segment the red square in this image?");
  });
});

/** The instruction each oracle case was built from, through this module's task helpers. */
function instructionFor(caseName: string): string {
  if (caseName.startsWith("gcg")) return GCG_INSTRUCTION;
  if (caseName.startsWith("refseg")) return referringSegmentationInstruction("red square");
  if (caseName.startsWith("caption")) return CAPTION_INSTRUCTION;
  if (caseName === "regcap1_gen") return REGION_CAPTION_INSTRUCTION;
  if (caseName === "regcap2_gen") return multiRegionCaptionInstruction(2);
  throw new Error(`no instruction known for oracle case ${caseName}`);
}

skipWithoutOracle("prompts of the oracle");
for (const name of oracleConfigs) {
  describe(`prompts of oracle ${name}`, () => {
    test("every case's instruction and full prompt are reproduced byte for byte, and tokenize to its input_ids", () => {
      const oracle = new Oracle(name);
      const tokenizer = LlamaTokenizer.fromDirectory(join(ORACLE_ROOT, name, "glamm"));
      for (const [caseName, spec] of Object.entries(oracle.index.cases)) {
        const instruction = instructionFor(caseName);
        expect(instruction).toBe(spec.instruction);
        const prompt = buildPrompt(instruction, spec.kind === "generate" ? undefined : spec.answer);
        expect(prompt).toBe(spec.prompt);
        const ids = Array.from(readNpy(join(oracle.dir, "refs", caseName, "input_ids.npy")).data as BigInt64Array, Number);
        expect(tokenizerImageToken(prompt, tokenizer)).toEqual(ids);
      }
    });
  });
}
