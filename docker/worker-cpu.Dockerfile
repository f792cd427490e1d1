# A worker on CPU only: runs clustering jobs on the pure-JavaScript TensorFlow.js backend,
# or on @tensorflow/tfjs-node where the image build can install it.
FROM node:20-bookworm-slim
RUN npm i -g pnpm@10
WORKDIR /app
COPY . .
RUN pnpm install --frozen-lockfile && chown -R node:node /app
USER node
ENV CENTROID_DATA_DIR=/data
CMD ["node", "--import", "tsx", "apps/worker/src/main.ts"]
