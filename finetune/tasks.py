"""The fine-tuning tasks finetune.run serves, behind one interface.

A task reads and featurizes its data once (`load`, before anything is written: bad
input leaves nothing behind), builds a fresh model per run (`build_model`), gives the
per-example loss the loop minimises (`loss`), evaluates a trained model (`evaluate`)
and writes its predictions (`write_predictions`). The loop itself (seeds, resume,
checkpoints, TensorBoard, results.json) is written once, in finetune/run.py and
finetune/training.py, for every task.

  glue         the nine GLUE tasks in GLUE's TSV layouts (finetune/glue/)
  squad        SQuAD 1.1 / 2.0 JSON (finetune/squad/)
  text         your own CSV / TSV / JSONL: text_classification, text_regression
               (finetune/own_data.py)
  tagging      CoNLL files: token_classification (finetune/tagging/)
"""
from __future__ import annotations

import os

from finetune import own_data

SQUAD_TASKS = {"squad_v1": False, "squad_v2": True, "squad": False, "squad1.1": False,
               "squad2.0": True}
OWN_TASKS = own_data.KINDS
TAGGING_TASKS = ("token_classification",)


class UsageError(ValueError):
    """Flags that cannot work together; the message names the flag to pass."""


class Task:
    """The interface; `epochs` and `max_seq_length` are the recipe's defaults."""
    name: str
    epochs: float = 3.0
    max_seq_length: int = 128
    train = None  # training features (None: only predict)
    servable = True  # its model can be saved and served from raw text (`serving`)

    def load(self, tokenizer, max_seq_length: int) -> None:
        raise NotImplementedError

    def build_model(self, config):
        raise NotImplementedError

    def loss(self, outputs, batch):
        raise NotImplementedError

    def evaluate(self, model, strategy, batch_size: int, run_dir: str) -> dict[str, float]:
        raise NotImplementedError

    def write_predictions(self, model, strategy, batch_size: int, run_dir: str) -> list[str]:
        return []

    def serving(self) -> dict | None:
        """After `load`: what electra_tf.serving needs to serve the model from raw text
        (None where `servable` is False)."""
        return None


class GlueTask(Task):
    def __init__(self, name: str, flags):
        from finetune.glue import tasks as glue
        self.spec = glue.get_task(name)
        self.name = self.spec.name
        self.epochs = float(self.spec.epochs)
        self.flags = flags

    def load(self, tokenizer, max_seq_length):
        from finetune.glue import classification
        f = self.flags
        self.data = classification.load(self.spec, f.data_dir, tokenizer, max_seq_length,
                                        True, f.predict_test, f.swap_doubling,
                                        f.skip_bad_rows, f.max_train_examples)
        self.train = self.data.train

    def build_model(self, config):
        from finetune.model import classification_model
        return classification_model(config, self.spec.num_outputs)

    def loss(self, outputs, batch):
        from finetune.glue import classification
        return classification.loss_fn(self.spec)(outputs, batch)

    def evaluate(self, model, strategy, batch_size, run_dir):
        from finetune.glue import classification
        return classification.evaluate(self.spec, model, self.data, strategy, batch_size)

    def write_predictions(self, model, strategy, batch_size, run_dir):
        from finetune.glue import classification
        if not self.data.tests:
            return []
        return classification.write_test_predictions(self.spec, model, self.data, strategy,
                                                     batch_size,
                                                     os.path.join(run_dir, "submission"))

    def serving(self):
        spec = self.spec
        return {"kind": "text_regression" if spec.is_regression else "text_classification",
                "labels": None if spec.is_regression else list(spec.labels),
                "text_pair": spec.labelled.text_b is not None}


class TextTask(GlueTask):
    """Classification / regression on the user's CSV, TSV or JSON Lines files."""

    def __init__(self, name: str, flags):
        self.name = name
        self.flags = flags
        self.columns = own_data.Columns(flags.text_column, flags.text_pair_column,
                                        flags.label_column)

    def load(self, tokenizer, max_seq_length):
        f = self.flags
        self.data = own_data.load(self.name, f.train_file, f.dev_file, f.test_file,
                                  self.columns, tokenizer, max_seq_length, f.format,
                                  f.max_train_examples)
        self.spec = self.data.task
        self.train = self.data.train

    def write_predictions(self, model, strategy, batch_size, run_dir):
        from finetune import training
        paths = []
        for name, (guids, feats, filename) in self.data.tests.items():
            out = training.predict(model, feats, strategy, batch_size)["output"]
            path = os.path.join(run_dir, filename)
            own_data.write_predictions(path, guids, own_data.prediction_records(self.spec,
                                                                                out))
            paths.append(path)
        return paths

    def serving(self):
        spec = self.spec
        return {"kind": spec.name, "labels": None if spec.is_regression else list(spec.labels),
                "text_pair": self.columns.text_pair is not None,
                "text_column": self.columns.text, "text_pair_column": self.columns.text_pair}


class SquadTask(Task):
    epochs = 2.0
    max_seq_length = 512
    servable = False

    def __init__(self, name: str, flags):
        self.name = name
        self.v2 = SQUAD_TASKS[name]
        self.flags = flags

    def load(self, tokenizer, max_seq_length):
        from finetune.squad import data as squad_data
        f = self.flags
        self.vocab = tokenizer.vocab
        if f.train_file:
            ex, skipped = squad_data.read_examples(f.train_file, True, self.v2)
            ex = ex[:f.max_train_examples or None]
            self.train, _ = squad_data.featurize(ex, tokenizer, max_seq_length, f.doc_stride,
                                                 f.max_query_length, True, f.progress)
            print(f"{len(ex)} training questions ({skipped} skipped: answer not found in the "
                  f"context), {len(self.train['token_ids'])} windows", flush=True)
        self.eval_data = None
        if f.predict_file:
            ex, _ = squad_data.read_examples(f.predict_file, False, self.v2)
            feats, infos = squad_data.featurize(ex, tokenizer, max_seq_length, f.doc_stride,
                                                f.max_query_length, False, f.progress)
            self.eval_data = (ex, feats, infos)

    def build_model(self, config):
        from finetune.model import squad_model
        return squad_model(config, self.v2, self.flags.beam_size)

    def loss(self, outputs, batch):
        from finetune.squad import task as squad
        return squad.loss_fn(self.v2)(outputs, batch)

    def evaluate(self, model, strategy, batch_size, run_dir):
        from finetune.squad import task as squad
        if self.eval_data is None:
            return {}
        f = self.flags
        result = squad.predict_and_evaluate(model, strategy, f.predict_file, *self.eval_data,
                                            self.vocab, self.v2, run_dir, batch_size,
                                            f.n_best_size, f.max_answer_length, f.lower_case)
        return {k: float(v) for k, v in result.items()
                if "thresh" not in k and not k.endswith("total")}


class TaggingTask(Task):
    def __init__(self, name: str, flags):
        self.name = name
        self.flags = flags

    def load(self, tokenizer, max_seq_length):
        from finetune.tagging import task as tagging
        f = self.flags
        self.data = tagging.load(f.train_file, f.dev_file, f.test_file, tokenizer,
                                 max_seq_length, f.tag_column, f.max_train_examples)
        self.train = self.data.train

    def build_model(self, config):
        from finetune.model import token_model
        return token_model(config, self.data.task.num_outputs)

    def loss(self, outputs, batch):
        from finetune.tagging import task as tagging
        return tagging.loss_fn(outputs, batch)

    def evaluate(self, model, strategy, batch_size, run_dir):
        from finetune.tagging import task as tagging
        return tagging.evaluate(self.data.task, model, self.data, strategy, batch_size,
                                run_dir)

    def write_predictions(self, model, strategy, batch_size, run_dir):
        from finetune.tagging import task as tagging
        return tagging.write_test_predictions(self.data.task, model, self.data, strategy,
                                              batch_size, run_dir)

    def serving(self):
        return {"kind": "token_classification", "labels": list(self.data.task.labels)}


def get_task(name: str, flags) -> Task:
    """The task for --task (GLUE names and aliases, squad_v1/v2, text_classification,
    text_regression, token_classification); its own flags are checked here."""
    key = name.lower()
    if key in SQUAD_TASKS:
        if not flags.predict_file and not flags.train_file:
            raise UsageError("SQuAD needs --predict_file (and --train_file to fine-tune)")
        return SquadTask(key, flags)
    if key in OWN_TASKS or key in TAGGING_TASKS:
        if not flags.train_file or not flags.dev_file:
            raise UsageError(f"--task={key} needs --train_file and --dev_file (and "
                             f"optionally --test_file)")
        return TextTask(key, flags) if key in OWN_TASKS else TaggingTask(key, flags)
    from finetune.glue.tasks import TASKS, GlueDataError
    try:
        task = GlueTask(key, flags)
    except GlueDataError:
        raise UsageError(f"unknown task {name!r}: choose a GLUE task ({', '.join(TASKS)}), "
                         f"squad_v1, squad_v2, {', '.join(OWN_TASKS)} or "
                         f"{', '.join(TAGGING_TASKS)}") from None
    if not flags.data_dir:
        raise UsageError(f"--data_dir is required for GLUE task {task.name}")
    if not os.path.isdir(flags.data_dir):
        raise UsageError(f"--data_dir={flags.data_dir} is not a directory")
    return task
