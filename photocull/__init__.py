"""photocull: curate a phone's photo library."""

import os

__version__ = "0.1.0"

# TensorFlow 2.21's oneDNN kernels aborted or crashed in the gradient of separable convolutions on
# AVX-512 machines (an earlier expression head's: "malloc(): corrupted top size", a segmentation fault
# in ``photocull explain --model expression``); its plain kernels compute every head's. Set before
# anything in photocull can import TensorFlow (only explain, training and evaluation do; a scan never
# does). The training scripts turn oneDNN on for the networks it trains well.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
