"""SQuAD 1.1 / 2.0: JSON and doc-stride windows (data.py), beam n-best and answer text
(postprocess.py), the official evaluation (metrics.py), loss/predict/evaluate (task.py)."""
