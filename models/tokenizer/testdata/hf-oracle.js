// Computes testdata/hf-oracle.json with Hugging Face's Rust tokenizers (npm
// @anush008/tokenizers@0.6.0, which binds tokenizers 0.22). Not part of the test suite:
//   RPIQ_TOKENIZER_ORACLE_DIR=/tmp/oracle go test -run TestWriteOracleInputs ./models/tokenizer/
//   (cd /tmp && npm install @anush008/tokenizers@0.6.0)
//   NODE_PATH=/tmp/node_modules node models/tokenizer/testdata/hf-oracle.js /tmp/oracle > models/tokenizer/testdata/hf-oracle.json
// With a third argument FILE it prints the ids of that file's whole text for each tokenizer.
const fs = require('fs');
const path = require('path');
const { Tokenizer } = require('@anush008/tokenizers');

const dir = process.argv[2];
const names = ['llama3', 'qwen3', 'mistral7b', 'gpt2', 'tok512', 'llama2'];

(async () => {
  const texts = process.argv[3] ? [fs.readFileSync(process.argv[3], 'utf8')] : JSON.parse(fs.readFileSync(path.join(dir, 'texts.json'), 'utf8'));
  const ids = {}, special = {}, decoded = {};
  for (const name of names) {
    const tok = Tokenizer.fromFile(fs.readFileSync(path.join(dir, name + '.path'), 'utf8'));
    ids[name] = [];
    special[name] = [];
    decoded[name] = [];
    for (const t of texts) {
      const e = await tok.encode(t, null, { addSpecialTokens: false });
      ids[name].push(Array.from(e.getIds()));
      if (process.argv[3]) continue;
      const s = Array.from((await tok.encode(t, null, { addSpecialTokens: true })).getIds());
      special[name].push(s);
      decoded[name].push(await tok.decode(s, false));
    }
  }
  const out = process.argv[3] ? { texts, ids } : { texts, ids, special, decoded };
  process.stdout.write(JSON.stringify(out) + '\n');
})();
