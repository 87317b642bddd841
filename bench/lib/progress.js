'use strict';
// One progress line on stderr: rewritten in place on a terminal, one line per step in a log.
const { performance } = require('node:perf_hooks');

const started = performance.now();
const tty = process.stderr.isTTY;

function progress(text) {
  const line = `[bench ${((performance.now() - started) / 1000).toFixed(1).padStart(5)} s] ${text}`;
  if (tty) process.stderr.write(`\r\x1b[K${line}`);
  else process.stderr.write(`${line}\n`);
}

function progressDone() {
  if (tty) process.stderr.write('\r\x1b[K');
}

const elapsedS = () => (performance.now() - started) / 1000;

module.exports = { progress, progressDone, elapsedS };
