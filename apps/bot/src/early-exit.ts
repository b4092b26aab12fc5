// SIGTERM and SIGINT while the bot's code still loads (seconds under tsx on a busy machine; a
// `docker stop` right after the container starts): nothing is started yet, so the process
// ends at once with exit 0, as a stop later does, instead of dying of the signal.

const exitNow = () => process.exit(0);

/** From the first moment of the process: a stop signal ends it cleanly. */
export function installEarlyExit(): void {
  process.on('SIGTERM', exitNow);
  process.on('SIGINT', exitNow);
}

/** When the bot's own shutdown takes the signals over (before it starts anything). */
export function removeEarlyExit(): void {
  process.off('SIGTERM', exitNow);
  process.off('SIGINT', exitNow);
}
