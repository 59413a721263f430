// Preloaded (--import) into the process scripts/launch.mjs starts. The launcher holds the other end of
// an IPC channel; when the launcher dies, even by kill -9, the kernel closes it and this process
// follows: SIGTERM to itself, so its own shutdown handlers run (a run records "cancelled", the API
// frees its port). The channel is unref'd: it never keeps this process alive by itself.
if (process.channel) {
  process.channel.unref();
  process.on('disconnect', () => process.kill(process.pid, 'SIGTERM'));
}
