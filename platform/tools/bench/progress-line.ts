/**
 * A live progress line on stderr. On a terminal it is redrawn in place a few times a second; in a
 * log (CI, a pipe) a full line is written every few seconds instead, so logs stay readable.
 */
export interface ProgressLine {
  /** Records progress; the line is redrawn on the next tick, not on every call (calls are hot). */
  update(done: number, note?: string): void;
  /** Prints a final state and stops the timer. */
  finish(note?: string): void;
  /** Writes a message above the progress line (for events such as "killed transaction-service"). */
  log(message: string): void;
}

export function startProgressLine(
  label: string,
  total: number,
  options: { stream?: NodeJS.WriteStream; intervalMs?: number } = {},
): ProgressLine {
  const stream = options.stream ?? process.stderr;
  const interactive = stream.isTTY === true;
  const intervalMs = options.intervalMs ?? (interactive ? 200 : 5_000);
  const started = performance.now();
  let done = 0;
  let note = '';
  let drawn = false;

  const render = (): string => {
    const seconds = (performance.now() - started) / 1000;
    const rate = seconds > 0 ? done / seconds : 0;
    const percent = total > 0 ? Math.floor((100 * done) / total) : 100;
    const eta = rate > 0 && done < total ? ` eta ${Math.ceil((total - done) / rate)}s` : '';
    return `${label}: ${done}/${total} (${percent}%) ${rate.toFixed(0)}/s ${seconds.toFixed(1)}s${eta}${note ? `  ${note}` : ''}`;
  };
  const draw = (): void => {
    if (interactive) {
      stream.write(`\r\x1b[2K${render()}`);
      drawn = true;
    } else {
      stream.write(`${render()}\n`);
    }
  };
  const clear = (): void => {
    if (interactive && drawn) stream.write('\r\x1b[2K');
  };

  const timer = setInterval(draw, intervalMs);
  timer.unref();

  return {
    update(value, text) {
      done = value;
      if (text !== undefined) note = text;
    },
    finish(text) {
      clearInterval(timer);
      if (text !== undefined) note = text;
      clear();
      stream.write(`${render()}\n`);
    },
    log(message) {
      clear();
      stream.write(`${message}\n`);
      if (interactive) draw();
    },
  };
}
