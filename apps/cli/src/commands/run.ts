import { runLayout } from '@rds/artifacts';
import type { RunStatus } from '@rds/schemas';
import { holdsFromEnv, loadConfigFile, parseRunConfig, runLocal } from '@rds/runner';
import { progressLine } from '../present.js';
import { activities } from '@rds/runner/activities';
import { parseFlags, required, type Command } from '../args.js';

const NAME = 'run';

/**
 * Status changes as terminal output: on a TTY one bar rewritten in place, otherwise plain lines
 * (at most one per `plainEveryMs` per stage, plus every stage transition) for logs and CI.
 */
function statusPrinter(tty: boolean, plainEveryMs = 2000) {
  let lastStage: string | null = null;
  let lastPlain = 0;
  let open = false;
  const out = process.stderr;
  return {
    onStatus(s: RunStatus) {
      const finished =
        s.state === 'completed' &&
        lastStage !== null &&
        s.completedStages.includes(lastStage as RunStatus['completedStages'][number]);
      if (s.stage !== lastStage || finished) {
        if (open) out.write('\n');
        open = false;
        if (lastStage && s.completedStages.includes(lastStage as RunStatus['completedStages'][number]))
          out.write(`[${lastStage}] done\n`);
        lastStage = finished ? null : s.stage;
        lastPlain = 0;
      }
      // Only live states draw; the caller prints the outcome. A stage without numbers yet keeps the last line.
      if (!s.stage || !lastStage || (s.state !== 'running' && s.state !== 'paused')) return;
      if (!s.progress && open) return;
      const line = `${progressLine(s.stage, s.progress, tty ? 24 : 0)}${s.state === 'paused' ? '  (paused)' : ''}`;
      if (tty) {
        out.write(`\r${line}\x1b[K`);
        open = true;
      } else if (s.progress && Date.now() - lastPlain >= plainEveryMs) {
        lastPlain = Date.now();
        out.write(`${line}\n`);
      }
    },
    end() {
      if (open) out.write('\n');
      open = false;
    },
  };
}

const command: Command = {
  name: NAME,
  summary: 'run a selection on this machine (resumes an interrupted run in the same run directory)',
  usage: 'rds run --config <file.json> [--run-id ID]',
  async run(argv) {
    const { values } = parseFlags(NAME, argv, { config: { type: 'string' }, 'run-id': { type: 'string' } });
    const config = await loadConfigFile(required(NAME, 'config', values.config));
    parseRunConfig(config); // field errors first (exit 2), before anything else can fail
    const abort = new AbortController();
    // Ctrl-C reaches both bin/rds.mjs (which forwards it) and this process: handle every repeat, so a
    // second SIGINT cannot kill the run before it has recorded its cancelled state.
    const onSignal = (sig: NodeJS.Signals) => {
      if (abort.signal.aborted) return;
      process.stderr.write(`\n${sig}: cancelling; finished artifacts are kept, run again to resume\n`);
      abort.abort(new Error(`interrupted (${sig})`));
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    const printer = statusPrinter(process.stderr.isTTY === true);
    const started = Date.now();
    try {
      const status = await runLocal(config, {
        activities: holdsFromEnv(activities),
        signal: abort.signal,
        onStatus: (s) => printer.onStatus(s),
        log: (m) => {
          printer.end();
          process.stderr.write(`${m}\n`);
        },
        ...(values['run-id'] ? { runId: values['run-id'] } : {}),
      });
      printer.end();
      const layout = runLayout(status.runDir);
      if (status.state === 'cancelled') {
        console.error(`run ${status.runId} cancelled at ${status.stage}; status in ${layout.status}`);
        return 130;
      }
      const c = status.counts;
      console.error(
        `run ${status.runId} completed in ${((Date.now() - started) / 1000).toFixed(1)}s: ` +
          `${c.selected ?? 0} selected of ${c.poolRows ?? 0} pool rows -> ${layout.selection.rows}`,
      );
      console.log(layout.selection.rows);
      return 0;
    } catch (err) {
      printer.end();
      // Validation errors are reported by the command runner with their field paths (exit 2).
      if ((err as Error).name === 'ValidationError') throw err;
      console.error(
        `rds run: failed: ${(err as Error).message}\n(run the same command again to resume; finished stages are skipped)`,
      );
      return 1;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  },
};
export default command;
