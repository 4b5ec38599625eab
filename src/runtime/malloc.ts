// glibc mallopt(3) parameters (malloc.h).
const M_MMAP_THRESHOLD = -3;
const M_ARENA_MAX = -8;

/**
 * Makes glibc hand freed tensor memory back to the system. With onnxruntime's own arena off (see createSession),
 * every activation is a malloc/free; glibc's default keeps one heap per thread and raises its mmap threshold after
 * each large free, so later tensors come from heaps that are never trimmed. A 7B int4 gcg on CPU grew from 7 to
 * 15 GB that way while generating; with a fixed 1 MiB mmap threshold and two arenas it stays near its live size.
 * Has to run before the first inference session exists; a no-op where glibc is not the allocator.
 */
export function returnFreedMemory(): void {
  if (process.platform !== "linux") return;
  try {
    const { dlopen, FFIType } = require("bun:ffi") as typeof import("bun:ffi");
    const libc = dlopen("libc.so.6", { mallopt: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 } });
    libc.symbols.mallopt(M_MMAP_THRESHOLD, 1 << 20);
    libc.symbols.mallopt(M_ARENA_MAX, 2);
  } catch {
    // Not glibc (musl, or no FFI): its allocator's defaults stay.
  }
}
