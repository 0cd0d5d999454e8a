/**
 * Deterministic test artifacts. The bytes are the AES-128-CTR keystream under a key derived from
 * the seed: OpenSSL produces it at several GB/s, so a 512 MiB artifact costs well under a second,
 * and the same (size, seed) gives the same bytes in every process (bench/artifactFile.js uses
 * the same construction, so the TypeScript and JavaScript generators agree byte for byte).
 */
import { createCipheriv, createHash } from 'node:crypto';
import { createReadStream, promises as fsp } from 'node:fs';

/** Generation block: big enough to amortise the cipher call, small enough to stay in cache. */
const BLOCK_BYTES = 4 * 1024 * 1024;
const ZEROS = Buffer.alloc(BLOCK_BYTES);

function keystreamCipher(seed: number | string) {
  const key = createHash('sha256').update(`artifact-fetch:${seed}`).digest().subarray(0, 16);
  return createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
}

/** Returns `size` deterministic pseudo-random bytes for `seed`; different seeds give unrelated bytes. */
export function makeArtifact(size: number, seed: number | string = 1): Buffer {
  const output = Buffer.allocUnsafe(size);
  const cipher = keystreamCipher(seed);
  for (let offset = 0; offset < size; offset += BLOCK_BYTES) {
    const length = Math.min(BLOCK_BYTES, size - offset);
    cipher.update(ZEROS.subarray(0, length)).copy(output, offset);
  }
  return output;
}

/**
 * Streams the same bytes as `makeArtifact(size, seed)` into a file without holding them in memory.
 * Resolves with the file's SHA-256 (hex), computed while writing.
 */
export async function writeArtifactFile(path: string, size: number, seed: number | string = 1): Promise<string> {
  const cipher = keystreamCipher(seed);
  const hash = createHash('sha256');
  const file = await fsp.open(path, 'w');
  try {
    for (let offset = 0; offset < size; offset += BLOCK_BYTES) {
      const block = cipher.update(ZEROS.subarray(0, Math.min(BLOCK_BYTES, size - offset)));
      hash.update(block);
      await file.write(block, 0, block.length, offset);
    }
  } finally {
    await file.close();
  }
  return hash.digest('hex');
}

/** SHA-256 of a buffer, hex. */
export function sha256Hex(data: Buffer | Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** SHA-256 of a file, streamed (hex). */
export function sha256FileHex(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path, { highWaterMark: BLOCK_BYTES })
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}
