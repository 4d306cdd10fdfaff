"""GLUE: the 9 tasks (tasks.py), [CLS] A [SEP] B [SEP] features (features.py), the
metrics (metrics.py), training/evaluation/submission files (classification.py)."""
