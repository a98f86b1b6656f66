// Exits once what was written to stdout and stderr has left the process. process.exit
// alone drops whatever a pipe has not taken yet (a report's last lines, its verdict)
// when the reader is slower than the writer.

/** Resolves once everything written to `stream` so far is flushed. */
function flushed(stream) {
  return new Promise((resolve) => {
    if (stream.destroyed || !stream.writable) return resolve(undefined);
    stream.write("", () => resolve(undefined));
  });
}

/** process.exit(code), after stdout and stderr are flushed. */
export async function exitFlushed(code) {
  await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
  process.exit(code);
}
