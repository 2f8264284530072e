# ortex serve in a container: `docker build -t ortex:0.1.0 .` then
# `docker run --rm -p 8000:8000 ortex:0.1.0` serves the bundled ctr_mlp model; mount a
# Triton-style repository and pass `serve --repo /models ...` to serve your own.
#
# Two stages: `build` has the C++ toolchain and every npm dependency, compiles the addon
# (cmake-js, linked against onnxruntime-node's libonnxruntime.so.1, which it copies beside
# ortex.node) and the TypeScript, generates the bundled model file, then stages in /out
# exactly what `ortex serve` needs; `runtime` is node:20-bookworm-slim plus /out, run as the
# image's unprivileged `node` user (uid 1000) with every file owned by root (read-only to it).

ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake g++ make \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# The dependencies first, in a layer of their own: it is rebuilt only when the lock file changes.
# No install scripts here: the addon's needs the sources (below), and onnxruntime-node's is
# turned off by .npmrc anyway (no CUDA download).
COPY package.json package-lock.json .npmrc ./
RUN npm ci --ignore-scripts
COPY tsconfig.json CMakeLists.txt ./
COPY cmake ./cmake
COPY native ./native
COPY src ./src
COPY models ./models
# = what `npm ci` runs after installing: cmake-js compile --out build && tsc -p tsconfig.json
RUN npm run build
# The bundled repository's model file is generated from models/ (which needs the dev
# dependencies), here, so that the runtime stage can keep its file system read-only.
RUN node --input-type=module -e "const m = await import('/app/dist/src/cli/bundled-models.js'); console.log(await m.ensureBundledModels());"
# Production dependencies only, less the packages needed to build the addon and nothing after:
# ONNX Runtime's headers (com.github.asus4.onnxruntime), onnxruntime-node (its library is
# copied into build/Release), cmake-js and the Node-API headers.
RUN npm prune --omit=dev --ignore-scripts \
 && rm -rf node_modules/com.github.asus4.onnxruntime node_modules/onnxruntime-node node_modules/cmake-js \
           node_modules/node-addon-api node_modules/node-api-headers
RUN mkdir -p /out/build/Release /out/dist /out/models \
 && cp package.json /out/ \
 && cp -a node_modules /out/ \
 && cp -a build/Release/ortex.node build/Release/libonnxruntime*.so* /out/build/Release/ \
 && cp -a dist/src /out/dist/ \
 && cp -a models/repository /out/models/

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /out/ /app/
# Fails the build, not the first start, if anything the server needs is missing: loads the
# addon and ONNX Runtime and runs the bundled model once.
RUN node --input-type=module -e "const ort = await import('/app/dist/src/index.js'); const s = await ort.InferenceSession.create('/app/models/repository/ctr_mlp/1/model.onnx'); const out = await s.run({ x: new ort.Tensor('float32', new Float32Array(64), [1, 64]) }); console.log(Object.keys(out)); await s.release();" \
 && node /app/dist/src/cli/ortex.js serve --help > /dev/null
USER node
EXPOSE 8000 8002
# node:20-bookworm-slim has no curl: Node's own fetch asks the liveness endpoint.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8000/v2/health/live').then((r) => process.exit(r.status === 200 ? 0 : 1), () => process.exit(1))"]
# node's flags: src/cli/node-flags.ts (the CLI's first line and npm start carry the same).
ENTRYPOINT ["node", "--min-semi-space-size=16", "--max-semi-space-size=16", "/app/dist/src/cli/ortex.js"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000", "--repo", "/app/models/repository"]
