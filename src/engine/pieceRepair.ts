/**
 * Block-level repair when only a whole-file SHA-256 is trusted and it did not match.
 *
 * Every piece's leaf and sender were recorded during the download. Repair finds the source that
 * sent bad bytes by re-fetching a few of each contributor's pieces per round from other sources;
 * where two copies disagree, a third decides (majority). The culprit is banned and only the
 * pieces it sent are fetched again; those whose leaf differs are replaced. Nothing is ever
 * started over from scratch. Cost: the checks until the culprit shows, plus its share of pieces.
 */
import { leafHash } from './integrity/merkleTree';
import type { SourceTransport } from './sourceTransport';
import type { PartFile } from './partFile';
import type { PieceStore } from './pieceStore';
import { fetchBlock } from './sourceProbe';
import type { SourceRuntime } from './sourceRuntime';

export interface RepairContext {
  pieces: PieceStore;
  partFile: PartFile;
  transport: SourceTransport;
  sources: SourceRuntime[];
  signal: AbortSignal;
  /** Recomputes the whole-file SHA-256 from disk and says whether it now matches. */
  checkSha256(): Promise<boolean>;
  ban(source: SourceRuntime, reason: string): void;
  log(message: string, source?: SourceRuntime): void;
}

export interface RepairReport {
  ok: boolean;
  /** Pieces fetched again (audits, arbitration and re-checks). */
  piecesFetched: number;
  bytesFetched: number;
  piecesReplaced: number[];
  culprits: number[];
}

/** Pieces re-checked at once when a culprit's pieces are fetched again. */
const PARALLEL_FETCHES = 16;

export async function repairFromSources(context: RepairContext): Promise<RepairReport> {
  const report: RepairReport = { ok: false, piecesFetched: 0, bytesFetched: 0, piecesReplaced: [], culprits: [] };
  const { pieces } = context;
  const piecesBySender = new Map<number, number[]>();
  for (let index = 0; index < pieces.count; index++) {
    for (const sender of pieces.senders[index] ?? []) {
      if (sender < 0) continue; // resumed from disk: checked again below like any other
      let list = piecesBySender.get(sender);
      if (!list) piecesBySender.set(sender, (list = []));
      list.push(index);
    }
  }
  const resumed = [...Array(pieces.count).keys()].filter((i) => (pieces.senders[i] ?? []).every((s) => s < 0));
  const helpers = (): SourceRuntime[] => context.sources.filter((s) => s.state !== 'banned' && s.state !== 'excluded' && !s.noRange && s.size === pieces.size);

  const fetchLeaf = async (index: number, from: SourceRuntime): Promise<{ leaf: Buffer; data: Buffer } | undefined> => {
    const start = pieces.pieceStart(index);
    const length = pieces.pieceEnd(index) - start;
    try {
      const data = await fetchBlock(context.transport, from, start, length, pieces.size, context.signal);
      report.piecesFetched++;
      report.bytesFetched += length;
      return { leaf: leafHash(data), data };
    } catch {
      return undefined;
    }
  };

  const copiesAsked = new Map<number, number>();
  const inFlight = new Map<number, number>();
  let searching = true;
  /** Seconds until `source` would deliver one more piece, given what it already has queued. */
  const expectedSeconds = (source: SourceRuntime, bytes: number): number =>
    ((inFlight.get(source.id) ?? 0) + 1) * bytes / Math.max(1, source.meter.rate() || source.meanBytesPerSecond()) + source.latencyMs / 1000;
  /** Another source's copy of the piece, from someone other than `exclude`. */
  const otherCopy = async (index: number, exclude: number[]): Promise<{ leaf: Buffer; data: Buffer; from: SourceRuntime } | undefined> => {
    const bytes = pieces.pieceEnd(index) - pieces.pieceStart(index);
    // While searching, rotate (fewest copies asked first): a check then tests the copier as well
    // as the sender. Once the culprit is known, ask whoever will deliver soonest.
    const candidates = helpers()
      .filter((s) => !exclude.includes(s.id))
      .sort((a, b) =>
        searching
          ? (copiesAsked.get(a.id) ?? 0) - (copiesAsked.get(b.id) ?? 0) || b.meter.rate() - a.meter.rate()
          : expectedSeconds(a, bytes) - expectedSeconds(b, bytes),
      );
    for (const source of candidates) {
      if (source.state === 'banned' || source.state === 'excluded') continue;
      copiesAsked.set(source.id, (copiesAsked.get(source.id) ?? 0) + 1);
      inFlight.set(source.id, (inFlight.get(source.id) ?? 0) + 1);
      try {
        const copy = await fetchLeaf(index, source);
        if (copy) return { ...copy, from: source };
      } finally {
        inFlight.set(source.id, (inFlight.get(source.id) ?? 1) - 1);
      }
    }
    return undefined;
  };

  const replace = async (index: number, data: Buffer, from: SourceRuntime): Promise<void> => {
    await context.partFile.write([data], pieces.pieceStart(index));
    pieces.markDone(index, leafHash(data), [from.id]);
    report.piecesReplaced.push(index);
  };

  /**
   * Re-checks one piece a suspect sent. It is replaced only when two other sources agree against
   * the recorded copy; when one other source disagrees and a third sides with the recorded copy,
   * that other source is the liar.
   */
  const checked = new Set<number>();
  const recheck = async (index: number, sender: number, arbitrated = true): Promise<{ replaced: boolean; liar?: number }> => {
    checked.add(index);
    const recorded = pieces.leaves[index]!;
    const copy = await otherCopy(index, [sender, ...report.culprits]);
    if (!copy || copy.leaf.equals(recorded)) return { replaced: false };
    if (!arbitrated) {
      // The sender is already convicted by a majority: one honest copy is enough, and the final
      // SHA-256 check catches the rare case of a second liar (the search then goes on).
      await replace(index, copy.data, copy.from);
      return { replaced: true };
    }
    const third = await otherCopy(index, [sender, copy.from.id, ...report.culprits]);
    if (!third) return { replaced: false };
    if (third.leaf.equals(copy.leaf)) {
      await replace(index, copy.data, copy.from);
      return { replaced: true };
    }
    return { replaced: false, liar: third.leaf.equals(recorded) ? copy.from.id : undefined };
  };

  /** Bans a culprit and re-checks every piece it sent (in parallel). */
  const convict = async (culprit: number, why: string): Promise<void> => {
    if (report.culprits.includes(culprit)) return;
    report.culprits.push(culprit);
    searching = false;
    const source = context.sources[culprit];
    context.ban(source, `sent corrupt data (found by repair: ${why})`);
    // Pieces the search already settled need no second look.
    const queue = [...(piecesBySender.get(culprit) ?? [])].filter((i) => !checked.has(i));
    context.log(`re-checking the ${queue.length} pieces it sent`, source);
    const worker = async (): Promise<void> => {
      for (let index = queue.shift(); index !== undefined && !context.signal.aborted; index = queue.shift()) await recheck(index, culprit, false);
    };
    await Promise.all(Array.from({ length: PARALLEL_FETCHES }, worker));
  };

  // Search round-robin over contributors, a few pieces each per round, each check arbitrated by a
  // third source, so the culprit is usually found after a handful of checks; then only the pieces
  // it sent are re-checked. Pieces resumed from an earlier run count as one more contributor.
  const contributors: Array<{ sender: number; order: number[] }> = [...piecesBySender.entries()].map(([sender, list]) => ({ sender, order: spreadOrder(list) }));
  if (resumed.length > 0) contributors.push({ sender: -1, order: spreadOrder(resumed) });
  while (!context.signal.aborted) {
    const round = contributors.filter((c) => c.order.length > 0 && !report.culprits.includes(c.sender));
    if (round.length === 0) break;
    const findings = await Promise.all(round.map(async (c) => {
      const batch = c.order.splice(0, PIECES_PER_ROUND);
      const results = await Promise.all(batch.map((index) => recheck(index, c.sender)));
      return { sender: c.sender, replaced: results.filter((r) => r.replaced).length, liars: results.flatMap((r) => (r.liar !== undefined ? [r.liar] : [])) };
    }));
    let convicted = false;
    for (const finding of findings) {
      if (finding.replaced > 0 && finding.sender >= 0) {
        await convict(finding.sender, `${finding.replaced} of its pieces differed from two other sources`);
        convicted = true;
      }
      for (const liar of finding.liars) {
        await convict(liar, 'its copy of a piece disagreed with two other sources');
        convicted = true;
      }
      if (finding.replaced > 0) convicted = true;
    }
    if (convicted && (await context.checkSha256())) return { ...report, ok: true };
  }
  if (await context.checkSha256()) return { ...report, ok: true };

  // No majority anywhere (two sources): the trusted commitment decides. Suppose each contributor
  // in turn lied: take the other copies of its pieces, check, and undo when the guess was wrong.
  for (const { sender } of contributors) {
    if (context.signal.aborted || sender < 0 || report.culprits.includes(sender)) continue;
    const list = piecesBySender.get(sender) ?? [];
    const replaced: Array<{ index: number; data: Buffer; leaf: Buffer; senders: number[] }> = [];
    searching = false;
    for (const index of list) {
      const original = { index, leaf: pieces.leaves[index]!, senders: pieces.senders[index] ?? [sender] };
      const copy = await otherCopy(index, [sender, ...report.culprits]);
      if (!copy || copy.leaf.equals(original.leaf)) continue;
      const start = pieces.pieceStart(index);
      const data = await context.partFile.read(start, pieces.pieceEnd(index) - start);
      await replace(index, copy.data, copy.from);
      replaced.push({ ...original, data: Buffer.from(data) });
    }
    if (replaced.length === 0) continue;
    if (await context.checkSha256()) {
      report.culprits.push(sender);
      context.ban(context.sources[sender], `sent corrupt data (found by repair: ${replaced.length} of its pieces differed, and the trusted hash confirmed it)`);
      return { ...report, ok: true };
    }
    for (const undo of replaced) {
      await context.partFile.write([undo.data], pieces.pieceStart(undo.index));
      pieces.markDone(undo.index, undo.leaf, undo.senders);
      report.piecesReplaced.splice(report.piecesReplaced.indexOf(undo.index), 1);
    }
  }
  return { ...report, ok: await context.checkSha256() };
}

/** Pieces checked per contributor per round. */
const PIECES_PER_ROUND = 1;

/** All of `list`, reordered so any prefix is spread evenly over the file (bit-reversal-like). */
function spreadOrder(list: number[]): number[] {
  const order: number[] = [];
  const taken = new Uint8Array(list.length);
  for (let step = list.length; step >= 1; step = Math.floor(step / 2)) {
    for (let i = Math.floor(step / 2); i < list.length; i += step) {
      if (!taken[i]) { taken[i] = 1; order.push(list[i]); }
    }
    if (step === 1) break;
  }
  return order;
}
