import { buildServer } from './server.js';
import { PathPolicy } from './paths.js';
import { createBackend, settingsFromEnv } from './settings.js';

/** `npm run api`: the HTTP API and web UI, configured from the environment (see README). */
async function main(): Promise<void> {
  const settings = settingsFromEnv();
  const paths = await PathPolicy.create(settings.dataRoots, settings.runsRoot);
  const logger = { level: process.env.RDS_API_LOG_LEVEL ?? 'info' };
  // Run logs go to the server's logger, which exists only once the backend does.
  let runLog: (runId: string, message: string) => void = () => {};
  const { backend, close } = await createBackend(
    settings.backend,
    (runId, message) => runLog(runId, message),
    paths.runsRoot,
  );
  const server = await buildServer({
    backend,
    tokens: settings.tokens,
    paths,
    bodyLimit: settings.bodyLimit,
    triggers: {
      allowCommands: settings.allowCommandTriggers,
      webhookHosts: settings.webhookHosts,
      s3Endpoints: settings.s3Endpoints,
      temporal: settings.temporalTriggers,
    },
    ...(settings.corsOrigin ? { corsOrigin: settings.corsOrigin } : {}),
    logger,
  });
  runLog = (runId, message) => server.log.info({ runId }, message);
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    server.log.info(`${signal}: shutting down`);
    await server.close();
    await close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  await server.listen({ host: settings.host, port: settings.port });
  server.log.info(`backend ${backend.kind}; data roots ${paths.dataRoots.join(', ')}; runs root ${paths.runsRoot}`);
}

main().catch((err: unknown) => {
  console.error(`rds api: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
