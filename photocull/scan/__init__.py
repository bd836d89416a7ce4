"""One photo's work in a decoding process: discover, read, measure, prepare the model input (never TensorFlow)."""
