// A progress bar on stderr: redrawn in place on a terminal, one line per 10% otherwise (CI logs).

export class Progress {
  private readonly start = Date.now();
  private lastLine = '';
  private lastDecile = -1;
  private readonly tty: boolean;
  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {
    this.tty = !!stream.isTTY;
  }

  update(done: number, extra = ''): void {
    const frac = this.total > 0 ? Math.min(1, done / this.total) : 1;
    const width = 28;
    const filled = Math.round(frac * width);
    const elapsed = (Date.now() - this.start) / 1000;
    const eta = frac > 0 && frac < 1 ? ` eta ${formatSeconds((elapsed * (1 - frac)) / frac)}` : '';
    const line = `${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${this.total} ${formatSeconds(elapsed)}${eta}${extra ? ' ' + extra : ''}`;
    if (this.tty) {
      this.stream.write('\r' + line.padEnd(this.lastLine.length));
      this.lastLine = line;
    } else {
      const decile = Math.floor(frac * 10);
      if (decile !== this.lastDecile) {
        this.lastDecile = decile;
        this.stream.write(line + '\n');
      }
    }
  }

  done(extra = ''): void {
    this.update(this.total, extra);
    if (this.tty) this.stream.write('\n');
  }
}

export function formatSeconds(s: number): string {
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  return `${m}m${Math.round(s - 60 * m).toString().padStart(2, '0')}s`;
}
