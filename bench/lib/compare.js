'use strict';
// --compare <git-ref>: the other ref built in a temporary git worktree, so one
// run measures both builds interleaved (the same harness, this checkout's
// bench/, drives both). No npm ci: the worktree borrows this checkout's
// node_modules through a symlink, compiles with its own tsconfig, and builds
// the addon with node-gyp against the running node's headers, unless native/
// and binding.gyp are identical to this checkout's, in which case this
// checkout's compiled addon is copied instead.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { progress } = require('./progress.js');

const ROOT = path.join(__dirname, '..', '..');
const ADDON = path.join('build', 'Release', 'continuous_tls.node');

function git(args, options = {}) {
  return execFileSync('git', args, {
    cwd: ROOT,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    ...options,
  }).trim();
}

function run(cmd, args, cwd, env = {}) {
  try {
    execFileSync(cmd, args, {
      cwd,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      maxBuffer: 64 << 20,
    });
  } catch (error) {
    const output = `${error.stdout ?? ''}${error.stderr ?? ''}`.trim().split('\n').slice(-20).join('\n');
    throw new Error(`${path.basename(args[0] ?? cmd)} failed in the --compare worktree:\n${output}`);
  }
}

/** Builds `ref` in a temporary worktree; returns its dist/ path, the commit, and remove(). */
function prepareCompare(ref) {
  let sha;
  try {
    sha = git(['rev-parse', '--verify', '--quiet', `${ref}^{commit}`]);
  } catch {
    throw Object.assign(new Error(`--compare: "${ref}" is not a commit in this repository`), { badArgument: true });
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctls-bench-compare-'));
  let added = false;
  const remove = () => {
    if (added) {
      try {
        git(['worktree', 'remove', '--force', dir]);
      } catch {
        // Already gone or locked: the directory is removed below and prune forgets it.
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
    if (added) {
      try {
        git(['worktree', 'prune']);
      } catch {
        // Best effort: a worktree git no longer knows about is pruned by the next run.
      }
    }
  };
  try {
    progress(`--compare: checking out ${ref} (${sha.slice(0, 10)}) in a temporary worktree`);
    git(['worktree', 'add', '--detach', dir, sha]);
    added = true;
    fs.symlinkSync(fs.realpathSync(path.join(ROOT, 'node_modules')), path.join(dir, 'node_modules'), 'dir');
    progress(`--compare: compiling ${ref} (tsc)`);
    run(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], dir);
    let addon;
    if (sameNative(sha) && fs.existsSync(path.join(ROOT, ADDON))) {
      fs.mkdirSync(path.join(dir, 'build', 'Release'), { recursive: true });
      fs.copyFileSync(path.join(ROOT, ADDON), path.join(dir, ADDON));
      addon = "native/ unchanged: this checkout's addon copied";
    } else {
      progress(`--compare: building ${ref}'s addon (node-gyp)`);
      const nodedir = path.resolve(process.execPath, '..', '..');
      run(process.execPath, [path.join(ROOT, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'), 'rebuild'], dir, {
        npm_config_nodedir: nodedir,
      });
      addon = 'addon built with node-gyp';
    }
    // The ESM facade lists the index's exports, so it loads the build: the addon has to be in place first.
    const esmEntry = path.join(dir, 'scripts', 'write-esm-entry.js');
    if (fs.existsSync(esmEntry)) run(process.execPath, [esmEntry], dir);
    const subject = git(['log', '-1', '--format=%s', sha]);
    return { ref, sha, subject, addon, dist: path.join(dir, 'dist'), remove };
  } catch (error) {
    remove();
    throw error;
  }
}

/** True when the ref's native sources match this checkout's working tree. */
function sameNative(sha) {
  try {
    git(['diff', '--quiet', sha, '--', 'native', 'binding.gyp']);
    return true;
  } catch {
    return false;
  }
}

module.exports = { prepareCompare };
