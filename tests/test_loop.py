"""electra_tf/loop.py with a task of plain Python: where chunks end, when checkpoints are
saved, the NaN stop and the interrupt (both programs' own runs are in test_training.py
and test_finetune_cli.py)."""
import numpy as np
import pytest

from electra_tf import loop


class FakeTask:
    def __init__(self, boundary=None, bad_at=None, interrupt_at=None):
        self.step, self.chunks, self.boundary = 0, [], boundary
        self.bad_at, self.interrupt_at = bad_at, interrupt_at

    def steps_until_boundary(self, step):
        return None if self.boundary is None or step >= self.boundary else self.boundary - step

    def run_steps(self, n):
        if self.interrupt_at is not None and self.step + n > self.interrupt_at:
            self.step = self.interrupt_at
            raise KeyboardInterrupt
        first_bad = -1
        if self.bad_at is not None and self.step < self.bad_at <= self.step + n:
            first_bad = self.bad_at - self.step - 1
        self.step += n
        return {"loss": np.float32(n)}, first_bad

    def end_chunk(self, sums, n, seconds):
        self.chunks.append((self.step, n, float(sums["loss"])))


class FakeManager:
    latest_checkpoint = None

    def __init__(self):
        self.saved = []

    def save(self, checkpoint_number):
        self.saved.append(checkpoint_number)
        self.latest_checkpoint = f"ckpt-{checkpoint_number}"


def test_chunks_end_at_log_save_kill_and_task_boundaries():
    s = loop.LoopSettings(total_steps=25, log_every=10, save_every=4, kill_at_step=7)
    assert loop.chunk_size(0, s, None) == 4  # save
    assert loop.chunk_size(4, s, None) == 3  # kill at 7
    assert loop.chunk_size(8, s, None) == 2  # log at 10
    assert loop.chunk_size(20, s, 1) == 1  # the task's own boundary
    assert loop.chunk_size(24, s, None) == 1  # the end


def test_run_saves_every_save_every_and_at_the_end():
    task, manager = FakeTask(boundary=3), FakeManager()
    assert loop.run(task, manager, loop.LoopSettings(total_steps=11, log_every=5,
                                                     save_every=4))
    assert [c[0] for c in task.chunks] == [3, 4, 5, 8, 10, 11]
    assert all(n == loss for _, n, loss in task.chunks)  # each chunk's own sums
    assert manager.saved == [4, 8, 11]
    task, manager = FakeTask(), FakeManager()
    loop.run(task, manager, loop.LoopSettings(total_steps=6, log_every=5, save_every=4,
                                              save_at_end=False))
    assert manager.saved == [4]


def test_non_finite_loss_names_the_step_and_the_last_checkpoint():
    task, manager = FakeTask(bad_at=7), FakeManager()
    with pytest.raises(loop.TrainingError, match=r"NaN/inf at step 7; the last good "
                                                 r"checkpoint is ckpt-4\. Lower"):
        loop.run(task, manager, loop.LoopSettings(total_steps=20, log_every=10,
                                                  save_every=4))
    assert manager.saved == [4] and [c[0] for c in task.chunks] == [4]


def test_interrupt_saves_the_last_finished_step_and_returns_false(capsys):
    task, manager = FakeTask(interrupt_at=6), FakeManager()
    assert not loop.run(task, manager, loop.LoopSettings(total_steps=20, log_every=10,
                                                         save_every=4, label=" of run 1/2"))
    assert manager.saved == [4, 6]
    assert "saved a checkpoint of run 1/2 at step 6" in capsys.readouterr().err
