// The TensorFlow.js oracle of tests/saving/test_tfjs_export.py (run by Node.js with
// @tensorflow/tfjs, CPU backend): loads a layers-model folder with tf.loadLayersModel
// (strict: every weight matched by name) and predicts on raw little-endian inputs.
// Usage: node tfjs_predict.js <model folder> <inputs.json>, where inputs.json lists
// {file, shape, dtype}. Prints JSON: the outputs, every layer's trainable flag (nested
// models walked), the weights' names in tfjs's order and those of the trainable ones.
const tf = require('@tensorflow/tfjs');
const fs = require('fs');
const path = require('path');

async function main() {
  const [dir, spec] = process.argv.slice(2);
  tf.env().set('IS_TEST', true);  // no "install tfjs-node" banner on stdout
  await tf.setBackend('cpu');
  const mj = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
  const handler = {load: async () => {
    const specs = [], bufs = [];
    for (const g of mj.weightsManifest) {
      specs.push(...g.weights);
      for (const p of g.paths) bufs.push(fs.readFileSync(path.join(dir, p)));
    }
    const all = Buffer.concat(bufs);
    return {modelTopology: mj.modelTopology, weightSpecs: specs, format: mj.format,
            weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength)};
  }};
  const model = await tf.loadLayersModel(handler, {strict: true});
  const inputs = JSON.parse(fs.readFileSync(spec, 'utf8')).map((inp) => {
    const raw = fs.readFileSync(inp.file);
    const ab = raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength);
    const data = inp.dtype === 'int32' ? new Int32Array(ab) : new Float32Array(ab);
    return tf.tensor(data, inp.shape, inp.dtype);
  });
  let out = model.predict(inputs.length === 1 ? inputs[0] : inputs);
  if (!Array.isArray(out)) out = [out];
  const flags = {};
  const walk = (m) => m.layers.forEach((l) => { flags[l.name] = l.trainable; if (l.layers) walk(l); });
  walk(model);
  const result = {outputs: out.map((t) => ({shape: t.shape, data: Array.from(t.dataSync())})),
                  trainable: flags, weights: model.weights.map((w) => w.originalName),
                  trainableWeights: model.trainableWeights.map((w) => w.originalName),
                  className: model.getClassName()};
  process.stdout.write('\n' + JSON.stringify(result) + '\n');  // the last line
}
main().catch((e) => { console.error(e.stack || String(e)); process.exit(1); });
