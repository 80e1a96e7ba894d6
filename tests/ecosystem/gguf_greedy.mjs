// Greedy continuations by llama.cpp itself (node-llama-cpp's prebuilt CPU binary) of GGUF files written by
// `tessera ckpt export --format gguf`. For each model and each prompt, prints one JSON line:
//   {"model": "...", "prompt_ids": [...], "ids": [...], "confidence": [...], "text": "...", "context": T}
// confidence[k] is llama.cpp's softmax probability of ids[k] given everything before it.
// Usage: node gguf_greedy.mjs MAX_TOKENS MODEL.gguf... -- (--ids ID,ID,... | --text PROMPT)...
// A prompt is given as token ids (evaluated as they are) or as text (tokenized by llama.cpp's SentencePiece
// tokenizer from the file's tokenizer.ggml.* arrays, without bos and special tokens). Sampling: temperature 0
// (argmax), no repeat penalty; stops at an end-of-generation token, after MAX_TOKENS, or at the context end.
import {getLlama, LlamaLogLevel} from "node-llama-cpp";

const args = process.argv.slice(2);
const maxTokens = Number(args[0]);
const split = args.indexOf("--");
const models = args.slice(1, split);
const prompts = [];
for (let i = split + 1; i + 1 < args.length; i += 2) prompts.push({kind: args[i], value: args[i + 1]});

const llama = await getLlama({gpu: false, build: "never", logLevel: LlamaLogLevel.error});
for (const modelPath of models) {
  const model = await llama.loadModel({modelPath});
  const context = await model.createContext({contextSize: model.trainContextSize, batchSize: 64, threads: 2});
  for (const prompt of prompts) {
    const promptIds = prompt.kind === "--ids" ? prompt.value.split(",").map(Number)
                                              : Array.from(model.tokenize(prompt.value, false));
    const sequence = context.getSequence();
    const ids = [], confidence = [];
    for await (const {token, confidence: p} of sequence.evaluateWithMetadata(promptIds, {confidence: true},
                                                                           {temperature: 0})) {
      if (model.isEogToken(token)) break;
      ids.push(token);
      confidence.push(p);
      if (ids.length >= maxTokens || promptIds.length + ids.length >= model.trainContextSize) break;
    }
    console.log(JSON.stringify({model: modelPath, prompt_ids: promptIds, ids, confidence, text: model.detokenize(ids),
                                context: model.trainContextSize}));
    sequence.dispose();
  }
  await context.dispose();
  await model.dispose();
}
await llama.dispose();
