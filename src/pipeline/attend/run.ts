import { decodeImageFile } from "../../image/decode.ts";
import { readChunksFile } from "./grouping.ts";
import { AttendModel, type AskOptions, type AttendModelOptions, type AttendRun } from "./session.ts";

export interface AttendOptions extends AttendModelOptions, Omit<AskOptions, "question" | "history" | "chunks"> {
  image: string;
  instruction: string;
  /** JSON file of {"phrase", "start_char", "end_char"} root spans replacing the phrase extractor. */
  chunks?: string;
}

/** One question about one image file with models loaded for it alone (traces; batches and chat keep an AttendModel). */
export async function runAttend(options: AttendOptions): Promise<AttendRun> {
  const image = await decodeImageFile(options.image);
  const chunks = options.chunks === undefined ? undefined : readChunksFile(options.chunks);
  const model = await AttendModel.load(options);
  try {
    const opened = await model.openImage(image);
    return await opened.ask({ ...options, question: options.instruction, chunks });
  } finally {
    await model.release();
  }
}
