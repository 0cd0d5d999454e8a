/**
 * Cross-source audits while downloading, for when no per-piece hash is trusted (a SHA-256 only, or
 * nothing). A source's first pieces and a small share of the rest are fetched again from another
 * source and their leaves compared; a disagreement is settled by a third source. The source in
 * the minority is convicted at once, so a mirror that corrupts often is caught after a few
 * pieces instead of at the final hash. Sparse corruption can slip through; the final SHA-256 and
 * block-level repair catch it.
 */
import { leafHash } from './integrity/merkleTree';
import type { SourceTransport } from './sourceTransport';
import type { PieceStore } from './pieceStore';
import { fetchBlock } from './sourceProbe';
import type { SourceRuntime } from './sourceRuntime';

/**
 * How hard to audit. Every audit byte is a byte the job does not fetch for the file, so the effort
 * follows what else protects it: with a trusted whole-file SHA-256 nothing corrupt can be published
 * anyway (the final check and block-level repair see to that) and audits only catch a bad mirror
 * early, so they stay light (~1% of the bytes); with no hash at all they are the only proof the
 * sources agree, so they are thorough (~5%).
 */
export interface AuditPolicy {
  /** Pieces of every source audited first. */
  firstPieces: number;
  /** Share of its later pieces audited at random. */
  share: number;
}

export const LIGHT_AUDITS: AuditPolicy = { firstPieces: 1, share: 0.005 };
export const THOROUGH_AUDITS: AuditPolicy = { firstPieces: 8, share: 0.02 };
const MAX_AUDITS_IN_FLIGHT = 4;
/** Audits waiting for a slot, at most (beyond that, later pieces are simply not audited). */
const MAX_QUEUED = 64;

export interface AuditContext {
  pieces: PieceStore;
  transport: SourceTransport;
  sources: SourceRuntime[];
  signal: AbortSignal;
  /** The sources whose copies may be asked for (working, ranged, same size). */
  helpers(): SourceRuntime[];
  /** A majority showed `culprit` sent bad data for `index`. */
  convict(culprit: SourceRuntime, index: number): void;
  /** Bytes fetched by audits, for the report. */
  onFetched(bytes: number): void;
}

export class PieceAuditor {
  private readonly delivered = new Map<number, number>();
  private readonly queue: Array<{ index: number; sender: SourceRuntime }> = [];
  private inFlight = 0;

  constructor(
    private readonly context: AuditContext,
    private readonly policy: AuditPolicy = THOROUGH_AUDITS,
    private readonly random = Math.random,
  ) {}

  /** Called when a piece from a single sender is done; may queue an audit of it. */
  consider(index: number, senderId: number): void {
    const count = (this.delivered.get(senderId) ?? 0) + 1;
    this.delivered.set(senderId, count);
    if (count > this.policy.firstPieces && this.random() >= this.policy.share) return;
    const sender = this.context.sources[senderId];
    if (!sender || this.queue.length >= MAX_QUEUED) return;
    this.queue.push({ index, sender });
    this.pump();
  }

  private pump(): void {
    while (this.inFlight < MAX_AUDITS_IN_FLIGHT && this.queue.length > 0 && !this.context.signal.aborted) {
      const { index, sender } = this.queue.shift()!;
      if (sender.state === 'banned' || this.context.helpers().every((s) => s.id === sender.id)) continue;
      this.inFlight++;
      void this.audit(index, sender).finally(() => {
        this.inFlight--;
        this.pump();
      });
    }
  }

  private async audit(index: number, sender: SourceRuntime): Promise<void> {
    const { pieces } = this.context;
    const recorded = pieces.leaves[index];
    if (!recorded) return;
    const second = await this.copyFrom(index, [sender.id]);
    if (!second || second.leaf.equals(recorded) || this.context.signal.aborted) return;
    const third = await this.copyFrom(index, [sender.id, second.from.id]);
    if (!third || this.context.signal.aborted) return;
    // The piece may have been replaced meanwhile; judge only what is still recorded.
    if (!pieces.leaves[index]?.equals(recorded)) return;
    if (third.leaf.equals(second.leaf)) this.context.convict(sender, index);
    else if (third.leaf.equals(recorded)) this.context.convict(second.from, index);
  }

  private async copyFrom(index: number, exclude: number[]): Promise<{ leaf: Buffer; from: SourceRuntime } | undefined> {
    const { pieces } = this.context;
    const start = pieces.pieceStart(index);
    const length = pieces.pieceEnd(index) - start;
    // Copies come from sources that answer quickly: a trickling one would hold the audit for ages.
    const helpers = this.context.helpers();
    const bestRate = Math.max(0, ...helpers.map((s) => s.meter.rate()));
    const candidates = helpers
      .filter((s) => !exclude.includes(s.id) && (s.meter.totalBytes === 0 || s.meter.rate() >= bestRate / 10))
      .sort((a, b) => b.meter.rate() - a.meter.rate());
    for (const source of candidates) {
      if (source.state !== 'active') continue; // banned or dropped while we waited
      try {
        const data = await fetchBlock(this.context.transport, source, start, length, pieces.size, this.context.signal);
        this.context.onFetched(length);
        return { leaf: leafHash(data), from: source };
      } catch {
        // try the next one
      }
    }
    return undefined;
  }
}
