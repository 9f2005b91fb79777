# syntax=docker/dockerfile:1
# Training image for the Metaflow steps that AWS Batch runs (METAFLOW_BATCH_CONTAINER_IMAGE).
# It holds the pinned dependencies and the library; Metaflow ships the flow code itself.
#
#   make build                                     # dist/fraud_mlops-*.whl + dist/build-info.json
#   TAG=$(python -c 'import json; print(json.load(open("dist/build-info.json"))["image_tag"])')
#   docker build --build-arg GIT_SHA=$(git rev-parse HEAD) -t <ECR repository URL>:$TAG .
#   docker push <ECR repository URL>:$TAG && pulumi config set fraud-mlops:imageTag $TAG
#
# tests/scripts/test_build.py checks that this installs exactly requirements.lock and the wheel.
FROM python:3.11-slim

ARG GIT_SHA=unknown
LABEL org.opencontainers.image.title="fraud-mlops training" \
      org.opencontainers.image.revision="${GIT_SHA}"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/fraud-mlops
COPY requirements.lock ./
# torch first, from the PyTorch CPU index and at the lock's pin: the PyPI Linux wheel of the same
# version pulls several GB of CUDA libraries that a CPU Batch queue never uses. The second
# install then finds torch already satisfied and installs the rest of the lock exactly.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 \
 && pip install -r requirements.lock

# The library last (--no-deps: every dependency is already pinned above), so a code change
# rebuilds only this layer.
COPY dist/fraud_mlops-*.whl /tmp/wheels/
RUN pip install --no-deps /tmp/wheels/fraud_mlops-*.whl \
 && rm -rf /tmp/wheels \
 && python -c "import fraud_mlops, metaflow, torch; print('fraud-mlops', fraud_mlops.__version__)"

# Batch runs Metaflow's `bash -c "<download code package> && python flow.py step ..."`;
# nothing in it needs root.
RUN useradd --create-home --uid 1000 fraud
USER fraud
WORKDIR /home/fraud
