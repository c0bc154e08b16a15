"""The trainer: one run of one spec on one dataset, in a background thread it owns.

Every public method is safe to call from any thread. The UI never touches the live
module: it reads copies (`history()`, `latest_weights()`, `snapshots()`).
"""
from __future__ import annotations

import copy
import math
import threading
import time
from dataclasses import dataclass
from typing import Callable

import torch

from playground.analysis import diagnostics as Dg
from playground.model import build as M
from playground import spec as S
from playground.data.augment import augment_batch
from playground.data.datasets import Dataset
from playground.train.device import (compile_network, failure_message, memory_format,
                                     pick_device, uses_bf16)
from playground.train.ema import WeightAverage
from playground.train.optim import make_optimizer, make_scheduler
from playground.train.passes import PassStopped
from playground.train.records import (EpochRecord, EvalRecord, LrChange, NormRecord,
                                      RunProgress, Snapshot, SnapshotRing, StepRecord)
from playground.train.step import evaluate, train_step
from playground.train.target import confirm_threshold, stratified_subset
from playground.train.threads import cpu_cores, lower_thread_priority

# Trainer states, as the UI shows them. INTERRUPTED is never reached by training: it is a
# stored run whose server stopped while it trained, shown again (`restore`).
READY, RUNNING, PAUSED, FINISHED, STOPPED, FAILED, INTERRUPTED = (
    "ready", "running", "paused", "finished", "stopped", "failed", "interrupted")
ENDED = (FINISHED, STOPPED, FAILED, INTERRUPTED)  # states a run never trains on from
# The message of a stopped run whose thread is still finishing its step.
STOPPING = "stopping..."
# What the run was doing, for a failure's advice.
IN_STEP, IN_EVALUATION = "training step", "test-set evaluation"
# How long a read of the weights waits for the step in progress before it takes the newest
# snapshot instead: a page (and the Stop it carries) never waits for a long step.
READ_WAIT_SECONDS = 0.05


@dataclass
class TrainerOptions:
    """How a run is observed, separate from what it learns (`TrainingConfig`)."""

    device: str = "auto"
    log_every: int = 20              # steps between metric records (one host sync each)
    evals_per_epoch: int = 1         # test-set evaluations per epoch (the last at its end)
    snapshot_every: int = 50         # steps between weight snapshots
    max_snapshot_bytes: int = S.LIMITS.max_snapshot_bytes
    target_acc: float | None = None  # stop once the test accuracy reaches this
    # With a target: check it between epoch ends on this many test images (a fixed
    # stratified subset), evaluating the whole test set only when they come near it;
    # None checks on the whole test set every time.
    target_check_images: int | None = None
    # Lower accuracies whose first crossing a benchmark times in the same run: a check
    # that comes near one evaluates the whole test set (recorded), without stopping.
    milestones: tuple[float, ...] = ()
    max_seconds: float | None = None  # stop after this much training time
    on_epoch_end: Callable[[EpochRecord], None] | None = None
    record_norms: bool = False       # per-layer weight/gradient norms at every log point
    keep_predictions: bool = False   # top-3 test predictions at every evaluation
    mixed_precision: bool = True     # bf16 autocast for forward passes on CUDA only
    # torch.compile the training forward: faster steps, but seconds of compiling before
    # the first one, which is why it is off by default (a lesson should start at once).
    compile: bool = False
    # Called with the new state from whichever thread changed it, under the trainer's
    # lock: it must only signal (set an Event), never block or take other locks.
    on_state_change: Callable[[str], None] | None = None
    # Niceness of the training thread (Linux; its OpenMP workers inherit it). The app sets
    # it above 0 so that page refreshes, a few tens of ms of Python each, are not queued
    # behind training on a 2-core machine; training loses only the time the pages use.
    thread_nice: int = 0
    # Start from these weights (a CPU state_dict of the spec's network) instead of the
    # seed's draw: a run trained on from a stored one. Reset goes back to them.
    initial_weights: dict[str, torch.Tensor] | None = None


@dataclass
class _Progress:
    """Running sums between two metric records, kept on the device (no per-step sync)."""

    loss_sum: torch.Tensor | None = None
    correct: torch.Tensor | None = None
    samples: int = 0
    steps: int = 0
    seconds: float = 0.0


class Trainer:
    def __init__(self, model_spec: S.ModelSpec, dataset: Dataset, config: S.TrainingConfig,
                 options: TrainerOptions | None = None):
        self.spec = model_spec
        self.config = copy.deepcopy(config)
        self.options = options or TrainerOptions()
        self.device = pick_device(self.options.device)
        self.mixed_precision = uses_bf16(self.device, self.config, self.options.mixed_precision)
        self.memory_format = memory_format(self.config)
        if self.device.type == "cuda":
            # A run's shapes are fixed (its batch size, the last short batch, the test
            # chunk), so cuDNN's one-off timing of conv algorithms per shape pays back
            # within a few steps. It is process-wide and makes CUDA runs not bit-exact.
            torch.backends.cudnn.benchmark = True
        # Intra-op threads for the training thread: every core, whatever the creating thread
        # uses (the app's page threads use one; see _run).
        self.threads = cpu_cores()
        self.analysis = M.analyze(model_spec)
        check_fits(model_spec, dataset.input_shape, dataset.num_classes, dataset.name)
        M.check_batch(self.analysis, config.batch_size)
        self.images_per_pass = M.images_per_pass(self.analysis)
        self.dataset_name = dataset.name
        self.data = dataset.to(self.device)
        self.train_size = len(self.data.train_y)
        self.test_size = len(self.data.test_y)
        self._check_set = self._target_check_set()
        self.steps_per_epoch = math.ceil(self.train_size / config.batch_size)
        self.total_steps = self.steps_per_epoch * config.epochs
        evals = max(1, self.options.evals_per_epoch)
        # Steps within an epoch after which the test set is evaluated (the last at its end).
        self._eval_points = {round(self.steps_per_epoch * (i + 1) / evals)
                             for i in range(evals)}

        self._lock = threading.RLock()          # guards state, commands and records
        self._wake = threading.Condition(self._lock)
        self._model_lock = threading.Lock()     # held while the weights change
        self._thread: threading.Thread | None = None
        self._state = READY
        self._message = ""
        self._pending_steps = 0
        self._stop_requested = False
        self._lr_scale = 1.0
        self._lr_pending = False       # set_lr() came during a step: the next one applies it
        self._end_when_paused = False  # run(): nobody is there to resume a paused run
        self._in_step = False          # the thread is inside a step (for `busy`)
        self._manual_step = False      # the step under way was asked for with step()
        self._thread_done = False      # the thread has finished all its work
        self._reset_when_stopped = False  # reset() came while the thread was finishing
        self._doing = IN_STEP          # what the thread is doing (for a failure's advice)
        # Weights copied at a step's end for readers that found a step under way
        # (`_reader_copy`): (step, CPU state_dict), and whether one asked since.
        self._for_readers: tuple[int, dict[str, torch.Tensor]] | None = None
        self._reader_asked = False

        self.step_records: list[StepRecord] = []
        self.eval_records: list[EvalRecord] = []
        self.epoch_records: list[EpochRecord] = []
        self.norm_records: list[NormRecord] = []
        self.lr_changes: list[LrChange] = []
        self._predictions: Dg.TestPredictions | None = None
        self._snapshots = SnapshotRing(self.options.snapshot_every)
        self.time_to_target: float | None = None
        self.reset()

    # --- setup ---------------------------------------------------------------------------
    def reset(self) -> None:
        """Re-initialise weights, optimizer and history from the seed (not while running).
        Right after stop(), while the thread finishes its step, the thread does it last."""
        with self._lock:
            if self._thread_working():
                if not self._stop_requested:
                    raise RuntimeError("stop the run before resetting it")
                self._reset_when_stopped = True
                return
            self._reinitialise()

    def _thread_working(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive() and not self._thread_done

    def _reinitialise(self) -> None:
        with self._lock:
            seed = self.config.seed
            init_generator = torch.Generator().manual_seed(seed)
            self.shuffle_generator = torch.Generator().manual_seed(seed + 1)
            self.device_generator = torch.Generator(self.device).manual_seed(seed + 2)
            network = M.build_model(self.spec, "cpu", init_generator, self.analysis)
            if self.options.initial_weights is not None:
                network.load_state_dict(self.options.initial_weights)
            self.network = network.to(self.device, memory_format=self.memory_format).train()
            M.set_dropout_generator(self.network, self.device_generator)
            self.weight_average = (WeightAverage(self.network, self.config.ema_decay)
                                   if self.config.ema_decay else None)
            self._train_forward = (compile_network(self.network, self.device)
                                   if self.options.compile else self.network)
            self.optimizer = make_optimizer(self.network, self.config)
            self.scheduler = make_scheduler(self.optimizer, self.config, self.total_steps)
            self.step_count = 0
            self.train_seconds = 0.0
            self.started_at: float | None = None
            self._order = torch.empty(0, dtype=torch.long)
            self._progress = _Progress()
            self._epoch_progress = _Progress()
            self.step_records, self.eval_records, self.epoch_records = [], [], []
            self.norm_records, self._predictions = [], None
            self.lr_changes = []
            self._pending_steps, self._lr_scale, self._lr_pending = 0, 1.0, False
            self._snapshots = SnapshotRing(self.options.snapshot_every)
            self._for_readers, self._reader_asked = None, False
            self.time_to_target = None
            self._state, self._message = READY, ""
            self._take_snapshot()

    def restore(self, progress: RunProgress, state: str, message: str) -> None:
        """Show a stored run as it was stored: its step, records and how it ended (its
        weights came with `initial_weights`). It trains no further; reset starts it again."""
        if state not in ENDED:
            raise ValueError(f"a restored run must have ended, not be {state!r}")
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                raise RuntimeError("stop the run before restoring one into it")
            self.step_count, self.train_seconds = progress.step, progress.train_seconds
            self.step_records, self.eval_records = list(progress.steps), list(progress.evals)
            self.epoch_records = list(progress.epochs)
            self.lr_changes = list(progress.lr_changes)
            self._snapshots = SnapshotRing(self.options.snapshot_every)
            self._for_readers, self._reader_asked = None, False
            self._state, self._message = state, message
            self._take_snapshot()

    def progress(self) -> RunProgress:
        """A copy of how far the run got."""
        with self._lock:
            return RunProgress(self.step_count, self.train_seconds, list(self.step_records),
                               list(self.eval_records), list(self.epoch_records),
                               list(self.lr_changes))

    # --- commands (any thread) -------------------------------------------------------------
    def start(self) -> None:
        with self._lock:
            if self._state == READY:
                self._launch(RUNNING)
            elif self._state == PAUSED:
                self._set_state(RUNNING)

    def pause(self) -> None:
        with self._lock:
            if self._state == RUNNING:
                self._set_state(PAUSED, "paused")

    resume = start

    def step(self, batches: int = 1) -> None:
        """Run `batches` training steps, then stay paused."""
        with self._lock:
            if self._state in ENDED:
                return
            self._pending_steps += max(1, int(batches))
            if self._state == READY:
                self._launch(PAUSED)
            elif self._state == RUNNING:
                self._set_state(PAUSED)
            self._wake.notify_all()

    def step_epoch(self) -> None:
        """Run to the end of the current epoch, then stay paused."""
        self.step(self.steps_per_epoch - self.step_count % self.steps_per_epoch)

    def stop(self, wait: bool | float = True) -> None:
        """Stop for good. The thread ends after the step it is in (a step's work is capped
        to about a second) or between two chunks of an evaluation. `wait`: True waits for
        it; a number waits at most that many seconds, the run saying STOPPING until the
        thread ends; False returns at once."""
        with self._lock:
            self._stop_requested = True
            self._pending_steps = 0
            if self._state in (READY, RUNNING, PAUSED):
                self._set_state(STOPPED, STOPPING if self._thread_working() else "stopped")
            self._wake.notify_all()
            thread = self._thread
        if wait is not False and thread is not None and thread is not threading.current_thread():
            thread.join(None if wait is True else wait)

    @property
    def stopping(self) -> bool:
        """Stopped, with its thread still finishing a step: it no longer needs a slot."""
        return self._stop_requested and self._thread_working()

    def set_lr(self, lr: float) -> None:
        """Change the learning rate now; with one-cycle it rescales the whole schedule."""
        if not (isinstance(lr, (int, float)) and 0 < lr <= 10 and math.isfinite(lr)):
            raise ValueError(f"lr must be above 0 and at most 10, got {lr!r}")
        with self._lock:
            self._lr_scale = lr / self.config.lr
            # Between two steps it applies now; during one, the next step applies it (so
            # this never holds the trainer's lock while a long step runs).
            self._lr_pending = True
            if self._model_lock.acquire(blocking=False):
                try:
                    self._apply_lr()
                finally:
                    self._model_lock.release()
            # Kept so the curves can mark where the rate changed (the next step uses it).
            first_step = self.step_count + 1
            self.lr_changes.append(LrChange(first_step, first_step / self.steps_per_epoch,
                                            float(lr)))

    def set_augment(self, augment: bool) -> None:
        with self._lock:
            self.config.augment = bool(augment)

    def join(self, timeout: float | None = None) -> None:
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    # --- reading (any thread) --------------------------------------------------------------
    @property
    def state(self) -> str:
        return self._state

    @property
    def message(self) -> str:
        return self._message

    @property
    def busy(self) -> bool:
        """True while the thread trains: running, or working through requested steps."""
        return self._state == RUNNING or self._pending_steps > 0 or self._in_step

    @property
    def pending_steps(self) -> int:
        """Steps asked for with step()/step_epoch() and not yet trained."""
        return self._pending_steps

    @property
    def epoch(self) -> float:
        return self.step_count / self.steps_per_epoch

    def history(self) -> tuple[list[StepRecord], list[EvalRecord], list[EpochRecord]]:
        with self._lock:
            return list(self.step_records), list(self.eval_records), list(self.epoch_records)

    def lr_history(self) -> list[LrChange]:
        """Each learning rate set by hand while the run lived, oldest first."""
        with self._lock:
            return list(self.lr_changes)

    def norm_history(self) -> list[NormRecord]:
        with self._lock:
            return list(self.norm_records)

    def test_predictions(self) -> Dg.TestPredictions | None:
        """Top-3 predictions on the test set from the latest evaluation (keep_predictions)."""
        return self._predictions

    def remaining_seconds(self) -> float | None:
        """Training time still needed at the pace so far (evaluations not counted)."""
        if self.step_count == 0 or self.train_seconds <= 0:
            return None
        return self.train_seconds / self.step_count * (self.total_steps - self.step_count)

    def snapshots(self) -> list[Snapshot]:
        with self._lock:
            return self._snapshots.list()

    def latest_weights(self) -> tuple[int, dict[str, torch.Tensor]]:
        """(step, CPU copy of the current state_dict), taken between two training steps.
        During a step: the copy the thread made at the end of an earlier step for a reader
        (see `_reader_copy`), else, after waiting READ_WAIT_SECONDS, the newest snapshot's."""
        if self._model_lock.acquire(blocking=False):
            try:
                return self.step_count, _cpu_copy(self.read_network.state_dict())
            finally:
                self._model_lock.release()
        step, state = self._reader_copy()
        return step, dict(state)

    def tensor_copy(self, name: str) -> tuple[int, torch.Tensor]:
        """(step, CPU copy of one state_dict entry): what a live panel needs, nothing more;
        during a step, as `latest_weights`."""
        if self._model_lock.acquire(blocking=False):
            try:
                return self.step_count, _cpu_tensor(self.read_network.state_dict()[name])
            finally:
                self._model_lock.release()
        step, state = self._reader_copy()
        return step, state[name]

    def _reader_copy(self) -> tuple[int, dict[str, torch.Tensor]]:
        """Weights for a reader that found a step under way, without waiting for it.

        The training thread holds the model lock through every step and takes it again at
        once, so a reader that waits for it mostly waits its whole timeout (a page refresh
        lost 50 ms that way). Instead the reader asks the thread to copy the weights at the
        end of the step in progress and takes the copy made for the previous ask: a page
        that refreshes twice a second sees weights one refresh old. The first ask (no
        copy yet, or one older than the newest snapshot) waits as before."""
        self._reader_asked = True
        copied = self._for_readers
        newest = self.snapshots()[-1]
        if copied is not None and copied[0] >= newest.step:
            return copied
        if not self._model_lock.acquire(timeout=READ_WAIT_SECONDS):
            return newest.step, newest.state
        try:
            return self.step_count, _cpu_copy(self.read_network.state_dict())
        finally:
            self._model_lock.release()

    def inspection_model(self) -> torch.nn.Module:
        """A CPU copy of the current network in eval mode, safe to run while training goes on."""
        _, state = self.latest_weights()
        network = M.build_model(self.spec, "cpu", analysis=self.analysis)
        network.load_state_dict(state)
        return network.eval().requires_grad_(False)

    @property
    def read_network(self) -> torch.nn.Module:
        """What evaluations, snapshots and weight copies read: the weight average when the
        run keeps one (ema_decay), else the live network."""
        return self.weight_average.network if self.weight_average else self.network

    # --- the thread ------------------------------------------------------------------------
    def _launch(self, state: str) -> None:
        self._stop_requested = False
        self._thread_done = False
        self._set_state(state)
        self.started_at = time.perf_counter()
        self._thread = threading.Thread(target=self._run_in_background,
                                        name=f"trainer-{id(self):x}", daemon=True)
        self._thread.start()

    def run(self) -> None:
        """Train in the calling thread until done (the CLI's way); same loop as the thread."""
        with self._lock:
            self._stop_requested = False
            self._set_state(RUNNING)
            self.started_at = time.perf_counter()
            self._end_when_paused = True
        self._run()

    def _run_in_background(self) -> None:
        # Before the first torch op, so the OpenMP workers this thread starts inherit it.
        lower_thread_priority(self.options.thread_nice)
        self._run()

    def _set_state(self, state: str, message: str | None = None) -> None:
        self._state = state
        if message is not None:
            self._message = message
        self._wake.notify_all()
        if self.options.on_state_change is not None:
            self.options.on_state_change(state)

    def _next_command(self) -> bool:
        """Block while paused; False when the loop should end."""
        with self._lock:
            while (not self._stop_requested and self._state == PAUSED
                   and self._pending_steps == 0 and not self._end_when_paused):
                self._wake.wait(0.5)
            if self._stop_requested or self._state not in (RUNNING, PAUSED):
                return False
            if self._state == PAUSED and self._pending_steps == 0:
                return False
            self._manual_step = self._pending_steps > 0
            if self._pending_steps > 0:
                self._pending_steps -= 1
            self._in_step = True  # under the lock, so `busy` never misses a step about to run
            return True

    def _run(self) -> None:
        # A new thread takes the intra-op thread count set last by any thread (a page
        # thread asks for one); pin the count this run was made with.
        torch.set_num_threads(self.threads)
        try:
            while self.step_count < self.total_steps and self._next_command():
                try:
                    self._train_step()
                    if self._after_step():
                        break
                finally:
                    self._in_step = False
            done = self.step_count >= self.total_steps
            reached = self.time_to_target is not None
            if self._still_on() and (done or reached or self._over_time()):
                # Outside the lock: the last evaluation may be long, and a stop must get in.
                self._flush_epoch(force=not done)
                with self._lock:
                    if self._still_on():
                        self._set_state(FINISHED, "target reached" if reached else
                                        "finished" if done else "time limit reached")
        except PassStopped:  # stopped between two chunks of an evaluation
            pass
        except Exception as error:  # the run fails; the session and other runs go on
            message = failure_message(error, self.device, self.config.batch_size,
                                      self.step_count, self.analysis, self._doing)
            with self._lock:
                self._pending_steps = 0
                self._set_state(FAILED, message)
        finally:
            # Here the error and its traceback (which holds the failed step's batch and
            # activations) are already gone, so the memory they held can really be freed.
            if self._state == FAILED:
                self._release_after_failure()
            self._take_snapshot()
            self._wind_down()

    def _still_on(self) -> bool:
        with self._lock:
            return self._state in (RUNNING, PAUSED) and not self._stop_requested

    def _wind_down(self) -> None:
        """The thread's last act: a stopping run says it stopped, a deferred reset runs."""
        with self._lock:
            self._thread_done = True
            if self._reset_when_stopped:
                self._reset_when_stopped = False
                self._reinitialise()
            elif self._state == STOPPED and self._message == STOPPING:
                self._set_state(STOPPED, "stopped")

    def _release_after_failure(self) -> None:
        """Free what only training needs (gradients, optimizer state, device sums): after an
        out-of-memory error the device must have room again for other runs. The weights,
        records and snapshots stay for inspection and comparison; reset() rebuilds the rest."""
        with self._model_lock:
            self.network.zero_grad(set_to_none=True)
            self.optimizer.state.clear()
            self._progress, self._epoch_progress = _Progress(), _Progress()
            self._order = torch.empty(0, dtype=torch.long)
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def _over_time(self) -> bool:
        limit = self.options.max_seconds
        return limit is not None and self.train_seconds >= limit

    def _batch_indices(self) -> torch.Tensor:
        position = (self.step_count % self.steps_per_epoch) * self.config.batch_size
        if position == 0:
            self._order = torch.randperm(self.train_size, generator=self.shuffle_generator)
            self._order = self._order.to(self.device)
        return self._order[position:position + self.config.batch_size]

    def _train_step(self) -> None:
        self._doing = IN_STEP
        indices = self._batch_indices()
        started = time.perf_counter()
        with self._model_lock:  # in train mode: only _evaluate switches it, and back
            if self._lr_pending:
                self._apply_lr()
            images = self.data.train_x[indices]
            labels = self.data.train_y[indices]
            if self.config.augment:
                images = augment_batch(images, self.dataset_name, self.device_generator)
            images = images.contiguous(memory_format=self.memory_format)
            loss, correct = train_step(self.network, self.optimizer, images, labels,
                                       forward=self._train_forward,
                                       mixed_precision=self.mixed_precision,
                                       label_smoothing=self.config.label_smoothing)
            if self.weight_average is not None:
                self.weight_average.update()
            if self.scheduler is not None and self.step_count + 1 < self.total_steps:
                self.scheduler.step()
                self._apply_lr()
            self.step_count += 1
            if self._reader_asked:  # a page read the weights during this step
                self._reader_asked = False
                self._for_readers = (self.step_count,
                                     _cpu_copy(self.read_network.state_dict()))
        loss_sum = loss * len(labels)
        for progress in (self._progress, self._epoch_progress):
            progress.loss_sum = loss_sum if progress.loss_sum is None else progress.loss_sum + loss_sum
            progress.correct = correct if progress.correct is None else progress.correct + correct
            progress.samples += len(labels)
            progress.steps += 1
        if self.device.type == "cuda" and self.step_count % self.options.log_every == 0:
            torch.cuda.synchronize()  # so the clock below measures the GPU's work
        elapsed = time.perf_counter() - started
        self.train_seconds += elapsed
        self._progress.seconds += elapsed
        self._epoch_progress.seconds += elapsed

    def _after_step(self) -> bool:
        """Records, evaluations and snapshots due after this step; True to end the run."""
        step = self.step_count
        if (step % self.options.log_every == 0 or step == self.total_steps
                or self._step_batch_ended()):
            if self.options.record_norms:
                self._record_norms()
            if self._record_steps():
                return True
        if self._snapshots.is_due(step):
            self._take_snapshot()
        in_epoch = step % self.steps_per_epoch or self.steps_per_epoch
        if in_epoch in self._eval_points:
            if self._target_confirmed(epoch_end=in_epoch == self.steps_per_epoch):
                self.time_to_target = self.train_seconds
                return True
        if in_epoch == self.steps_per_epoch:
            self._flush_epoch()
        return self._over_time()

    def _step_batch_ended(self) -> bool:
        """The last of the steps asked for with step()/step_epoch(): record a curve point
        so that a single Step shows a change. Recording reads the sums, nothing more, so
        the training itself is the same."""
        with self._lock:
            return self._manual_step and self._pending_steps == 0

    def _record_steps(self) -> bool:
        progress, self._progress = self._progress, _Progress()
        if progress.samples == 0:
            return False
        loss = float(progress.loss_sum) / progress.samples
        record = StepRecord(
            step=self.step_count, epoch=self.epoch, loss=loss,
            train_acc=float(progress.correct) / progress.samples, lr=self.current_lr,
            samples_per_s=progress.samples / max(progress.seconds, 1e-9),
            train_seconds=self.train_seconds)
        with self._lock:
            self.step_records.append(record)
            if not math.isfinite(loss) and not self._stop_requested:
                self._set_state(PAUSED, f"the loss became {loss} at step {self.step_count}: "
                                        f"the learning rate {self.current_lr:g} is probably "
                                        "too high; lower it (e.g. by 10x) and reset")
                self._pending_steps = 0
        return False

    def _record_norms(self) -> None:
        """Right after backward and the optimizer step: the gradients are still there."""
        layers, weights, grads = Dg.layer_norms(self.network)
        record = NormRecord(self.step_count, self.epoch, layers, weights, grads)
        with self._lock:
            self.norm_records.append(record)

    @property
    def current_lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def _apply_lr(self) -> None:
        """The schedule's learning rate (or the configured one) times the user's scale."""
        self._lr_pending = False
        base = self.scheduler.get_last_lr()[0] if self.scheduler is not None else self.config.lr
        for group in self.optimizer.param_groups:
            group["lr"] = base * self._lr_scale

    def _target_check_set(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The test images and labels of the quick target checks; None: the whole test set."""
        size = self.options.target_check_images
        if self.options.target_acc is None or size is None or size >= self.test_size:
            return None
        keep = stratified_subset(self.data.test_y, size).to(self.device)
        return self.data.test_x[keep], self.data.test_y[keep]

    def _target_confirmed(self, epoch_end: bool) -> bool:
        """Evaluate at a check point; True when the whole test set first reaches the target.

        Between epoch ends a check subset, when there is one, is evaluated first, and the
        whole test set only when the subset comes near the target (an epoch's end evaluates
        the whole test set anyway, for the epoch's record)."""
        target = self.options.target_acc
        if self._check_set is not None and not epoch_end:
            images, labels = self._check_set
            # The same weights and test-time flip as the whole-set evaluation it stands for.
            quick = evaluate(self.read_network, images, labels,
                             mixed_precision=self.mixed_precision, flip=self.config.test_flip)
            if quick.accuracy < confirm_threshold(self._next_accuracy(target), len(labels)):
                return False
        accuracy = self._evaluate()
        return target is not None and accuracy >= target and self.time_to_target is None

    def _next_accuracy(self, target: float) -> float:
        """The lowest milestone no whole-set evaluation has reached yet, else the target."""
        best = max((record.test_acc for record in self.eval_records), default=0.0)
        return min((m for m in self.options.milestones if m > best), default=target)

    def _evaluate(self) -> float:
        keep = self.options.keep_predictions
        # Without the model lock: nothing changes the weights (or, in eval mode, the
        # BatchNorm statistics) while this thread evaluates, so the pages' copies stay
        # consistent, and a refresh need not wait the half second a test pass can take.
        self._doing = IN_EVALUATION
        result = evaluate(self.read_network, self.data.test_x, self.data.test_y,
                          chunk=self.images_per_pass, should_stop=self._stop_asked,
                          mixed_precision=self.mixed_precision, keep_top=3 if keep else 0,
                          flip=self.config.test_flip)
        record = EvalRecord(self.step_count, self.epoch, result.loss, result.accuracy,
                            self.train_seconds)
        with self._lock:
            self.eval_records.append(record)
            if keep:
                self._predictions = Dg.TestPredictions(
                    self.step_count, self.epoch, result.top_classes, result.top_probs)
        return result.accuracy

    def _stop_asked(self) -> bool:
        return self._stop_requested

    def _flush_epoch(self, force: bool = False) -> None:
        progress = self._epoch_progress
        if progress.samples == 0:
            return
        self._epoch_progress = _Progress()
        if not self.eval_records or self.eval_records[-1].step != self.step_count:
            self._evaluate()
        record = EpochRecord(
            epoch=math.ceil(self.epoch) if force else round(self.epoch),
            train_loss=float(progress.loss_sum) / progress.samples,
            train_acc=float(progress.correct) / progress.samples,
            test_acc=self.eval_records[-1].test_acc,
            samples_per_s=progress.samples / max(progress.seconds, 1e-9),
            train_seconds=self.train_seconds,
            seconds=time.perf_counter() - (self.started_at or time.perf_counter()))
        with self._lock:
            self.epoch_records.append(record)
        if self.options.on_epoch_end is not None:
            self.options.on_epoch_end(record)

    def _take_snapshot(self) -> None:
        """Keep a CPU copy of the weights in the snapshot ring."""
        with self._model_lock:
            state = _cpu_copy(self.read_network.state_dict())
        with self._lock:
            self._snapshots.add(self.step_count, self.epoch, state,
                                self.options.max_snapshot_bytes)


def _cpu_copy(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # contiguous(): a channels_last run's copies read like any other run's (and can be
    # written to formats that require contiguous tensors).
    return {name: _cpu_tensor(tensor) for name, tensor in state.items()}


def _cpu_tensor(tensor: torch.Tensor) -> torch.Tensor:
    copied = tensor.detach().to("cpu", copy=True)
    return copied if copied.is_contiguous() else copied.contiguous()


def check_fits(model_spec: S.ModelSpec, input_shape: tuple[int, ...], num_classes: int,
               dataset_name: str) -> None:
    """SpecError when the spec's input or class count does not match the dataset."""
    if tuple(model_spec.input) != tuple(input_shape):
        raise S.SpecError(f"the spec takes {list(model_spec.input)} but {dataset_name} images "
                          f"are {list(input_shape)}", where="input")
    if model_spec.num_classes != num_classes:
        raise S.SpecError(f"the spec has {model_spec.num_classes} classes but {dataset_name} "
                          f"has {num_classes}", where="num_classes")
