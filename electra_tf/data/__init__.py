"""Pre-training data: packing text into examples, TFRecord I/O, the training input pipeline."""
