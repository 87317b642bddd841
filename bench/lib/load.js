'use strict';
// The library as the benchmark sees it: the compiled build in ../../dist.
// Public exports come from the package entry; a few pieces that are not
// (yet) re-exported there are read from their own compiled module, so the
// benchmark keeps working while the public surface grows.
const path = require('node:path');

const dist = path.join(__dirname, '..', '..', 'dist');

function fromDist(name) {
  try {
    return require(path.join(dist, name));
  } catch (error) {
    if (error.code === 'MODULE_NOT_FOUND' && String(error.message).includes(name)) return {};
    throw error;
  }
}

function load() {
  const index = require(path.join(dist, 'index.js'));
  const pick = (key, ...modules) => {
    if (index[key] !== undefined) return index[key];
    for (const name of modules) {
      const mod = fromDist(name);
      if (mod[key] !== undefined) return mod[key];
    }
    return undefined;
  };
  return {
    ...index,
    DevelopmentCA: pick('DevelopmentCA', 'pki.js'),
    DecisionCache: pick('DecisionCache', 'policy/cache.js'),
    cached: pick('cached', 'policy/cache.js'),
    evaluatePolicy: pick('evaluatePolicy', 'policy/evaluate.js'),
    cedarPolicy: pick('cedarPolicy', 'policy/cedar.js'),
    authorizeRequest: pick('authorizeRequest', 'http.js'),
  };
}

module.exports = { load };
