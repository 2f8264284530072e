/**
 * Loaded into the soak's server (`node --expose-gc --import <this> ortex.js serve`): on
 * SIGUSR2, a full garbage collection, then one JSON line on stderr with process.memoryUsage().
 * The heap it reports is what is still reachable, so two readings, after warm-up and near the
 * end, tell memory kept from garbage not yet collected and from V8 resizing its heap.
 * Nothing else in the server changes; ortex itself does not use SIGUSR2.
 */
const gc = (globalThis as { gc?: () => void }).gc;

process.on('SIGUSR2', () => {
  // Twice: objects freed by the first collection's finalizers go in the second.
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  process.stderr.write(`${JSON.stringify({ msg: 'soak gc probe', collected: gc !== undefined, ...m })}\n`);
});
