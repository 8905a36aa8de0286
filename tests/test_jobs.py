"""bertstudio.jobs: one background-job model (events, one ending, cooperative stop, readable failures) and
the app's registry (latest job per workspace and kind, each kind's limit and busy message)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import ClassVar

import pytest

from bertstudio.errors import DataError
from bertstudio.events import Event, Failed
from bertstudio.jobs import (
    BASELINES,
    BENCHMARK,
    EVALUATE_FILE,
    EXPORT,
    LABEL_NOISE,
    TRAINING,
    BackgroundJob,
    Completed,
    JobBusy,
    JobRegistry,
    JobStopped,
    Stopped,
    TaskJob,
    describe_exception,
)

DEADLINE = 30  # seconds; a deadline against hangs, not a timing assertion


@dataclass
class Tick(Event):
    kind: ClassVar[str] = "tick"
    n: int


class GateJob(BackgroundJob):
    """Emits a tick, then works until released (returns "value") or stopped (raises JobStopped)."""

    def __init__(self, kind: str = TRAINING):
        super().__init__()
        self.kind = kind
        self.began = threading.Event()
        self.release = threading.Event()
        self.stop_checks = 0

    def work(self, emit, should_stop):
        emit(Tick(n=1))
        self.began.set()
        while not self.release.wait(0.01):
            self.stop_checks += 1
            if should_stop():
                raise JobStopped()
        emit(Tick(n=2))
        return "value"


def terminal(job: BackgroundJob) -> list[Event]:
    return [e for e in job.history if e.terminal]


def ended(job: BackgroundJob) -> BackgroundJob:
    assert job.wait(DEADLINE), "the job did not end"
    return job


# --- one job ------------------------------------------------------------------------------------------


def test_a_job_reports_typed_events_and_ends_once_with_its_value():
    seen = []
    job = GateJob()
    job.on_event = seen.append
    job.start()
    assert job.began.wait(DEADLINE) and job.running and not job.done and job.outcome is None
    job.release.set()
    ended(job)
    assert [type(e) for e in job.history] == [Tick, Tick, Completed]
    assert job.outcome == Completed(value="value", time=job.outcome.time) and terminal(job) == [job.outcome]
    assert seen == job.history and job.events_since(1) == job.history[1:]
    assert job.drain() == job.history and job.drain() == []  # each event is drained once
    assert not job.running and job.done
    with pytest.raises(RuntimeError, match="already started"):
        job.start()


def test_stop_is_cooperative_the_work_sees_it_and_the_job_ends_cancelled():
    job = GateJob().start()
    assert job.began.wait(DEADLINE)
    job.stop()
    ended(job)
    assert isinstance(job.outcome, Stopped) and terminal(job) == [job.outcome]
    assert job.stop_checks >= 1  # the work itself noticed, between its steps
    assert [e.n for e in job.history if isinstance(e, Tick)] == [1]  # nothing after the stop was done

    early = GateJob()
    early.stop()  # asked before it even started: the work never runs
    ended(early.start())
    assert not early.began.is_set() and isinstance(early.outcome, Stopped) and len(early.history) == 1


def test_an_exception_becomes_one_failed_event_in_plain_words():
    def bug():
        raise ValueError("boom")

    failed = ended(TaskJob(BASELINES, bug, what="The check").start()).outcome
    assert isinstance(failed, Failed)
    assert failed.message == "The check stopped because of an unexpected error: ValueError: boom"
    assert "Traceback" not in failed.message and "Traceback" not in failed.hint
    assert "Traceback" in failed.details and 'raise ValueError("boom")' in failed.details
    assert "bug in BERT Studio" in failed.hint

    def user_mistake():
        raise DataError("The file is empty.", "Upload a file with rows.")

    job = ended(TaskJob(EVALUATE_FILE, user_mistake).start())
    assert job.outcome == Failed(message="The file is empty.", hint="Upload a file with rows.", time=job.outcome.time)
    assert job.outcome.text() == "The file is empty. Upload a file with rows." and terminal(job) == [job.outcome]


def test_describe_exception_names_the_job_and_out_of_memory():
    memory = describe_exception(RuntimeError("CUDA out of memory. Tried to allocate 2 GiB"), "Training")
    assert memory.message == "Training ran out of memory." and "batch size" in memory.hint
    assert describe_exception(DataError("No rows.")).details is None


class EndsItself(BackgroundJob):
    """Work that emits its own ending (as run_training emits Finished), then misbehaves."""

    def work(self, emit, should_stop):
        emit(Stopped(message="my own ending"))
        emit(Tick(n=9))  # after the ending: ignored
        raise RuntimeError("after the ending")


class BrokenHook(GateJob):
    def completed_event(self, value):
        raise KeyError("the hook itself broke")


def test_there_is_always_exactly_one_ending():
    own = ended(EndsItself().start())
    assert terminal(own) == own.history == [own.outcome] and own.outcome.message == "my own ending"

    broken = BrokenHook()
    broken.release.set()
    ended(broken.start())
    assert len(terminal(broken)) == 1 and isinstance(broken.outcome, Failed) and "KeyError" in broken.outcome.message


def test_a_broken_listener_does_not_stop_the_work():
    job = GateJob()
    job.on_event = lambda event: 1 / 0
    job.release.set()
    assert isinstance(ended(job.start()).outcome, Completed)


def test_the_outcome_is_claimed_once():
    job = GateJob().start()
    assert not job.claim_outcome()  # nothing to tell yet
    job.release.set()
    ended(job)
    assert job.claim_outcome() and not job.claim_outcome()


# --- the registry ------------------------------------------------------------------------------------


@pytest.fixture
def registry():
    jobs = JobRegistry()
    started: list[GateJob] = []

    def start(workspace: str, kind: str) -> GateJob:
        job = jobs.start(workspace, GateJob(kind))
        started.append(job)
        return job

    yield jobs, start
    for job in started:
        job.stop()
        job.release.set()
        job.wait(DEADLINE)


def test_trainings_wait_in_one_line_and_each_visitor_holds_one(registry):
    jobs, start = registry
    alice = start("alice", TRAINING)
    assert alice.began.wait(DEADLINE)
    assert jobs.running(TRAINING) is alice and jobs.latest("alice", TRAINING) is alice
    assert jobs.place(alice) is None  # running, not waiting
    bob = start("bob", TRAINING)  # not refused: Bob waits for Alice's slot
    assert bob.running and not bob.began.is_set() and bob.history == []
    assert jobs.place(bob).place == 1 and jobs.place(bob).expected_wait_s > 0
    with pytest.raises(JobBusy, match="A training run is already going") as same:
        start("bob", TRAINING)  # one job per visitor, waiting or running
    assert same.value.hint == "Wait for it to finish, or press Stop before starting a new one."
    with pytest.raises(JobBusy, match="A training run is already going"):
        start("alice", TRAINING)
    alice.release.set()
    ended(alice)
    assert bob.began.wait(DEADLINE)  # Bob's turn came
    bob.stop()
    ended(bob)
    carol = start("carol", TRAINING)
    assert carol.began.wait(DEADLINE)


def test_three_visitors_train_one_after_another_and_a_cancelled_one_never_starts():
    jobs = JobRegistry()
    first, second, third, fourth = (jobs.start(ws, GateJob(TRAINING)) for ws in ("ann", "ben", "cat", "dan"))
    assert first.began.wait(DEADLINE)
    places = [jobs.place(job) for job in (second, third, fourth)]
    assert [p.place for p in places] == [1, 2, 3] and all(p.waiting == 3 for p in places)
    assert places[0].expected_wait_s < places[1].expected_wait_s < places[2].expected_wait_s
    third.stop()  # Cat leaves the line: her job never starts
    assert isinstance(ended(third).outcome, Stopped) and not third.began.is_set() and third.history[0] is third.outcome
    assert jobs.place(fourth).place == 2  # Dan moved up
    order = []
    for job in (first, second, fourth):
        assert job.began.wait(DEADLINE)
        order.append(job)
        assert not any(other.began.is_set() for other in (second, fourth) if other not in order)  # one at a time
        job.release.set()
        assert isinstance(ended(job).outcome, Completed)
    assert order == [first, second, fourth] and not third.began.is_set()


def test_slots_are_configurable():
    from bertstudio.jobs import app_limits

    jobs = JobRegistry(app_limits(training_slots=2))
    first, second, third = (jobs.start(ws, GateJob(TRAINING)) for ws in ("ann", "ben", "cat"))
    try:
        assert first.began.wait(DEADLINE) and second.began.wait(DEADLINE)
        assert jobs.place(third).place == 1 and not third.began.is_set()
        assert jobs.active_workspaces() == {"ann", "ben", "cat"}
    finally:
        for job in (first, second, third):
            job.stop()
            job.release.set()
            job.wait(DEADLINE)


def test_workspaces_are_isolated(registry):
    jobs, start = registry
    alice = start("alice", EXPORT)
    bob = start("bob", EXPORT)  # exports share one slot: Bob's waits for Alice's
    assert jobs.latest("alice", EXPORT) is alice and jobs.latest("bob", EXPORT) is bob
    assert jobs.latest("carol", EXPORT) is None and jobs.latest("alice", TRAINING) is None
    with pytest.raises(JobBusy, match="An export is already running."):
        start("alice", EXPORT)
    assert not jobs.stop("carol", EXPORT) and not jobs.stop("alice", TRAINING)
    assert jobs.stop("bob", EXPORT)  # Bob stops his own, and only his
    ended(bob)
    assert isinstance(bob.outcome, Stopped) and alice.running


def test_no_benchmark_while_training_or_another_benchmark_runs(registry):
    jobs, start = registry
    training = start("alice", TRAINING)
    with pytest.raises(JobBusy, match=r"A model is training \(or waiting for its turn\) on this computer right now"):
        start("bob", BENCHMARK)
    training.stop()
    ended(training)
    start("bob", BENCHMARK)
    with pytest.raises(JobBusy, match="A benchmark is already running on this computer."):
        start("alice", BENCHMARK)
    assert jobs.stop("bob", BENCHMARK)


def test_a_running_benchmark_holds_the_training_line(registry):
    jobs, start = registry
    bench = start("bob", BENCHMARK)
    bench.expected_s = 120.0
    assert bench.began.wait(DEADLINE)
    alice = start("alice", TRAINING)  # not refused, not started: it waits for the benchmark
    assert alice.running and jobs.place(alice).place == 1 and not alice.began.is_set()
    assert jobs.place(alice).expected_wait_s > 60  # the benchmark's own estimate, not a training's
    carol = start("carol", TRAINING)
    assert jobs.place(carol).place == 2
    bench.release.set()
    assert isinstance(ended(bench).outcome, Completed)
    assert alice.began.wait(DEADLINE)  # the trainings' turn came, one at a time
    assert not carol.began.is_set() and jobs.place(carol).place == 1
    with pytest.raises(JobBusy, match="A model is training"):
        start("bob", BENCHMARK)  # nor may a benchmark jump the line while trainings wait


def test_with_several_training_slots_a_benchmark_still_takes_them_all():
    from bertstudio.jobs import app_limits

    jobs = JobRegistry(app_limits(training_slots=2))
    bench = jobs.start("bob", GateJob(BENCHMARK))
    trainings = [jobs.start(ws, GateJob(TRAINING)) for ws in ("ann", "cat")]
    try:
        assert bench.began.wait(DEADLINE)
        assert [jobs.place(job).place for job in trainings] == [1, 2]
        bench.release.set()
        assert all(job.began.wait(DEADLINE) for job in trainings)  # both slots free again
    finally:
        for job in (bench, *trainings):
            job.stop()
            job.release.set()
            job.wait(DEADLINE)


def test_the_evaluate_checks_share_two_slots_and_a_third_waits(registry):
    jobs, start = registry
    first, second = start("alice", LABEL_NOISE), start("bob", BASELINES)
    assert first.began.wait(DEADLINE) and second.began.wait(DEADLINE)
    third = start("carol", EVALUATE_FILE)  # not refused: it waits for a free slot
    assert third.running and not third.began.is_set() and third.history == []
    first.release.set()
    ended(first)
    assert third.began.wait(DEADLINE)  # the freed slot went to the waiting check
    third.release.set()
    assert isinstance(ended(third).outcome, Completed)

    blocker = start("erin", BASELINES)
    assert blocker.began.wait(DEADLINE)  # both slots taken again (second and blocker)
    waiting = start("dave", LABEL_NOISE)
    assert jobs.latest("dave", LABEL_NOISE) is waiting
    waiting.stop()  # stopped while waiting for a slot: it never runs
    assert isinstance(ended(waiting).outcome, Stopped) and not waiting.began.is_set()
