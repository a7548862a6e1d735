#!/bin/sh
# The inference benchmark on a CUDA GPU (a lent H100/H200): a bigger area, bf16, channels_last.
# Prints Mpx/s for the pipeline and the bare forward, and the time for 150 gigapixels.
# Usage (repository root, after `make install`): sh benchmarks/inference_gpu.sh [SIDE_PX]
set -e
SIDE=${1:-6144}
.venv/bin/python -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.cuda.get_device_name())"
.venv/bin/python -m benchmarks.run --only inference --device cuda --inference-px "$SIDE"
