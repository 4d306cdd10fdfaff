"""electra-tf: ELECTRA pre-training and fine-tuning in TensorFlow / Keras 3."""
from setuptools import find_packages, setup

# Exact pins: a fresh `pip install -e .[test]` must resolve the same set every
# time. The transitive packages that have broken TF installs before (numpy,
# protobuf, ml_dtypes, h5py, tf_keras) are pinned too.
INSTALL_REQUIRES = [
    "tensorflow==2.20.0",
    "tensorflow-text==2.20.1",
    "keras==3.15.1",
    "keras-hub==0.32.0",
    "tensorboard==2.20.0",
    "absl-py==1.4.0",
    "tf-models-official==2.20.0",
    "tf_keras==2.20.1",
    "numpy==2.4.6",
    "protobuf==7.36.2",
    "ml_dtypes==0.6.0",
    "h5py==3.16.0",
    "tqdm==4.70.1",
    "safetensors==0.8.0",  # Hugging Face import/export (numpy API; torch not needed)
    # tensorboard 2.20 imports pkg_resources at start-up: setuptools >= 81 no longer has it
    # (the `tensorboard` command fails with ModuleNotFoundError) and 80.x warns on every
    # start; 79 has it, warning only silently (DeprecationWarning).
    "setuptools==79.0.1",
]

# Test-only reference implementations (never imported by the package): transformers on
# PyTorch CPU for numerical equivalence, scipy/scikit-learn/seqeval for metric cross-checks.
TEST_REQUIRES = [
    "pytest==9.0.3",
    "pytest-timeout==2.4.0",
    "pytest-xdist==3.8.0",  # pytest.ini runs the suite on 2 workers
    "execnet==2.1.2",
    "torch==2.13.0",
    "transformers==5.23.0",
    "tokenizers==0.23.3",
    "huggingface_hub==2.4.0",
    "scipy==1.17.1",
    "scikit-learn==1.9.1",
    "seqeval==1.2.2",  # entity-level NER scores: the reference our conlleval counting matches
]

setup(
    name="electra-tf",
    version="0.1.0",
    description="ELECTRA (Clark et al., 2020) pre-training and fine-tuning in TensorFlow / Keras 3",
    python_requires=">=3.11,<3.12",
    packages=find_packages(include=["electra_tf", "electra_tf.*", "finetune", "finetune.*"]),
    install_requires=INSTALL_REQUIRES,
    extras_require={"test": TEST_REQUIRES},
)
