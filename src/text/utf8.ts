const isTrail = (b: number | undefined) => b !== undefined && (b & 0xc0) === 0x80;
const isValidCodepoint = (cp: number) => cp < 0xd800 || (cp >= 0xe000 && cp <= 0x10ffff);
const MALFORMED = { length: 1, codePoint: 0xfffd };

/** The character at `i` and its byte length; malformed sequences give U+FFFD for one byte (DecodeUTF8 rules). */
function decodeAt(bytes: Uint8Array, i: number): { length: number; codePoint: number } {
  const b0 = bytes[i];
  const [b1, b2, b3] = [bytes[i + 1], bytes[i + 2], bytes[i + 3]];
  if (b0 < 0x80) return { length: 1, codePoint: b0 };
  if ((b0 & 0xe0) === 0xc0 && isTrail(b1)) {
    const codePoint = ((b0 & 0x1f) << 6) | (b1! & 0x3f);
    return codePoint >= 0x80 ? { length: 2, codePoint } : MALFORMED;
  }
  if ((b0 & 0xf0) === 0xe0 && isTrail(b1) && isTrail(b2)) {
    const codePoint = ((b0 & 0x0f) << 12) | ((b1! & 0x3f) << 6) | (b2! & 0x3f);
    return codePoint >= 0x800 && isValidCodepoint(codePoint) ? { length: 3, codePoint } : MALFORMED;
  }
  if ((b0 & 0xf8) === 0xf0 && isTrail(b1) && isTrail(b2) && isTrail(b3)) {
    const codePoint = ((b0 & 0x07) << 18) | ((b1! & 0x3f) << 12) | ((b2! & 0x3f) << 6) | (b3! & 0x3f);
    return codePoint >= 0x10000 && isValidCodepoint(codePoint) ? { length: 4, codePoint } : MALFORMED;
  }
  return MALFORMED;
}

/**
 * Text of the bytes carried by a run of byte pieces: valid UTF-8 characters as they are, each byte of a malformed
 * sequence as one U+FFFD (sentencepiece's ProcessBytePieces).
 */
export function decodeBytesLikeSentencepiece(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; ) {
    const { length, codePoint } = decodeAt(bytes, i);
    text += String.fromCodePoint(codePoint);
    i += length;
  }
  return text;
}
