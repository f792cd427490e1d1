# A GPU worker. @tensorflow/tfjs-node-gpu 4.22 loads libtensorflow 2.9.1, built against
# CUDA 11.2 and cuDNN 8.1, so the base image pins those versions.
FROM nvidia/cuda:11.2.2-cudnn8-runtime-ubuntu20.04
RUN apt-get update && apt-get install -y --no-install-recommends curl ca-certificates python3 make g++ \
 && curl -fsSL https://deb.nodesource.com/setup_20.x | bash - \
 && apt-get install -y --no-install-recommends nodejs && rm -rf /var/lib/apt/lists/* \
 && npm i -g pnpm@10
WORKDIR /app
COPY . .
RUN pnpm install --frozen-lockfile \
 && pnpm --filter @centroid/worker add @tensorflow/tfjs-node-gpu@4.22.0 \
 && useradd --create-home centroid && chown -R centroid:centroid /app
USER centroid
ENV CENTROID_DATA_DIR=/data CENTROID_BACKEND=tensorflow-gpu
CMD ["node", "--import", "tsx", "apps/worker/src/main.ts"]
