'use strict';
// Tiny request/response RPC over the fork() IPC channel: the runner calls
// named commands on a worker and awaits their results. A worker that exits,
// throws or goes silent past the timeout rejects every pending call, which
// the runner reports as a crashed benchmark.
const { fork } = require('node:child_process');

function spawnWorker(file, { execArgv = [], execPath = process.execPath, env = {}, timeoutMs = 180_000 } = {}) {
  const child = fork(file, [], {
    execArgv,
    execPath,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    serialization: 'advanced',
  });
  const pending = new Map();
  let nextId = 1;
  let exited = null;
  const failAll = (error) => {
    for (const { reject, timer } of pending.values()) {
      clearTimeout(timer);
      reject(error);
    }
    pending.clear();
  };
  child.on('message', (message) => {
    const call = pending.get(message.id);
    if (call === undefined) return;
    pending.delete(message.id);
    clearTimeout(call.timer);
    if (message.ok) call.resolve(message.result);
    else
      call.reject(
        Object.assign(new Error(message.error.message), { stack: message.error.stack, code: message.error.code }),
      );
  });
  child.on('exit', (code, signal) => {
    exited = { code, signal };
    failAll(new Error(`worker ${file} exited (code ${code}, signal ${signal}) with calls pending`));
  });
  return {
    child,
    call(cmd, args = {}, callTimeoutMs = timeoutMs) {
      if (exited !== null) return Promise.reject(new Error(`worker ${file} has exited`));
      const id = nextId++;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`worker ${file}: "${cmd}" timed out after ${callTimeoutMs} ms`));
        }, callTimeoutMs);
        pending.set(id, { resolve, reject, timer });
        child.send({ id, cmd, args });
      });
    },
    /** Asks the worker to exit; kills it if it does not within a second. */
    async close() {
      if (exited !== null) return exited;
      const done = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
      child.send({ id: 0, cmd: 'exit', args: {} });
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      const result = await done;
      clearTimeout(timer);
      return result;
    },
  };
}

/** Worker side: serve `handlers` (cmd -> async function(args)) over IPC. */
function serve(handlers) {
  process.on('message', async ({ id, cmd, args }) => {
    if (cmd === 'exit') {
      try {
        await handlers.exit?.();
      } finally {
        // Let the IPC channel flush, then leave without waiting for sockets.
        setImmediate(() => process.exit(0));
      }
      return;
    }
    try {
      const handler = handlers[cmd];
      if (handler === undefined) throw new Error(`unknown command ${cmd}`);
      const result = await handler(args);
      process.send({ id, ok: true, result });
    } catch (error) {
      process.send({ id, ok: false, error: { message: error.message, stack: error.stack, code: error.code } });
    }
  });
  // A worker never outlives its runner.
  process.on('disconnect', () => process.exit(0));
}

module.exports = { spawnWorker, serve };
