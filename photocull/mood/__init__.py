"""The mood models: backbone, heads, scoring, training and evaluation (the only stage that imports TensorFlow)."""
