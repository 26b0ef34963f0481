import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";

let ready: Promise<string> | undefined;

/**
 * Selects the wasm backend once per process, falling back to the (much slower)
 * pure-JS cpu backend with a warning on stderr. Never writes to stdout: this runs
 * inside an MCP stdio server.
 */
export function initTf(): Promise<string> {
  ready ??= (async () => {
    const wanted = process.env.TINKERLOOP_TF_BACKEND ?? "wasm";
    try {
      if (!(await tf.setBackend(wanted))) throw new Error(`backend ${wanted} did not initialise`);
    } catch (err) {
      process.stderr.write(`warning: TensorFlow.js ${wanted} backend unavailable (${(err as Error).message}); using the slow cpu backend\n`);
      await tf.setBackend("cpu");
    }
    await tf.ready();
    return tf.getBackend();
  })();
  return ready;
}

export { tf };
