/**
 * Live progress on a terminal: one bar for the job and one per source, drawn by cli-progress on
 * stderr (stdout stays clean for `--json` and streams). Off when stderr is not a terminal.
 */
import { MultiBar, Presets, type SingleBar } from 'cli-progress';
import type { DownloadJob } from '../engine/downloadJob';
import type { JobSnapshot } from '../engine/snapshot';

export class ProgressView {
  private readonly bars: MultiBar;
  private total?: SingleBar;
  private readonly sourceBars = new Map<number, SingleBar>();
  private timer?: NodeJS.Timeout;

  constructor(private readonly job: DownloadJob) {
    this.bars = new MultiBar(
      {
        stream: process.stderr,
        format: '{label} |{bar}| {percentage}% {value_mb}/{total_mb} MB {rate} {extra}',
        hideCursor: true,
        clearOnComplete: false,
        autopadding: true,
        barsize: 24,
      },
      Presets.shades_classic,
    );
  }

  start(): void {
    this.timer = setInterval(() => this.render(this.job.snapshot()), 200);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.render(this.job.snapshot());
    this.bars.stop();
  }

  private render(snapshot: JobSnapshot): void {
    if (snapshot.size === 0 && snapshot.state === 'probing') return;
    const mb = (n: number): string => (n / 1e6).toFixed(1);
    if (!this.total) this.total = this.bars.create(snapshot.size, 0, {});
    this.total.setTotal(snapshot.size);
    this.total.update(snapshot.bytesDone, {
      label: truncate(snapshot.name, 28).padEnd(28),
      value_mb: mb(snapshot.bytesDone),
      total_mb: mb(snapshot.size),
      rate: `${mb(snapshot.bytesPerSecond)} MB/s`,
      extra: `${snapshot.state} · ${snapshot.piecesVerified}/${snapshot.pieceCount} pieces${snapshot.etaSeconds !== undefined ? ` · ETA ${snapshot.etaSeconds}s` : ''}`,
    });
    for (const source of snapshot.sources) {
      let bar = this.sourceBars.get(source.id);
      if (!bar) {
        bar = this.bars.create(snapshot.size, 0, {});
        this.sourceBars.set(source.id, bar);
      }
      bar.setTotal(snapshot.size);
      bar.update(source.bytes, {
        label: `  #${source.id} ${truncate(hostOf(source.url), 22)}`.padEnd(28),
        value_mb: mb(source.bytes),
        total_mb: mb(snapshot.size),
        rate: `${mb(source.bytesPerSecond)} MB/s`,
        extra: `${source.state}${source.connections ? ` ×${source.connections}` : ''} · ${truncate(source.reason, 60)}`,
      });
    }
  }
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
