import { runWithRuntime, type Progress } from '@rds/artifacts';

/** Default progress text: "<stage> 42.0%  1,234/2,938 rows  512 rows/s, eta 3s". */
export function defaultProgressText(p: Progress): string {
  const pct = p.total > 0 ? `${((100 * p.done) / p.total).toFixed(1)}%` : '';
  const eta = p.etaSec === null ? '' : `, eta ${p.etaSec}s`;
  return `${p.stage} ${pct}  ${p.done.toLocaleString('en-US')}/${p.total.toLocaleString('en-US')} ${p.unit}  ${Math.round(p.ratePerSec).toLocaleString('en-US')} ${p.unit}/s${eta}`;
}

/**
 * Run a stage's activity in this process with terminal progress: on a TTY one line rewritten in
 * place, otherwise one plain line per report (logs stay readable). Ctrl-C cancels the activity
 * through its signal, so it stops between units of work and finished artifacts stay.
 */
export async function runInTerminal<T>(
  fn: () => Promise<T>,
  format: (p: Progress) => string = defaultProgressText,
): Promise<T> {
  const tty = process.stderr.isTTY === true;
  const abort = new AbortController();
  const onSigint = () => abort.abort(new Error('interrupted (SIGINT)'));
  process.once('SIGINT', onSigint);
  let midLine = false;
  try {
    return await runWithRuntime(
      {
        heartbeat: (p) => {
          if (tty) {
            process.stderr.write(`\r${format(p)}\x1b[K`);
            midLine = true;
          } else {
            process.stderr.write(`${format(p)}\n`);
          }
        },
        signal: abort.signal,
        log: (m) => {
          process.stderr.write(`${midLine ? '\n' : ''}${m}\n`);
          midLine = false;
        },
      },
      fn,
    );
  } finally {
    if (midLine) process.stderr.write('\n');
    process.off('SIGINT', onSigint);
  }
}
