import type { InstallRecord } from "./store.ts";

/** Turns freshly pulled source weights into what glamm runs (e.g. ONNX graphs); registered by the model packages. */
export interface Converter {
  name: string;
  appliesTo(record: InstallRecord): boolean;
  convert(record: InstallRecord, options: { signal?: AbortSignal }): Promise<void>;
}

/** Empty until the model converters exist; `registerConverter` adds one. */
const converters: Converter[] = [];

export function registerConverter(converter: Converter): void {
  converters.push(converter);
}

/** The hook `glamm pull` calls after every install that changed something; returns the converters that ran. */
export async function convertAfterPull(record: InstallRecord, options: { signal?: AbortSignal } = {}): Promise<string[]> {
  const ran: string[] = [];
  for (const converter of converters.filter((c) => c.appliesTo(record))) {
    await converter.convert(record, options);
    ran.push(converter.name);
  }
  return ran;
}
