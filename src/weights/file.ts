import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { modelError } from "../cli/errors.ts";

/** One read call stays well below the 2 GiB limit of a single read(2)/Buffer. */
const MAX_READ_BYTES = 1 << 30;

/** A read-only file read by positioned reads, so multi-gigabyte checkpoints never sit in memory whole. */
export class RandomAccessFile {
  private fd: number | undefined;

  private constructor(
    readonly path: string,
    fd: number,
    readonly size: number,
  ) {
    this.fd = fd;
  }

  static open(path: string): RandomAccessFile {
    let fd: number;
    try {
      fd = openSync(path, "r");
    } catch (error) {
      throw modelError(`cannot open weights file ${path}: ${(error as Error).message}`);
    }
    const stat = fstatSync(fd);
    if (!stat.isFile()) {
      closeSync(fd);
      throw modelError(`weights path ${path} is not a regular file`);
    }
    return new RandomAccessFile(path, fd, stat.size);
  }

  /** Fills `target` with the bytes at `position`; running past the end of the file is an error. */
  readInto(target: Uint8Array, position: number): void {
    if (this.fd === undefined) throw modelError(`weights file ${this.path} is already closed`);
    if (position < 0 || position + target.byteLength > this.size) {
      throw modelError(
        `${this.path}: read of ${target.byteLength} bytes at offset ${position} runs past the end of the file (${this.size} bytes); the file is truncated or corrupt`,
      );
    }
    let done = 0;
    while (done < target.byteLength) {
      const length = Math.min(MAX_READ_BYTES, target.byteLength - done);
      const got = readSync(this.fd, target, done, length, position + done);
      if (got === 0) throw modelError(`${this.path}: unexpected end of file at offset ${position + done}`);
      done += got;
    }
  }

  read(position: number, length: number): Uint8Array {
    const bytes = new Uint8Array(length);
    this.readInto(bytes, position);
    return bytes;
  }

  close(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }
}
