/**
 * The resume journal: which pieces are done and their leaves, bound to the artifact's identity.
 * Written crash-safely (temp file, fsync, rename) with an embedded checksum, so a torn or edited
 * journal is detected and ignored instead of trusted. Pieces it lists are re-hashed on resume.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { writeStateFile } from './stateFile';

/** What a journal must match to be reused: same bytes, same piece layout, same commitment. */
export interface JournalIdentity {
  primaryUrl: string;
  size: number;
  pieceSize: number;
  /** Strong validator of the reference source, when it had one. */
  validator?: string;
  expectedSha256?: string;
  expectedRoot?: string;
}

export interface JournalContent {
  identity: JournalIdentity;
  /** Indexes of done pieces. */
  done: number[];
  /** Leaves of the done pieces, hex, in the same order. */
  leaves: string[];
  savedAt: number;
}

const FORMAT = 'artifact-fetch/journal@1';

export async function saveJournal(file: string, content: JournalContent): Promise<void> {
  const body = JSON.stringify(content);
  await writeStateFile(file, JSON.stringify({ format: FORMAT, checksum: sha256(body), body }));
}

/**
 * Loads a journal that matches `identity`. Returns the content, or a reason it was not usable
 * (absent, torn, checksum mismatch, different artifact or layout).
 */
export async function loadJournal(file: string, identity: JournalIdentity): Promise<{ content?: JournalContent; reason?: string }> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch {
    return { reason: 'no journal' };
  }
  try {
    const outer = JSON.parse(text) as { format?: string; checksum?: string; body?: string };
    if (outer.format !== FORMAT || typeof outer.body !== 'string') return { reason: 'journal in an unknown format' };
    if (outer.checksum !== sha256(outer.body)) return { reason: 'journal checksum mismatch (torn or edited)' };
    const content = JSON.parse(outer.body) as JournalContent;
    const mismatch = (Object.keys(identity) as Array<keyof JournalIdentity>).find((key) => identity[key] !== content.identity[key]);
    if (mismatch) return { reason: `journal is for a different ${mismatch}` };
    if (!wellFormed(content, identity)) return { reason: 'journal is malformed' };
    return { content };
  } catch {
    return { reason: 'journal is not valid JSON' };
  }
}

/** Done pieces must be unique, in range, with one 64-hex leaf each: anything else starts over. */
function wellFormed(content: JournalContent, identity: JournalIdentity): boolean {
  if (!Array.isArray(content.done) || !Array.isArray(content.leaves) || content.done.length !== content.leaves.length) return false;
  const count = identity.size === 0 ? 0 : Math.ceil(identity.size / identity.pieceSize);
  const seen = new Set<number>();
  for (let i = 0; i < content.done.length; i++) {
    const index = content.done[i];
    if (!Number.isInteger(index) || index < 0 || index >= count || seen.has(index)) return false;
    if (typeof content.leaves[i] !== 'string' || !/^[0-9a-f]{64}$/.test(content.leaves[i])) return false;
    seen.add(index);
  }
  return true;
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
