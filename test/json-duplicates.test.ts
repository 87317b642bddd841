// repeatedMemberName() finds an object's repeated member names in a decision point's answer, where
// JSON.parse would keep the last silently. Checked against what JSON.stringify can and cannot emit.
import t from 'tap';
import fc from 'fast-check';
import { repeatedMemberName } from '../dist/policy/json-duplicates.js';

/** `name` spelled with every character as a \u escape: the same name, decoded. */
const escaped = (name: string): string => {
  const units = Array.from({ length: name.length }, (_, i) => name.charCodeAt(i));
  return `"${units.map((unit) => `\\u${unit.toString(16).padStart(4, '0')}`).join('')}"`;
};

t.test('nothing JSON.stringify writes repeats a name, however it is indented', async (t) => {
  fc.assert(
    fc.property(fc.jsonValue(), fc.constantFrom(undefined, 1, 2, '\t'), (value, indent) => {
      return repeatedMemberName(JSON.stringify(value, null, indent)) === undefined;
    }),
    { numRuns: 500 },
  );
  t.pass();
});

t.test('a name written again in front of an object is found, spelled plainly or escaped', async (t) => {
  fc.assert(
    fc.property(
      fc.dictionary(fc.string(), fc.jsonValue(), { minKeys: 1 }),
      fc.nat(),
      fc.boolean(),
      fc.jsonValue(),
      (object, pick, escape, depth) => {
        const keys = Object.keys(object);
        const name = keys[pick % keys.length]!;
        const spelled = escape ? escaped(name) : JSON.stringify(name);
        const inner = `{${spelled} : null,${JSON.stringify(object).slice(1)}`;
        // Nested under other values, inside an array and an object.
        const text = `{"a":[${JSON.stringify(depth)},{"x":${inner}}]}`;
        JSON.parse(text);
        return repeatedMemberName(text) === name;
      },
    ),
    { numRuns: 500 },
  );
  t.pass();
});

t.test(
  'the same name in sibling or nested objects is no repetition; strings that hold quotes or colons are skipped',
  async (t) => {
    t.equal(repeatedMemberName('{"decision":true,"context":{"decision":false}}'), undefined);
    t.equal(repeatedMemberName('[{"decision":true},{"decision":false}]'), undefined);
    t.equal(repeatedMemberName('{"a":"\\"decision\\":","decision":true}'), undefined);
    t.equal(repeatedMemberName('{"a":["decision", "decision"],"b":"x:"}'), undefined);
    t.equal(repeatedMemberName('{"decision":false,"decision":true}'), 'decision');
    t.equal(repeatedMemberName('{"decision":false,"\\u0064ecision":true}'), 'decision');
    t.equal(repeatedMemberName('{"evaluations":[{"decision":false,\n "decision" :true}]}'), 'decision');
  },
);
