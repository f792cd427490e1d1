# The HTTP API: validates uploads, stores them and queues jobs. Needs no TensorFlow native library.
FROM node:20-bookworm-slim
RUN npm i -g pnpm@10
WORKDIR /app
COPY . .
RUN pnpm install --frozen-lockfile --prod=false && chown -R node:node /app
USER node
ENV HOST=0.0.0.0 PORT=8080 CENTROID_DATA_DIR=/data
EXPOSE 8080
CMD ["node", "--import", "tsx", "apps/api/src/main.ts"]
