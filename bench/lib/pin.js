'use strict';
// Client and server on separate cores (taskset(1)), so neither process's
// scheduling steals the other's cycles mid-measurement and a rate measures
// the stacks rather than the scheduler. Where taskset is missing or the run is
// allowed fewer than two CPUs, nothing is pinned and the report says so.
const { execFileSync } = require('node:child_process');

/** "0-2,5" -> [0, 1, 2, 5], as taskset -c prints an affinity list. */
function parseCpuList(text) {
  const cpus = [];
  for (const part of text.trim().split(',')) {
    const [from, to] = part.split('-').map(Number);
    if (!Number.isInteger(from)) continue;
    for (let cpu = from; cpu <= (Number.isInteger(to) ? to : from); cpu++) cpus.push(cpu);
  }
  return cpus;
}

/** Which CPUs the server and client get, or why they are not pinned. */
function pinPlan(enabled) {
  if (!enabled) return { server: null, client: null, note: 'not pinned (--no-pin)' };
  if (process.platform !== 'linux') return { server: null, client: null, note: 'not pinned (taskset is Linux-only)' };
  let cpus;
  try {
    const out = execFileSync('taskset', ['-c', '-p', String(process.pid)], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    cpus = parseCpuList(out.slice(out.lastIndexOf(':') + 1));
  } catch {
    return { server: null, client: null, note: 'not pinned (taskset is not available)' };
  }
  if (cpus.length < 2) return { server: null, client: null, note: `not pinned (only CPU ${cpus.join(',')} allowed)` };
  // The last two allowed CPUs: CPU 0 tends to take more interrupts.
  const [server, client] = cpus.slice(-2);
  return { server, client, note: `server pinned to CPU ${server}, client to CPU ${client} (taskset)` };
}

/** Pins every thread of `pid` (-a: V8's and libuv's threads already exist by now). */
function pin(pid, cpu) {
  if (cpu === null) return;
  execFileSync('taskset', ['-a', '-c', '-p', String(cpu), String(pid)], { stdio: 'ignore' });
}

module.exports = { pinPlan, pin, parseCpuList };
