"""Test-only slowdowns for `bertft train` subprocesses, so that a test's signal lands mid-run.

The interruption tests run the real CLI (also under torchrun), so they cannot patch it from
inside the test process. They put this folder on PYTHONPATH (`slowed_env` in tests/helpers.py)
and Python imports this file at start-up in every process, torchrun's workers included:
- BERTFT_TEST_STEP_SECONDS: sleep after every optimizer step;
- BERTFT_TEST_SAVE_SECONDS: pause in the middle of every checkpoint write, after the weights and
  optimizer and before the RNG and trainer state, so a test can SIGKILL mid-save;
- BERTFT_TEST_CHUNK_SECONDS: sleep after every chunk `bertft predict --input` commits, so a
  test can kill it mid-file;
- BERTFT_TEST_STEP_FILE: after every optimizer step (before its sleep and before bertft's own
  callbacks see the step), write the step number to this file, so that a test signals a run at
  a step it chose rather than after a guessed delay (rank 0 alone writes under torchrun).
Nothing happens without them, and bertft itself knows nothing of this.
"""

import os
import time

STEP = float(os.environ.get("BERTFT_TEST_STEP_SECONDS", "0"))
SAVE = float(os.environ.get("BERTFT_TEST_SAVE_SECONDS", "0"))
CHUNK = float(os.environ.get("BERTFT_TEST_CHUNK_SECONDS", "0"))
STEP_FILE = os.environ.get("BERTFT_TEST_STEP_FILE", "")
if os.environ.get("RANK", "0") != "0":
    STEP_FILE = ""

if CHUNK:
    from bertft.inference import predict_file

    update = predict_file._Progress.update

    def slow_update(self, rows, fraction):
        update(self, rows, fraction)
        time.sleep(CHUNK)

    predict_file._Progress.update = slow_update


def _report_step(step: int) -> None:
    # Written whole, then renamed: the test never reads half a number.
    partial = f"{STEP_FILE}.{os.getpid()}"
    with open(partial, "w") as f:
        f.write(str(step))
    os.replace(partial, STEP_FILE)


if STEP or SAVE or STEP_FILE:
    from transformers import Trainer
    from transformers.trainer_callback import CallbackHandler

    if STEP or STEP_FILE:
        step_end = CallbackHandler.on_step_end

        def slow_step_end(self, args, state, control):
            if STEP_FILE:
                _report_step(state.global_step)
            time.sleep(STEP)
            return step_end(self, args, state, control)

        CallbackHandler.on_step_end = slow_step_end

    if SAVE:
        save = Trainer._save_optimizer_and_scheduler

        def slow_save(self, output_dir):
            save(self, output_dir)
            time.sleep(SAVE)

        Trainer._save_optimizer_and_scheduler = slow_save
