// TensorFlow.js writes models for tests/saving/test_tfjs_written.py (Node.js with
// @tensorflow/tfjs, CPU backend): a functional model with a nested Sequential, a branch,
// Add and Concatenate, and tfjs's transfer-learning shape (a Sequential holding a frozen
// functional base, then Flatten and Dense). Each is saved in the layers format as the
// Node.js file handler saves it (model.json + weights.bin) with its own predictions.
// Usage: node tfjs_write.js <folder>; writes <folder>/<name>/{model.json, weights.bin,
// io.json}.
const tf = require('@tensorflow/tfjs');
const fs = require('fs');
const path = require('path');

function awayFromDefaults(model) {
  // Every weight, BN moving statistics included, set to seeded values of order 1.
  model.weights.forEach((w, i) => {
    const isVar = w.originalName.endsWith('moving_variance');
    const values = tf.randomUniform(w.shape, isVar ? 0.5 : -0.5, isVar ? 1.5 : 0.5,
                                    'float32', 100 + i);
    w.write(values);
  });
}

function functional() {
  const inp = tf.input({shape: [10, 10, 3], name: 'img'});
  const base = tf.sequential({name: 'base', layers: [
    tf.layers.conv2d({inputShape: [10, 10, 3], filters: 4, kernelSize: 3, padding: 'same',
                      useBias: false, name: 'bc'}),
    tf.layers.batchNormalization({name: 'bb'}),
    tf.layers.reLU({maxValue: 6, name: 'br'})]});
  const b = base.apply(inp);
  const s = tf.layers.conv2d({filters: 4, kernelSize: 1, name: 'skip'}).apply(inp);
  const sum = tf.layers.add({name: 'sum'}).apply([b, s]);
  const dw = tf.layers.depthwiseConv2d({kernelSize: 3, strides: 2, padding: 'same',
                                        name: 'dw'}).apply(sum);
  const pool = tf.layers.maxPooling2d({poolSize: 2, name: 'pool'}).apply(sum);
  const cat = tf.layers.concatenate({name: 'cat'}).apply([dw, pool]);
  const gap = tf.layers.globalAveragePooling2d({name: 'gap'}).apply(cat);
  const out = tf.layers.dense({units: 3, activation: 'softmax', name: 'head'}).apply(gap);
  const model = tf.model({inputs: inp, outputs: out, name: 'net'});
  base.getLayer('bc').trainable = false;
  return [model, [4, 10, 10, 3]];
}

function transfer() {
  const inp = tf.input({shape: [12, 12, 3], name: 'image'});
  let x = tf.layers.conv2d({filters: 6, kernelSize: 3, strides: 2, name: 'conv1'}).apply(inp);
  x = tf.layers.batchNormalization({name: 'conv1_bn'}).apply(x);
  x = tf.layers.activation({activation: 'relu', name: 'conv1_relu'}).apply(x);
  const base = tf.model({inputs: inp, outputs: x, name: 'truncated'});
  base.layers.forEach((layer) => { layer.trainable = false; });
  const model = tf.sequential({name: 'classifier', layers: [
    base, tf.layers.flatten({name: 'flat'}),
    tf.layers.dropout({rate: 0.25, name: 'drop'}),
    tf.layers.dense({units: 4, activation: 'softmax', name: 'new_head'})]});
  return [model, [4, 12, 12, 3]];
}

async function save(model, xShape, folder) {
  fs.mkdirSync(folder, {recursive: true});
  awayFromDefaults(model);
  await model.save(tf.io.withSaveHandler(async (artifacts) => {
    const doc = {modelTopology: artifacts.modelTopology, format: artifacts.format,
                 generatedBy: artifacts.generatedBy, convertedBy: artifacts.convertedBy,
                 weightsManifest: [{paths: ['weights.bin'], weights: artifacts.weightSpecs}]};
    fs.writeFileSync(path.join(folder, 'model.json'), JSON.stringify(doc));
    fs.writeFileSync(path.join(folder, 'weights.bin'), Buffer.from(artifacts.weightData));
    return {modelArtifactsInfo: {dateSaved: new Date(), modelTopologyType: 'JSON'}};
  }));
  const x = tf.randomNormal(xShape, 0, 1, 'float32', 7);
  const y = model.predict(x);
  const io = {x: Array.from(x.dataSync()), x_shape: xShape, predict: Array.from(y.dataSync()),
              predict_shape: y.shape, counts: [model.countParams(),
              model.trainableWeights.reduce((n, w) => n + w.shape.reduce((a, b) => a * b, 1), 0)],
              layers: model.layers.map((l) => l.name)};
  fs.writeFileSync(path.join(folder, 'io.json'), JSON.stringify(io));
}

async function main() {
  const [folder] = process.argv.slice(2);
  tf.env().set('IS_TEST', true);
  await tf.setBackend('cpu');
  for (const [name, make] of [['functional', functional], ['transfer', transfer]]) {
    const [model, xShape] = make();
    await save(model, xShape, path.join(folder, name));
  }
}
main().catch((e) => { console.error(e.stack || String(e)); process.exit(1); });
