'use strict';
/* global Buffer -- Node globals the repo's eslint config does not declare for .js */
/**
 * Deterministic bench artifacts: the AES-128-CTR keystream under a key derived from the seed,
 * byte for byte the same as makeArtifact() in test/harness/artifact.ts (pinned there by a test:
 * 1,000,000 bytes of seed 1 hash to 568a92bd…). OpenSSL makes it at GB/s.
 */
const crypto = require('node:crypto');
const fs = require('node:fs');

const BLOCK_BYTES = 4 * 1024 * 1024;

/** Writes `size` bytes for `seed` to `path`; resolves with their SHA-256 (hex). */
async function writeArtifactFile(path, size, seed = 1) {
  const key = crypto.createHash('sha256').update(`artifact-fetch:${seed}`).digest().subarray(0, 16);
  const cipher = crypto.createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  const zeros = Buffer.alloc(BLOCK_BYTES);
  const hash = crypto.createHash('sha256');
  const file = await fs.promises.open(path, 'w');
  try {
    for (let offset = 0; offset < size; offset += BLOCK_BYTES) {
      const block = cipher.update(zeros.subarray(0, Math.min(BLOCK_BYTES, size - offset)));
      hash.update(block);
      await file.write(block, 0, block.length, offset);
    }
  } finally {
    await file.close();
  }
  return hash.digest('hex');
}

/** SHA-256 of a file, streamed (hex). */
function sha256File(path) {
  return new Promise((resolve, reject) => {
    const hash = crypto.createHash('sha256');
    fs.createReadStream(path, { highWaterMark: BLOCK_BYTES })
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

module.exports = { writeArtifactFile, sha256File };
