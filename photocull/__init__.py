"""photocull: curate a phone's photo library."""

import os

__version__ = "0.1.0"

# TensorFlow 2.21's oneDNN kernels abort or crash in the gradient of the expression head's separable
# convolutions on AVX-512 machines ("malloc(): corrupted top size", a segmentation fault in
# ``photocull explain --model expression``); its plain kernels compute it. Set before anything in
# photocull can import TensorFlow (only explain, training and evaluation do; a scan never does).
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
